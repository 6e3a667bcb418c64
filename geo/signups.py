"""Online sign-up (报名) for training classes and evaluation sessions (技能等级认定): seats reserved
atomically, a waitlist, cancel and erase.

A class and an evaluation session are both an *offer* with ``seats_left``; a sign-up names exactly one
(``class_id`` or ``evaluation_id``), and everything below holds for either. A class takes sign-ups up
to its ``signup_deadline`` (else its first day); an evaluation session up to the day before it, so the
agency has its candidate list when the day starts; a place freed on the day is not given to the waitlist.

A seat is taken by ONE conditional statement, ``UPDATE classes SET seats_left = seats_left - 1 WHERE
id = :id AND seats_left > 0 AND cancelled_at IS NULL`` (``evaluations`` for a session): the database
serialises concurrent updates of the row (PostgreSQL re-checks the condition after waiting for the row
lock; SQLite holds its write lock), so ``seats_left`` never goes below zero (a CHECK constraint makes
sure) and exactly as many sign-ups are confirmed as there were seats. Who finds no seat joins the
waitlist while it has room (``signup_waitlist_max``), else is told the offer is full. When a confirmed
sign-up is cancelled its seat goes to the oldest waitlisted one, by the same conditional statement.

Double submits are harmless: every form carries a random submission key, unique per offer, and a
second submission with the same key returns the first sign-up. One number holds at most one active
sign-up per offer. Limits per IP address and per number count the keyed hashes of recent sign-ups in
the database, so they hold across worker processes.

The worker cancels with the reference code: the seat is freed and the name, number and note are
erased at once. Every sign-up is deleted ``signup_retention_days`` after its class ends or its
evaluation is held (:func:`purge_expired`, run by ``skillcircle signup purge`` and periodically by the server).
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypedDict

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from geo import personal
from geo.clock import city_today, evaluation_signup_deadline, signup_deadline
from geo.config import get_settings
from geo.db import rows_changed
from geo.errors import ConflictError, InvalidParameterError, NotFoundError, RateLimitedError, SkillCircleError
from geo.import_rows import chunks
from geo.models import Evaluation, Signup, TrainingClass
from geo.text_input import check_text

log = logging.getLogger(__name__)
CONSENT_VERSION = "2026-12-03"  # the privacy notice that also covers evaluation sessions
REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud over the phone
REFERENCE_LENGTH = 12
_SUBMISSION_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


Offer = TrainingClass | Evaluation


@dataclass(frozen=True)
class _Kind:
    """What differs between signing up for a class and for an evaluation session."""

    key: str
    model: type[TrainingClass] | type[Evaluation]
    noun_en: str
    noun_zh: str

    @property
    def column(self) -> Any:
        """The sign-up's column naming an offer of this kind."""
        return Signup.class_id if self.model is TrainingClass else Signup.evaluation_id


_CLASS = _Kind("class", TrainingClass, "class", "班次")
_EVALUATION = _Kind("evaluation", Evaluation, "evaluation session", "评价场次")


def _kind_of(offer: Offer) -> _Kind:
    return _CLASS if isinstance(offer, TrainingClass) else _EVALUATION


class OfferIds(TypedDict, total=False):
    """How the functions of this module that take ``class_id`` or ``evaluation_id`` name one offer."""

    class_id: int
    evaluation_id: int


def offer_ids(offer: Offer) -> OfferIds:
    """``{"class_id": …}`` or ``{"evaluation_id": …}`` for ``offer``, to pass as keywords."""
    return {"class_id": offer.id} if isinstance(offer, TrainingClass) else {"evaluation_id": offer.id}


def _offer_key(signup: Signup) -> tuple[_Kind, int]:
    """The kind and id of the offer ``signup`` is for."""
    if signup.class_id is not None:
        return _CLASS, signup.class_id
    return _EVALUATION, int(signup.evaluation_id or 0)


def offer_of(signup: Signup) -> Offer:
    """The class or evaluation session ``signup`` is for (loaded through its relationship)."""
    offer = signup.training_class if signup.class_id is not None else signup.evaluation
    if offer is None:  # the foreign keys cascade: a sign-up never outlives its offer
        msg = f"sign-up {signup.id} has lost its class or evaluation session"
        raise NotFoundError(msg, message_zh="该报名对应的班次或评价场次已不存在", code="signup_not_found")
    return offer


