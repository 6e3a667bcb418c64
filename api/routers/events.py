"""``/api/v1/classes`` and ``/api/v1/evaluations``: upcoming training classes and evaluation sessions."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from api.deps import City, DbSession
from api.schemas import SAMPLE_NOTICE, ClassOut, ClassPage, ErrorResponse, EvaluationOut, EvaluationPage
from geo.errors import InvalidParameterError
from geo.models import Evaluation, Resource, TrainingClass

router = APIRouter(prefix="/api/v1", tags=["classes & evaluations"], responses={422: {"model": ErrorResponse}})

Lang = Literal["zh", "en"]
Level = Annotated[int | None, Query(ge=1, le=5, description="1 = 一级/高级技师 … 5 = 五级/初级工")]


def _check_range(date_from: date | None, date_to: date | None) -> None:
    if date_from and date_to and date_to < date_from:
        msg = f"date_to {date_to} is before date_from {date_from}"
        raise InvalidParameterError(
            msg, message_zh=f"结束日期 {date_to} 早于开始日期 {date_from}", code="bad_date_range"
        )


def _paged(db: DbSession, stmt, order, page: int, page_size: int):  # noqa: ANN001, ANN202
    total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = db.scalars(stmt.order_by(*order).offset((page - 1) * page_size).limit(page_size)).all()
    return total, rows


@router.get("/classes", response_model=ClassPage, summary="Training classes by skill, level, dates, schedule, seats")
def list_classes(
    db: DbSession,
    city: City,
    skill: Annotated[str | None, Query(max_length=100)] = None,
    level: Level = None,
    date_from: Annotated[date | None, Query(description="classes ending on/after (default today)")] = None,
    date_to: Annotated[date | None, Query(description="classes starting on/before")] = None,
    schedule: Literal["weekday", "evening", "weekend"] | None = None,
    seats_left: Annotated[bool, Query(description="only classes with seats left")] = False,
    resource_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    district: Annotated[str | None, Query(max_length=60)] = None,
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
    lang: Lang = "zh",
) -> ClassPage:
    """Upcoming classes, soonest first; evenings/weekends via ``schedule``."""
    _check_range(date_from, date_to)
    stmt = (
        select(TrainingClass)
        .options(selectinload(TrainingClass.resource))
        .where(TrainingClass.city == city.key, TrainingClass.end_date >= (date_from or date.today()))
    )
    if date_to:
        stmt = stmt.where(TrainingClass.start_date <= date_to)
    if skill:
        stmt = stmt.where(TrainingClass.skill == skill)
    if level:
        stmt = stmt.where(TrainingClass.level == level)
    if schedule:
        stmt = stmt.where(TrainingClass.schedule == schedule)
    if seats_left:
        stmt = stmt.where(TrainingClass.seats_left > 0)
    if resource_id:
        stmt = stmt.where(TrainingClass.resource_id == resource_id)
    if district:
        stmt = stmt.where(TrainingClass.resource_id.in_(select(Resource.id).where(Resource.district == district)))
    total, rows = _paged(db, stmt, (TrainingClass.start_date, TrainingClass.id), page, page_size)
    sample = any(c.is_sample for c in rows)
    return ClassPage(
        city=city.key,
        total=total,
        page=page,
        page_size=page_size,
        sample=sample,
        notice=SAMPLE_NOTICE if sample else None,
        items=[ClassOut.of(c, lang=lang) for c in rows],
    )


@router.get("/evaluations", response_model=EvaluationPage, summary="Skill evaluations by skill, level, dates, seats")
def list_evaluations(
    db: DbSession,
    city: City,
    skill: Annotated[str | None, Query(max_length=100)] = None,
    level: Level = None,
    date_from: Annotated[date | None, Query(description="on/after (default today)")] = None,
    date_to: Annotated[date | None, Query(description="on/before")] = None,
    weekend: Annotated[bool, Query(description="only sessions on Saturday or Sunday")] = False,
    seats_left: Annotated[bool, Query(description="only sessions with seats left")] = False,
    resource_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
    lang: Lang = "zh",
) -> EvaluationPage:
    """Upcoming evaluation sessions, soonest first."""
    _check_range(date_from, date_to)
    stmt = (
        select(Evaluation)
        .options(selectinload(Evaluation.resource))
        .where(Evaluation.city == city.key, Evaluation.date >= (date_from or date.today()))
    )
    if date_to:
        stmt = stmt.where(Evaluation.date <= date_to)
    if skill:
        stmt = stmt.where(Evaluation.skill == skill)
    if level:
        stmt = stmt.where(Evaluation.level == level)
    if seats_left:
        stmt = stmt.where(Evaluation.seats_left > 0)
    if resource_id:
        stmt = stmt.where(Evaluation.resource_id == resource_id)
    if weekend:
        rows_all = db.scalars(stmt).all()  # weekday() is not portable SQL: filter the (small) date window here
        keep = [e.id for e in rows_all if e.date.weekday() >= 5]
        stmt = stmt.where(Evaluation.id.in_(keep))
    total, rows = _paged(db, stmt, (Evaluation.date, Evaluation.id), page, page_size)
    sample = any(e.is_sample for e in rows)
    return EvaluationPage(
        city=city.key,
        total=total,
        page=page,
        page_size=page_size,
        sample=sample,
        notice=SAMPLE_NOTICE if sample else None,
        items=[EvaluationOut.of(e, lang=lang) for e in rows],
    )
