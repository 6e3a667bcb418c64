"""``/api/v1/plan/…``: planner analytics — the coverage table, site suggestions, what-if, 2SFCA, exports.

* ``GET  /api/v1/plan/table`` — coverage for categories × modes × thresholds (total, district or town level);
* ``POST /api/v1/plan/suggest`` — k new sites maximising newly covered population (greedy with its
  bound, exact with PuLP/CBC, or both);
* ``POST /api/v1/plan/whatif`` — coverage before/after adding sites and/or closing resources;
* ``GET  /api/v1/plan/access`` — two-step floating catchment (seats per 1,000 residents, crowded areas);
* ``GET  /api/v1/plan/export`` — GeoPackage, GeoJSON, CSV, XLSX, PNG or PDF.

Every answer carries ``estimate`` (straight-line times) and ``sample`` flags and the matching notices.

Costly work needs an API token with scope ``plan:heavy`` (401 ``token_required`` without one): exact
solves (``method`` ``exact`` or ``both``, each also stopped after ``SKILLCIRCLE_EXACT_TIME_LIMIT_S``, when
greedy's sites are shown if better) and grids finer than the city's default ``resolution``.
"""

from __future__ import annotations

import tempfile
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from api.deps import Bearer, DbSession, Runtime, require_heavy
from api.params import CategoryParam, MinutesParam, ResolutionParam, parse_minutes_list, point_out, wgs84_point
from api.schemas import Crs, ErrorResponse, Mode
from api.services.coverage import checked_model
from api.services.province import province_of, province_suggestion_answer, province_table_answer
from api.state import get_runtime
from geo.clock import city_today
from geo.config import get_settings
from geo.errors import InvalidParameterError
from geo.moderules import MODE_KEYS, check_mode
from geo.population import surface_of
from geo.text_input import Line
from planning.coverage import Coverage, CoverageModel
from planning.exports import FORMATS, export_bytes
from planning.mclp import GREEDY_GUARANTEE
from planning.notices import coverage_notice
from planning.params import THRESHOLDS, parse_category_or_all
from planning.sites import Suggestion, suggest_sites, what_if

router = APIRouter(
    prefix="/api/v1/plan",
    tags=["planning"],
    responses={
        401: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
    },
)


