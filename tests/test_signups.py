"""The sign-up service: waitlist order, cancel and erase, idempotency, limits, deadlines, encryption,
retention and key rotation (the concurrency test is in test_signup_concurrency.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text

from geo import personal
from geo.config import get_settings
from geo.db import session_scope
from geo.errors import ConflictError, InvalidParameterError, NotFoundError, RateLimitedError
from geo.models import Signup, TrainingClass
from geo.signup_demand import demand, demand_totals
from geo.signups import (
    REFERENCE_ALPHABET,
    cancel,
    class_signups,
    get_by_reference,
    new_submission_key,
    promote,
    purge_expired,
    rotate_keys,
    sign_up,
)
from tests._signup_fixtures import make_class, mobile

TEST_ROW_PREFIXES = ("SIGNUP-",)  # make_class rows, removed after the module (conftest._remove_test_rows)


def _sign(class_id: int, i: int, **kw):
    args = {
        "class_id": class_id,
        "name": f"工人{i}",
        "mobile": mobile(i),
        "consent": True,
        "submission_key": new_submission_key(),
    } | kw
    with session_scope() as session:
        return sign_up(session, **args)


def test_waitlist_promotes_in_order_and_cancel_erases(database: str) -> None:
    _, cid = make_class(seats=2, tag="WAIT")
    a, b = _sign(cid, 1), _sign(cid, 2)
    w1, w2 = _sign(cid, 3), _sign(cid, 4)
    assert [a.signup.status, b.signup.status] == ["confirmed", "confirmed"]
    assert (w1.signup.status, w1.position, w2.position) == ("waitlisted", 1, 2)
    ref = a.signup.reference
    assert len(ref) >= 10 and set(ref) <= set(REFERENCE_ALPHABET)

    with session_scope() as session:
        cancelled = cancel(session, reference=ref.lower())  # codes are read back case-insensitively
        assert cancelled.status == "cancelled"
    with session_scope() as session:
        row = get_by_reference(session, ref)
        assert (row.name, row.mobile_enc, row.mobile_hash, row.note, row.ip_hash) == ("", "", None, None, None)
        assert session.get(Signup, w1.signup.id).status == "confirmed"  # the first in line got the seat
        assert session.get(Signup, w2.signup.id).status == "waitlisted"
        assert session.get(TrainingClass, cid).seats_left == 0
        assert [s.id for s in class_signups(session, cid)] == [b.signup.id, w1.signup.id, w2.signup.id]
        # cancelling twice is harmless
        assert cancel(session, reference=ref).status == "cancelled"
    # a cancelled waitlisted sign-up frees nothing; a cancelled confirmed one with nobody waiting frees a seat
    with session_scope() as session:
        cancel(session, reference=w2.signup.reference)
        cancel(session, reference=b.signup.reference)
    with session_scope() as session:
        assert session.get(TrainingClass, cid).seats_left == 1
        assert promote(session, cid) == []


def test_double_submit_and_duplicate_number(database: str) -> None:
    _, cid = make_class(seats=3, tag="IDEM")
    key = new_submission_key()
    first = _sign(cid, 10, submission_key=key)
    again = _sign(cid, 10, submission_key=key)
    assert first.created and not again.created and again.signup.id == first.signup.id
    with pytest.raises(ConflictError) as err:
        _sign(cid, 10)  # same number, new form
    assert err.value.code == "already_signed_up"
    with session_scope() as session:
        assert session.get(TrainingClass, cid).seats_left == 2


@pytest.mark.parametrize(
    ("number", "ok"),
    [
        ("13800138000", True),
        ("+86 138-0013-8000", True),
        ("008613800138000", True),
        ("12800138000", False),
        ("1380013800", False),
        ("0573-82012345", False),
        ("138001380001", False),
        ("", False),
        ("１３８", False),
    ],
)
def test_mainland_mobile_numbers(number: str, ok: bool) -> None:
    if ok:
        assert personal.normalise_mobile(number) == "13800138000"
    else:
        with pytest.raises(InvalidParameterError) as err:
            personal.normalise_mobile(number)
        assert err.value.code == "invalid_mobile" and "手机号码" in err.value.message_zh


def test_bad_forms_write_nothing(database: str) -> None:
    _, cid = make_class(seats=3, tag="BAD")
    cases = {
        "invalid_mobile": {"mobile": "12345"},
        "consent_required": {"consent": False},
        "missing_field": {"name": "  "},
        "too_long": {"note": "很" * 301},
        "bad_submission": {"submission_key": "short"},
        "invalid_text": {"name": "张\u202e三"},  # a bidi override would garble the institution's list
    }
    for code, kw in cases.items():
        with pytest.raises(InvalidParameterError) as err:
            _sign(cid, 20, **kw)
        assert err.value.code == code
        assert err.value.message_zh and err.value.message_en
    with pytest.raises(NotFoundError):
        _sign(2**31 - 1, 20)
    with session_scope() as session:
        assert session.get(TrainingClass, cid).seats_left == 3
        assert session.scalars(select(Signup).where(Signup.class_id == cid)).all() == []


def test_cancelled_past_deadline_and_full_classes(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _, cid = make_class(seats=1, tag="CLOSED", deadline=date.today() - timedelta(days=1))
    with pytest.raises(ConflictError) as err:
        _sign(cid, 30)
    assert err.value.code == "signup_closed" and "截止报名" in err.value.message_zh
    _, cid2 = make_class(seats=1, tag="CANCEL")
    with session_scope() as session:
        session.get(TrainingClass, cid2).cancelled_at = datetime.now(UTC)
    with pytest.raises(ConflictError) as err:
        _sign(cid2, 31)
    assert err.value.code == "class_cancelled"
    monkeypatch.setattr(get_settings(), "signup_waitlist_max", 0)
    _, cid3 = make_class(seats=1, tag="FULL")
    assert _sign(cid3, 32).signup.status == "confirmed"
    with pytest.raises(ConflictError) as err:
        _sign(cid3, 33)
    assert err.value.code == "class_full" and "名额已满" in err.value.message_zh


def test_limits_per_ip_and_per_number(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "signup_limit_per_ip_hour", 2)
    monkeypatch.setattr(get_settings(), "signup_limit_per_number_day", 2)
    classes = [make_class(seats=5, tag=f"LIM{i}")[1] for i in range(3)]
    _sign(classes[0], 40, ip="203.0.113.9")
    _sign(classes[1], 41, ip="203.0.113.9")
    with pytest.raises(RateLimitedError) as err:
        _sign(classes[2], 42, ip="203.0.113.9")
    assert err.value.code == "signup_limit_ip"
    _sign(classes[0], 50)
    _sign(classes[1], 50)
    with pytest.raises(RateLimitedError) as err:
        _sign(classes[2], 50)
    assert err.value.code == "signup_limit_number"


def test_numbers_are_encrypted_at_rest_and_keys_rotate(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _, cid = make_class(seats=2, tag="CRYPT")
    out = _sign(cid, 60, mobile="13912345678")
    with session_scope() as session:
        raw = session.execute(text("SELECT * FROM signups WHERE id = :i"), {"i": out.signup.id}).mappings().one()
        assert not any("13912345678" in str(v) or "12345678" in str(v) for v in raw.values())
        assert personal.decrypt(raw["mobile_enc"]) == "13912345678"
    assert personal.mask_mobile("13912345678") == "139****5678"

    settings = get_settings()
    original = settings.data_keys or [(settings.var_dir / "keys" / "data.key").read_text().strip()]
    new = Fernet.generate_key().decode()
    try:
        monkeypatch.setattr(settings, "data_keys", [new, *original])  # step 1: the new key goes first
        personal.reset_keys()
        with session_scope() as session:  # step 2: re-encrypt everything with it
            assert rotate_keys(session) >= 1
        monkeypatch.setattr(settings, "data_keys", [new])  # step 3: the old key is dropped
        personal.reset_keys()
        with session_scope() as session:
            assert personal.decrypt(session.get(Signup, out.signup.id).mobile_enc) == "13912345678"
    finally:  # put every row back under the original key for the other tests
        monkeypatch.setattr(settings, "data_keys", [*original, new])
        personal.reset_keys()
        with session_scope() as session:
            rotate_keys(session)
        monkeypatch.setattr(settings, "data_keys", original)
        personal.reset_keys()


def test_retention_deletes_signups_after_class_end(database: str) -> None:
    today = date.today()
    _, old = make_class(seats=2, tag="OLD", start=today - timedelta(days=60), end=today - timedelta(days=40))
    _, recent = make_class(seats=2, tag="RECENT", start=today - timedelta(days=30), end=today - timedelta(days=5))
    with session_scope() as session:  # past classes take no new sign-ups: insert as if made back then
        for cid in (old, recent):
            session.add(
                Signup(
                    city="jiaxing",
                    class_id=cid,
                    reference=f"R{cid:011d}",
                    submission_key=f"k{cid:020d}",
                    status="confirmed",
                    name="x",
                    mobile_enc=personal.encrypt("13800138000"),
                    consent_version="t",
                )
            )
    with session_scope() as session:
        assert purge_expired(session, days=30, today=today) == 1
    with session_scope() as session:
        left = {s.class_id for s in session.scalars(select(Signup).where(Signup.class_id.in_([old, recent])))}
        assert left == {recent}
        assert purge_expired(session, days=0, today=today) == 1


def test_demand_counts_only(database: str) -> None:
    _, cid = make_class(seats=1, tag="DEMAND")
    for i in range(3):
        _sign(cid, 70 + i)
    with session_scope() as session:
        rows = [r for r in demand(session, city="jiaxing") if r.class_id == cid]
    assert len(rows) == 1 and (rows[0].confirmed, rows[0].waitlisted, rows[0].excess) == (1, 2, 2)
    totals = {t["district"]: t for t in demand_totals(rows, by="district")}
    assert totals["南湖区"]["waitlisted"] == 2
    assert not any("139" in str(v) for v in vars(rows[0]).values())


def test_periodic_retention_task_deletes_expired_signups(database: str) -> None:
    import time

    from api.retention import RetentionTask
    from tests._servers import PATIENCE_S

    today = date.today()
    _, old = make_class(seats=2, tag="SWEEP", start=today - timedelta(days=90), end=today - timedelta(days=80))
    with session_scope() as session:
        session.add(
            Signup(
                city="jiaxing",
                class_id=old,
                reference="SWEEP0000001",
                submission_key="s" * 20,
                status="confirmed",
                name="x",
                mobile_enc=personal.encrypt("13800138000"),
                consent_version="t",
            )
        )
    task = RetentionTask(interval_minutes=0.002, first_delay_s=0.05)
    task.start()
    try:
        deadline = time.monotonic() + PATIENCE_S  # a hang guard, not a speed claim
        while True:
            with session_scope() as session:
                if session.scalar(select(Signup.id).where(Signup.class_id == old)) is None:
                    break
            if time.monotonic() > deadline:
                pytest.fail("the periodic task did not delete the expired sign-up")
            time.sleep(0.05)
    finally:
        task.stop()
    assert RetentionTask(interval_minutes=0).interval_s == 0  # 0 = off: start() does nothing


def test_purge_and_rotate_from_the_cli(database: str) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    today = date.today()
    _, old = make_class(seats=2, tag="CLIPURGE", start=today - timedelta(days=50), end=today - timedelta(days=45))
    with session_scope() as session:
        session.add(
            Signup(
                city="jiaxing",
                class_id=old,
                reference="CLIPURGE0001",
                submission_key="c" * 20,
                status="confirmed",
                name="x",
                mobile_enc=personal.encrypt("13800138000"),
                consent_version="t",
            )
        )
    root = Path(__file__).resolve().parent.parent

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "api.cli", "signup", *args],
            cwd=root,
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=120,
        )

    def present() -> bool:
        with session_scope() as session:
            return session.scalar(select(Signup.id).where(Signup.reference == "CLIPURGE0001")) is not None

    kept = cli("purge", "--days", "60")
    assert kept.returncode == 0 and "deleted" in kept.stdout and present()
    gone = cli("purge", "--days", "30")
    assert gone.returncode == 0 and "deleted" in gone.stdout and not present()
    rotated = cli("rotate-keys")
    assert rotated.returncode == 0 and "re-encrypted" in rotated.stdout


def test_numbers_never_reach_the_logs(database: str, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    _, cid = make_class(seats=1, tag="LOGS")
    a = _sign(cid, 0, mobile="13987654321", ip="198.51.100.7")
    _sign(cid, 1, mobile="13912340000")
    with session_scope() as session:
        cancel(session, reference=a.signup.reference)
    assert "sign-up" in caplog.text  # the service does log, by id
    for secret in ("13987654321", "987654321", "13912340000", "198.51.100.7", "工人0"):
        assert secret not in caplog.text


def test_a_reimported_sheet_never_gives_away_seats_taken_online(database: str) -> None:
    """A stale sheet (seats left as before the online sign-ups) must not overbook the class."""
    from geo.cities import load_city
    from geo.editing import event_record
    from geo.importer import import_records

    _, cid = make_class(seats=3, tag="REIMPORT")
    _sign(cid, 31)
    _sign(cid, 32)
    with session_scope() as session:
        c = session.get(TrainingClass, cid)
        assert c.seats_left == 1
        stale = event_record(c, "classes") | {"seats_left": 3}
    city = load_city("jiaxing")
    for sheet, expected, kept in (
        ({"seats_left": 3}, 1, True),  # the sheet's 3 would overbook: 2 seats are held online
        ({"seats_left": 0}, 0, False),  # fewer is the institution's own count (offline sign-ups): kept
        ({"seats_total": 5, "seats_left": 5}, 3, True),  # two more seats, the online two still held
    ):
        with session_scope() as session:
            report = import_records(session, city, [stale | sheet], kind="classes")
            assert (session.get(TrainingClass, cid).seats_left, bool(report.seats_kept_for_signups)) == (
                expected,
                kept,
            )
            assert ("seats_kept_for_signups" in report.to_dict()) is kept
