"""``/api/v1/classes`` and ``/api/v1/evaluations``: upcoming training classes and evaluation sessions."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from api.deps import City, DbSession
from api.schemas import SAMPLE_NOTICE, ClassOut, ClassPage, ErrorResponse, EvaluationOut, EvaluationPage
from geo.clock import city_today, upcoming_class, upcoming_evaluation
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


def _filtered(stmt, model, *, skill: str | None, level: int | None, seats_left: bool, resource_id: int | None):  # noqa: ANN001, ANN202
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


def _page(db: DbSession, stmt, order, *, city: str, page: int, page_size: int, page_cls, item):  # noqa: ANN001, ANN202
    """One page of ``stmt``, flagged as sample data when any row shown is."""
    total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = db.scalars(stmt.order_by(*order).offset((page - 1) * page_size).limit(page_size)).all()
    sample = any(r.is_sample for r in rows)
    return page_cls(
        city=city,
        total=total,
        page=page,
        page_size=page_size,
        sample=sample,
        notice=SAMPLE_NOTICE if sample else None,
        items=[item(r) for r in rows],
    )


@router.get("/classes", response_model=ClassPage, summary="Training classes by skill, level, dates, schedule, seats")
def list_classes(
    db: DbSession,
    city: City,
    skill: Annotated[str | None, Query(max_length=100)] = None,
    level: Level = None,
    date_from: Annotated[date | None, Query(description="classes ending on/after (default: the city's today)")] = None,
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
        .where(TrainingClass.city == city.key, upcoming_class(date_from or city_today(city)))
    )
    if date_to:
        stmt = stmt.where(TrainingClass.start_date <= date_to)
    stmt = _filtered(stmt, TrainingClass, skill=skill, level=level, seats_left=seats_left, resource_id=resource_id)
    if schedule:
        stmt = stmt.where(TrainingClass.schedule == schedule)
    if district:
        stmt = stmt.where(TrainingClass.resource_id.in_(select(Resource.id).where(Resource.district == district)))
    return _page(
        db,
        stmt,
        (TrainingClass.start_date, TrainingClass.id),
        city=city.key,
        page=page,
        page_size=page_size,
        page_cls=ClassPage,
        item=lambda c: ClassOut.of(c, lang=lang),
    )


@router.get("/evaluations", response_model=EvaluationPage, summary="Skill evaluations by skill, level, dates, seats")
def list_evaluations(
    db: DbSession,
    city: City,
    skill: Annotated[str | None, Query(max_length=100)] = None,
    level: Level = None,
    date_from: Annotated[date | None, Query(description="on/after (default: today in the city's time zone)")] = None,
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
        .where(Evaluation.city == city.key, upcoming_evaluation(date_from or city_today(city)))
    )
    if date_to:
        stmt = stmt.where(Evaluation.date <= date_to)
    stmt = _filtered(stmt, Evaluation, skill=skill, level=level, seats_left=seats_left, resource_id=resource_id)
    if weekend:
        # weekday() is not portable SQL: filter the (small) date window's ids and dates here
        dated = db.execute(stmt.with_only_columns(Evaluation.id, Evaluation.date))
        stmt = stmt.where(Evaluation.id.in_([i for i, d in dated if d.weekday() >= 5]))
    return _page(
        db,
        stmt,
        (Evaluation.date, Evaluation.id),
        city=city.key,
        page=page,
        page_size=page_size,
        page_cls=EvaluationPage,
        item=lambda e: EvaluationOut.of(e, lang=lang),
    )
