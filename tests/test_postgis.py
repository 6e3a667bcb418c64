"""The PostGIS path on the real PostgreSQL server: points as indexed geometry, the district, town and
bounding-box queries answered from the GiST index with the same answers as the SQLite path, and a
clear CLI error (nothing written) where PostGIS cannot be enabled.

Each test works in fresh databases (``tests/_postgres.py``) dropped afterwards.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
import shapely
from sqlalchemy import create_engine, insert, make_url, select, text, update

from geo.boundaries import districts, town_areas
from geo.cities import load_city
from geo.db import get_engine, head_revision, session_scope, upgrade
from geo.importer import import_folder
from geo.locations import box_area, district_area, resources_within, town_area
from geo.models import Resource
from geo.sample import generate_sample
from tests._postgres import URL, fresh_database, unavailable, url_for
from tests._servers import run_cli

pytestmark = pytest.mark.postgres
N_RANDOM = 30_000  # enough rows that the planner prefers the index to a scan of the table
BOXES = [(120.70, 30.70, 120.80, 30.80), (120.50, 30.40, 121.20, 30.95), (120.76, 30.75, 120.7605, 30.7505)]


def _rows(city_key: str) -> list[dict]:
    """Random points over the city's box plus every district polygon's vertices (points on edges)."""
    city = load_city(city_key)
    rng = np.random.default_rng(16)
    min_lon, min_lat, max_lon, max_lat = city.bbox
    lons = list(rng.uniform(min_lon, max_lon, N_RANDOM))
    lats = list(rng.uniform(min_lat, max_lat, N_RANDOM))
    for poly in districts(city).geometry:
        xy = shapely.get_coordinates(poly)
        lons += list(xy[:, 0])
        lats += list(xy[:, 1])
    now = datetime(2026, 12, 1, tzinfo=UTC)
    return [
        {
            "city": city_key,
            "external_id": f"GEO-{i}",
            "name": f"【示例】空间查询样本点 {i}",
            "category": "training",
            "lon": float(x),
            "lat": float(y),
            "reg_steps": [],
            "subsidy_eligible": False,
            "is_sample": True,
            "updated_at": now,
            "created_at": now,
        }
        for i, (x, y) in enumerate(zip(lons, lats, strict=True))
    ]


def _fill(url: str, folder: Path, rows: list[dict]) -> None:
    upgrade(url)
    with session_scope(url) as session:
        import_folder(session, load_city("jiaxing"), folder)
        session.execute(insert(Resource), rows)


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory):
    """(PostgreSQL URL, SQLite URL) holding the same rows: the Jiaxing sample and the random points."""
    tmp = tmp_path_factory.mktemp("postgis")
    folder = tmp / "sample"
    folder.mkdir()
    generate_sample(load_city("jiaxing"), seed=20260101, start_date=date(2026, 12, 1), out_dir=folder)
    rows = _rows("jiaxing")
    with fresh_database() as pg:
        lite = f"sqlite:///{tmp / 'same.db'}"
        _fill(pg, folder, rows)
        _fill(lite, folder, rows)
        with get_engine(pg).begin() as conn:
            conn.execute(text("ANALYZE resources"))
        yield pg, lite
        get_engine(pg).dispose()


def _answer(url: str, area) -> set[str]:  # shapely geometry
    with session_scope(url) as session:
        ids = select(Resource.external_id).where(Resource.id.in_(resources_within(session, area, city="jiaxing")))
        return set(session.scalars(ids))


def _areas() -> list[tuple[str, object]]:
    city = load_city("jiaxing")
    out = [(f"district {name}", district_area(city, name)) for name in districts(city)["name_zh"]]
    out += [(f"town {name}", town_area(city, name)) for name in town_areas(city)["name_zh"]]
    out += [(f"box {b}", box_area(b)) for b in BOXES]
    return out


def test_points_are_indexed_geometry_kept_in_sync(both: tuple[str, str]) -> None:
    pg, _ = both
    with get_engine(pg).begin() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()
        kind = conn.execute(
            text("SELECT type, srid FROM geometry_columns WHERE f_table_name = :t AND f_geometry_column = :c"),
            {"t": "resources", "c": "geom"},
        ).one()
        assert tuple(kind) == ("POINT", 4326)
        index = conn.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_resources_geom'")).scalar()
        assert "USING gist (geom)" in index
        off = conn.execute(
            text("SELECT count(*) FROM resources WHERE geom IS NULL OR NOT (ST_X(geom) = lon AND ST_Y(geom) = lat)")
        ).scalar()
        assert off == 0
    # the ORM (which knows nothing of geom) moves a point: the geometry follows
    with session_scope(pg) as session:
        session.execute(update(Resource).where(Resource.external_id == "GEO-0").values(lon=120.75, lat=30.76))
    with get_engine(pg).connect() as conn:
        x, y = conn.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM resources WHERE external_id = 'GEO-0'")).one()
    assert (x, y) == (120.75, 30.76)
    with session_scope(pg) as session:  # put it back for the comparisons
        row = _rows("jiaxing")[0]
        session.execute(update(Resource).where(Resource.external_id == "GEO-0").values(lon=row["lon"], lat=row["lat"]))


def test_postgis_answers_equal_the_sqlite_path(both: tuple[str, str]) -> None:
    pg, lite = both
    nonempty = 0
    for label, area in _areas():
        on_pg, on_lite = _answer(pg, area), _answer(lite, area)
        assert on_pg == on_lite, f"{label}: {len(on_pg ^ on_lite)} resources differ"
        nonempty += bool(on_pg)
    assert nonempty > 70  # 7 districts, ~70 towns and the boxes found resources
    # the vertices shared by two districts count in both (edges are inside on both paths)
    city = load_city("jiaxing")
    names = list(districts(city)["name_zh"])
    in_two = _answer(pg, district_area(city, names[0])) & _answer(pg, district_area(city, names[1]))
    in_two_lite = _answer(lite, district_area(city, names[0])) & _answer(lite, district_area(city, names[1]))
    assert in_two == in_two_lite


def test_queries_use_the_gist_index(both: tuple[str, str]) -> None:
    pg, _ = both
    city = load_city("jiaxing")
    cases = {
        "district": district_area(city, "南湖区"),
        "town": town_area(city, "王店镇"),
        "box": box_area(BOXES[0]),
    }
    with session_scope(pg) as session:
        for label, area in cases.items():
            stmt = resources_within(session, area, city="jiaxing")
            compiled = stmt.compile(dialect=session.get_bind().dialect)
            plan = "\n".join(
                r[0] for r in session.connection().exec_driver_sql("EXPLAIN " + str(compiled), compiled.params)
            )
            assert "ix_resources_geom" in plan, f"{label} query does not use the GiST index:\n{plan}"


def test_missing_postgis_is_a_clear_cli_error_and_writes_nothing(tmp_path: Path) -> None:
    """A user who may not create the extension (PostGIS is not a trusted extension) on a database
    without it: the same failure as a server without the package, as the user meets it."""
    if not URL:
        unavailable("SKILLCIRCLE_TEST_DATABASE_URL is not set")
    role = f"sc_test_nopostgis_{secrets.token_hex(4)}"
    admin = create_engine(URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER'))
    try:
        with fresh_database(owner=role) as owned:
            url = url_for(make_url(owned).database or "", user=role)
            env = {"DATABASE_URL": url, "SKILLCIRCLE_VAR_DIR": str(tmp_path)}
            for args in (("db", "upgrade"), ("sample", "jiaxing", "--out", str(tmp_path / "sheets"))):
                done = run_cli(env, *args)
                assert done.returncode == 2, done.stderr
                assert "[postgis_unavailable]" in done.stderr
                assert "缺少 PostGIS" in done.stderr and "PostGIS is missing" in done.stderr
                assert "Traceback" not in done.stderr
            with create_engine(owned).connect() as conn:  # the whole upgrade was rolled back
                tables = conn.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar()
                assert tables == 0
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


def test_postgis_off_the_search_path_is_a_clear_error(tmp_path: Path) -> None:
    """The extension exists in the database, but in a schema the service's connections do not see."""
    with fresh_database() as url:
        with create_engine(url).begin() as conn:
            conn.execute(text("CREATE SCHEMA gis"))
            conn.execute(text("CREATE EXTENSION postgis SCHEMA gis"))
        hidden = f"{url}?options=-csearch_path%3Dpublic"
        done = run_cli({"DATABASE_URL": hidden, "SKILLCIRCLE_VAR_DIR": str(tmp_path)}, "db", "upgrade")
        assert done.returncode == 2, done.stderr
        assert "[postgis_unavailable]" in done.stderr and "schema gis" in done.stderr
        with create_engine(url).connect() as conn:
            tables = conn.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar()
        assert tables == 0


def test_the_postgresql_schema_is_the_models_plus_postgis(both: tuple[str, str]) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from geo.db import include_in_autogenerate
    from geo.models import Base

    pg, _ = both
    with get_engine(pg).connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include_in_autogenerate})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"PostgreSQL schema and models differ: {diff}"