@dataclass(frozen=True)
class SignupOutcome:
    """What a sign-up did: the row, whether this call created it, and the waitlist position if any."""

    signup: Signup
    created: bool
    position: int | None = None


def new_reference() -> str:
    """A random reference code: 12 characters of a 31-letter alphabet (~59 bits): not guessable."""
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


def new_submission_key() -> str:
    """The random key a sign-up form carries, making its submission idempotent."""
    return secrets.token_urlsafe(24)


def offer_deadline(offer: Offer) -> date:
    """The last day ``offer`` takes sign-ups (a class: :func:`geo.clock.signup_deadline`; an evaluation
    session: :func:`geo.clock.evaluation_signup_deadline`)."""
    return signup_deadline(offer) if isinstance(offer, TrainingClass) else evaluation_signup_deadline(offer)


def class_problem(c: Offer, *, today: date) -> SkillCircleError | None:
    """Why the class or evaluation session takes no sign-up now (cancelled, past its deadline), or None."""
    kind = _kind_of(c)
    if c.cancelled_at is not None:
        msg = f"this {kind.noun_en} has been cancelled by the institution"
        return ConflictError(msg, message_zh=f"该{kind.noun_zh}已被机构取消，无法报名", code=f"{kind.key}_cancelled")
    deadline = offer_deadline(c)
    if today > deadline:
        msg = f"sign-up for this {kind.noun_en} closed on {deadline.isoformat()}"
        return ConflictError(
            msg, message_zh=f"该{kind.noun_zh}已于 {deadline.month}月{deadline.day}日截止报名", code="signup_closed"
        )
    return None


def _clean_text(value: str | None, *, field_en: str, field_zh: str, limit: int, required: bool) -> str | None:
    text = check_text((value or "").strip(), field=field_en, multiline=field_en == "the note")
    if not text:
        if required:
            msg = f"please fill in {field_en}"
            raise InvalidParameterError(
                msg, message_zh=f"请填写{field_zh}", code="missing_field", details={"field": field_en}
            )
        return None
    if len(text) > limit:
        msg = f"{field_en} is longer than {limit} characters"
        raise InvalidParameterError(
            msg, message_zh=f"{field_zh}不能超过 {limit} 个字", code="too_long", details={"field": field_en}
        )
    return text


def get_offer(session: Session, *, class_id: int | None = None, evaluation_id: int | None = None) -> Offer:
    """The class ``class_id`` or the evaluation session ``evaluation_id`` (exactly one is given).

    Raises
    ------
    NotFoundError
        ``class_not_found`` / ``evaluation_not_found``.
    """
    kind, oid = _choose(class_id, evaluation_id)
    offer: Offer | None = session.get(TrainingClass, oid) if kind is _CLASS else session.get(Evaluation, oid)
    if offer is None:
        msg = f"no {kind.noun_en} with id {oid}"
        raise NotFoundError(
            msg, message_zh=f"找不到该{kind.noun_zh}", code=f"{kind.key}_not_found", details={"id": oid}
        )
    return offer


def _choose(class_id: int | None, evaluation_id: int | None) -> tuple[_Kind, int]:
    if (class_id is None) == (evaluation_id is None):
        msg = "a sign-up is for exactly one class or one evaluation session"
        raise InvalidParameterError(msg, message_zh="报名须对应一个班次或一个评价场次", code="bad_submission")
    return (_CLASS, int(class_id)) if class_id is not None else (_EVALUATION, int(evaluation_id or 0))


def _check_limits(session: Session, *, mobile_hash: str, ip_hash: str | None) -> None:
    settings = get_settings()
    now = datetime.now(UTC)
    if ip_hash and settings.signup_limit_per_ip_hour:
        n = session.scalars(
            select(func.count(Signup.id)).where(Signup.ip_hash == ip_hash, Signup.created_at > now - timedelta(hours=1))
        ).one()
        if n >= settings.signup_limit_per_ip_hour:
            msg = "too many sign-ups from this network in the last hour; please try again later"
            raise RateLimitedError(
                msg,
                message_zh="该网络一小时内报名次数过多，请稍后再试",
                code="signup_limit_ip",
                details={"retry_after": 3600},
            )
    if settings.signup_limit_per_number_day:
        n = session.scalars(
            select(func.count(Signup.id)).where(
                Signup.mobile_hash == mobile_hash, Signup.created_at > now - timedelta(days=1)
            )
        ).one()
        if n >= settings.signup_limit_per_number_day:
            msg = "this number has signed up too many times today; please try again tomorrow"
            raise RateLimitedError(
                msg,
                message_zh="该手机号今天报名次数过多，请明天再试",
                code="signup_limit_number",
                details={"retry_after": 86400},
            )


