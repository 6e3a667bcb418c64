"""Online sign-up for an evaluation session (技能等级认定), in the service the pages and the console share.

The same guarantees as a class (tests/test_signups.py): places taken atomically, a waitlist in order,
cancel and erase, double submits and duplicate numbers, and the session's own rules: sign-up closes the
day before it, a cancelled session takes none, retention counts from its date.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from geo.clock import city_today
from geo.config import get_settings
from geo.db import session_scope, upgrade
from geo.errors import ConflictError, NotFoundError
from geo.models import Evaluation, Signup
from geo.signups import (
    cancel,
    class_signups,
    get_by_reference,
    new_submission_key,
    offer_of,
    promote,
    purge_expired,
    sign_up,
)
from tests._postgres import fresh_database
from tests._signup_fixtures import make_class, make_evaluation, mobile

TEST_ROW_PREFIXES = ("SIGNUP-",)  # fixture rows, removed after the module (conftest._remove_test_rows)


def _sign(evaluation_id: int, i: int, url: str | None = None, **kw):
    args = {
        "evaluation_id": evaluation_id,
        "name": f"考生{i}",
        "mobile": mobile(i),
        "consent": True,
        "submission_key": new_submission_key(),
    } | kw
    with session_scope(url) as session:
        return sign_up(session, **args)


def _places(eid: int) -> int:
    with session_scope() as session:
        return session.get(Evaluation, eid).seats_left


def test_places_then_waitlist_in_order_cancel_erases_and_promotes(database: str) -> None:
    _, eid = make_evaluation(seats=2, tag="EV-WAIT")
    a, b, w1, w2 = (_sign(eid, i) for i in range(1, 5))
    assert [s.signup.status for s in (a, b, w1, w2)] == ["confirmed", "confirmed", "waitlisted", "waitlisted"]
    assert (w1.position, w2.position) == (1, 2) and _places(eid) == 0
    assert all(s.signup.class_id is None and s.signup.evaluation_id == eid for s in (a, b, w1, w2))
    with session_scope() as session:
        cancel(session, reference=a.signup.reference)
    with session_scope() as session:
        row = get_by_reference(session, a.signup.reference)
        assert (row.status, row.name, row.mobile_enc, row.note) == ("cancelled", "", "", None)
        assert isinstance(offer_of(row), Evaluation) and offer_of(row).id == eid
        assert session.get(Signup, w1.signup.id).status == "confirmed"  # the first in line got the place
        assert session.get(Signup, w2.signup.id).status == "waitlisted"
        listed = [s.id for s in class_signups(session, evaluation_id=eid)]
        assert listed == [b.signup.id, w1.signup.id, w2.signup.id]
    assert _places(eid) == 0
    # places the agency adds go to the waitlist first
    with session_scope() as session:
        session.get(Evaluation, eid).seats_left = 3
        assert promote(session, evaluation_id=eid) == [w2.signup.id]
    assert _places(eid) == 2


def test_double_submit_duplicate_number_and_a_class_apart(database: str) -> None:
    _, eid = make_evaluation(seats=5, tag="EV-DUP")
    _, cid = make_class(seats=5, tag="EV-DUP-C")
    key = new_submission_key()
    first = _sign(eid, 7, submission_key=key)
    again = _sign(eid, 7, submission_key=key)
    assert again.signup.id == first.signup.id and again.created is False
    with pytest.raises(ConflictError) as err:
        _sign(eid, 7)
    assert err.value.code == "already_signed_up" and "评价场次" in err.value.message_zh
    # the same number may hold a class and an evaluation session: they are different offers
    with session_scope() as session:
        out = sign_up(session, class_id=cid, name="考生7", mobile=mobile(7), consent=True, submission_key=key)
    assert out.signup.class_id == cid and out.signup.evaluation_id is None
    assert _places(eid) == 4


def test_closed_the_day_before_cancelled_full_and_unknown(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    today = city_today("jiaxing")
    _, tomorrow = make_evaluation(seats=5, tag="EV-TOMORROW", day=today + timedelta(days=1))
    assert _sign(tomorrow, 1).signup.status == "confirmed"  # the day before is the last day
    _, held_today = make_evaluation(seats=5, tag="EV-TODAY", day=today)
    with pytest.raises(ConflictError) as err:
        _sign(held_today, 2)
    assert err.value.code == "signup_closed" and "评价场次" in err.value.message_zh
    _, eid = make_evaluation(seats=5, tag="EV-CANCELLED")
    with session_scope() as session:
        session.get(Evaluation, eid).cancelled_at = session.get(Evaluation, eid).updated_at
    with pytest.raises(ConflictError) as err:
        _sign(eid, 3)
    assert err.value.code == "evaluation_cancelled" and err.value.message_en
    monkeypatch.setattr(get_settings(), "signup_waitlist_max", 1)
    _, small = make_evaluation(seats=1, tag="EV-FULL")
    assert [_sign(small, i).signup.status for i in (4, 5)] == ["confirmed", "waitlisted"]
    with pytest.raises(ConflictError) as err:
        _sign(small, 6)
    assert err.value.code == "evaluation_full" and "候补" in err.value.message_zh
    with pytest.raises(NotFoundError) as missing:
        _sign(2**31 - 1, 8)
    assert missing.value.code == "evaluation_not_found"
    with session_scope() as session:  # refusals wrote nothing
        assert session.scalar(select(func.count(Signup.id)).where(Signup.evaluation_id == small)) == 2


def test_a_place_freed_on_the_day_stays_free(database: str) -> None:
    """The agency's list is drawn up the day before: cancelling on the day promotes nobody."""
    _, eid = make_evaluation(seats=1, tag="EV-ONTHEDAY")
    first, waiting = _sign(eid, 21), _sign(eid, 22)
    with session_scope() as session:
        session.get(Evaluation, eid).date = city_today("jiaxing")
    with session_scope() as session:
        cancel(session, reference=first.signup.reference)
    with session_scope() as session:
        assert session.get(Signup, waiting.signup.id).status == "waitlisted"
        assert session.get(Evaluation, eid).seats_left == 1
        assert promote(session, evaluation_id=eid) == []


