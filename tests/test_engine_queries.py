"""Snapping, nearby (table vs fresh Dijkstra), nearest_times (one pass), estimate mode."""

from __future__ import annotations

import numpy as np
import pytest

from geo.cities import load_city
from geo.errors import InvalidParameterError, OffNetworkError, UnknownModeError
from isochrones.engine import CityEngine
from isochrones.travel import nearest_times, search, tree_lengths
from tests._engine_fixtures import SPEEDS_MPS, hand_graph, helsinki_engine, helsinki_graphs, lonlat

MODES = ("walk", "bicycle", "ebike", "car")


@pytest.fixture(scope="module")
def resources() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    g = helsinki_graphs()["walk"]
    rng = np.random.default_rng(3)
    idx = rng.choice(g.n_nodes, 80, replace=False)
    lons = g.lon[idx] + rng.normal(0, 2e-4, idx.size)
    lats = g.lat[idx] + rng.normal(0, 1e-4, idx.size)
    lons[0], lats[0] = 24.80, 60.10  # far off the network: kept, never reachable
    return np.arange(1000, 1000 + idx.size), lons, lats


@pytest.fixture(scope="module")
def engine(resources) -> CityEngine:
    eng = helsinki_engine()
    eng.set_resources(*resources)
    return eng


def _origins(n: int, seed: int = 11) -> list[tuple[float, float]]:
    g = helsinki_graphs()["walk"]
    rng = np.random.default_rng(seed)
    idx = rng.choice(g.n_nodes, n, replace=False)
    return list(zip((g.lon[idx] + 1e-4).tolist(), g.lat[idx].tolist(), strict=True))


def test_snap_beyond_max_distance_is_off_network(engine) -> None:
    with pytest.raises(OffNetworkError) as err:
        engine.reachable(24.80, 60.10, mode="walk", minutes=10)
    assert err.value.code == "off_network" and err.value.details["distance_m"] > 500
    assert "路网" in err.value.message_zh


def test_snap_walk_counts_toward_time() -> None:
    graph = hand_graph([(0, 0), (500, 0)], [(0, 1), (1, 0)], mode="car")
    eng = CityEngine({"car": graph}, speeds_mps=SPEEDS_MPS, max_snap_m=300.0)
    lon, lat = lonlat(np.array([(0, 200.0)]))  # 200 m north of node 0
    reach = eng.reachable(lon[0], lat[0], mode="car", minutes=5)
    walk_s = 200.0 / SPEEDS_MPS["walk"]
    assert reach.snap_m == pytest.approx(200.0, abs=0.5)
    assert reach.seconds.min() == pytest.approx(walk_s, rel=1e-3)
    assert reach.seconds.max() == pytest.approx(walk_s + 500.0 / SPEEDS_MPS["car"], rel=1e-3)


def test_unknown_mode_and_bad_minutes(engine) -> None:
    with pytest.raises(UnknownModeError):
        engine.reachable(24.94, 60.168, mode="horse", minutes=10)
    with pytest.raises(InvalidParameterError):
        engine.nearby(24.94, 60.168, mode="walk", minutes=0)
    with pytest.raises(InvalidParameterError):
        engine.nearby(24.94, 60.168, mode="walk", minutes=10, mask=np.ones(3, bool))


@pytest.mark.parametrize("mode", MODES)
def test_nearby_matches_fresh_dijkstra(engine, resources, mode: str) -> None:
    ids, lons, lats = resources
    graph = engine.graphs[mode]
    snap = engine.resource_snap(mode)
    assert not snap.ok[0]  # the far resource is kept but unreachable
    rng = np.random.default_rng(5)
    for lon, lat in _origins(12):
        mask = rng.random(ids.size) < 0.7
        for minutes in (5, 15):
            hits = engine.nearby(lon, lat, mode=mode, minutes=minutes, mask=mask)
            fresh = engine.nearby_fresh(lon, lat, mode=mode, minutes=minutes, mask=mask)
            # independent reference: one forward Dijkstra from the snapped node
            node, snap_m, snap_s = engine.snappers[mode].snap(lon, lat)
            dist = search(graph, node, limit_s=np.inf)
            t = dist[np.maximum(snap.node, 0)] + snap.walk_s + snap_s
            ok = mask & snap.ok & (t <= minutes * 60)
            want = dict(zip(ids[ok].tolist(), t[ok].tolist(), strict=True))
            got = {h.resource_id: h.seconds for h in hits}
            near_edge = {k for k, v in want.items() if abs(v - minutes * 60) < 0.2}
            assert set(got) - near_edge == set(want) - near_edge
            for k in set(got) & set(want):
                assert got[k] == pytest.approx(want[k], abs=0.11)  # table keeps 0.1 s
            assert [h.seconds for h in hits] == sorted(h.seconds for h in hits)
            assert {h.resource_id for h in fresh} - near_edge == set(want) - near_edge
            for h, f in zip(hits, fresh, strict=False):
                if h.resource_id == f.resource_id:
                    assert h.distance_m == pytest.approx(f.distance_m, abs=6.0)
            assert not any(h.estimate for h in hits)


def test_nearby_beyond_the_table_falls_back_to_a_fresh_search(resources) -> None:
    eng = helsinki_engine(table_minutes={"walk": 5.0})
    eng.set_resources(*resources)
    lon, lat = _origins(1)[0]
    long = eng.nearby(lon, lat, mode="walk", minutes=20)
    fresh = eng.nearby_fresh(lon, lat, mode="walk", minutes=20)
    assert [h.resource_id for h in long] == [h.resource_id for h in fresh]
    assert len(long) > len(eng.nearby(lon, lat, mode="walk", minutes=5))


