"""The real PostgreSQL server of these machines for tests: fresh databases, dropped afterwards.

The server's URL comes from ``SKILLCIRCLE_TEST_DATABASE_URL`` (``.ci/run`` sets it). Each user of
:func:`fresh_database` gets a database of its own (PostGIS is enabled per database, so a schema of a
shared database would not isolate it). Without a reachable server the tests skip — except under CI
(``CI=true``), where they fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, make_url, text

URL = os.environ.get("SKILLCIRCLE_TEST_DATABASE_URL", "")


def unavailable(reason: str) -> None:
    """Skip (fail under CI) for want of the PostgreSQL server."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(reason)


def url_for(database: str, *, user: str | None = None) -> str:
    """The test server's URL with another database (and user)."""
    url = make_url(URL).set(database=database)
    if user is not None:
        url = url.set(username=user, password=None)
    return url.render_as_string(hide_password=False)


@contextmanager
def fresh_database(*, prefix: str = "sc_test", owner: str | None = None) -> Iterator[str]:
    """A new, empty database on the test server (owned by ``owner`` if given); dropped on exit with
    every connection still open to it."""
    if not URL:
        unavailable("SKILLCIRCLE_TEST_DATABASE_URL is not set")
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_engine(URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"' + (f' OWNER "{owner}"' if owner else "")))
    except Exception as exc:  # noqa: BLE001 - any connection problem means "no server"
        admin.dispose()
        unavailable(f"PostgreSQL unreachable at {URL}: {exc}")
    try:
        yield url_for(name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
