"""Audited edits from the console: resource cards, classes, evaluations, the review queue, staleness.

Every save is validated by the importer's own rules (:func:`geo.importer.import_records`: the same
required cells, ranges, dates, categories, text checks and in-district points as a sheet, with the
same bilingual row/column messages) and recorded in the audit log with who, when, and each changed
field's value before and after. An institution editor may touch only the resources linked to its
account (else 403, and the attempt is audited). An editor's change of a name, location or category,
and any new institution an editor proposes, waits in the review queue for a bureau admin or reviewer;
the rest of the save applies at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo.accounts import require_edit, require_role
from geo.audit import AuditedWrite, audit_value, diff, record
from geo.cities import CityPack
from geo.clock import aware
from geo.errors import InvalidParameterError, NotFoundError
from geo.importer import import_records
from geo.models import Account, AccountResource, Evaluation, Resource, ReviewItem, TrainingClass
from geo.signups import offer_ids, promote

HELD_FIELDS: tuple[str, ...] = ("name", "category", "lon", "lat")
RESOURCE_FORM_FIELDS: tuple[str, ...] = (
    "name",
    "category",
    "address",
    "town",
    "lon",
    "lat",
    "skills",
    "phone",
    "opening_hours",
    "reg_steps",
    "reg_url",
    "reg_phone",
    "subsidy_eligible",
    "subsidy_note",
    "seats",
)
EVENT_FORM_FIELDS: dict[str, tuple[str, ...]] = {
    "classes": (
        "skill",
        "skill_code",
        "level",
        "start_date",
        "end_date",
        "signup_deadline",
        "schedule",
        "seats_total",
        "seats_left",
        "fee",
        "subsidy",
    ),
    "evaluations": ("skill", "skill_code", "level", "date", "seats_left", "fee"),
}
#: The audit log's entity name of each kind of event (singular nouns, the same for every writer).
ENTITY: dict[str, str] = {"classes": "class", "evaluations": "evaluation"}
_MODELS: dict[str, tuple[type[TrainingClass] | type[Evaluation], str]] = {
    "classes": (TrainingClass, "resource_external_id"),
    "evaluations": (Evaluation, "agency_external_id"),
}


@dataclass
class SaveResult:
    """What a resource save did: the fields applied, and the review item holding the rest (if any)."""

    resource: Resource | None
    applied: dict[str, dict]
    review: ReviewItem | None = None


def resource_record(res: Resource) -> dict[str, Any]:
    """A resource as the importer's sheet columns (what its edit form shows)."""
    return {
        "external_id": res.external_id,
        "name": res.name,
        "category": res.category,
        "district": res.district,
        "town": res.town,
        "address": res.address,
        "lon": round(res.lon, 7),
        "lat": round(res.lat, 7),
        "skills": ";".join(f"{s.name}|{s.code}" if s.code else s.name for s in res.skills),
        "phone": res.phone,
        "opening_hours": res.opening_hours,
        "reg_steps": ";".join(res.reg_steps or []),
        "reg_url": res.reg_url,
        "reg_phone": res.reg_phone,
        "subsidy_eligible": "yes" if res.subsidy_eligible else "no",
        "subsidy_note": res.subsidy_note,
        "seats": res.seats,
        "source": res.source,
        "is_sample": "yes" if res.is_sample else "no",
    }


def event_record(obj: Any, kind: str) -> dict[str, Any]:
    """A class or evaluation as the importer's sheet columns (dates as YYYY-MM-DD)."""
    fields = ("external_id", *EVENT_FORM_FIELDS[kind], "is_sample")
    rec = {f: audit_value(getattr(obj, f)) for f in fields}
    rec["is_sample"] = "yes" if obj.is_sample else "no"
    rec[_MODELS[kind][1]] = obj.resource.external_id
    return rec


