"""Deterministic sample data: resources, classes and evaluations in the import format.

The sample stands in for a city's real sheet until the city imports one. It must look realistic
(counts per category, skills, levels, schedules) and must never pass for real: every name carries
【示例】…（样例数据）, every external id contains ``SAMPLE``, phone numbers cannot be dialled and URLs
point at ``example.com`` (reserved by RFC 2606). Same seed and start date ⇒ byte-identical files.

Placement: the number of resources of each category in a district is the category count split in
proportion to the district's census population (largest remainder). Inside the district a point is
drawn where people are, from the H3 cells of the model population surface (:mod:`geo.settlement_model`):
colleges, public bases and evaluation agencies from the district's urban core (cells at least 80 % as
populous as its densest), training schools with probability ∝ population², studios ∝ population;
then a point in the drawn cell, in the district and on land.
Town/village sites (镇村培训阵地) are one per town seat in ``towns.csv`` (GeoNames seats, or the
documented approximate points), within about 300 m of the seat, on land. Nothing lies in water
(:mod:`geo.land`).

Skills are real occupations of 《中华人民共和国职业分类大典（2022年版）》 with their codes where
known; the code is left empty where it was not verified.

Phone numbers: ``0573-0000xxxx（示例号码）``. Chinese local subscriber numbers never start with 0
(0 is the trunk prefix), so such a number cannot reach anyone.
"""

from __future__ import annotations

import csv
import logging
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from geo.boundaries import districts, towns
from geo.categories import CATEGORY_BY_KEY, CATEGORY_KEYS, LEVEL_BY_NUMBER, SCHEDULES
from geo.cities import CityPack
from geo.land import on_land
from geo.population import default_resolution, population_grid
from geo.safe_cells import safe_record
from geo.sheets import COLUMNS

logger = logging.getLogger(__name__)

DEFAULT_SEED = 20260101
HORIZON_DAYS = 90

# The sheets are written in the import format (geo.sheets.COLUMNS); the sample gives points in WGS84,
# so it has no per-row ``crs`` column.
RESOURCE_COLUMNS = [c for c in COLUMNS["resources"] if c != "crs"]
CLASS_COLUMNS = list(COLUMNS["classes"])
EVALUATION_COLUMNS = list(COLUMNS["evaluations"])

# Counts per category. Jiaxing's are the city's published circle (see geo.categories); "village" is
# always one per town in towns.csv. Other cities (the demo) get a small sample.
_COUNTS: dict[str, dict[str, int]] = {
    "jiaxing": {"college": 16, "training": 123, "evaluation": 32, "base": 10, "studio": 189},
}
_SMALL_COUNTS = {"college": 3, "training": 8, "evaluation": 3, "base": 2, "studio": 10}
# Where each category goes: colleges, public bases and evaluation agencies in the district's urban core
# (0 = cells at least CORE_SHARE as populous as its densest cell, drawn ∝ population); training schools
# and studios anywhere, a cell drawn with probability ∝ population^power.
_CLUSTER = {"college": 0.0, "base": 0.0, "evaluation": 0.0, "training": 2.0, "studio": 1.0}
CORE_SHARE = 0.8

# (occupation, code in 职业分类大典 2022 or "" where not verified, base fee in yuan for 五级)
SKILLS: tuple[tuple[str, str, int], ...] = (
    ("电工", "6-31-01-03", 1200),
    ("焊工", "6-18-02-04", 1300),
    ("养老护理员", "4-10-01-05", 900),
    ("育婴员", "4-10-01-02", 900),
    ("保育师", "4-10-01-03", 900),
    ("家政服务员", "4-10-01-06", 700),
    ("中式烹调师", "4-03-02-01", 1100),
    ("中式面点师", "4-03-02-02", 1000),
    ("茶艺师", "4-03-02-07", 1000),
    ("电子商务师", "4-01-02-02", 1000),
    ("互联网营销师", "4-01-02-07", 1100),
    ("健康管理师", "4-14-02-02", 1500),
    ("美发师", "4-10-03-01", 1200),
    ("美容师", "4-10-03-02", 1200),
    ("汽车维修工", "4-12-01-01", 1400),
    ("数控车工", "", 1500),
    ("电梯安装维修工", "", 1600),
    ("工业机器人系统运维员", "", 1800),
)
# Skills a category leans to (indices into SKILLS); others are still possible.
_INDUSTRIAL = (0, 1, 14, 15, 16, 17)
_SERVICE = (2, 3, 4, 5, 6, 7, 8, 11, 12, 13)
_DIGITAL = (9, 10)
_LEVEL_WEIGHTS = np.array([0.40, 0.30, 0.18, 0.08, 0.04])  # levels 5, 4, 3, 2, 1
_LEVELS = (5, 4, 3, 2, 1)
_SCHEDULE_KEYS = tuple(SCHEDULES)

