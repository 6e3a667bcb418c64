"""The web console's queries (the pages of :mod:`api.routers.console` and :mod:`api.routers.console_admin`).

The console's writes are :mod:`geo.editing` (audited, importer-checked); the audit of a sign-up export
is here, beside the queries the export page reads.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo.audit import record
from geo.editing import stale_resources
from geo.models import Evaluation, Resource, ReviewItem, TrainingClass

#: Institutions listed per page of ``/console/institutions``.
PAGE_SIZE = 50


def city_summary(db: Session, city: str) -> dict[str, int]:
    """The bureau's overview: institutions, pending review items and stale institutions of ``city``."""
    return {
        "institutions": db.scalar(select(func.count(Resource.id)).where(Resource.city == city)) or 0,
        "pending": db.scalar(
            select(func.count(ReviewItem.id)).where(ReviewItem.city == city, ReviewItem.status == "pending")
        )
        or 0,
        "stale": len(stale_resources(db, city=city)),
    }


def institutions_page(
    db: Session, city: str, *, q: str = "", category: str | None = None, page: int = 1
) -> tuple[int, Sequence[Resource]]:
    """One page (:data:`PAGE_SIZE`) of ``city``'s institutions by id, named like ``q``, of ``category``,
    and how many match."""
    stmt = select(Resource).where(Resource.city == city)
    if q.strip():
        stmt = stmt.where(Resource.name.contains(q.strip(), autoescape=True))
    if category:
        stmt = stmt.where(Resource.category == category)
    total = db.scalars(select(func.count()).select_from(stmt.subquery())).one()
    rows = db.scalars(stmt.order_by(Resource.id).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    return total, rows


def resource_events(db: Session, res: Resource) -> tuple[Sequence[TrainingClass], Sequence[Evaluation]]:
    """Every class and evaluation of ``res``, the latest first (cancelled ones too: the card lists them)."""
    classes = db.scalars(
        select(TrainingClass).where(TrainingClass.resource_id == res.id).order_by(TrainingClass.start_date.desc())
    ).all()
    evaluations = db.scalars(
        select(Evaluation).where(Evaluation.resource_id == res.id).order_by(Evaluation.date.desc())
    ).all()
    return classes, evaluations


def pending_reviews(db: Session, city: str) -> tuple[Sequence[ReviewItem], dict[int, Resource]]:
    """``city``'s pending review items, oldest first, and the current state of the resources they edit."""
    items = db.scalars(
        select(ReviewItem).where(ReviewItem.city == city, ReviewItem.status == "pending").order_by(ReviewItem.id)
    ).all()
    current = {r.id: r for r in db.scalars(select(Resource).where(Resource.id.in_([i.resource_id for i in items])))}
    return items, current


def audit_signup_export(
    db: Session, *, actor: str, class_id: int, rows: int, fmt: str, full_numbers: bool, kind: str = "class"
) -> None:
    """Record that ``actor`` exported a class's (``kind="evaluation"``: a session's) sign-ups: how many,
    the format, whether numbers were full."""
    changes = {"rows": rows, "format": fmt, "full_numbers": full_numbers, "kind": kind}
    record(db, actor=actor, action="export", entity="signups", entity_id=class_id, changes=changes)
