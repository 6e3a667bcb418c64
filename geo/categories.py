"""The six resource categories of a 30-minute vocational skills training circle, and skill levels.

The categories and their Jiaxing counts come from the city's published circle (16 colleges, 123
training institutions, 32 evaluation agencies, 10 public training bases, 189 master studios, and
town/village sites). Keys are stable: they appear in URLs, import sheets and stored rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from geo.errors import InvalidParameterError, UnknownCategoryError


@dataclass(frozen=True)
class Category:
    """One kind of training or evaluation place."""

    key: str
    label_zh: str
    label_en: str
    color: str
    icon: str

    def label(self, lang: str = "zh") -> str:
        """The label in ``lang`` ("zh" or "en")."""
        return self.label_en if lang == "en" else self.label_zh


CATEGORIES: tuple[Category, ...] = (
    Category("college", "职业院校/技工院校", "Vocational & technician colleges", "#c0392b", "graduation-cap"),
    Category("training", "职业培训机构", "Vocational training institutions", "#2471a3", "book"),
    Category("evaluation", "社会评价机构", "Skill evaluation agencies", "#7d3c98", "certificate"),
    Category("base", "高技能人才公共实训基地", "Public high-skill training bases", "#d68910", "industry"),
    Category("studio", "技能大师工作室", "Skill-master studios", "#1e8449", "star"),
    Category("village", "镇村培训阵地", "Town & village training sites", "#717d7e", "home"),
)
CATEGORY_BY_KEY: dict[str, Category] = {c.key: c for c in CATEGORIES}
CATEGORY_KEYS: tuple[str, ...] = tuple(CATEGORY_BY_KEY)

_ALIASES: dict[str, str] = {}
for _c in CATEGORIES:
    _ALIASES[_c.key] = _c.key
    _ALIASES[_c.label_zh] = _c.key
    _ALIASES[_c.label_en.lower()] = _c.key
    for _part in _c.label_zh.split("/"):
        _ALIASES[_part] = _c.key
_ALIASES.update({"职业院校": "college", "技工院校": "college", "实训基地": "base", "大师工作室": "studio"})


def parse_category(value: str) -> str:
    """Return the stable key of a category given its key, Chinese label or English label.

    Raises
    ------
    UnknownCategoryError
        If ``value`` names none of the six categories.
    """
    key = _ALIASES.get(str(value).strip()) or _ALIASES.get(str(value).strip().lower())
    if key is None:
        msg = f"unknown category {value!r}; expected one of {', '.join(CATEGORY_KEYS)}"
        raise UnknownCategoryError(
            msg,
            message_zh=f"未知的资源类别“{value}”，应为：{'、'.join(c.label_zh for c in CATEGORIES)}",
            details={"value": str(value), "allowed": list(CATEGORY_KEYS)},
        )
    return key


@dataclass(frozen=True)
class Level:
    """A national vocational skill level (国家职业技能等级)."""

    number: int
    label_zh: str
    label_en: str


LEVELS: tuple[Level, ...] = (
    Level(5, "五级/初级工", "Level 5 / Junior"),
    Level(4, "四级/中级工", "Level 4 / Intermediate"),
    Level(3, "三级/高级工", "Level 3 / Senior"),
    Level(2, "二级/技师", "Level 2 / Technician"),
    Level(1, "一级/高级技师", "Level 1 / Senior technician"),
)
LEVEL_BY_NUMBER: dict[int, Level] = {lv.number: lv for lv in LEVELS}

_LEVEL_ALIASES: dict[str, int] = {}
for _lv in LEVELS:
    _LEVEL_ALIASES[str(_lv.number)] = _lv.number
    _LEVEL_ALIASES[_lv.label_zh] = _lv.number
    for _part in _lv.label_zh.split("/"):
        _LEVEL_ALIASES[_part] = _lv.number
    _LEVEL_ALIASES[_lv.label_zh.split("/")[1].removesuffix("工")] = _lv.number


def parse_level(value: str | int) -> int:
    """Return the level number (5 = 五级/初级 … 1 = 一级/高级技师) from a number or Chinese label."""
    key = str(value).strip()
    if key in _LEVEL_ALIASES:
        return _LEVEL_ALIASES[key]
    msg = f"unknown skill level {value!r}; expected 1-5 or a label such as 五级/初级工"
    raise InvalidParameterError(
        msg,
        message_zh=f"未知的技能等级“{value}”，应为 1–5 或“五级/初级工”等",
        code="unknown_level",
        details={"value": key},
    )


SCHEDULES: dict[str, tuple[str, str]] = {
    "weekday": ("工作日白天", "Weekday daytime"),
    "evening": ("晚间班", "Evenings"),
    "weekend": ("周末班", "Weekends"),
}
_SCHEDULE_ALIASES = {k: k for k in SCHEDULES} | {zh: k for k, (zh, _en) in SCHEDULES.items()}
_SCHEDULE_ALIASES |= {"工作日": "weekday", "晚上": "evening", "夜校": "evening", "周末": "weekend"}


def parse_schedule(value: str) -> str:
    """Return the schedule key (weekday, evening, weekend) from a key or Chinese label."""
    key = _SCHEDULE_ALIASES.get(str(value).strip())
    if key is None:
        msg = f"unknown schedule {value!r}; expected weekday, evening or weekend"
        raise InvalidParameterError(
            msg,
            message_zh=f"未知的上课时段“{value}”，应为 工作日白天、晚间班 或 周末班",
            code="unknown_schedule",
            details={"value": str(value)},
        )
    return key