def _already(session: Session, kind: _Kind, oid: int, submission_key: str) -> Signup | None:
    return session.scalar(select(Signup).where(kind.column == oid, Signup.submission_key == submission_key))


def _take_seat(session: Session, kind: _Kind, oid: int) -> bool:
    """The atomic reservation: one conditional UPDATE; True when it took a seat."""
    model = kind.model
    taken = rows_changed(
        session,
        update(model)
        .where(model.id == oid, model.seats_left > 0, model.cancelled_at.is_(None))
        .values(seats_left=model.seats_left - 1, updated_at=model.updated_at)
        .execution_options(synchronize_session=False),
    )
    return taken == 1


def _give_seat_back(session: Session, kind: _Kind, oid: int) -> None:
    """The seat a cancelled confirmed sign-up held (a class never above its total; a session has none)."""
    model = kind.model
    where = [model.id == oid]
    if model is TrainingClass:
        where.append(TrainingClass.seats_left < TrainingClass.seats_total)
    session.execute(
        update(model)
        .where(*where)
        .values(seats_left=model.seats_left + 1, updated_at=model.updated_at)
        .execution_options(synchronize_session=False)
    )


def waitlist_position(session: Session, signup: Signup) -> int | None:
    """1 for the first in line, … (None unless waitlisted)."""
    if signup.status != "waitlisted":
        return None
    kind, oid = _offer_key(signup)
    return session.scalar(
        select(func.count(Signup.id)).where(kind.column == oid, Signup.status == "waitlisted", Signup.id <= signup.id)
    )


