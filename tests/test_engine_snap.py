"""Snapping only to the largest strongly connected component: one-way dead ends are passed over (hand-made
graphs), the component is stored with the graph (and old files are refused), and on the real Helsinki graphs
every snap target reaches and is reached from every other."""

from __future__ import annotations

import json

import numpy as np
import pytest

from geo.errors import NetworkNotBuiltError
from geo.moderules import mode_edges
from isochrones.engine import CityEngine
from isochrones.graph import FORMAT_VERSION, compile_graph, load_graph, save_graph, strong_component
from isochrones.travel import search
from tests._engine_fixtures import (
    SPEEDS_MPS,
    both,
    hand_graph,
    helsinki_graphs,
    helsinki_network,
    lonlat,
    tag_network,
)

# Main road: A(0) - B(1) - C(2), two-way, 400 m hops along y = 0.
# Spur: B -> S(3) one-way into a dead end 300 m north of B (S can be entered, never left).
# Spur2: T(4) -> B one-way out of a dead end 300 m south of B (T can be left, never entered).
XY = np.array([(0, 0), (400, 0), (800, 0), (400, 300), (400, -300)], dtype=float)
EDGES = [*both([(0, 1), (1, 2)]), (1, 3), (4, 1)]
BIKE = SPEEDS_MPS["bicycle"]
WALK = SPEEDS_MPS["walk"]


def _engine(mode: str = "bicycle") -> CityEngine:
    graph = hand_graph(XY, EDGES, mode=mode)
    return CityEngine({mode: graph}, speeds_mps=SPEEDS_MPS, max_snap_m=500.0)


def _index(graph, node_id: int) -> int:
    return int(np.flatnonzero(graph.node_id == node_id)[0])


def test_strong_component_marks_only_the_two_way_core() -> None:
    graph = hand_graph(XY, EDGES)
    assert graph.n_nodes == 5  # the spurs stay in the graph (paths may pass through them) ...
    core = {int(i) for i in graph.node_id[graph.snap_ok]}
    assert core == {0, 1, 2}  # ... but are not snap targets
    assert graph.meta["snap_nodes"] == 3
    # the helper on its own: a 3-cycle plus a tail; an edgeless graph snaps anywhere
    indptr = np.array([0, 1, 2, 4, 4])  # 0->1, 1->2, 2->0, 2->3
    indices = np.array([1, 2, 0, 3])
    assert strong_component(indptr, indices, 4).tolist() == [True, True, True, False]
    assert strong_component(np.zeros(3, np.int32), np.zeros(0, np.int32), 2).tolist() == [True, True]


def test_point_near_a_oneway_dead_end_snaps_to_the_main_component() -> None:
    eng = _engine()
    graph = eng.graphs["bicycle"]
    b, c = _index(graph, 1), _index(graph, 2)
    # 20 m from the dead-end node S, 280 m from B
    lon, lat = lonlat(np.array([(400.0, 280.0)]))
    node, snap_m, snap_s = eng.snappers["bicycle"].snap(float(lon[0]), float(lat[0]))
    assert node == b
    assert snap_m == pytest.approx(280.0, abs=0.5)
    assert snap_s == pytest.approx(280.0 / WALK, rel=1e-3)
    # the point now reaches the whole main road, its walk included (S was a trap: it reaches nothing)
    reach = eng.reachable(float(lon[0]), float(lat[0]), mode="bicycle", minutes=10, direction="from")
    got = dict(zip(graph.node_id[reach.node_idx].tolist(), reach.seconds.tolist(), strict=True))
    assert {0, 1, 2} <= set(got)
    assert got[2] == pytest.approx(280.0 / WALK + 400.0 / BIKE, rel=1e-3)
    assert search(graph, _index(graph, 3), limit_s=np.inf)[[_index(graph, 0), b, c]].tolist() == [np.inf] * 3
    # 20 m from the source-only node T, 280 m from B: the reverse direction is fixed the same way
    lon_t, lat_t = lonlat(np.array([(400.0, -280.0)]))
    assert eng.snappers["bicycle"].snap(float(lon_t[0]), float(lat_t[0]))[0] == b


def test_nearby_and_coverage_times_include_the_longer_access_walk() -> None:
    eng = _engine()
    graph = eng.graphs["bicycle"]
    # resource 7 sits at C; resource 8 sits 10 m from the dead end S (snapped to B, 290 m away)
    r_lon, r_lat = lonlat(np.array([(800.0, 0.0), (400.0, 290.0)]))
    eng.set_resources([7, 8], r_lon, r_lat)
    snap = eng.resource_snap("bicycle")
    assert snap.node.tolist() == [_index(graph, 2), _index(graph, 1)]
    assert snap.distance_m[1] == pytest.approx(290.0, abs=0.5)
    lon, lat = lonlat(np.array([(400.0, 280.0)]))
    hits = {h.resource_id: h for h in eng.nearby(float(lon[0]), float(lat[0]), mode="bicycle", minutes=15)}
    assert hits[7].seconds == pytest.approx(280.0 / WALK + 400.0 / BIKE, rel=1e-3)
    assert hits[7].distance_m == pytest.approx(280.0 + 400.0, abs=1.0)
    assert hits[8].seconds == pytest.approx((280.0 + 290.0) / WALK, rel=1e-3)
    assert hits[8].distance_m == pytest.approx(570.0, abs=1.0)
    # the coverage pass: from A the nearest resource is C by bike (800 m) vs B + the 290 m walk
    times = eng.nearest_times(np.array([True, True]), mode="bicycle")
    a = _index(graph, 0)
    assert times[a] == pytest.approx(min(800.0 / BIKE, 400.0 / BIKE + 290.0 / WALK), rel=1e-3)


