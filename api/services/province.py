"""The province view's queries, shared by the province pages and ``/api/v1/plan/table?city=<province>``.

A province pack (:mod:`geo.provinces`) names its cities. Every member with a city pack is computed
exactly as the city alone would be (the same cached :func:`api.services.coverage.coverage_model`, at
the city's default grid resolution) and the tables are stacked and summed by
:func:`planning.province.province_table`. A member without a pack is listed with the reason, never
left out silently; a city without an imported road network is flagged ``estimate`` for those modes.
Province answers are bounded: the cities are the province pack's (a file, not a request parameter),
each at its default grid, and there is no town level (ask a city for its towns). The province's next
sites (``POST /api/v1/plan/suggest?city=<province>``) are each city's greedy sites merged by what they
add (:func:`planning.province.merge_suggestions`): greedy only, on each city's own grid cells.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.params import point_out
from api.services.coverage import coverage_model
from api.state import get_runtime
from geo.boundaries import districts
from geo.categories import CATEGORY_KEYS
from geo.config import get_settings
from geo.errors import InvalidParameterError
from geo.models import Resource
from geo.moderules import MODE_KEYS
from geo.provinces import ProvinceCities, ProvincePack, available_provinces, load_province, province_cities
from planning.coverage import CoverageModel
from planning.mclp import GREEDY_GUARANTEE
from planning.province import ProvinceTable, merge_suggestions, province_table
from planning.sites import suggest_sites

log = logging.getLogger(__name__)

#: Levels a province table answers at (a province's towns: ask each city).
PROVINCE_LEVELS = ("total", "city", "district")


def province_of(key: str | None) -> ProvincePack | None:
    """The province pack called ``key``, or None when ``key`` is not a province (a city, or nothing)."""
    if not key or key not in available_provinces():
        return None
    return load_province(key)


def _province_json(pack: ProvincePack) -> dict[str, Any]:
    return {
        "key": pack.key,
        "name_zh": pack.name_zh,
        "name_en": pack.name_en,
        "adcode": pack.adcode,
        "center": list(pack.center),
        "zoom": pack.zoom,
        "bbox": list(pack.bbox),
    }


def _resource_counts(db: Session, keys: list[str]) -> dict[str, tuple[int, bool]]:
    """City key → (resources in the registry, whether any of them is a labelled sample)."""
    rows = db.execute(
        select(Resource.city, func.count(Resource.id), func.max(Resource.is_sample))
        .where(Resource.city.in_(keys))
        .group_by(Resource.city)
    ).all()
    return {str(city): (int(n), bool(sample)) for city, n, sample in rows}


def province_overview(
    db: Session, pack: ProvincePack, *, lang: str = "zh", members: ProvinceCities | None = None
) -> dict[str, Any]:
    """Every city of the province: population, resources, routed and estimated modes, or why it is missing.

    The 2020 census population is the sum of the city pack's districts; ``routed_modes`` are the
    modes whose road graphs the server has loaded for the city, the others are ``estimate_modes``;
    ``served`` says whether the deployment serves the city's own pages (``settings.cities``).
    ``members``: the province's cities when the caller has them already (:func:`geo.provinces.province_cities`).
    """
    members = members or province_cities(pack)
    served = set(get_settings().cities)
    counts = _resource_counts(db, [c.key for c in members.loaded])
    cities = []
    for city in members.loaded:
        loaded = get_runtime(city.key).engine.modes_loaded
        routed = [m for m in MODE_KEYS if m in loaded]
        n, sample = counts.get(city.key, (0, False))
        cities.append(
            {
                "key": city.key,
                "adcode": city.boundaries.parent_adcode,
                "name": city.name(lang),
                "name_zh": city.name_zh,
                "name_en": city.name_en,
                "population": int(districts(city)["population"].sum()),
                "resources": n,
                "sample": sample,
                "routed_modes": routed,
                "estimate_modes": [m for m in MODE_KEYS if m not in routed],
                "center": list(city.center),
                "bbox": list(city.bbox),
                "served": city.key in served,
            }
        )
    by_key = {m.key: m for m in pack.cities}
    missing = [
        {"key": key, "adcode": by_key[key].adcode, "name_zh": by_key[key].name_zh, "reason": reason}
        for key, reason in members.missing.items()
    ]
    return {"province": _province_json(pack), "cities": cities, "missing": missing}


def province_models(db: Session, members: ProvinceCities) -> dict[str, CoverageModel]:
    """The coverage model of every member city with a pack (default grid, current resources and graphs)."""
    out = {}
    for city in members.loaded:
        out[city.key] = coverage_model(get_runtime(city.key), db)
    return out


def check_level(level: str) -> str:
    """``level`` if a province table answers at it; else → 422 ``invalid_parameter``."""
    if level not in PROVINCE_LEVELS:
        msg = f"a province table has levels {', '.join(PROVINCE_LEVELS)}; for towns ask each city (level={level!r})"
        raise InvalidParameterError(
            msg,
            message_zh=f"全省汇总表只提供 {'、'.join(PROVINCE_LEVELS)} 三级；乡镇级请按城市查询（level={level}）",
            details={"level": level, "allowed": list(PROVINCE_LEVELS)},
        )
    return level


def province_coverage_table(
    db: Session,
    members: ProvinceCities,
    *,
    categories: list[str] | None = None,
    modes: list[str] | None = None,
    thresholds: list[int],
) -> tuple[ProvinceTable, dict[str, CoverageModel]]:
    """The province table (:func:`planning.province.province_table`) and the city models it came from."""
    models = province_models(db, members)
    tables = {}
    for key, model in models.items():
        tables[key] = model.table(
            categories=categories or CATEGORY_KEYS, modes=modes or list(MODE_KEYS), thresholds=thresholds
        )
    names = {key: model.city.name_zh if model.city is not None else key for key, model in models.items()}
    return province_table(tables, names=names), models


def _records(frame: Any) -> list[dict[str, Any]]:
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in rec.items()} for rec in frame.to_dict("records")]


def _notice(models: dict[str, CoverageModel], estimate_modes: list[str], *, sample: bool) -> dict[str, dict[str, str]]:
    """The province answer's notices: which cities are estimated, sample data, where population comes from."""
    notice: dict[str, dict[str, str]] = {}
    if estimate_modes:
        flagged = [m.city for m in models.values() if m.city is not None and any(m.estimate(x) for x in estimate_modes)]
        zh, en = [c.name_zh for c in flagged], [c.name_en for c in flagged]
        notice["estimate"] = {
            "zh": f"估算：{'、'.join(zh)} 的部分出行方式（{'、'.join(estimate_modes)}）尚无路网，"
            "通行时间按直线距离乘以绕行系数估算。",
            "en": f"Estimate: {', '.join(en)} have no road network for some modes ({', '.join(estimate_modes)}); "
            "their times are straight-line distance × a detour factor.",
        }
    if sample:
        notice["sample"] = {
            "zh": "示例数据：部分城市的机构为样例，不是真实机构。",
            "en": "Sample data: some cities' resources are a labelled sample, not real institutions.",
        }
    notice["population"] = {
        "zh": "人口：每个城市按其城市配置计算（各区县第七次全国人口普查常住人口分配到该市默认分辨率的 H3 网格）；"
        "全省数字为各城市数字之和。",
        "en": "Population: each city as its own pack computes it (each district's 2020 census total spread "
        "over the city's default H3 grid); province figures are the sums of the city figures.",
    }
    return notice


