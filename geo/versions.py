"""The registry version: one counter per city, bumped in the same transaction as every write.

Worker processes keep an in-memory index of a city's resources (``api/state.py``). They learn of a
write made elsewhere (another worker, the CLI, an import job) by reading this counter, which is
cheap and, unlike ``max(updated_at)``, changes with every write, including an import that keeps
its sheet's ``updated_at`` values.

The bump is a session event, so no write path can forget it: whenever a session that changed a
resource, skill, class, evaluation or skill code commits, ``registry_versions.version`` of each
city touched is incremented just before the commit (an upsert; under PostgreSQL the row lock is
held only for the commit itself). Writes that are pure counters (scan counts, token use, the audit
log) do not bump it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import event, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from geo.models import Evaluation, RegistryVersion, Resource, ResourceSkill, SkillCode, TrainingClass

log = logging.getLogger(__name__)
_TRACKED = (Resource, ResourceSkill, TrainingClass, Evaluation, SkillCode)
_PENDING = "skillcircle_registry_cities"


def _city_of(obj: object) -> str | None:
    city = getattr(obj, "city", None)
    if city is None and isinstance(obj, ResourceSkill):
        resource = obj.__dict__.get("resource")  # never lazy-load inside a flush
        city = getattr(resource, "city", None)
    return city


def _collect(session: Session) -> None:
    cities = session.info.setdefault(_PENDING, set())
    for obj in (*session.new, *session.deleted):
        if isinstance(obj, _TRACKED) and (city := _city_of(obj)):
            cities.add(city)
    for obj in session.dirty:
        if isinstance(obj, _TRACKED) and session.is_modified(obj) and (city := _city_of(obj)):
            cities.add(city)


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: object, _instances: object) -> None:
    _collect(session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    _collect(session)  # changes not flushed yet are flushed by the commit itself
    cities = session.info.pop(_PENDING, set())
    if cities:
        bump(session, cities)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def bump(session: Session, cities: set[str] | list[str]) -> None:
    """Increment the registry version of ``cities`` in ``session``'s transaction (creating the rows)."""
    conn = session.connection()
    dialect = conn.dialect.name
    now = datetime.now(UTC)
    row = RegistryVersion
    bumped = {"version": row.version + 1, "changed_at": now}
    for city in sorted(cities):
        first = {"city": city, "version": 1, "changed_at": now}
        if dialect == "postgresql":
            pg = postgresql.insert(row).values(first)
            conn.execute(pg.on_conflict_do_update(index_elements=[row.city], set_=bumped))
        elif dialect == "sqlite":
            lite = sqlite.insert(row).values(first)
            conn.execute(lite.on_conflict_do_update(index_elements=[row.city], set_=bumped))
        else:  # other dialects: update, else insert
            done = conn.execute(update(row).where(row.city == city).values(bumped)).rowcount
            if not done:
                conn.execute(insert(row).values(first))
    log.debug("registry version bumped for %s", ", ".join(sorted(cities)))


def read_version(session: Session, city: str) -> int:
    """The registry version of ``city`` (0 before its first write)."""
    return session.scalar(select(RegistryVersion.version).where(RegistryVersion.city == city)) or 0