def sign_up(
    session: Session,
    *,
    class_id: int | None = None,
    evaluation_id: int | None = None,
    name: str,
    mobile: str,
    note: str | None = None,
    consent: bool,
    submission_key: str,
    ip: str | None = None,
    today: date | None = None,
) -> SignupOutcome:
    """Sign a worker up for a class or an evaluation session: confirmed while seats last, else
    waitlisted, else ``class_full`` / ``evaluation_full``.

    Commits ``session`` (the reservation and the row are one transaction; a refusal writes nothing).

    Parameters
    ----------
    session
        A session with no pending work of the caller's.
    class_id, evaluation_id
        The class or the evaluation session (exactly one).
    name, mobile, note
        The form: the name (≤ 60 characters), a mainland mobile number, an optional note (≤ 300).
    consent
        The worker ticked the consent to the privacy notice; refused (``consent_required``) otherwise.
    submission_key
        The form's random key: a second submission with the same key returns the first sign-up.
    ip
        The client address, only to count sign-ups per address (stored as a keyed hash).
    today
        The city's date (default: now in the city's time zone), for the deadline.

    Raises
    ------
    InvalidParameterError
        ``invalid_mobile``, ``missing_field``, ``too_long``, ``consent_required``, ``bad_submission``.
    NotFoundError
        ``class_not_found``, ``evaluation_not_found``.
    ConflictError
        ``class_full``, ``evaluation_full``, ``class_cancelled``, ``evaluation_cancelled``, ``signup_closed``,
        ``already_signed_up``.
    RateLimitedError
        ``signup_limit_ip``, ``signup_limit_number``.
    """
    if not _SUBMISSION_KEY.match(submission_key or ""):
        msg = "the form is incomplete or was tampered with; please reload the page"
        raise InvalidParameterError(msg, message_zh="表单不完整，请刷新页面后重试", code="bad_submission")
    clean_name = _clean_text(name, field_en="your name", field_zh="姓名", limit=60, required=True)
    clean_note = _clean_text(note, field_en="the note", field_zh="备注", limit=300, required=False)
    number = personal.normalise_mobile(mobile)
    if not consent:
        msg = "please read the privacy notice and tick the consent box"
        raise InvalidParameterError(msg, message_zh="请阅读《个人信息保护告知书》并勾选同意", code="consent_required")
    c = get_offer(session, class_id=class_id, evaluation_id=evaluation_id)
    kind, oid = _kind_of(c), c.id
    first = _already(session, kind, oid, submission_key)
    if first is not None:
        return SignupOutcome(first, created=False, position=waitlist_position(session, first))
    problem = class_problem(c, today=today or city_today(c.city))
    if problem is not None:
        raise problem
    mobile_hash = personal.keyed_hash(number, purpose="mobile")
    ip_hash = personal.keyed_hash(ip, purpose="ip") if ip else None
    _check_limits(session, mobile_hash=mobile_hash, ip_hash=ip_hash)
    duplicate = ConflictError(
        f"this number already holds a sign-up for this {kind.noun_en}",
        message_zh=f"该手机号已报名本{kind.noun_zh}，无需重复报名",
        code="already_signed_up",
    )
    if session.scalar(select(Signup.id).where(kind.column == oid, Signup.active_key == mobile_hash)):
        raise duplicate
    city = c.city
    session.commit()  # end the reads: the write transaction starts with the reservation itself

    try:
        if _take_seat(session, kind, oid):
            status = "confirmed"
        else:
            # lock the offer's row (PostgreSQL) so that the waitlist's room is counted by one request at a time
            session.execute(select(kind.model.id).where(kind.model.id == oid).with_for_update())
            waiting = session.scalars(
                select(func.count(Signup.id)).where(kind.column == oid, Signup.status == "waitlisted")
            ).one()
            if waiting >= get_settings().signup_waitlist_max:
                session.rollback()
                msg = f"this {kind.noun_en} is full and its waitlist too"
                raise ConflictError(
                    msg, message_zh=f"该{kind.noun_zh}名额已满（候补名单也已满）", code=f"{kind.key}_full"
                )
            status = "waitlisted"
        now = datetime.now(UTC)
        row = Signup(
            city=city,
            class_id=oid if kind is _CLASS else None,
            evaluation_id=oid if kind is _EVALUATION else None,
            reference=new_reference(),
            submission_key=submission_key,
            status=status,
            name=clean_name,
            mobile_enc=personal.encrypt(number),
            mobile_hash=mobile_hash,
            active_key=mobile_hash,
            ip_hash=ip_hash,
            note=clean_note,
            consent_version=CONSENT_VERSION,
            created_at=now,
            confirmed_at=now if status == "confirmed" else None,
        )
        session.add(row)
        session.flush()
        session.commit()
    except IntegrityError:
        session.rollback()  # the seat taken above is given back with the rolled-back transaction
        first = _already(session, kind, oid, submission_key)
        if first is not None:
            return SignupOutcome(first, created=False, position=waitlist_position(session, first))
        raise duplicate from None
    log.info("sign-up %s for %s %s: %s", row.id, kind.key, oid, status)
    return SignupOutcome(row, created=True, position=waitlist_position(session, row))


def get_by_reference(session: Session, reference: str) -> Signup:
    """The sign-up with ``reference`` (case-insensitive); 404 ``signup_not_found`` otherwise."""
    ref = (reference or "").strip().upper()
    row = None
    if 10 <= len(ref) <= 32:
        row = session.scalar(
            select(Signup)
            .options(selectinload(Signup.training_class), selectinload(Signup.evaluation))
            .where(Signup.reference == ref)
        )
    if row is None:
        msg = "no sign-up with this reference code (it may have been cancelled and deleted)"
        raise NotFoundError(
            msg, message_zh="找不到该报名编号（可能已取消或已过保存期限被删除）", code="signup_not_found"
        )
    return row


def _erase(row: Signup) -> None:
    row.name = ""
    row.mobile_enc = ""
    row.mobile_hash = None
    row.active_key = None
    row.ip_hash = None
    row.note = None


def cancel(session: Session, *, reference: str) -> Signup:
    """Cancel a sign-up and erase its personal data; a freed seat goes to the waitlist. Commits.

    Cancelling twice is harmless (the second call finds it cancelled).
    """
    row = get_by_reference(session, reference)
    if row.status == "cancelled":
        return row
    previous = row.status
    done = rows_changed(
        session,
        update(Signup)
        .where(Signup.id == row.id, Signup.status == previous)
        .values(status="cancelled", cancelled_at=datetime.now(UTC))
        .execution_options(synchronize_session=False),
    )
    if done != 1:  # a concurrent cancel won
        session.rollback()
        return get_by_reference(session, reference)
    session.refresh(row)
    _erase(row)
    kind, oid = _offer_key(row)
    if previous == "confirmed":
        _give_seat_back(session, kind, oid)
    session.flush()
    _promote(session, kind, oid)
    session.commit()
    log.info("sign-up %s cancelled and erased", row.id)
    return row