class Point(BaseModel):
    """A point in the request's ``crs``."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    label: Line | None = Field(default=None, max_length=100)


class SuggestIn(BaseModel):
    """Site suggestion request."""

    category: str = Field(max_length=40, description="category key or label, or 'all'")
    mode: Mode = "ebike"
    minutes: int = Field(default=30, ge=1, le=120)
    k: int = Field(default=3, ge=1, le=50, description="number of new sites (exact: at most 10)")
    method: Literal["greedy", "exact", "both"] = "greedy"
    candidates: list[Point] | None = Field(
        default=None, max_length=2000, description="a planner's candidate points; default: every grid cell"
    )
    crs: Crs = "wgs84"
    resolution: int | None = Field(default=None, ge=6, le=10)


class WhatIfIn(BaseModel):
    """What-if request: add sites and/or close resources."""

    category: str = Field(max_length=40)
    mode: Mode = "ebike"
    minutes: int = Field(default=30, ge=1, le=120)
    add: list[Point] = Field(default_factory=list, max_length=2000)
    close: list[int] = Field(default_factory=list, max_length=2000)
    crs: Crs = "wgs84"
    resolution: int | None = Field(default=None, ge=6, le=10)


def _csv_list(value: str | None, *, allowed: tuple[str, ...] | None = None, name: str) -> list[str] | None:
    if value is None or not value.strip():
        return None
    items = [v.strip() for v in value.replace("，", ",").split(",") if v.strip()]
    if allowed is not None:
        bad = [v for v in items if v not in allowed]
        if bad:
            msg = f"{name} must be among {', '.join(allowed)}, got {bad}"
            raise InvalidParameterError(
                msg, message_zh=f"{name} 的取值无效：{bad}", code=f"invalid_{name}", details={"invalid": bad}
            )
    return items


def _thresholds(value: str | None) -> list[int]:
    if value is None or not value.strip():
        return list(THRESHOLDS)
    return parse_minutes_list(value, max_bands=8, max_minutes=120)


def _flags(model: CoverageModel, modes: list[str]) -> dict[str, Any]:
    notice = coverage_notice(model)
    est = [m for m in modes if model.estimate(m)]
    if est:
        notice["estimate"] = {
            "zh": f"估算：{'、'.join(est)} 尚无路网，通行时间按直线距离乘以绕行系数估算。",
            "en": f"Estimate: no road network for {', '.join(est)}; times are straight-line distance × detour factor.",
        }
    return {
        "estimate": bool(est),
        "estimate_modes": est,
        "sample": bool(model.resources.any_sample),
        "notice": notice,
        "population_surface": surface_of(model.grid),
    }


def _cov_summary(cov: Coverage) -> dict[str, Any]:
    return {
        "total": cov.total,
        "districts": [
            {k: (v.item() if hasattr(v, "item") else v) for k, v in rec.items()}
            for rec in cov.districts.to_dict("records")
        ],
    }


def _records(frame: Any) -> list[dict[str, Any]]:
    out = []
    for rec in frame.to_dict("records"):
        out.append({k: (v.item() if hasattr(v, "item") else v) for k, v in rec.items()})
    return out


@router.get("/table", summary="Coverage for every category × mode × threshold")
def table(
    db: DbSession,
    token: Bearer,
    city: Annotated[
        str | None, Query(description="city pack key (jiaxing, demo) or province key (zhejiang)", max_length=40)
    ] = None,
    categories: Annotated[str | None, Query(description="comma-separated category keys (default all six)")] = None,
    modes: Annotated[str | None, Query(description="comma-separated modes (default all four)")] = None,
    thresholds: Annotated[str | None, Query(description="minutes, e.g. 10,15,20,30", max_length=60)] = None,
    level: Annotated[
        Literal["total", "city", "district", "town"],
        Query(description="rows for the whole city or province, per city (a province), district or town (a city)"),
    ] = "total",
    resolution: ResolutionParam = None,
    lang: Annotated[Literal["zh", "en"], Query(description="language of city names (a province)")] = "zh",
) -> dict[str, Any]:
    """The planner's table in long format: one row per category × mode × threshold (× city/district/town).

    For a province (``city=zhejiang``) every member city is computed as it is alone, at its default
    grid, and the rows are per city or district of the whole province, or their sums (``total``);
    cities without a pack are listed in ``missing`` with the reason.
    """
    cats = [parse_category_or_all(c) for c in (_csv_list(categories, name="categories") or [])] or None
    mode_list = _csv_list(modes, allowed=MODE_KEYS, name="modes") or list(MODE_KEYS)
    limits = _thresholds(thresholds)
    province = province_of(city)
    if province is not None:
        if resolution is not None:
            msg = "a province table uses each city's default grid: ask a city for a finer one"
            zh = "全省汇总表使用各城市的默认网格；更细的网格请按城市查询"
            raise InvalidParameterError(msg, message_zh=zh, details={"resolution": resolution})
        return province_table_answer(
            db, province, categories=cats, modes=mode_list, thresholds=limits, level=level, lang=lang
        )
    if level == "city":
        msg = "level=city is for a province (city=zhejiang); a city's own total is level=total"
        raise InvalidParameterError(msg, message_zh="level=city 仅用于省级汇总；单个城市请用 level=total")
    runtime = get_runtime(city or get_settings().default_city)
    model = checked_model(db, runtime, secret=token, resolution=resolution)
    from geo.categories import CATEGORY_KEYS

    tab = model.table(categories=cats or CATEGORY_KEYS, modes=mode_list, thresholds=limits)
    frame = {"total": tab.totals, "district": tab.districts, "town": tab.towns}[level]
    return {
        "city": runtime.city.key,
        "level": level,
        "thresholds": limits,
        **_flags(model, mode_list),
        "seconds": round(tab.seconds_elapsed, 3),
        "rows": _records(frame),
    }


def _suggestion_json(s: Suggestion, model: CoverageModel, crs: str) -> dict[str, Any]:
    greedy = None
    if s.greedy is not None:
        greedy = {
            "covered": int(round(s.greedy.value)),
            "upper_bound": int(round(s.greedy.upper_bound)),
            "proven_ratio": round(s.greedy.ratio_bound, 4),
            "guarantee": round(GREEDY_GUARANTEE, 4),
            "sites": len(s.greedy.chosen),
            "seconds": round(s.greedy.seconds, 3),
        }
    exact = None
    if s.exact is not None:
        exact = {
            "covered": int(round(s.exact.value)),
            "status": s.exact.status,
            "optimal": s.exact.optimal,
            "sites": len(s.exact.chosen),
            "seconds": round(s.exact.seconds, 3),
        }
    return {
        "city": model.city.key if model.city is not None else None,
        "category": s.category,
        "mode": s.mode,
        "minutes": int(s.minutes) if float(s.minutes).is_integer() else s.minutes,
        "k": s.k,
        "method": s.method,
        **_flags(model, [s.mode]),
        "uncovered_before": s.uncovered_population,
        "newly_covered": s.newly_covered,
        "before": _cov_summary(s.before),
        "after": _cov_summary(s.after),
        "sites": [
            {
                "rank": site.rank,
                **point_out(site.lon, site.lat, crs),
                "label": site.label,
                "district": site.district,
                "town": site.town,
                "newly_covered": site.gain,
                "cumulative": site.cumulative,
            }
            for site in s.sites
        ],
        "greedy": greedy,
        "exact": exact,
        "candidates": {
            "total": s.candidates_total,
            "considered": s.candidates_considered,
            "off_network": s.candidates_off_network,
        },
        "notes": s.notes,
        "crs": crs,
    }


@router.post("/suggest", summary="Where to add k new sites to cover the most residents not yet covered")
def suggest(
    db: DbSession,
    body: SuggestIn,
    token: Bearer,
    city: Annotated[
        str | None,
        Query(
            description="city pack key (jiaxing, demo) or province key (zhejiang: the k best sites of all its cities)",
            max_length=40,
        ),
    ] = None,
    lang: Annotated[Literal["zh", "en"], Query(description="language of city names (a province)")] = "zh",
) -> dict[str, Any]:
    """Maximal covering location: greedy (≥ 63.2 % of optimal, with an instance bound) or exact (PuLP/CBC).

    ``exact`` and ``both`` need a ``plan:heavy`` token and stop after the configured time limit. For a
    province (``city=zhejiang``) the ``k`` sites are the best of every member city's greedy sites, each
    on its city's default grid (greedy only; no planner candidates: those belong to one city).
    """
    cat = parse_category_or_all(body.category)
    province = province_of(city)
    if province is not None:
        _check_province_suggestion(body)
        return province_suggestion_answer(
            db, province, category=cat, mode=body.mode, minutes=body.minutes, k=body.k, crs=body.crs, lang=lang
        )
    runtime = get_runtime(city or get_settings().default_city)
    if body.method != "greedy":
        require_heavy(db, token, what_en="an exact site solve", what_zh="精确求解选址")
    model = checked_model(db, runtime, secret=token, resolution=body.resolution)
    cands, labels = None, None
    if body.candidates is not None:
        pts = [wgs84_point(runtime, p.lon, p.lat, body.crs) for p in body.candidates]
        cands = ([p[0] for p in pts], [p[1] for p in pts])
        labels = [p.label or f"#{i + 1}" for i, p in enumerate(body.candidates)]
    s = suggest_sites(
        model,
        cat,
        mode=body.mode,
        minutes=body.minutes,
        k=body.k,
        method=body.method,
        candidates=cands,
        labels=labels,
        time_limit=get_settings().exact_time_limit_s,
    )
    return _suggestion_json(s, model, body.crs)


def _check_province_suggestion(body: SuggestIn) -> None:
    """A province's sites are greedy, on its cities' own grids: 422 for what only one city can answer."""
    if body.method != "greedy":
        msg = f"a province's sites are chosen greedily across its cities; ask one city for method={body.method!r}"
        raise InvalidParameterError(
            msg,
            message_zh=f"全省选址只用贪心算法（各城市逐一比较）；精确求解（method={body.method}）请按城市提交",
            code="invalid_method",
            details={"method": body.method, "allowed": ["greedy"]},
        )
    if body.candidates is not None:
        msg = "a province's candidates are every city's grid cells; a planner's own points belong to one city"
        raise InvalidParameterError(
            msg, message_zh="全省选址的候选点为各城市的网格；自定义候选点请按城市提交", code="invalid_candidates"
        )
    if body.resolution is not None:
        msg = "a province's sites use each city's default grid: ask a city for a finer one"
        raise InvalidParameterError(
            msg,
            message_zh="全省选址使用各城市的默认网格；更细的网格请按城市查询",
            details={"resolution": body.resolution},
        )


@router.post("/whatif", summary="Coverage change from adding sites and/or closing resources")
def whatif(db: DbSession, runtime: Runtime, body: WhatIfIn, token: Bearer) -> dict[str, Any]:
    """Before/after covered population in total and per district, and each added site's own gain."""
    cat = parse_category_or_all(body.category)
    model = checked_model(db, runtime, secret=token, resolution=body.resolution)
    pts = [wgs84_point(runtime, p.lon, p.lat, body.crs) for p in body.add]
    add = ([p[0] for p in pts], [p[1] for p in pts]) if pts else None
    w = what_if(model, cat, mode=body.mode, minutes=body.minutes, add=add, close=body.close)
    added = [
        {**a, **point_out(a["lon"], a["lat"], body.crs), "label": body.add[i].label} for i, a in enumerate(w.added)
    ]
    return {
        "city": runtime.city.key,
        "category": w.category,
        "mode": w.mode,
        "minutes": body.minutes,
        **_flags(model, [w.mode]),
        "before": w.before.total,
        "after": w.after.total,
        "change": w.delta,
        "districts": _records(w.district_changes()),
        "added": added,
        "closed": w.closed,
        "crs": body.crs,
    }


