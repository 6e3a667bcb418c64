"""Database engine, sessions and schema upgrades.

The embedded default is a SQLite file under ``var/``; ``DATABASE_URL`` selects PostgreSQL (or any
SQLAlchemy URL) with no other change. The schema is created and upgraded by Alembic only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Column, CursorResult, Engine, Executable, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from geo import versions  # noqa: F401 - registers the registry-version bump on every session
from geo.config import get_settings
from geo.errors import DatabaseUnavailableError

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine.interfaces import DBAPIConnection
    from sqlalchemy.pool import ConnectionPoolEntry
    from sqlalchemy.sql.schema import SchemaItem

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
CONNECT_TIMEOUT_S = 3
RETRY_AFTER_S = 10


def _normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs (the driver this project installs)."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.removeprefix("postgres://")
    return url


@cache
def get_engine(url: str | None = None) -> Engine:
    """The SQLAlchemy engine for ``url`` (default: the settings' database), created once per URL."""
    url = _normalise_url(url or get_settings().effective_database_url)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    # a short connect timeout: with the database away, requests fail fast with 503 instead of hanging
    connect_args = {"connect_timeout": CONNECT_TIMEOUT_S} if url.startswith("postgresql") else {}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def database_unavailable(exc: BaseException | None = None) -> DatabaseUnavailableError:
    """The error every database-backed route answers when the database is lost (503 + Retry-After).

    The driver's message (``exc``) is logged by the caller, never sent to the client.
    """
    msg = "the database is unavailable; retry later"
    details = {"retry_after": RETRY_AFTER_S}
    err = DatabaseUnavailableError(msg, message_zh="数据库暂时不可用，请稍后再试", details=details)
    err.__cause__ = exc
    return err


@cache
def _session_factory(url: str | None = None) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


def rows_changed(session: Session, stmt: Executable) -> int:
    """Run an UPDATE or DELETE (without RETURNING) in ``session``; the number of rows it changed.

    ``Session.execute`` returns a cursor result for such statements, but is typed as returning a
    plain ``Result`` (which has no ``rowcount``), since other statements do not give one.
    """
    return cast("CursorResult[Any]", session.execute(stmt)).rowcount


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session committed on success and rolled back on any error (all or nothing)."""
    session = _session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str | None = None, *, revision: str = "head") -> None:
    """Bring the schema of the database at ``url`` up to ``revision`` with Alembic (keeps all data)."""
    from alembic import command

    url = _normalise_url(url or get_settings().effective_database_url)
    get_engine(url)  # creates the SQLite folder
    log.info("upgrading database schema to %s", revision)
    command.upgrade(_alembic_config(url), revision)


def head_revision() -> str:
    """The newest revision of the migration history (what ``upgrade`` brings a database to)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def current_revision(url: str | None = None) -> str | None:
    """The Alembic revision the database at ``url`` is at (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    with get_engine(_normalise_url(url or get_settings().effective_database_url)).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


# what only PostgreSQL's schema holds beyond the models: PostGIS's own table and migration 0004's point
# column and its index (the models stay dialect-neutral: SQLite has none of them)
_POSTGIS_OBJECTS = {("table", "spatial_ref_sys"), ("column", "resources.geom"), ("index", "ix_resources_geom")}


def include_in_autogenerate(
    obj: SchemaItem, name: str | None, type_: str, reflected: bool, compare_to: SchemaItem | None
) -> bool:
    """Alembic's ``include_object`` hook: leave out the PostGIS objects the models do not describe, so
    that comparing (or autogenerating) against a PostgreSQL database sees only real differences."""
    if type_ == "column" and isinstance(obj, Column):
        name = f"{obj.table.name}.{name}"
    return (type_, name) not in _POSTGIS_OBJECTS
