"""Schema migrations: the Alembic history builds exactly the models' schema, and upgrades keep data."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from geo.db import current_revision, head_revision, upgrade
from geo.models import Base


def test_migrations_match_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations differ; add a migration: {diff}"


def test_upgrade_again_keeps_every_row(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kept.db'}"
    upgrade(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO resources (city, external_id, name, category, lon, lat, reg_steps, subsidy_eligible,"
                " is_sample, updated_at, created_at) VALUES ('jiaxing', 'KEEP-1', '【示例】保留', 'training',"
                " 120.76, 30.75, '[]', 0, 1, '2026-01-01', '2026-01-01')"
            )
        )
    upgrade(url)  # a second upgrade (as every `make serve` runs one) is a no-op that keeps the data
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM resources WHERE external_id = 'KEEP-1'")).scalar() == "【示例】保留"
    engine.dispose()
    assert current_revision(url) == head_revision()