def _form_fields(form: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    return {k: form.get(k) for k in allowed if k in form}


def save_resource(
    session: Session, city: CityPack, *, account: Account, resource: Resource, form: dict[str, Any]
) -> SaveResult:
    """Save an edited resource card (caller commits); held fields of an editor go to review.

    Raises
    ------
    ImportValidationError
        The importer's row/column report; nothing was written.
    ForbiddenError
        The account may not edit this resource (audited).
    """
    require_edit(session, account, resource, what="resource")
    with AuditedWrite(
        session,
        actor=account.username,
        action="update",
        entity="resource",
        row=resource,
        snapshot=resource_record,
        skip_unchanged=True,
    ) as write:
        before = write.before
        proposed = before | _form_fields(form, RESOURCE_FORM_FIELDS)
        held = {}
        if account.role != "bureau_admin":
            held_changes = diff({k: before[k] for k in HELD_FIELDS}, {k: proposed[k] for k in HELD_FIELDS})
            held = {k: proposed[k] for k in held_changes}
        if held:
            _trial(session, city, proposed, kind="resources")  # the held change must be valid too
            proposed = proposed | {k: before[k] for k in held}
        import_records(session, city, [proposed], kind="resources")
        session.refresh(resource)
    review = None
    if held:
        review = ReviewItem(
            city=city.key,
            kind="edit",
            resource_id=resource.id,
            proposed={k: audit_value(v) for k, v in held.items()},
            submitted_by=account.username,
        )
        session.add(review)
        session.flush()
        record(
            session,
            actor=account.username,
            action="propose",
            entity="resource",
            entity_id=resource.id,
            changes=diff({k: before[k] for k in held}, held),
        )
    return SaveResult(resource=resource, applied=write.changes, review=review)


def _by_external_id(session: Session, model: Any, city: CityPack, external_id: str) -> Any:
    """The row of ``model`` with ``external_id`` in ``city`` (one, just written by the importer)."""
    return session.scalars(select(model).where(model.city == city.key, model.external_id == external_id)).one()


def _trial(session: Session, city: CityPack, rec: dict, *, kind: str) -> None:
    """Validate ``rec`` by the importer's rules without writing it."""
    import_records(session, city, [rec], kind=kind, dry_run=True)


def propose_resource(session: Session, city: CityPack, *, account: Account, form: dict[str, Any]) -> SaveResult:
    """A new institution: created at once by a bureau admin, else validated and queued for review."""
    if account.role not in ("bureau_admin", "institution_editor"):
        require_role(account, "bureau_admin", "institution_editor")
    rec = _form_fields(form, RESOURCE_FORM_FIELDS) | {"external_id": f"WEB-{secrets.token_hex(5).upper()}"}
    if account.role == "bureau_admin":
        with AuditedWrite(
            session, actor=account.username, action="create", entity="resource", snapshot=resource_record
        ) as write:
            import_records(session, city, [rec], kind="resources")
            write.row = _by_external_id(session, Resource, city, rec["external_id"])
        return SaveResult(resource=write.row, applied={})
    _trial(session, city, rec, kind="resources")
    item = ReviewItem(
        city=city.key, kind="new", proposed={k: audit_value(v) for k, v in rec.items()}, submitted_by=account.username
    )
    session.add(item)
    session.flush()
    record(
        session,
        actor=account.username,
        action="propose",
        entity="resource",
        entity_id="new",
        changes={"review": item.id},
    )
    return SaveResult(resource=None, applied={}, review=item)


def decide_review(session: Session, city: CityPack, *, account: Account, item_id: int, approve: bool) -> ReviewItem:
    """Approve (apply, re-validated) or reject a queued change (bureau admins and reviewers)."""
    require_role(account, "bureau_admin", "reviewer")
    item = session.get(ReviewItem, item_id)
    if item is None or item.city != account.city or item.status != "pending":
        msg = f"no pending review item {item_id}"
        raise NotFoundError(msg, message_zh="找不到该待审核事项（可能已处理）", code="review_not_found")
    if approve:
        existing = session.get_one(Resource, item.resource_id) if item.kind == "edit" else None
        with AuditedWrite(
            session, actor=account.username, action="approve", entity="resource", row=existing, snapshot=resource_record
        ) as write:
            import_records(session, city, [write.before | item.proposed], kind="resources")
            if existing is not None:
                session.refresh(existing)
            else:
                write.row = _approve_new(session, city, item)
    else:
        record(
            session,
            actor=account.username,
            action="reject",
            entity="review",
            entity_id=item.id,
            changes={"proposed": item.proposed},
        )
    item.status = "approved" if approve else "rejected"
    item.decided_by = account.username
    item.decided_at = datetime.now(UTC)
    session.flush()
    return item


def _approve_new(session: Session, city: CityPack, item: ReviewItem) -> Resource:
    """The resource an approved proposal created, linked to the editor who proposed it."""
    res = _by_external_id(session, Resource, city, item.proposed["external_id"])
    submitter = session.scalar(select(Account).where(Account.username == item.submitted_by))
    if submitter is not None and submitter.role == "institution_editor":
        session.add(AccountResource(account_id=submitter.id, resource_id=res.id))
    item.resource_id = res.id
    return res


def save_event(
    session: Session,
    city: CityPack,
    *,
    account: Account,
    kind: str,
    resource: Resource,
    obj: Any | None,
    form: dict[str, Any],
) -> Any:
    """Create (``obj`` None) or update a class or evaluation of ``resource``; audited; caller commits.

    ``form["seats_left_seen"]`` is the seats-left value the editor's form showed: when the submitted
    value equals it, the editor did not touch seats and the current value (which online sign-ups may
    have lowered meanwhile) is kept. More seats left promote the waitlist.
    """
    model, owner_col = _MODELS[kind]
    require_edit(session, account, resource, what=ENTITY[kind])
    if obj is not None and obj.resource_id != resource.id:
        msg = "this class or session belongs to another institution"
        raise InvalidParameterError(msg, message_zh="该班次不属于此机构", code="wrong_resource")
    with AuditedWrite(
        session,
        actor=account.username,
        action="update" if obj is not None else "create",
        entity=ENTITY[kind],
        row=obj,
        snapshot=lambda row: event_record(row, kind),
    ) as write:
        rec = write.before | _form_fields(form, EVENT_FORM_FIELDS[kind])
        if obj is not None and str(form.get("seats_left", "")).strip() == str(form.get("seats_left_seen", "")).strip():
            rec["seats_left"] = obj.seats_left
        rec["external_id"] = write.before.get("external_id") or f"WEB-{secrets.token_hex(5).upper()}"
        rec[owner_col] = resource.external_id
        rec["is_sample"] = "yes" if resource.is_sample else "no"  # a class of a sample place is sample data too
        import_records(session, city, [rec], kind=kind)
        # select() of a union of mapped classes is typed as their common base; the row is a ``model``.
        saved = cast("TrainingClass | Evaluation", _by_external_id(session, model, city, rec["external_id"]))
        session.refresh(saved)
        write.row = saved
    if saved.seats_left > 0:  # seats added (to a class or an evaluation session) go to its waitlist first
        promote(session, **offer_ids(saved))
        session.refresh(saved)
    return saved


def cancel_event(session: Session, *, account: Account, kind: str, obj: Any) -> Any:
    """Cancel a class or evaluation session (it leaves public lists; sign-ups stay for the institution)."""
    require_edit(session, account, obj.resource, what=ENTITY[kind])
    if obj.cancelled_at is None:
        with AuditedWrite(
            session,
            actor=account.username,
            action="cancel",
            entity=ENTITY[kind],
            row=obj,
            snapshot=lambda row: {"cancelled_at": row.cancelled_at},
        ):
            obj.cancelled_at = datetime.now(UTC)
    return obj


def last_updates(session: Session, *, city: str) -> dict[int, datetime]:
    """Each resource's newest update of its card, classes or evaluations."""
    latest: dict[int, datetime] = {}
    queries = [
        select(Resource.id, Resource.updated_at).where(Resource.city == city),
        select(TrainingClass.resource_id, func.max(TrainingClass.updated_at))
        .where(TrainingClass.city == city)
        .group_by(TrainingClass.resource_id),
        select(Evaluation.resource_id, func.max(Evaluation.updated_at))
        .where(Evaluation.city == city)
        .group_by(Evaluation.resource_id),
    ]
    for stmt in queries:
        for rid, at in session.execute(stmt):
            if at is None:
                continue
            stamp = aware(at)
            if rid not in latest or stamp > latest[rid]:
                latest[rid] = stamp
    return latest


def stale_resources(session: Session, *, city: str, days: int = 30) -> list[tuple[Resource, datetime]]:
    """Resources of ``city`` with nothing updated in ``days`` days, stalest first."""
    cutoff = datetime.now(UTC) - timedelta(days=days)
    latest = last_updates(session, city=city)
    stale_ids = [rid for rid, at in latest.items() if at < cutoff]
    rows = session.scalars(select(Resource).where(Resource.id.in_(stale_ids))).all() if stale_ids else []
    return sorted(((r, latest[r.id]) for r in rows), key=lambda p: (p[1], p[0].id))
