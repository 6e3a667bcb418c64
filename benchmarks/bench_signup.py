"""Concurrent sign-ups: the atomic seat reservation against plain inserts, on SQLite and PostgreSQL.

Each run makes a fresh database (a temporary SQLite file; a fresh database on the PostgreSQL test
server when ``SKILLCIRCLE_TEST_DATABASE_URL`` is set), a class with ``--seats`` seats, and fires
``--n`` sign-ups from ``--threads`` threads released together. It reports sign-ups per second and
checks the outcome (exactly ``--seats`` confirmed, ``seats_left`` = 0). The baseline, measured in the
same run on the same database, is the same number of plain ``INSERT`` s of a sign-up row without any
reservation, validation or encryption: the ratio is what the reservation, the limits and the
encryption cost on top of the database's own write path.

Run: ``python -m benchmarks.bench_signup [--n 400] [--seats 50] [--threads 32]``
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import threading
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import create_engine, make_url, text


def _run(fn, n: int, threads: int) -> float:
    todo = list(range(n))
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def worker() -> None:
        barrier.wait()
        while True:
            with lock:
                if not todo:
                    return
                i = todo.pop()
            fn(i)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return time.perf_counter() - start


def bench(url: str, label: str, *, n: int, seats: int, threads: int) -> None:
    """Benchmark one database URL and print the result line."""
    from geo.config import get_settings
    from geo.db import get_engine, session_scope, upgrade
    from geo.errors import ConflictError
    from geo.models import Resource, Signup, TrainingClass
    from geo.signups import new_submission_key, sign_up

    settings = get_settings()
    settings.signup_limit_per_ip_hour = 0
    settings.signup_waitlist_max = n
    upgrade(url)
    with session_scope(url) as s:
        res = Resource(
            city="jiaxing",
            external_id="BENCH",
            name="【示例】基准测试",
            category="training",
            lon=120.76,
            lat=30.75,
            reg_steps=[],
            is_sample=True,
        )
        s.add(res)
        s.flush()
        start = date.today() + timedelta(days=5)
        classes = []
        for tag in ("A", "B"):
            c = TrainingClass(
                city="jiaxing",
                external_id=f"BENCH-{tag}",
                resource_id=res.id,
                skill="电工",
                level=4,
                start_date=start,
                end_date=start + timedelta(days=9),
                schedule="weekday",
                seats_total=seats,
                seats_left=seats,
                is_sample=True,
            )
            s.add(c)
            s.flush()
            classes.append(c.id)
    outcomes: Counter = Counter()

    def one(i: int) -> None:
        try:
            with session_scope(url) as s:
                out = sign_up(
                    s,
                    class_id=classes[0],
                    name=f"工人{i}",
                    mobile=f"139{i:08d}",
                    consent=True,
                    submission_key=new_submission_key(),
                )
                outcomes[out.signup.status] += 1
        except ConflictError as exc:
            outcomes[exc.code] += 1

    def plain(i: int) -> None:
        with session_scope(url) as s:
            s.add(
                Signup(
                    city="jiaxing",
                    class_id=classes[1],
                    reference=f"B{i:011d}",
                    submission_key=f"k{i:023d}",
                    status="confirmed",
                    name=f"工人{i}",
                    mobile_enc="",
                    consent_version="bench",
                )
            )

    t_base = _run(plain, n, threads)
    t_signup = _run(one, n, threads)
    with session_scope(url) as s:
        left = s.get(TrainingClass, classes[0]).seats_left
    assert outcomes["confirmed"] == seats and left == 0, (outcomes, left)
    get_engine(url).dispose()
    print(
        f"{label:<11} {n} sign-ups, {threads} threads, {seats} seats: {n / t_signup:7.0f}/s "
        f"(confirmed {outcomes['confirmed']}, waitlisted {outcomes['waitlisted']}, seats_left {left}); "
        f"plain inserts {n / t_base:7.0f}/s; ratio {t_signup / t_base:.2f}x the baseline time"
    )


def main() -> None:
    """Parse arguments and run on SQLite, then on PostgreSQL when configured."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--seats", type=int, default=50)
    parser.add_argument("--threads", type=int, default=32)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-signup-"))
    os.environ.setdefault("SKILLCIRCLE_VAR_DIR", str(tmp))
    bench(f"sqlite:///{tmp / 'bench.db'}", "SQLite", n=args.n, seats=args.seats, threads=args.threads)
    base = os.environ.get("SKILLCIRCLE_TEST_DATABASE_URL", "")
    if not base:
        print("PostgreSQL: skipped (SKILLCIRCLE_TEST_DATABASE_URL not set)")
        return
    # a fresh database, not a schema of the shared one: the migrations enable PostGIS, which lives per database
    name = f"sc_bench_{secrets.token_hex(4)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(base).set(database=name).render_as_string(hide_password=False)
        bench(url, "PostgreSQL", n=args.n, seats=args.seats, threads=args.threads)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
