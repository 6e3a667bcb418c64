"""Helpers shared by the sign-up tests: a resource with one class in a given database."""

from __future__ import annotations

from datetime import date, timedelta

from geo.db import session_scope
from geo.models import Resource, TrainingClass


def make_class(
    url: str | None = None,
    *,
    seats: int = 10,
    city: str = "jiaxing",
    tag: str = "T",
    start: date | None = None,
    end: date | None = None,
    deadline: date | None = None,
) -> tuple[int, int]:
    """Create a labelled sample resource with one class of ``seats`` seats; return (resource id, class id)."""
    start = start or date.today() + timedelta(days=10)
    with session_scope(url) as session:
        res = Resource(
            city=city,
            external_id=f"SIGNUP-{tag}",
            name=f"【示例】报名测试机构 {tag}",
            category="training",
            district="南湖区",
            lon=120.76,
            lat=30.75,
            reg_steps=[],
            is_sample=True,
        )
        session.add(res)
        session.flush()
        c = TrainingClass(
            city=city,
            external_id=f"SIGNUP-C-{tag}",
            resource_id=res.id,
            skill="电工",
            level=4,
            start_date=start,
            end_date=end or start + timedelta(days=20),
            schedule="weekend",
            seats_total=seats,
            seats_left=seats,
            signup_deadline=deadline,
            is_sample=True,
        )
        session.add(c)
        session.flush()
        return res.id, c.id


def mobile(i: int) -> str:
    """A distinct valid mainland mobile number for ``i`` (0 ≤ i < 10⁸)."""
    return f"139{i:08d}"
