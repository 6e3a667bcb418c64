"""``/api/v1/resources``: the registry of training and evaluation places."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from api.deps import City, DbSession
from api.params import parse_categories
from api.schemas import (
    SAMPLE_NOTICE,
    ClassOut,
    Crs,
    ErrorResponse,
    EvaluationOut,
    ResourceDetail,
    ResourceOut,
    ResourcePage,
)
from api.services.resources import find_resources, get_resource, next_events, skill_counts
from geo.categories import CATEGORIES
from geo.clock import city_today
from geo.locations import located_areas

router = APIRouter(prefix="/api/v1", tags=["resources"], responses={422: {"model": ErrorResponse}})

Lang = Literal["zh", "en"]


def resources_geojson(items: list[ResourceOut], *, extra: dict) -> dict:
    """A GeoJSON FeatureCollection of resources (coordinates in each item's crs)."""
    features = [
        {
            "type": "Feature",
            "id": r.id,
            "geometry": {"type": "Point", "coordinates": [r.lon, r.lat]},
            "properties": r.model_dump(mode="json", exclude={"lon", "lat"}),
        }
        for r in items
    ]
    return {"type": "FeatureCollection", "features": features, **extra}


@router.get("/categories", summary="The six resource categories with labels and colours")
def list_categories(lang: Lang = "zh") -> list[dict]:
    """Stable keys, Chinese/English labels and map colours of the six categories."""
    return [
        {"key": c.key, "label": c.label(lang), "label_zh": c.label_zh, "label_en": c.label_en, "color": c.color}
        for c in CATEGORIES
    ]


@router.get(
    "/resources",
    response_model=ResourcePage,
    summary="List resources (JSON, or GeoJSON with Accept: application/geo+json or ?format=geojson)",
    responses={200: {"content": {"application/geo+json": {}}}},
)
def list_resources(
    request: Request,
    db: DbSession,
    city: City,
    category: Annotated[str | None, Query(description="category key(s), comma-separated", max_length=200)] = None,
    skill: Annotated[str | None, Query(description="skill (工种), exact name", max_length=100)] = None,
    district: Annotated[str | None, Query(max_length=60)] = None,
    town: Annotated[str | None, Query(max_length=60)] = None,
    q: Annotated[str | None, Query(description="text in name or address", max_length=100)] = None,
    bbox: Annotated[
        str | None, Query(description="located in the box min_lon,min_lat,max_lon,max_lat (in `crs`)", max_length=100)
    ] = None,
    in_district: Annotated[
        str | None, Query(description="located in the district's polygon (name or adcode)", max_length=60)
    ] = None,
    in_town: Annotated[
        str | None, Query(description="located in the town's approximate area (name or code)", max_length=60)
    ] = None,
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
    format: Annotated[Literal["json", "geojson"] | None, Query()] = None,
    crs: Crs = "wgs84",
    lang: Lang = "zh",
) -> ResourcePage | JSONResponse:
    """Filter by category, skill, declared district and town, text, and location (``bbox``, ``in_district``,
    ``in_town``: where the point lies; PostGIS-indexed on PostgreSQL); paginated; nearest is ``/nearby``."""
    total, rows = find_resources(
        db,
        city,
        areas=located_areas(city, bbox=bbox, in_district=in_district, in_town=in_town, crs=crs),
        categories=parse_categories(category),
        skill=skill,
        district=district,
        town=town,
        q=q,
        page=page,
        page_size=page_size,
    )
    items = [ResourceOut.of(r, lang=lang, crs=crs) for r in rows]
    sample = any(r.is_sample for r in rows)
    meta: dict[str, Any] = {
        "city": city.key,
        "total": total,
        "page": page,
        "page_size": page_size,
        "sample": sample,
        "notice": SAMPLE_NOTICE if sample else None,
    }
    wants_geo = format == "geojson" or (format is None and "application/geo+json" in request.headers.get("accept", ""))
    if wants_geo:
        return JSONResponse(resources_geojson(items, extra=meta), media_type="application/geo+json")
    return ResourcePage(items=items, **meta)


@router.get(
    "/resources/{resource_id}",
    response_model=ResourceDetail,
    summary="One resource with its next classes and evaluations",
)
def resource_detail(
    db: DbSession,
    city: City,
    resource_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    crs: Crs = "wgs84",
    lang: Lang = "zh",
    limit: Annotated[int, Query(ge=1, le=50)] = 5,
) -> ResourceDetail:
    """Details, registration guidance and the next ``limit`` classes and evaluations from today."""
    res = get_resource(db, city, resource_id)
    classes, evaluations = next_events(db, res, today=city_today(city), limit=limit)
    base = ResourceOut.of(res, lang=lang, crs=crs)
    return ResourceDetail(
        **base.model_dump(),
        next_classes=[ClassOut.of(c, lang=lang) for c in classes],
        next_evaluations=[EvaluationOut.of(e, lang=lang) for e in evaluations],
        notice=SAMPLE_NOTICE if res.is_sample else None,
    )


@router.get("/skills", summary="Skills (工种) offered in the city, with how many resources offer each")
def list_skills(db: DbSession, city: City) -> list[dict]:
    """Every skill name (and occupation code) offered by at least one resource of the city."""
    return skill_counts(db, city)