def test_snap_targets_are_stored_and_older_files_are_refused(tmp_path) -> None:
    graph = hand_graph(XY, EDGES)
    path = save_graph(graph, tmp_path / "bicycle.npz")
    back = load_graph(path)
    assert np.array_equal(back.snap_ok, graph.snap_ok) and back.content_hash == graph.content_hash
    # a file of the previous format (no snap_ok) is refused with a clear error: ensure_built rebuilds it
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files if k not in ("meta", "snap_ok")}
        meta = json.loads(str(data["meta"]))
    meta["format"] = FORMAT_VERSION - 1
    old = tmp_path / "old.npz"
    np.savez(old, meta=np.array(json.dumps(meta)), **arrays)
    with pytest.raises(NetworkNotBuiltError) as err:
        load_graph(old)
    assert err.value.code == "network_not_built" and "rebuild" in str(err.value)
    # a tampered component is caught by the content hash
    graph.snap_ok[0] = ~graph.snap_ok[0]
    np.savez(
        tmp_path / "bad.npz",
        meta=np.array(json.dumps({**meta, "format": FORMAT_VERSION, "content_hash": back.content_hash})),
        **{**arrays, "snap_ok": graph.snap_ok},
    )
    with pytest.raises(NetworkNotBuiltError, match="corrupt"):
        load_graph(tmp_path / "bad.npz")


@pytest.mark.parametrize("mode", ["walk", "bicycle", "car"])
def test_helsinki_snap_targets_are_mutually_reachable(mode: str) -> None:
    graph = helsinki_graphs()[mode]
    core = graph.snap_nodes
    assert core.size > 0.5 * graph.n_nodes
    if mode == "walk":  # walkers ignore one-way streets: every node on a ground-level way
        net = helsinki_network()
        ground = mode_edges(net, "walk", speed_kmh=4.5).surface
        edges = mode_edges(net, "walk", speed_kmh=4.5)
        on_ground = set(net.node_id[edges.u[ground]].tolist()) | set(net.node_id[edges.v[ground]].tolist())
        assert set(graph.node_id[core].tolist()) == on_ground & set(graph.node_id.tolist())
    rng = np.random.default_rng(3)
    for node in rng.choice(core, 3, replace=False):
        assert np.isfinite(search(graph, int(node), limit_s=np.inf)[core]).all()
        assert np.isfinite(search(graph, int(node), limit_s=np.inf, reverse=True)[core]).all()
    # every snap lands in the component
    eng = CityEngine({mode: graph}, speeds_mps=SPEEDS_MPS, max_snap_m=500.0)
    lons = graph.lon + rng.normal(0, 3e-4, graph.n_nodes)
    lats = graph.lat + rng.normal(0, 1.5e-4, graph.n_nodes)
    snap = eng.snappers[mode].snap_many(lons, lats)
    assert snap.ok.all() and graph.snap_ok[snap.node].all()


def test_points_never_snap_into_tunnels_or_onto_bridges() -> None:
    # a street 0-1-2 with a tunnel 3-4 running right under it (joined far away by 2-5-3 and 4-6-0)
    xy = np.array([(0, 0), (200, 0), (400, 0), (100, 2), (300, 2), (400, 300), (0, 300)], dtype=float)
    net = tag_network(
        xy,
        [
            {"u": 0, "v": 1, "highway": "residential"},
            {"u": 1, "v": 2, "highway": "residential"},
            {"u": 3, "v": 4, "highway": "service", "tunnel": "yes", "layer": "-2"},
            {"u": 2, "v": 5, "highway": "residential"},
            {"u": 5, "v": 3, "highway": "service", "tunnel": "yes"},
            {"u": 4, "v": 6, "highway": "footway", "bridge": "yes", "layer": "1"},
            {"u": 6, "v": 0, "highway": "residential"},
        ],
    )
    graph = compile_graph(net, "walk", speed_kmh=4.5)
    ok = dict(zip(graph.node_id.tolist(), graph.snap_ok.tolist(), strict=True))
    assert ok == {0: True, 1: True, 2: True, 3: False, 4: False, 5: True, 6: True}
    eng = CityEngine({"walk": graph}, speeds_mps=SPEEDS_MPS, max_snap_m=500.0)
    lon, lat = lonlat(np.array([(100.0, 2.5)]))  # right above the tunnel node 3
    node, dist, _ = eng.snappers["walk"].snap(lon[0], lat[0])
    assert graph.node_id[node] in (0, 1) and dist > 90
