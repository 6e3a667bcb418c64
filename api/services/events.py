"""Training classes and evaluation sessions: the public listings' queries and the admin API's audited writes.

Writes are audited as the console's are (:func:`geo.editing.save_event`): :class:`geo.audit.AuditedWrite` with
:func:`geo.editing.event_record` as the audited fields and :data:`geo.editing.ENTITY` as the entity
name (``class``, ``evaluation``). The caller commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from api.services.resources import get_resource
from geo.audit import AuditedWrite
from geo.cities import CityPack
from geo.clock import city_today, upcoming_class, upcoming_evaluation
from geo.editing import ENTITY, event_record
from geo.errors import ConflictError, InvalidParameterError, NotFoundError
from geo.models import Evaluation, Resource, TrainingClass
from geo.signups import offer_ids, promote

MODELS: dict[str, type[TrainingClass] | type[Evaluation]] = {"classes": TrainingClass, "evaluations": Evaluation}


def _check_range(date_from: date | None, date_to: date | None) -> None:
    if date_from and date_to and date_to < date_from:
        msg = f"date_to {date_to} is before date_from {date_from}"
        raise InvalidParameterError(
            msg, message_zh=f"结束日期 {date_to} 早于开始日期 {date_from}", code="bad_date_range"
        )


def _filtered(
    stmt: Select, model: Any, *, skill: str | None, level: int | None, seats_left: bool, resource_id: int | None
) -> Select:
    """The filters classes and evaluations share."""
    if skill:
        stmt = stmt.where(model.skill == skill)
    if level:
        stmt = stmt.where(model.level == level)
    if seats_left:
        stmt = stmt.where(model.seats_left > 0)
    if resource_id:
        stmt = stmt.where(model.resource_id == resource_id)
    return stmt.where(model.cancelled_at.is_(None))  # a cancelled class or session is no longer offered


def _upcoming(
    model: Any,
    upcoming: Any,
    starts: Any,
    city: CityPack,
    *,
    date_from: date | None,
    date_to: date | None,
    **filters: Any,
) -> Select:
    """Upcoming rows of ``model`` in ``city`` from ``date_from`` (default: the city's today), starting by
    ``date_to``, with the shared filters."""
    _check_range(date_from, date_to)
    stmt = (
        select(model)
        .options(selectinload(model.resource))
        .where(model.city == city.key, upcoming(date_from or city_today(city)))
    )
    if date_to:
        stmt = stmt.where(starts <= date_to)
    return _filtered(stmt, model, **filters)


def _page(db: Session, stmt: Select, order: tuple, *, page: int, page_size: int) -> tuple[int, Sequence[Any]]:
    total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = db.scalars(stmt.order_by(*order).offset((page - 1) * page_size).limit(page_size)).all()
    return total, rows


def find_classes(
    db: Session,
    city: CityPack,
    *,
    skill: str | None = None,
    level: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    schedule: str | None = None,
    seats_left: bool = False,
    resource_id: int | None = None,
    district: str | None = None,
    page: int = 1,
    page_size: int = 50,
) -> tuple[int, Sequence[TrainingClass]]:
    """One page of the city's upcoming classes that match every filter, soonest first, and the total.

    ``date_from`` (default: the city's today) keeps classes ending on or after it, ``date_to`` those
    starting on or before it (422 ``bad_date_range`` when it is before ``date_from``).
    """
    stmt = _upcoming(
        TrainingClass,
        upcoming_class,
        TrainingClass.start_date,
        city,
        date_from=date_from,
        date_to=date_to,
        skill=skill,
        level=level,
        seats_left=seats_left,
        resource_id=resource_id,
    )
    if schedule:
        stmt = stmt.where(TrainingClass.schedule == schedule)
    if district:
        stmt = stmt.where(TrainingClass.resource_id.in_(select(Resource.id).where(Resource.district == district)))
    return _page(db, stmt, (TrainingClass.start_date, TrainingClass.id), page=page, page_size=page_size)


def find_evaluations(
    db: Session,
    city: CityPack,
    *,
    skill: str | None = None,
    level: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    weekend: bool = False,
    seats_left: bool = False,
    resource_id: int | None = None,
    page: int = 1,
    page_size: int = 50,
) -> tuple[int, Sequence[Evaluation]]:
    """One page of the city's upcoming evaluation sessions that match every filter, soonest first, and
    the total (dates as :func:`find_classes`; ``weekend``: Saturday or Sunday only)."""
    stmt = _upcoming(
        Evaluation,
        upcoming_evaluation,
        Evaluation.date,
        city,
        date_from=date_from,
        date_to=date_to,
        skill=skill,
        level=level,
        seats_left=seats_left,
        resource_id=resource_id,
    )
    if weekend:
        # weekday() is not portable SQL: filter the (small) date window's ids and dates here
        dated = db.execute(stmt.with_only_columns(Evaluation.id, Evaluation.date))
        stmt = stmt.where(Evaluation.id.in_([i for i, d in dated if d.weekday() >= 5]))
    return _page(db, stmt, (Evaluation.date, Evaluation.id), page=page, page_size=page_size)


def get_event(db: Session, city: CityPack, kind: str, event_id: int) -> Any:
    """The class or evaluation (``kind``) ``event_id`` of ``city``, or a 404 ``not_found`` error."""
    obj = db.get(TrainingClass, event_id) if MODELS[kind] is TrainingClass else db.get(Evaluation, event_id)
    if obj is None or obj.city != city.key:
        msg = f"no {ENTITY[kind]} with id {event_id} in {city.key}"
        raise NotFoundError(msg, message_zh=f"找不到编号为 {event_id} 的记录", details={"id": event_id})
    return obj


def _apply_event(db: Session, city: CityPack, kind: str, obj: Any, body: Any) -> None:
    """Check ``body`` (its resource exists, external id unused, dates and seats in order) and set it on ``obj``."""
    get_resource(db, city, body.resource_id)
    model = MODELS[kind]
    clash = db.scalar(
        select(model.id).where(model.city == city.key, model.external_id == body.external_id, model.id != (obj.id or 0))
    )
    if clash is not None:
        msg = f"external_id {body.external_id!r} is already used by {ENTITY[kind]} {clash}"
        raise ConflictError(msg, message_zh=f"编号“{body.external_id}”已被使用")
    if kind == "classes":
        if body.end_date < body.start_date:
            msg = "end_date is before start_date"
            raise InvalidParameterError(msg, message_zh="结束日期早于开始日期", code="bad_date_range")
        if body.seats_left > body.seats_total:
            msg = "seats_left exceeds seats_total"
            raise InvalidParameterError(msg, message_zh="剩余名额多于总名额", code="bad_seats")
    for field, value in body.model_dump().items():
        setattr(obj, field, value)


def _audited(db: Session, kind: str, action: str, *, actor: str, row: Any = None) -> AuditedWrite:
    return AuditedWrite(
        db, actor=actor, action=action, entity=ENTITY[kind], row=row, snapshot=lambda obj: event_record(obj, kind)
    )


def create_event(db: Session, city: CityPack, kind: str, body: BaseModel, *, actor: str) -> Any:
    """Create a class or evaluation (``kind``) from the admin API's body; audited, caller commits."""
    obj = MODELS[kind](city=city.key)
    with _audited(db, kind, "create", actor=actor) as write:
        _apply_event(db, city, kind, obj, body)
        db.add(obj)
        write.row = obj
    return obj


def replace_event(db: Session, city: CityPack, kind: str, event_id: int, body: BaseModel, *, actor: str) -> Any:
    """Replace a class or evaluation; audited, caller commits. Seats added go to its waitlist first, in order."""
    obj = get_event(db, city, kind, event_id)
    with _audited(db, kind, "update", actor=actor, row=obj):
        _apply_event(db, city, kind, obj, body)
    promote(db, **offer_ids(obj))
    return obj


def delete_event(db: Session, city: CityPack, kind: str, event_id: int, *, actor: str) -> None:
    """Delete a class or evaluation (audited; caller commits)."""
    obj = get_event(db, city, kind, event_id)
    with _audited(db, kind, "delete", actor=actor, row=obj):
        db.delete(obj)