@router.get("/access", summary="Capacity-aware access (2SFCA): seats per 1,000 residents, crowded areas")
def access(
    db: DbSession,
    runtime: Runtime,
    token: Bearer,
    category: CategoryParam = "all",
    mode: Mode = "ebike",
    minutes: MinutesParam = 30,
    supply: Annotated[
        Literal["seats", "classes"], Query(description="seats = Resource.seats; classes = current class seats")
    ] = "seats",
    grid: Annotated[bool, Query(description="include per-cell access as GeoJSON")] = False,
    resolution: ResolutionParam = None,
) -> dict[str, Any]:
    """Two-step floating catchment: each resource's seats shared among the residents who reach it within
    ``minutes``; per district/town the seats per 1,000 residents, residents without access, and residents
    in *crowded* cells (reached, but with under half the city-wide seats per resident)."""
    cat = parse_category_or_all(category)
    model = checked_model(db, runtime, secret=token, resolution=resolution)
    acc = model.two_step_fca(cat, mode=mode, minutes=minutes, supply=supply)
    per_res = [
        {
            "id": int(i),
            "seats": float(s),
            "catchment_population": int(round(c)),
            "seats_per_1000": round(1000.0 * float(r), 3),
        }
        for i, s, c, r in zip(
            acc.resource_ids, acc.resource_seats, acc.resource_catchment, acc.resource_ratio, strict=True
        )
    ]
    answer: dict[str, Any] = {
        "city": runtime.city.key,
        "category": cat,
        "mode": mode,
        "minutes": minutes,
        "supply": supply,
        **_flags(model, [mode]),
        "city_seats_per_1000": round(1000.0 * acc.city_ratio, 3),
        "crowded_below_seats_per_1000": round(500.0 * acc.city_ratio, 3),
        "missing_supply": acc.missing_supply,
        "districts": _records(acc.districts.drop(columns=["district_adcode"], errors="ignore")),
        "towns": _records(acc.towns.drop(columns=["district_adcode"], errors="ignore")),
        "resources": per_res,
        "grid": None,
    }
    if grid:
        frame = model.grid
        feats = []
        for k, (cell, pop, geom) in enumerate(zip(frame["h3"], frame["population"], frame.geometry, strict=True)):
            feats.append(
                {
                    "type": "Feature",
                    "geometry": geom.__geo_interface__,
                    "properties": {
                        "h3": str(cell),
                        "population": int(pop),
                        "seats_per_1000": round(1000.0 * float(acc.cell_access[k]), 3),
                        "reached": bool(acc.covered[k]),
                        "crowded": bool(acc.crowded[k]),
                    },
                }
            )
        answer["grid"] = {"type": "FeatureCollection", "features": feats}
    return answer