def province_table_answer(
    db: Session,
    pack: ProvincePack,
    *,
    categories: list[str] | None,
    modes: list[str],
    thresholds: list[int],
    level: str,
    lang: str = "zh",
) -> dict[str, Any]:
    """The ``/api/v1/plan/table`` answer for a province: rows per province, city or district.

    Flags as a city answer has them: ``estimate`` (and ``estimate_modes``) where any city's times for
    a mode are straight-line estimates, ``sample`` where any city's resources are a labelled sample,
    with the matching notices; ``cities`` and ``missing`` say which cities the sums hold.
    """
    check_level(level)
    members = province_cities(pack)  # once: both the table and the overview list the same cities
    table, models = province_coverage_table(db, members, categories=categories, modes=modes, thresholds=thresholds)
    frame = {"total": table.totals, "city": table.cities, "district": table.districts}[level]
    estimate_modes = [m for m in modes if any(model.estimate(m) for model in models.values())]
    sample = any(model.resources.any_sample for model in models.values())
    notice = _notice(models, estimate_modes, sample=sample)
    overview = province_overview(db, pack, lang=lang, members=members)
    return {
        "city": pack.key,
        "province": overview["province"],
        "level": level,
        "thresholds": thresholds,
        "estimate": bool(estimate_modes),
        "estimate_modes": estimate_modes,
        "sample": sample,
        "notice": notice,
        "cities": overview["cities"],
        "missing": overview["missing"],
        "seconds": round(table.seconds_elapsed, 3),
        "rows": _records(frame),
    }


