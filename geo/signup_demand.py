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

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.clock import city_today, upcoming_class, upcoming_evaluation
from geo.models import Evaluation, Resource, TrainingClass
from geo.signups import live_counts


def _upcoming(session: Session, model: Any, upcoming: Any, city: str) -> list[Any]:
    """``city``'s offers of ``model`` meeting ``upcoming``, each with its place's name and district."""
    return list(
        session.execute(
            select(model, Resource.name, Resource.district)
            .join(Resource, Resource.id == model.resource_id)
            .where(model.city == city, upcoming)
        ).all()
    )


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
    counts = live_counts(session, city=city)
    rows = _upcoming(session, TrainingClass, upcoming_class(day), city)
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
    counts = live_counts(session, city=city, evaluations=True)
    rows = _upcoming(session, Evaluation, upcoming_evaluation(day), city)
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
