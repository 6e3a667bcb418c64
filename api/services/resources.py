"""The registry of training and evaluation places (resources) of a city: its queries, and the admin
API's audited writes.

Writes take the admin API's :class:`~api.schemas.ResourceIn` and are audited as the console's are:
:class:`geo.audit.AuditedWrite` with :func:`geo.editing.resource_record` as the audited fields. The
caller commits (the audit entry goes with the write) and then invalidates the city's resource index.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from api.schemas import ResourceIn
from geo.audit import AuditedWrite
from geo.boundaries import district_of, districts
from geo.categories import parse_category
from geo.cities import CityPack
from geo.clock import upcoming_class, upcoming_evaluation
from geo.coords import to_wgs84
from geo.editing import resource_record
from geo.errors import ConflictError, InvalidParameterError, NotFoundError
from geo.land import check_on_land
from geo.locations import within
from geo.models import Evaluation, Resource, ResourceSkill, TrainingClass


def get_resource(db: Session, city: CityPack, resource_id: int) -> Resource:
    """The resource ``resource_id`` of ``city`` or a 404 ``not_found`` error."""
    res = db.get(Resource, resource_id)
    if res is None or res.city != city.key:
        msg = f"no resource with id {resource_id} in {city.key}"
        raise NotFoundError(msg, message_zh=f"找不到编号为 {resource_id} 的资源", details={"id": resource_id})
    return res


def find_resources(
    db: Session,
    city: CityPack,
    *,
    categories: list[str] | None = None,
    skill: str | None = None,
    district: str | None = None,
    town: str | None = None,
    q: str | None = None,
    areas: Sequence[Any] = (),
    page: int = 1,
    page_size: int = 50,
) -> tuple[int, Sequence[Resource]]:
    """One page of the city's resources that match every filter given, by id, and the total matching.

    ``skill`` is an exact skill name; ``q`` is literal text in the name or address (``%`` and ``_``
    match themselves, not "anything"); ``areas`` are WGS84 shapes the point must lie in (see
    :func:`geo.locations.within`: the PostGIS index on PostgreSQL).
    """
    stmt = select(Resource).where(Resource.city == city.key)
    for area in areas:
        stmt = stmt.where(within(db, area, city=city.key))
    if categories:
        stmt = stmt.where(Resource.category.in_(categories))
    if skill:
        stmt = stmt.where(Resource.id.in_(select(ResourceSkill.resource_id).where(ResourceSkill.name == skill)))
    if district:
        stmt = stmt.where(Resource.district == district)
    if town:
        stmt = stmt.where(Resource.town == town)
    if q:
        stmt = stmt.where(
            or_(Resource.name.contains(q, autoescape=True), Resource.address.contains(q, autoescape=True))
        )
    total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = db.scalars(stmt.order_by(Resource.id).offset((page - 1) * page_size).limit(page_size)).all()
    return total, rows


def next_events(
    db: Session, resource: Resource, *, today: date, limit: int
) -> tuple[Sequence[TrainingClass], Sequence[Evaluation]]:
    """The resource's next ``limit`` classes and evaluations from ``today``, soonest first."""
    classes = db.scalars(
        select(TrainingClass)
        .where(TrainingClass.resource_id == resource.id, upcoming_class(today))
        .order_by(TrainingClass.start_date)
        .limit(limit)
    ).all()
    evaluations = db.scalars(
        select(Evaluation)
        .where(Evaluation.resource_id == resource.id, upcoming_evaluation(today))
        .order_by(Evaluation.date)
        .limit(limit)
    ).all()
    return classes, evaluations


def skill_counts(db: Session, city: CityPack) -> list[dict]:
    """Every skill name (and occupation code) offered in the city, with how many resources offer it."""
    rows = db.execute(
        select(ResourceSkill.name, func.max(ResourceSkill.code), func.count())
        .join(Resource)
        .where(Resource.city == city.key)
        .group_by(ResourceSkill.name)
        .order_by(func.count().desc(), ResourceSkill.name)
    ).all()
    return [{"name": n, "code": c, "resources": k} for n, c, k in rows]


def _apply_resource(db: Session, city: CityPack, res: Resource, body: ResourceIn) -> None:
    """Check ``body`` (point in a district and on land, external id unused) and set it on ``res``."""
    lon, lat = to_wgs84(body.lon, body.lat, crs=body.crs)
    lon, lat = float(lon), float(lat)
    city.check_point(lon, lat)
    code = district_of([lon], [lat], city)[0]
    if code is None:
        msg = f"point ({lon:.5f}, {lat:.5f}) lies outside every district of {city.name_en}"
        raise InvalidParameterError(
            msg, message_zh=f"坐标（{lon:.5f}, {lat:.5f}）不在{city.name_zh}任何区县内", code="outside_service_area"
        )
    check_on_land(lon, lat, city)
    names = dict(zip(districts(city)["adcode"], districts(city)["name_zh"], strict=True))
    clash = db.scalar(
        select(Resource.id).where(
            Resource.city == city.key, Resource.external_id == body.external_id, Resource.id != (res.id or 0)
        )
    )
    if clash is not None:
        msg = f"external_id {body.external_id!r} is already used by resource {clash}"
        raise ConflictError(msg, message_zh=f"编号“{body.external_id}”已被资源 {clash} 使用")
    res.external_id = body.external_id
    res.name = body.name
    res.category = parse_category(body.category)
    res.district = body.district or names.get(code)
    res.town = body.town
    res.address = body.address
    res.lon, res.lat = lon, lat
    res.phone = body.phone
    res.opening_hours = body.opening_hours
    res.reg_steps = list(body.registration.steps)
    res.reg_url = body.registration.url
    res.reg_phone = body.registration.phone
    res.subsidy_eligible = body.subsidy.eligible
    res.subsidy_note = body.subsidy.note
    res.seats = body.seats
    res.source = body.source
    res.is_sample = body.is_sample
    res.skills = [ResourceSkill(name=s.name, code=s.code) for s in body.skills]
    res.updated_at = datetime.now(UTC)  # also when only the skills changed: other workers re-index on it


def create_resource(db: Session, city: CityPack, body: ResourceIn, *, actor: str) -> Resource:
    """Create a resource of ``city`` (its point converted to WGS84, in a district); audited, caller commits."""
    res = Resource(city=city.key)
    with AuditedWrite(db, actor=actor, action="create", entity="resource", snapshot=resource_record) as write:
        _apply_resource(db, city, res, body)
        db.add(res)
        write.row = res
    return res


def replace_resource(db: Session, city: CityPack, resource_id: int, body: ResourceIn, *, actor: str) -> Resource:
    """Replace every field of resource ``resource_id``; the audit log records what changed; caller commits."""
    res = get_resource(db, city, resource_id)
    with AuditedWrite(db, actor=actor, action="update", entity="resource", row=res, snapshot=resource_record):
        _apply_resource(db, city, res, body)
    return res


def delete_resource(db: Session, city: CityPack, resource_id: int, *, actor: str) -> None:
    """Delete a resource with its classes and evaluations (audited; caller commits)."""
    res = get_resource(db, city, resource_id)
    with AuditedWrite(db, actor=actor, action="delete", entity="resource", row=res, snapshot=resource_record):
        db.delete(res)
