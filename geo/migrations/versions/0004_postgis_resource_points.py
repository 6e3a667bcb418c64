"""PostGIS: resource points as geometry(Point, 4326) with a GiST index (PostgreSQL only)

On PostgreSQL this enables the ``postgis`` extension and adds ``resources.geom``, a stored column
generated from ``lon``/``lat`` (so every writer — ORM, importer, raw SQL — keeps it in sync, and the
float columns the rest of the code reads stay as they are), indexed with GiST for the district, town
and bounding-box queries of :mod:`geo.locations`. On SQLite (the embedded default) it changes nothing:
the same chain of revisions serves both.

A server without PostGIS, or a user who may not create the extension, stops the upgrade with
``postgis_unavailable``; PostgreSQL's transactional DDL rolls the whole upgrade back, so nothing is
half-written.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 13:00:00
"""

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op

if TYPE_CHECKING:
    from geo.errors import PostGISUnavailableError

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _postgis_unavailable(reason: str, detail: str) -> "PostGISUnavailableError":
    from geo.errors import PostGISUnavailableError

    msg = (
        f"PostGIS is missing on the PostgreSQL server ({detail}): install Debian's postgresql-15-postgis-3 "
        "(scripts/system-deps.sh does) or have a superuser run CREATE EXTENSION postgis in this database"
    )
    msg_zh = (
        "PostgreSQL 服务器缺少 PostGIS：请安装 Debian 软件包 postgresql-15-postgis-3（scripts/system-deps.sh 会安装），"
        "或请超级用户在该数据库中执行 CREATE EXTENSION postgis"
    )
    return PostGISUnavailableError(msg, message_zh=msg_zh, details={"reason": reason, "server": detail})


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    available = bind.execute(
        sa.text("SELECT default_version FROM pg_catalog.pg_available_extensions WHERE name = 'postgis'")
    ).scalar()
    if available is None:
        raise _postgis_unavailable("not_installed", "the server has no postgis extension available")
    try:
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    except sa.exc.DBAPIError as exc:
        raise _postgis_unavailable("cannot_create", str(exc.orig).splitlines()[0]) from exc
    if bind.execute(sa.text("SELECT to_regtype('geometry')")).scalar() is None:
        schema = bind.execute(
            sa.text("SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'postgis'")
        ).scalar()
        raise _postgis_unavailable("not_on_search_path", f"postgis is installed in schema {schema}, not on search_path")
    op.execute(
        "ALTER TABLE resources ADD COLUMN geom geometry(Point, 4326)"
        " GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED"
    )
    op.execute("CREATE INDEX ix_resources_geom ON resources USING gist (geom)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_resources_geom")
    op.execute("ALTER TABLE resources DROP COLUMN IF EXISTS geom")
    # the extension stays: other objects of the database may use it
