"""The demand report of online sign-ups (报名): per class, seats against confirmed sign-ups and the waitlist.

No personal data: counts only. A waitlist is demand the seats did not meet, so the report lists the
classes with the longest waitlists first, and sums them per skill or district for the bureau's console.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo.clock import city_today, upcoming_class
from geo.models import Resource, Signup, TrainingClass


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
    counts: dict[tuple[int, str], int] = {
        (cid, status): n
        for cid, status, n in session.execute(
            select(Signup.class_id, Signup.status, func.count(Signup.id))
            .where(Signup.city == city, Signup.status != "cancelled", Signup.class_id.is_not(None))
            .group_by(Signup.class_id, Signup.status)
        )
        if cid is not None
    }
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
