"""Planning parameters: the thresholds, "all categories", minutes and supply kinds every planning input is
checked against, each refusal a clear error with a stable code and zh/en messages."""

from __future__ import annotations

import math

from geo.categories import parse_category
from geo.errors import InvalidParameterError

#: The planner's thresholds in minutes (the "30-minute circle" and its inner rings).
THRESHOLDS: tuple[int, ...] = (10, 15, 20, 30)
#: "all" = every category together (any training or evaluation place).
ALL_CATEGORIES = "all"
#: What a resource's supply is counted in for 2SFCA: its own seats, or the seats of its upcoming classes.
SUPPLY_KINDS: tuple[str, ...] = ("seats", "classes")


def check_minutes(minutes: float) -> float:
    """Return ``minutes`` as a float if it is a usable threshold (0 < minutes ≤ 180), else raise.

    Raises
    ------
    InvalidParameterError
        Code ``invalid_minutes``.
    """
    try:
        value = float(minutes)
    except (TypeError, ValueError):
        value = math.nan
    if not (0.0 < value <= 180.0):
        msg = f"minutes must be a number in (0, 180], got {minutes!r}"
        raise InvalidParameterError(
            msg, message_zh=f"时间阈值须为 0–180 分钟之间的数，收到“{minutes}”", code="invalid_minutes"
        )
    return value


def parse_category_or_all(value: str | None) -> str:
    """``None``/``"all"``/``"全部"`` → ``"all"``; otherwise the category key (see :func:`parse_category`)."""
    if value is None or str(value).strip().lower() in ("", ALL_CATEGORIES, "全部", "*"):
        return ALL_CATEGORIES
    return parse_category(value)


def check_supply(kind: str) -> str:
    """Return ``kind`` if it is one of :data:`SUPPLY_KINDS`, else raise.

    Raises
    ------
    InvalidParameterError
        Code ``invalid_supply``.
    """
    if kind not in SUPPLY_KINDS:
        msg = f"supply must be one of {', '.join(SUPPLY_KINDS)}, got {kind!r}"
        raise InvalidParameterError(
            msg,
            message_zh=f"供给口径须为 seats（机构名额）或 classes（在办班级名额），收到“{kind}”",
            code="invalid_supply",
        )
    return kind


def plain_number(value: float) -> int | float:
    """``value`` as an ``int`` when it is whole (``30.0`` → ``30``), for minutes in labels, columns and keys."""
    return int(value) if float(value).is_integer() else float(value)


__all__ = [
    "ALL_CATEGORIES",
    "SUPPLY_KINDS",
    "THRESHOLDS",
    "check_minutes",
    "check_supply",
    "parse_category_or_all",
    "plain_number",
]