def test_walk_distance_is_network_metres(engine) -> None:
    lon, lat = _origins(1, seed=2)[0]
    hits = engine.nearby(lon, lat, mode="walk", minutes=10)
    assert len(hits) > 3 and engine.nearby(lon, lat, mode="walk", minutes=10, limit=3) == hits[:3]
    for h in engine.nearby(lon, lat, mode="walk", minutes=10):
        # constant speed: seconds x speed = network + snap metres
        assert h.distance_m == pytest.approx(h.seconds * SPEEDS_MPS["walk"], rel=1e-3, abs=0.2)


def test_tree_lengths_match_path_sums() -> None:
    graph = helsinki_graphs()["car"]
    dist, pred = search(graph, 5, limit_s=np.inf, predecessors=True)
    lengths = tree_lengths(graph, pred, reverse=False)
    for target in np.flatnonzero(np.isfinite(dist))[::97][:10]:
        total, node = 0.0, int(target)
        while pred[node] >= 0:
            total += float(graph.edge_lengths(np.array([pred[node]]), np.array([node]), reverse=False)[0])
            node = int(pred[node])
        assert lengths[target] == pytest.approx(total, abs=1e-3)


@pytest.mark.parametrize("mode", ["walk", "car"])
def test_nearest_times_one_pass_equals_min_of_single_runs(engine, mode: str) -> None:
    snap = engine.resource_snap(mode)
    mask = np.zeros(snap.node.size, bool)
    mask[1:30:3] = True
    one_pass = engine.nearest_times(mask, mode=mode)
    graph = engine.graphs[mode]
    want = np.full(graph.n_nodes, np.inf)
    for k in np.flatnonzero(mask & snap.ok):
        want = np.minimum(want, search(graph, int(snap.node[k]), limit_s=np.inf, reverse=True) + snap.walk_s[k])
    assert np.array_equal(np.isfinite(one_pass), np.isfinite(want))
    fin = np.isfinite(want)
    assert np.allclose(one_pass[fin], want[fin], atol=2e-3)
    # zero offsets take scipy's min_only path
    plain = nearest_times(graph, snap.node[mask & snap.ok])
    assert np.all(plain[fin] <= one_pass[fin] + 1e-9)
    lons, lats = engine.node_lonlat(mode)
    assert lons.size == one_pass.size == lats.size


@pytest.mark.parametrize("mode", ["walk", "bicycle", "car"])
def test_bounded_nearest_times_equal_the_unbounded_ones_up_to_the_limit(engine, mode: str) -> None:
    snap = engine.resource_snap(mode)
    mask = np.zeros(snap.node.size, bool)
    mask[2:40:5] = True
    full = engine.nearest_times(mask, mode=mode)
    graph = engine.graphs[mode]
    for limit in (60.0, 240.0, 900.0):
        bounded = engine.nearest_times(mask, mode=mode, limit_s=limit)
        near = full <= limit
        assert 0 < near.sum() < graph.n_nodes  # the limit really cuts the search
        np.testing.assert_allclose(bounded[near], full[near], atol=1e-9)
        assert np.isinf(bounded[~near]).all()
        # the zero-offset path (scipy's min_only) honours the limit too
        nodes = snap.node[mask & snap.ok]
        plain, plain_b = nearest_times(graph, nodes), nearest_times(graph, nodes, limit_s=limit)
        np.testing.assert_allclose(plain_b[plain <= limit], plain[plain <= limit], atol=1e-9)
        assert np.isinf(plain_b[plain > limit]).all()
    assert np.array_equal(engine.nearest_times(mask, mode=mode, limit_s=np.inf), full)
    assert np.isinf(engine.nearest_times(np.zeros(snap.node.size, bool), mode=mode, limit_s=600)).all()


@pytest.mark.parametrize("bad", [-1.0, float("nan"), "soon"])
def test_nearest_times_bad_limit_is_a_clear_error(engine, bad) -> None:
    with pytest.raises(InvalidParameterError) as err:
        engine.nearest_times(np.ones(engine.resource_count, bool), mode="walk", limit_s=bad)
    assert err.value.code == "invalid_limit" and err.value.status == 422
    assert "limit_s" in str(err.value) and err.value.message_zh


def test_estimate_mode_without_a_network() -> None:
    city = load_city("jiaxing")  # offline test run: no compiled graphs exist
    eng = CityEngine.load(city)
    assert eng.estimate and eng.modes_loaded == []
    lat0, lon0 = city.center
    eng.set_resources([1, 2], [lon0 + 0.01, lon0 + 0.2], [lat0, lat0])
    hits = eng.nearby(lon0, lat0, mode="ebike", minutes=30)
    assert [h.resource_id for h in hits] == [1] and hits[0].estimate
    straight = 0.01 * 111_320 * np.cos(np.radians(lat0))
    assert hits[0].distance_m == pytest.approx(straight * city.network.detour_factor, rel=0.01)
    assert hits[0].seconds == pytest.approx(hits[0].distance_m / city.speed_mps("ebike"), rel=1e-6)
    fc = eng.isochrone(lon0, lat0, mode="walk", minutes=(10, 20))
    assert [f["properties"]["minutes"] for f in fc["features"]] == [20, 10]
    assert all(f["properties"]["estimate"] for f in fc["features"])
    reach = eng.reachable(lon0, lat0, mode="walk", minutes=15)
    assert reach.estimate and reach.node_idx.size > 0
    times = eng.nearest_times(np.array([True, False]), mode="car")
    assert times.size == eng.node_lonlat("car")[0].size and np.isfinite(times).all()
    bounded = eng.nearest_times(np.array([True, False]), mode="car", limit_s=300)  # the same cut as graphs
    np.testing.assert_array_equal(bounded[times <= 300], times[times <= 300])
    assert np.isinf(bounded[times > 300]).all() and (times > 300).any() and (times <= 300).any()
