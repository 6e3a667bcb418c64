"""The demand report of online sign-ups (报名): per class (and per evaluation session), seats against
confirmed sign-ups and the waitlist.

No personal data: counts only. A waitlist is demand the seats did not meet, so the report lists the
classes with the longest waitlists first, and sums them per skill or district for the bureau's console;
evaluation sessions (技能等级认定) get the same rows (:func:`evaluation_demand`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo.clock import city_today, upcoming_class, upcoming_evaluation
from geo.models import Evaluation, Resource, Signup, TrainingClass


def _live_counts(session: Session, *, city: str, column: Any) -> dict[tuple[int, str], int]:
    """Live sign-ups of ``city`` per (offer id in ``column``, status: confirmed or waitlisted)."""
    rows = session.execute(
        select(column, Signup.status, func.count(Signup.id))
        .where(Signup.city == city, Signup.status != "cancelled", column.is_not(None))
        .group_by(column, Signup.status)
    )
    return {(oid, status): n for oid, status, n in rows if oid is not None}


@dataclass(frozen=True)
class DemandRow:
    """Counts for one class: seats, confirmed sign-ups, waitlist (no personal data)."""

    class_id: int
    resource_id: int
    resource_name: str
    district: str | None
    skill: str
    start_date: date
    seats_total: int
    seats_left: int
    confirmed: int
    waitlisted: int

    @property
    def excess(self) -> int:
        """Sign-ups beyond the seats (the waitlist): > 0 where demand exceeds seats."""
        return self.waitlisted


def demand(session: Session, *, city: str, today: date | None = None) -> list[DemandRow]:
    """Sign-ups and waitlists of every class of ``city`` not yet ended, most unmet demand first."""
    day = today or city_today(city)
    counts = _live_counts(session, city=city, column=Signup.class_id)
    rows = session.execute(
        select(TrainingClass, Resource.name, Resource.district)
        .join(Resource, Resource.id == TrainingClass.resource_id)
        .where(TrainingClass.city == city, upcoming_class(day))
    ).all()
    out = [
        DemandRow(
            class_id=c.id,
            resource_id=c.resource_id,
            resource_name=name,
            district=district,
            skill=c.skill,
            start_date=c.start_date,
            seats_total=c.seats_total,
            seats_left=c.seats_left,
            confirmed=counts.get((c.id, "confirmed"), 0),
            waitlisted=counts.get((c.id, "waitlisted"), 0),
        )
        for c, name, district in rows
    ]
    return sorted(out, key=lambda r: (-r.waitlisted, -r.confirmed, r.class_id))


def demand_totals(rows: list[DemandRow], *, by: str) -> list[dict]:
    """``rows`` summed per ``skill`` or ``district``: classes, seats, confirmed, waitlisted."""
    acc: dict[str, dict] = {}
    for r in rows:
        key = getattr(r, by) or "—"
        a = acc.setdefault(key, {by: key, "classes": 0, "seats_total": 0, "confirmed": 0, "waitlisted": 0})
        a["classes"] += 1
        a["seats_total"] += r.seats_total
        a["confirmed"] += r.confirmed
        a["waitlisted"] += r.waitlisted
    return sorted(acc.values(), key=lambda a: (-a["waitlisted"], -a["confirmed"], a[by]))


@dataclass(frozen=True)
class EvaluationDemandRow:
    """Counts for one evaluation session: places left, confirmed sign-ups, waitlist (no personal data)."""

    evaluation_id: int
    resource_id: int
    resource_name: str
    district: str | None
    skill: str
    level: int
    date: date
    seats_left: int
    confirmed: int
    waitlisted: int


def evaluation_demand(session: Session, *, city: str, today: date | None = None) -> list[EvaluationDemandRow]:
    """Sign-ups and waitlists of every evaluation session of ``city`` not yet held, most unmet demand first."""
    day = today or city_today(city)
    counts = _live_counts(session, city=city, column=Signup.evaluation_id)
    rows = session.execute(
        select(Evaluation, Resource.name, Resource.district)
        .join(Resource, Resource.id == Evaluation.resource_id)
        .where(Evaluation.city == city, upcoming_evaluation(day))
    ).all()
    out = [
        EvaluationDemandRow(
            evaluation_id=e.id,
            resource_id=e.resource_id,
            resource_name=name,
            district=district,
            skill=e.skill,
            level=e.level,
            date=e.date,
            seats_left=e.seats_left,
            confirmed=counts.get((e.id, "confirmed"), 0),
            waitlisted=counts.get((e.id, "waitlisted"), 0),
        )
        for e, name, district in rows
    ]
    return sorted(out, key=lambda r: (-r.waitlisted, -r.confirmed, r.evaluation_id))
