"""Helpers shared by the sign-up tests: a resource with one class (or one evaluation session) in a given database."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.orm import Session

from geo.db import session_scope
from geo.models import Evaluation, Resource, TrainingClass


def _sample_resource(session: Session, *, city: str, tag: str, category: str, kind: str) -> Resource:
    """A labelled sample place in 南湖区 (external id ``SIGNUP-<tag>``, removed after each module)."""
    res = Resource(
        city=city,
        external_id=f"SIGNUP-{tag}",
        name=f"【示例】报名测试{kind} {tag}",
        category=category,
        district="南湖区",
        lon=120.76,
        lat=30.75,
        reg_steps=[],
        is_sample=True,
    )
    session.add(res)
    session.flush()
    return res


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
        res = _sample_resource(session, city=city, tag=tag, category="training", kind="机构")
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


def make_evaluation(
    url: str | None = None, *, seats: int = 10, city: str = "jiaxing", tag: str = "E", day: date | None = None
) -> tuple[int, int]:
    """Create a labelled sample evaluation agency with one session of ``seats`` places on ``day``
    (default: in 10 days); return (resource id, evaluation id)."""
    day = day or date.today() + timedelta(days=10)
    with session_scope(url) as session:
        res = _sample_resource(session, city=city, tag=tag, category="evaluation", kind="评价机构")
        e = Evaluation(
            city=city,
            external_id=f"SIGNUP-E-{tag}",
            resource_id=res.id,
            skill="电工",
            level=4,
            date=day,
            seats_left=seats,
            fee=200.0,
            is_sample=True,
        )
        session.add(e)
        session.flush()
        return res.id, e.id