def test_retention_counts_from_the_evaluation_date(database: str) -> None:
    today = city_today("jiaxing")
    _, eid = make_evaluation(seats=3, tag="EV-OLD", day=today + timedelta(days=2))
    ref = _sign(eid, 11).signup.reference
    with session_scope() as session:
        session.get(Evaluation, eid).date = today - timedelta(days=40)
    keep = get_settings().signup_retention_days
    with session_scope() as session:
        assert purge_expired(session, today=today - timedelta(days=40) + timedelta(days=keep)) == 0
    with session_scope() as session:
        assert purge_expired(session, today=today) >= 1
    with session_scope() as session, pytest.raises(NotFoundError):
        get_by_reference(session, ref)


def _storm(url: str) -> None:
    """100 concurrent sign-ups for 5 places: exactly 5 confirmed, the waitlist full, the rest refused."""
    upgrade(url)
    _, eid = make_evaluation(url, seats=5, tag="EV-STORM")
    n, barrier, lock, outcomes = 100, threading.Barrier(100), threading.Lock(), Counter()

    def one(i: int) -> None:
        barrier.wait()
        try:
            result = _sign(eid, i, url, ip=f"10.1.{i // 250}.{i % 250}").signup.status
        except ConflictError as exc:
            result = exc.code
        with lock:
            outcomes[result] += 1

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait = get_settings().signup_waitlist_max
    assert outcomes == Counter({"confirmed": 5, "waitlisted": wait, "evaluation_full": n - 5 - wait}), outcomes
    with session_scope(url) as session:
        assert session.get(Evaluation, eid).seats_left == 0


def test_100_concurrent_sign_ups_for_5_places_sqlite(tmp_path: Path) -> None:
    _storm(f"sqlite:///{tmp_path / 'evaluation-storm.db'}")


@pytest.mark.postgres
def test_100_concurrent_sign_ups_for_5_places_postgresql() -> None:
    with fresh_database(prefix="sc_evsignup") as url:
        try:
            _storm(url)
        finally:
            from geo.db import get_engine

            get_engine(url).dispose()
