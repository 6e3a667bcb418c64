"""200 concurrent sign-ups for 10 seats: exactly 10 confirmed, the waitlist filled in order, the rest
told the class is full; seats never below zero. On SQLite and on PostgreSQL (a fresh schema)."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from geo.config import get_settings
from geo.db import session_scope, upgrade
from geo.errors import ConflictError
from geo.models import Signup, TrainingClass
from geo.signups import new_submission_key, sign_up
from tests._postgres import fresh_database
from tests._signup_fixtures import make_class, mobile

N, SEATS = 200, 10


def _storm(url: str, class_id: int) -> Counter:
    barrier = threading.Barrier(N)
    outcomes: Counter = Counter()
    lock = threading.Lock()

    def one(i: int) -> None:
        barrier.wait()
        try:
            with session_scope(url) as session:
                out = sign_up(
                    session,
                    class_id=class_id,
                    name=f"工人{i}",
                    mobile=mobile(i),
                    consent=True,
                    submission_key=new_submission_key(),
                    ip=f"10.0.{i // 250}.{i % 250}",
                )
                result = out.signup.status
        except ConflictError as exc:
            result = exc.code
        except Exception as exc:  # noqa: BLE001 - any other outcome fails the test below
            result = f"error: {type(exc).__name__}: {exc}"
        with lock:
            outcomes[result] += 1

    threads = [threading.Thread(target=one, args=(i,)) for i in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def _check(url: str, class_id: int, outcomes: Counter) -> None:
    wait = get_settings().signup_waitlist_max
    assert outcomes == Counter({"confirmed": SEATS, "waitlisted": wait, "class_full": N - SEATS - wait}), outcomes
    with session_scope(url) as session:
        assert session.get(TrainingClass, class_id).seats_left == 0
        by_status = dict(
            session.execute(
                select(Signup.status, func.count(Signup.id)).where(Signup.class_id == class_id).group_by(Signup.status)
            ).all()
        )
        assert by_status == {"confirmed": SEATS, "waitlisted": wait}


def test_200_concurrent_signups_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'storm.db'}"
    upgrade(url)
    _, class_id = make_class(url, seats=SEATS, tag="SQLITE")
    _check(url, class_id, _storm(url, class_id))


@pytest.mark.postgres
def test_200_concurrent_signups_postgresql(tmp_path: Path) -> None:
    # a fresh database, not a schema: the migrations enable PostGIS, which lives per database
    with fresh_database(prefix="sc_signup") as url:
        try:
            upgrade(url)
            _, class_id = make_class(url, seats=SEATS, tag="PG")
            _check(url, class_id, _storm(url, class_id))
        finally:
            from geo.db import get_engine

            get_engine(url).dispose()