_KIND_NAMES = {
    "college": ("职业技术学校", "技工学校", "职业技术学院"),
    "training": ("职业培训学校", "技能培训中心", "职业技能培训学校"),
    "evaluation": ("职业技能等级评价中心", "技能评价站"),
    "base": ("高技能人才公共实训基地",),
    "studio": ("技能大师工作室",),
    "village": ("镇村技能培训阵地",),
}
_OPENING = {
    "college": "周一至周五 08:00-17:00",
    "training": "周一至周日 08:30-20:30",
    "evaluation": "周一至周五 08:30-17:00",
    "base": "周一至周六 08:30-17:00",
    "studio": "周二、周四 14:00-17:00（请先预约）",
    "village": "周一至周五 09:00-16:00",
}
_REG_STEPS = (
    "电话或到现场咨询报名（示例）",
    "携带身份证原件及复印件填写报名表",
    "确认是否符合职业技能培训补贴条件",
    "按开班通知参加培训与考核",
)


def _largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` into integers proportional to ``weights`` that sum exactly to ``total``."""
    w = np.asarray(weights, dtype=float)
    if total <= 0 or w.sum() <= 0:
        return np.zeros(len(w), dtype=int)
    raw = total * w / w.sum()
    base = np.floor(raw).astype(int)
    rest = total - int(base.sum())
    order = np.lexsort((np.arange(len(w)), -(raw - base)))  # largest remainder first, ties by position
    base[order[:rest]] += 1
    return base


def _points_near_people(
    grid: Any, district: Any, n: int, rng: np.random.Generator, *, power: float, city: CityPack
) -> np.ndarray:
    """``n`` points in ``district``: cells drawn with probability ∝ population^power (power 0: the core), then a
    uniform point in the drawn cell's hexagon that lies on land and in the district."""
    sub = grid[grid["district_adcode"] == district["adcode"]]
    if power == 0:  # the urban core only: cells at least CORE_SHARE as populous as the district's densest
        sub = sub[sub["population"] >= CORE_SHARE * sub["population"].max()]
    w = sub["population"].to_numpy(float) ** max(power, 1.0)
    p = w / w.sum() if w.sum() > 0 else np.full(len(sub), 1.0 / len(sub))
    out: list[tuple[float, float]] = []
    while len(out) < n:
        cell = sub.geometry.iloc[int(rng.choice(len(sub), p=p))]
        min_x, min_y, max_x, max_y = cell.bounds
        for _ in range(50):
            x, y = rng.uniform(min_x, max_x), rng.uniform(min_y, max_y)
            inside = shapely.contains_xy(cell, x, y) and shapely.contains_xy(district.geometry, x, y)
            if inside and on_land([x], [y], city)[0]:
                out.append((x, y))
                break
    return np.array(out).reshape(-1, 2)


def _pick_skills(category: str, rng: np.random.Generator) -> list[int]:
    k = {"college": 4, "training": 3, "evaluation": 5, "base": 4, "studio": 1, "village": 2}[category]
    k = int(rng.integers(max(1, k - 1), k + 2)) if category != "studio" else 1
    lean = {"college": _INDUSTRIAL + _DIGITAL, "base": _INDUSTRIAL, "village": _SERVICE + _DIGITAL}.get(category)
    probs = np.ones(len(SKILLS))
    if lean:
        probs[list(lean)] *= 3.0
    probs /= probs.sum()
    return sorted(rng.choice(len(SKILLS), size=min(k, len(SKILLS)), replace=False, p=probs).tolist())


def _fake_phone(n: int, demo: bool) -> str:
    prefix = "000" if demo else "0573"
    return f"{prefix}-0000{n % 10000:04d}（示例号码，不可拨打）"


def _write(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(safe_record(r) for r in rows)


def _counts(city: CityPack, n_towns: int) -> dict[str, int]:
    counts = dict(_COUNTS.get(city.key, _SMALL_COUNTS))
    counts["village"] = n_towns
    return {k: counts[k] for k in CATEGORY_KEYS}


def generate_sample(
    city: CityPack,
    *,
    seed: int = DEFAULT_SEED,
    start_date: date,
    out_dir: Path,
) -> dict[str, int]:
    """Write the sample sheets ``resources.csv``, ``classes.csv``, ``evaluations.csv`` to ``out_dir``.

    Parameters
    ----------
    city
        The city pack; its districts (with population) and towns place the sample.
    seed
        Seed of the random generator. The same seed and ``start_date`` give byte-identical files.
    start_date
        First day of the 90-day window for classes and evaluations; also the ``updated_at`` date.
    out_dir
        Folder to write into (created if missing).

    Returns
    -------
    dict
        Rows written: one entry per category key, plus ``resources``, ``classes``, ``evaluations``.
    """
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    demo = city.boundaries.source == "grid"
    prefix = f"{city.key[:2].upper()}-SAMPLE" if city.key != "jiaxing" else "JX-SAMPLE"
    source = f"SkillCircle sample generator (seed {seed})"
    dist = districts(city)
    town_pts = towns(city)
    grid = population_grid(
        city, resolution=default_resolution(city)
    )  # the MODEL surface (never an imported one): same seed, same sample
    counts = _counts(city, len(town_pts))
    updated = start_date.isoformat()

    resources: list[dict[str, Any]] = []
    for category in CATEGORY_KEYS:
        n = counts[category]
        if category == "village":
            placements = []
            for _, t in town_pts.iterrows():
                x, y = t.geometry.x, t.geometry.y  # the town seat itself is on land (tested)
                for _ in range(50):  # within ~300 m of the town seat, on land
                    dx, dy = t.geometry.x + rng.uniform(-0.003, 0.003), t.geometry.y + rng.uniform(-0.0027, 0.0027)
                    if on_land([dx], [dy], city)[0]:
                        x, y = dx, dy
                        break
                placements.append((t["district"], t["name_zh"], t["district_adcode"], x, y))
        else:
            per_district = _largest_remainder(n, dist["population"].to_numpy())
            placements = []
            for (_, d), k in zip(dist.iterrows(), per_district, strict=True):
                if k == 0:
                    continue
                pts = _points_near_people(grid, d, int(k), rng, power=_CLUSTER[category], city=city)
                sub = town_pts[town_pts["district_adcode"] == d["adcode"]]
                for x, y in pts:
                    if len(sub):
                        dd = np.hypot(sub.geometry.x.to_numpy() - x, sub.geometry.y.to_numpy() - y)
                        town = sub["name_zh"].iloc[int(np.argmin(dd))]
                    else:
                        town = ""
                    placements.append((d["name_zh"], town, d["adcode"], x, y))
        label = CATEGORY_BY_KEY[category]
        for i, (dname, tname, _adcode, x, y) in enumerate(placements, start=1):
            ext = f"{prefix}-{category}-{i:04d}"
            skill_idx = _pick_skills(category, rng)
            first = SKILLS[skill_idx[0]][0]
            kind = _KIND_NAMES[category][int(rng.integers(len(_KIND_NAMES[category])))]
            if category == "village":
                name = f"【示例】{tname}{kind}（样例数据）"
            elif category in ("studio", "training"):
                name = f"【示例】{dname}{first}{kind}{i}号（样例数据）"
            else:
                name = f"【示例】{dname}第{i}{kind}（样例数据）"
            subsidy = category != "studio" and rng.random() < 0.8
            resources.append(
                {
                    "external_id": ext,
                    "name": name,
                    "category": category,
                    "district": dname,
                    "town": tname,
                    "address": f"{dname}{tname}示例路{int(rng.integers(1, 400))}号（样例地址）",
                    "lon": f"{x:.6f}",
                    "lat": f"{y:.6f}",
                    "skills": ";".join(
                        f"{SKILLS[j][0]}|{SKILLS[j][1]}" if SKILLS[j][1] else SKILLS[j][0] for j in skill_idx
                    ),
                    "phone": _fake_phone(len(resources) + 1, demo),
                    "opening_hours": _OPENING[category],
                    "reg_steps": ";".join(_REG_STEPS),
                    "reg_url": f"https://example.com/skillcircle/sample/{ext}",
                    "reg_phone": _fake_phone(len(resources) + 5001, demo),
                    "subsidy_eligible": "是" if subsidy else "否",
                    "subsidy_note": "取得证书后可按规定申领职业技能培训补贴（示例说明）" if subsidy else "",
                    "seats": int(rng.integers(2, 8) * 10) if category != "studio" else int(rng.integers(5, 16)),
                    "source": source,
                    "updated_at": updated,
                    "is_sample": "是",
                    "_skills": skill_idx,
                    "_label": label.key,
                }
            )

    classes: list[dict[str, Any]] = []
    evaluations: list[dict[str, Any]] = []
    n_classes = {
        "college": (2, 4),
        "training": (2, 5),
        "evaluation": (0, 1),
        "base": (1, 3),
        "studio": (0, 2),
        "village": (1, 3),
    }
    for res in resources:
        lo, hi = n_classes[res["category"]]
        for _ in range(int(rng.integers(lo, hi + 1))):
            j = int(rng.choice(res["_skills"]))
            skill, code, base_fee = SKILLS[j]
            level = int(rng.choice(_LEVELS, p=_LEVEL_WEIGHTS))
            start = start_date + timedelta(days=int(rng.integers(3, HORIZON_DAYS)))
            end = start + timedelta(days=int(rng.integers(5, 41)))
            total = int(rng.integers(2, 6) * 10)
            fee = base_fee + 300 * (5 - level)
            grant = int(round(fee * rng.choice([0.6, 0.8, 1.0]) / 50) * 50) if res["subsidy_eligible"] == "是" else 0
            classes.append(
                {
                    "external_id": f"{res['external_id']}-C{len(classes) + 1:05d}",
                    "resource_external_id": res["external_id"],
                    "skill": skill,
                    "skill_code": code,
                    "level": LEVEL_BY_NUMBER[level].label_zh,
                    "start_date": start.isoformat(),
                    "end_date": end.isoformat(),
                    "schedule": _SCHEDULE_KEYS[int(rng.integers(len(_SCHEDULE_KEYS)))],
                    "seats_total": total,
                    "seats_left": int(rng.integers(0, total + 1)),
                    "fee": fee,
                    "subsidy": grant,
                    "signup_deadline": max(start_date, start - timedelta(days=3)).isoformat(),
                    "is_sample": "是",
                }
            )
        n_eval = {"evaluation": (3, 6), "college": (1, 2)}.get(res["category"])
        if n_eval:
            for _ in range(int(rng.integers(n_eval[0], n_eval[1] + 1))):
                j = int(rng.choice(res["_skills"]))
                skill, code, base_fee = SKILLS[j]
                level = int(rng.choice(_LEVELS, p=_LEVEL_WEIGHTS))
                evaluations.append(
                    {
                        "external_id": f"{res['external_id']}-E{len(evaluations) + 1:05d}",
                        "agency_external_id": res["external_id"],
                        "skill": skill,
                        "skill_code": code,
                        "level": LEVEL_BY_NUMBER[level].label_zh,
                        "date": (start_date + timedelta(days=int(rng.integers(5, HORIZON_DAYS)))).isoformat(),
                        "seats_left": int(rng.integers(0, 61)),
                        "fee": int(round((base_fee * 0.25 + 60 * (5 - level)) / 10) * 10),
                        "is_sample": "是",
                    }
                )

    public = [{k: r[k] for k in RESOURCE_COLUMNS} for r in resources]
    _write(out_dir / "resources.csv", RESOURCE_COLUMNS, public)
    _write(out_dir / "classes.csv", CLASS_COLUMNS, classes)
    _write(out_dir / "evaluations.csv", EVALUATION_COLUMNS, evaluations)
    result = dict(counts)
    result.update(resources=len(resources), classes=len(classes), evaluations=len(evaluations))
    logger.info("sample for %s (seed %d): %s", city.key, seed, result)
    return result


def write_example_sheet(city: CityPack, path: Path, *, seed: int = DEFAULT_SEED, start_date: date) -> None:
    """Write a 5-row, sample-marked example resources sheet (one row of five categories) for the README."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        generate_sample(city, seed=seed, start_date=start_date, out_dir=Path(tmp))
        with (Path(tmp) / "resources.csv").open(encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    picked: list[dict[str, str]] = []
    for category in ("training", "college", "evaluation", "studio", "village"):
        picked.append(next(r for r in rows if r["category"] == category))
    _write(Path(path), RESOURCE_COLUMNS, picked)
