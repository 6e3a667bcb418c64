"""``/api/v1/resources``: the registry of training and evaluation places."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, or_, select

from api.deps import City, DbSession
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
from geo.categories import CATEGORIES, parse_category
from geo.clock import city_today, upcoming_class, upcoming_evaluation
from geo.errors import NotFoundError
from geo.models import Evaluation, Resource, ResourceSkill, TrainingClass

router = APIRouter(prefix="/api/v1", tags=["resources"], responses={422: {"model": ErrorResponse}})

Lang = Literal["zh", "en"]


def parse_categories(category: str | None) -> list[str] | None:
    """``training,college`` or Chinese labels → category keys (None = all)."""
    if not category:
        return None
    return [parse_category(part) for part in category.replace("，", ",").split(",") if part.strip()]


def get_resource(db: DbSession, city: City, resource_id: int) -> Resource:
    """The resource ``resource_id`` of ``city`` or a 404 ``not_found`` error."""
    res = db.get(Resource, resource_id)
    if res is None or res.city != city.key:
        msg = f"no resource with id {resource_id} in {city.key}"
        raise NotFoundError(msg, message_zh=f"找不到编号为 {resource_id} 的资源", details={"id": resource_id})
    return res


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
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
    format: Annotated[Literal["json", "geojson"] | None, Query()] = None,
    crs: Crs = "wgs84",
    lang: Lang = "zh",
):
    """Filter by category, skill, district, town and text; paginated; nearest is ``/nearby``."""
    stmt = select(Resource).where(Resource.city == city.key)
    cats = parse_categories(category)
    if cats:
        stmt = stmt.where(Resource.category.in_(cats))
    if skill:
        stmt = stmt.where(Resource.id.in_(select(ResourceSkill.resource_id).where(ResourceSkill.name == skill)))
    if district:
        stmt = stmt.where(Resource.district == district)
    if town:
        stmt = stmt.where(Resource.town == town)
    if q:
        # autoescape: q=% or q=_ is literal text, not "match everything"
        stmt = stmt.where(
            or_(Resource.name.contains(q, autoescape=True), Resource.address.contains(q, autoescape=True))
        )
    total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = db.scalars(stmt.order_by(Resource.id).offset((page - 1) * page_size).limit(page_size)).all()
    items = [ResourceOut.of(r, lang=lang, crs=crs) for r in rows]
    sample = any(r.is_sample for r in rows)
    meta = {
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
    today = city_today(city)
    classes = db.scalars(
        select(TrainingClass)
        .where(TrainingClass.resource_id == res.id, upcoming_class(today))
        .order_by(TrainingClass.start_date)
        .limit(limit)
    ).all()
    evaluations = db.scalars(
        select(Evaluation)
        .where(Evaluation.resource_id == res.id, upcoming_evaluation(today))
        .order_by(Evaluation.date)
        .limit(limit)
    ).all()
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
    rows = db.execute(
        select(ResourceSkill.name, func.max(ResourceSkill.code), func.count())
        .join(Resource)
        .where(Resource.city == city.key)
        .group_by(ResourceSkill.name)
        .order_by(func.count().desc(), ResourceSkill.name)
    ).all()
    return [{"name": n, "code": c, "resources": k} for n, c, k in rows]