def promote(session: Session, class_id: int | None = None, *, evaluation_id: int | None = None) -> list[int]:
    """Give the free seats of a class (or of an evaluation session) to its waitlisted sign-ups, oldest
    first; return the promoted ids (caller commits)."""
    return _promote(session, *_choose(class_id, evaluation_id))


def _promote(session: Session, kind: _Kind, oid: int) -> list[int]:
    promoted: list[int] = []
    if kind is _EVALUATION:
        session_row = session.get(Evaluation, oid)
        if session_row is None or city_today(session_row.city) > offer_deadline(session_row):
            return promoted  # the agency has drawn up its list: a place freed on the day stays free
    while True:
        nxt = session.scalar(
            select(Signup.id).where(kind.column == oid, Signup.status == "waitlisted").order_by(Signup.id).limit(1)
        )
        if nxt is None or not _take_seat(session, kind, oid):
            break
        done = rows_changed(
            session,
            update(Signup)
            .where(Signup.id == nxt, Signup.status == "waitlisted")
            .values(status="confirmed", confirmed_at=datetime.now(UTC))
            .execution_options(synchronize_session=False),
        )
        if done != 1:
            _give_seat_back(session, kind, oid)
            continue
        promoted.append(nxt)
    if promoted:
        log.info("%s %s: %d waitlisted sign-up(s) promoted", kind.key, oid, len(promoted))
        session.expire_all()
    return promoted


def live_counts(
    session: Session, *, evaluations: bool = False, ids: list[int] | None = None, city: str | None = None
) -> dict[tuple[int, str], int]:
    """Live sign-ups per (offer id, status: ``confirmed`` or ``waitlisted``): of the classes (with
    ``evaluations``, the sessions) ``ids``, or of every class (session) of ``city``. Counts only."""
    column = Signup.evaluation_id if evaluations else Signup.class_id
    query = (
        select(column, Signup.status, func.count(Signup.id))
        .where(Signup.status != "cancelled", column.is_not(None))
        .group_by(column, Signup.status)
    )
    if city is not None:
        query = query.where(Signup.city == city)
    if ids is None:
        rows = list(session.execute(query))
    else:  # at most IN_CHUNK ids per statement (SQLite's bound-value limit)
        rows = [row for part in chunks(ids) for row in session.execute(query.where(column.in_(part)))]
    return {(oid, str(status)): int(n) for oid, status, n in rows if oid is not None}


def class_signups(session: Session, class_id: int | None = None, *, evaluation_id: int | None = None) -> list[Signup]:
    """A class's (or an evaluation session's) active sign-ups: confirmed first, then the waitlist in order."""
    kind, oid = _choose(class_id, evaluation_id)
    rows = session.scalars(
        select(Signup).where(kind.column == oid, Signup.status != "cancelled").order_by(Signup.id)
    ).all()
    return sorted(rows, key=lambda s: (s.status != "confirmed", s.id))


def purge_expired(session: Session, *, days: int | None = None, today: date | None = None) -> int:
    """Delete every sign-up whose class ended (or whose evaluation was held) more than ``days``
    (default: the setting) days ago.

    Returns the number deleted; the caller commits.
    """
    keep = get_settings().signup_retention_days if days is None else days
    cutoff = (today or city_today(get_settings().default_city)) - timedelta(days=keep)
    ended = select(TrainingClass.id).where(TrainingClass.end_date < cutoff)
    held = select(Evaluation.id).where(Evaluation.date < cutoff)
    deleted = rows_changed(
        session,
        delete(Signup)
        .where(Signup.class_id.in_(ended) | Signup.evaluation_id.in_(held))
        .execution_options(synchronize_session=False),
    )
    if deleted:
        log.info("retention: deleted %d sign-up(s) of classes ended or evaluations held before %s", deleted, cutoff)
    return deleted or 0


def rotate_keys(session: Session) -> int:
    """Re-encrypt every stored number with the newest data key; returns how many (caller commits)."""
    n = 0
    for row in session.scalars(select(Signup).where(Signup.mobile_enc != "")):
        row.mobile_enc = personal.rotate(row.mobile_enc)
        n += 1
    return n
