"""Training classes and evaluation sessions: the admin API's audited writes.

Audited as the console's are (:func:`geo.editing.save_event`): :class:`geo.audit.AuditedWrite` with
:func:`geo.editing.event_record` as the audited fields and :data:`geo.editing.ENTITY` as the entity
name (``class``, ``evaluation``). The caller commits.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.services.resources import get_resource
from geo.audit import AuditedWrite
from geo.cities import CityPack
from geo.editing import ENTITY, event_record
from geo.errors import ConflictError, InvalidParameterError, NotFoundError
from geo.models import Evaluation, TrainingClass
from geo.signups import promote

MODELS: dict[str, type[TrainingClass] | type[Evaluation]] = {"classes": TrainingClass, "evaluations": Evaluation}


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
    """Replace a class or evaluation; audited, caller commits. Seats added to a class go to its waitlist
    first, in order."""
    obj = get_event(db, city, kind, event_id)
    with _audited(db, kind, "update", actor=actor, row=obj):
        _apply_event(db, city, kind, obj, body)
    if kind == "classes":
        promote(db, obj.id)
    return obj


def delete_event(db: Session, city: CityPack, kind: str, event_id: int, *, actor: str) -> None:
    """Delete a class or evaluation (audited; caller commits)."""
    obj = get_event(db, city, kind, event_id)
    with _audited(db, kind, "delete", actor=actor, row=obj):
        db.delete(obj)
