"""Queries over the registry of training and evaluation places (resources) of a city."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from geo.cities import CityPack
from geo.clock import upcoming_class, upcoming_evaluation
from geo.errors import NotFoundError
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
