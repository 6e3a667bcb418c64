"""``/api/v1/classes`` and ``/api/v1/evaluations``: upcoming training classes and evaluation sessions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from api.deps import City, DbSession
from api.schemas import SAMPLE_NOTICE, ClassOut, ClassPage, ErrorResponse, EvaluationOut, EvaluationPage
from api.services import events

router = APIRouter(prefix="/api/v1", tags=["classes & evaluations"], responses={422: {"model": ErrorResponse}})

Lang = Literal["zh", "en"]
Level = Annotated[int | None, Query(ge=1, le=5, description="1 = 一级/高级技师 … 5 = 五级/初级工")]


def _page(total: int, rows: Sequence[Any], *, city: str, page: int, page_size: int, page_cls: Any, item: Any) -> Any:
    """A page answer, flagged as sample data when any row shown is."""
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
    total, rows = events.find_classes(
        db,
        city,
        skill=skill,
        level=level,
        date_from=date_from,
        date_to=date_to,
        schedule=schedule,
        seats_left=seats_left,
        resource_id=resource_id,
        district=district,
        page=page,
        page_size=page_size,
    )
    return _page(
        total,
        rows,
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
    total, rows = events.find_evaluations(
        db,
        city,
        skill=skill,
        level=level,
        date_from=date_from,
        date_to=date_to,
        weekend=weekend,
        seats_left=seats_left,
        resource_id=resource_id,
        page=page,
        page_size=page_size,
    )
    return _page(
        total,
        rows,
        city=city.key,
        page=page,
        page_size=page_size,
        page_cls=EvaluationPage,
        item=lambda e: EvaluationOut.of(e, lang=lang),
    )
