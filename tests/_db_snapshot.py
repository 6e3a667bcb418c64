"""Snapshot the session database and restore it exactly, for tests whose writes reach shared rows.

Test modules of one worker share a database and several count the sample. A test that may change
rows it did not create (the fuzz test, with an admin token, deletes and replaces sample resources)
snapshots every table first and restores it afterwards: every row back, with its id and every
column, and nothing else. Deleting only the rows with ids above the ones seen before is not enough:
a sample resource the fuzzer deleted would stay deleted, and a replaced one would keep the fuzzed
name.

The restore is itself a write: each city's registry version is bumped (not rolled back), so a
cache keyed on it cannot take the restored state for an older one, and the running app's resource
indexes (:mod:`api.state`) are marked stale, so its next query routes to the restored resources.
Import jobs the test started are waited for first (a job still running would write after the
restore).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, select

from tests._servers import PATIENCE_S

# Bumped by the restore (a counter, never rolled back); every other table is restored row for row.
_NOT_RESTORED = frozenset({"registry_versions"})


def _tables() -> list[Table]:
    from geo.models import Base

    return [t for t in Base.metadata.sorted_tables if t.name not in _NOT_RESTORED]  # parents first


@dataclass(frozen=True)
class Snapshot:
    """Every row of every restored table, by table name, in primary-key order."""

    rows: dict[str, list[dict[str, Any]]]

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        return {name: len(rows) for name, rows in self.rows.items()}


def take_snapshot() -> Snapshot:
    """The current contents of the session database (every table but the registry versions)."""
    from geo.db import session_scope

    with session_scope() as s:
        conn = s.connection()
        return Snapshot(
            {
                t.name: [dict(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns)).mappings()]
                for t in _tables()
            }
        )


def _wait_for_jobs() -> None:
    from geo.db import session_scope
    from geo.models import Job

    deadline = time.monotonic() + PATIENCE_S  # a hang guard, not a speed claim
    while True:
        with session_scope() as s:
            active = s.scalars(select(Job.id).where(Job.status.in_(("queued", "running")))).all()
        if not active:
            return
        if time.monotonic() > deadline:
            msg = f"import jobs never ended: {active}"
            raise AssertionError(msg)
        time.sleep(0.2)


def restore_snapshot(snapshot: Snapshot) -> None:
    """Make the database hold exactly ``snapshot`` again, and the running app's indexes follow it.

    In one transaction: every table emptied (children first), the snapshot's rows inserted (parents
    first), and the registry version of every city bumped.
    """
    from geo.db import session_scope
    from geo.models import RegistryVersion, Resource, SkillCode
    from geo.versions import bump

    _wait_for_jobs()
    tables = _tables()
    with session_scope() as s:
        conn = s.connection()
        for t in reversed(tables):
            conn.execute(t.delete())
        for t in tables:
            if snapshot.rows.get(t.name):
                conn.execute(t.insert(), snapshot.rows[t.name])
        cities = set(s.scalars(select(RegistryVersion.city)))
        cities |= set(s.scalars(select(Resource.city).distinct())) | set(s.scalars(select(SkillCode.city).distinct()))
        if cities:
            bump(s, cities)
    from api.state import loaded_runtimes

    for runtime in loaded_runtimes().values():
        runtime.invalidate()