def province_suggestion_answer(
    db: Session,
    pack: ProvincePack,
    *,
    category: str,
    mode: str,
    minutes: int,
    k: int,
    crs: str = "wgs84",
    lang: str = "zh",
) -> dict[str, Any]:
    """The ``/api/v1/plan/suggest`` answer for a province: the ``k`` sites anywhere in it that newly cover
    the most residents, each with its city, and every city's share of them.

    Each member city with a pack runs its own greedy suggestion for ``k`` sites (its default grid, its
    cells as candidates, exactly as the city's own answer); the province's sites are the ``k`` largest
    gains of those lists (:func:`planning.province.merge_suggestions`). Cost is bounded by the pack's
    cities × ``k`` (≤ 50). Flags and notices as :func:`province_table_answer`.
    """
    members = province_cities(pack)
    models = province_models(db, members)
    per_city = {
        key: suggest_sites(model, category, mode=mode, minutes=minutes, k=k, method="greedy")
        for key, model in models.items()
    }
    merged = merge_suggestions(per_city, k=k)
    estimate_modes = [mode] if any(model.estimate(mode) for model in models.values()) else []
    sample = any(model.resources.any_sample for model in models.values())
    overview = province_overview(db, pack, lang=lang, members=members)
    names = {c["key"]: c["name"] for c in overview["cities"]}
    notes = []
    if len(merged.sites) < k:
        notes.append(f"only {len(merged.sites)} new site(s) would cover anyone not yet covered")
    bound = merged.upper_bound
    return {
        "city": pack.key,
        "province": overview["province"],
        "category": next(iter(per_city.values())).category if per_city else category,
        "mode": mode,
        "minutes": minutes,
        "k": k,
        "method": "greedy",
        "estimate": bool(estimate_modes),
        "estimate_modes": estimate_modes,
        "sample": sample,
        "notice": _notice(models, estimate_modes, sample=sample),
        "covered_before": merged.covered_before,
        "uncovered_before": merged.uncovered_before,
        "newly_covered": merged.newly_covered,
        "greedy": {
            "covered": merged.newly_covered,
            # valid but loose: every city may hold all k sites in it; the guarantee is what is proven
            "upper_bound": math.ceil(min(bound, merged.uncovered_before)),
            "upper_bound_rule": "sum of every city's own greedy bound for k sites, at most the uncovered residents",
            "guarantee": round(GREEDY_GUARANTEE, 4),
            "sites": len(merged.sites),
        },
        "sites": [
            {
                "rank": s.rank,
                "city": s.city,
                "city_name": names.get(s.city, s.city),
                "city_rank": s.city_rank,
                **point_out(s.site.lon, s.site.lat, crs),
                "label": s.site.label,
                "district": s.site.district,
                "town": s.site.town,
                "newly_covered": s.site.gain,
                "cumulative": s.cumulative,
            }
            for s in merged.sites
        ],
        "per_city": [
            {
                "city": key,
                "name": names.get(key, key),
                "sites": merged.chosen_in(key),
                "newly_covered": sum(s.site.gain for s in merged.sites if s.city == key),
                "uncovered_before": sug.uncovered_population,
            }
            for key, sug in per_city.items()
        ],
        "cities": overview["cities"],
        "missing": overview["missing"],
        "notes": notes,
        "crs": crs,
    }
