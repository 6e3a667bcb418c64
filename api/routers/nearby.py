"""``/api/v1/nearby`` and ``/api/v1/isochrones``: what a worker can reach, by real travel time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.deps import City, DbSession, Runtime
from api.params import geojson_to_crs, parse_categories, parse_minutes_list, wgs84_point
from api.responses import OrjsonResponse
from api.schemas import (
    ESTIMATE_NOTICE,
    SAMPLE_NOTICE,
    Crs,
    ErrorResponse,
    Mode,
    NearbyResponse,
)
from api.services.resources import get_resource
from api.state import ResourceIndex
from geo.cities import CityPack
from geo.errors import UnknownSkillError

if TYPE_CHECKING:
    from isochrones.engine import CityEngine

router = APIRouter(
    prefix="/api/v1",
    tags=["travel time"],
    responses={422: {"model": ErrorResponse}},
)

Lat = Annotated[float, Query(ge=-90, le=90, description="latitude, in the `crs` given")]
Lon = Annotated[float, Query(ge=-180, le=180, description="longitude, in the `crs` given")]
Minutes = Annotated[int, Query(ge=1, le=60, description="time limit in minutes (1–60)")]
Direction = Literal["to", "from"]


def _check_skill(index: ResourceIndex, city_key: str, skill: str | None) -> None:
    if skill is not None and not any(skill in offered for offered in index.skills):
        msg = f"no resource in {city_key} offers the skill {skill!r}"
        raise UnknownSkillError(msg, message_zh=f"本市没有提供“{skill}”工种的机构", details={"skill": skill})


View = Literal["full", "compact"]


@router.get(
    "/nearby",
    response_model=NearbyResponse,
    response_class=OrjsonResponse,
    summary="Resources reachable within a time, nearest first",
)
async def nearby(
    runtime: Runtime,
    lat: Lat,
    lon: Lon,
    mode: Mode = "ebike",
    minutes: Minutes = 30,
    category: Annotated[str | None, Query(description="category key(s), comma-separated", max_length=200)] = None,
    skill: Annotated[str | None, Query(description="skill (工种)", max_length=100)] = None,
    crs: Annotated[Crs, Query(description="crs of lat/lon and of returned coordinates")] = "wgs84",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    lang: Literal["zh", "en"] = "zh",
    view: Annotated[
        View,
        Query(
            description="full: each item carries the resource's full public record; compact: only its id, "
            "name, category, district, town, point and sample flag (about a third of the bytes; the full "
            "record is at /api/v1/resources/{id})"
        ),
    ] = "full",
) -> Response:
    """From the worker's point to each resource, by the mode's real travel time on the road network
    (one-way streets respected); ``estimate: true`` when only a straight-line estimate is available.

    ``async``: once the city is loaded the work is a few hundred microseconds of CPU, less than a
    worker-thread hop; the first load and the periodic registry check run in a worker thread. The
    answer is the :class:`NearbyResponse` schema, written with orjson around resource records that
    were serialised once per registry version (no per-request validation of the response model).
    """
    if not runtime.ready():  # loading the engine or checking the registry reads disk and database
        await run_in_threadpool(lambda: runtime.index)
    wlon, wlat = wgs84_point(runtime, lon, lat, crs)
    cats = parse_categories(category)
    engine = runtime.engine
    index = runtime.index
    _check_skill(index, runtime.city.key, skill)
    hits = engine.nearby(
        wlon, wlat, mode=mode, minutes=minutes, mask=index.mask(categories=cats, skill=skill), limit=limit
    )
    compact = view == "compact"
    items = [
        {
            "minutes": round(h.seconds / 60.0, 1),
            "distance_m": float(round(h.distance_m)),
            "estimate": bool(h.estimate),
            "resource": index.record_json(h.resource_id, lang=lang, crs=crs, compact=compact),
        }
        for h in hits
    ]
    notice = {}
    if index.any_sample:  # every item comes from the index: any sample item makes the index's flag true
        notice["sample"] = SAMPLE_NOTICE
    if engine.estimate:
        notice["estimate"] = ESTIMATE_NOTICE
    body = {  # the fields of NearbyResponse, in its order
        "city": runtime.city.key,
        "mode": mode,
        "minutes": minutes,
        "origin": {"lat": lat, "lon": lon, "crs": crs, "wgs84": {"lat": wlat, "lon": wlon}},
        "estimate": bool(engine.estimate),
        "sample": index.any_sample,
        "notice": notice,
        "count": len(items),
        "items": items,
    }
    return OrjsonResponse(body)


def _isochrone_answer(fc: dict, engine: CityEngine, *, mode: str, direction: str, crs: str, city: CityPack) -> dict:
    """The engine's FeatureCollection in ``crs``, with the estimate flag and notice, and the population
    inside each band (``total_pop``, as openrouteservice names it) from the city's population surface."""
    from shapely.geometry import shape

    from geo.population import surface_of
    from geo.population_inside import population_inside
    from planning.grid import city_grid

    grid = city_grid(city)
    feats = fc.get("features", [])
    pops = population_inside(grid, [shape(f["geometry"]) if f.get("geometry") else None for f in feats])
    for feat, pop in zip(feats, pops, strict=True):
        feat.setdefault("properties", {})["total_pop"] = pop
    fc["population_surface"] = surface_of(grid)
    fc = geojson_to_crs(fc, crs)
    fc.update(estimate=bool(engine.estimate), direction=direction, mode=mode)
    if engine.estimate:
        fc["notice"] = ESTIMATE_NOTICE
    return fc


@router.get("/isochrones", summary="Nested travel-time polygons around a point (GeoJSON)")
def isochrones(
    runtime: Runtime,
    lat: Lat,
    lon: Lon,
    mode: Mode = "ebike",
    minutes: Annotated[str, Query(description="bands, e.g. 10,20,30", max_length=40)] = "10,20,30",
    direction: Annotated[Direction, Query(description="from = outward from the point; to = who reaches it")] = "from",
    crs: Crs = "wgs84",
) -> dict:
    """Areas reachable within each band (holes kept); a FeatureCollection, one Feature per band."""
    bands = parse_minutes_list(minutes)
    wlon, wlat = wgs84_point(runtime, lon, lat, crs)
    engine = runtime.engine
    fc = engine.isochrone(wlon, wlat, mode=mode, minutes=tuple(bands), direction=direction)
    return _isochrone_answer(fc, engine, mode=mode, direction=direction, crs=crs, city=runtime.city)


@router.get("/resources/{resource_id}/isochrones", summary="A resource's 30-minute circle: who can reach it, by band")
def resource_isochrones(
    db: DbSession,
    city: City,
    runtime: Runtime,
    resource_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    mode: Mode = "ebike",
    minutes: Annotated[str, Query(max_length=40)] = "10,20,30",
    crs: Crs = "wgs84",
) -> dict:
    """The area from which the resource is reachable within each band (travel TO the resource)."""
    res = get_resource(db, city, resource_id)
    bands = parse_minutes_list(minutes)
    engine = runtime.engine
    # read from what `skillcircle build` precomputed when it matches this graph, point and bands
    fc = engine.resource_isochrones(res.id, mode=mode, minutes=tuple(bands))
    fc = _isochrone_answer(fc, engine, mode=mode, direction="to", crs=crs, city=runtime.city)
    fc["resource"] = {"id": res.id, "name": res.name, "is_sample": res.is_sample}
    if res.is_sample:
        fc["sample_notice"] = SAMPLE_NOTICE
    return fc