@router.get(
    "/export",
    summary="Download coverage as GeoPackage, GeoJSON, CSV, XLSX, PNG or PDF",
    response_class=Response,
    responses={200: {"content": {media: {} for media in dict.fromkeys(FORMATS.values())}}},
)
def export(
    db: DbSession,
    runtime: Runtime,
    token: Bearer,
    fmt: Annotated[str, Query(alias="format", description="one of " + ", ".join(FORMATS), max_length=30)] = "xlsx",
    category: CategoryParam = "all",
    mode: Mode = "ebike",
    minutes: MinutesParam = 30,
    resolution: ResolutionParam = None,
) -> Response:
    """Maps (GeoPackage/GeoJSON/PNG/PDF) use ``mode`` and ``minutes``; tables cover every mode and threshold."""
    cat = parse_category_or_all(category)
    check_mode(mode)
    model = checked_model(db, runtime, secret=token, resolution=resolution)
    with tempfile.TemporaryDirectory(prefix="skillcircle-export-") as work:
        data = export_bytes(fmt, model, cat, mode=mode, minutes=minutes, workdir=work)
    name = f"skillcircle-{runtime.city.key}-{cat}-{mode}-{minutes}min-{city_today(runtime.city).isoformat()}.{fmt}"
    headers = {
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-SkillCircle-Estimate": "true" if model.estimate(mode) else "false",
        "X-SkillCircle-Sample": "true" if model.resources.any_sample else "false",
    }
    return Response(content=data, media_type=FORMATS[fmt], headers=headers)
