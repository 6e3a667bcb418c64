"""Euclidean-disk searches: exactly the full-graph answer, on a road-like graph with one-way arterials."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
import shapely
from scipy.spatial import cKDTree
from shapely.geometry import shape

from benchmarks._synthetic import synthetic_network
from isochrones.engine import CityEngine
from isochrones.graph import CompiledGraph, compile_graph, load_graph, save_graph
from isochrones.polygons import reached_samples
from isochrones.subgraph import DiskSearcher, grid_keys
from isochrones.travel import search, search_reached
from tests._engine_fixtures import SPEEDS_KMH, SPEEDS_MPS

MODES = ("walk", "ebike", "car")


@cache
def town() -> dict[str, CompiledGraph]:
    """A 140 × 140 road-like grid (~19k nodes, 11 km a side): lakes, one-way arterials, car speeds by class."""
    net = synthetic_network(side=140, seed=7)
    return {m: compile_graph(net, m, speed_kmh=SPEEDS_KMH[m]) for m in MODES}


def _full(graph: CompiledGraph, node: int, limit_s: float, reverse: bool) -> tuple[np.ndarray, np.ndarray]:
    dist = search(graph, node, limit_s=limit_s, reverse=reverse)
    hit = np.flatnonzero(np.isfinite(dist))
    return hit, dist[hit]


def test_nodes_are_numbered_in_grid_order() -> None:
    graph = town()["walk"]
    keys = grid_keys(graph.x, graph.y, graph.meta["grid"])
    assert np.all(np.diff(keys) >= 0) and graph.disk.enabled
    # ~12 nodes per occupied cell: a neighbourhood is a few runs of indices
    assert 5 <= graph.n_nodes / np.unique(keys).size <= 20


@pytest.mark.parametrize("mode", MODES)
def test_disk_search_equals_the_full_search(mode: str) -> None:
    graph = town()[mode]
    disk = DiskSearcher(graph, max_share=0.3)  # the town is small: allow larger shares than the default
    rng = np.random.default_rng(11)
    used = 0
    for node in rng.choice(graph.n_nodes, 12, replace=False):
        for limit in (120.0, 300.0, 600.0):
            for reverse in (False, True):
                want_nodes, want_s = _full(graph, int(node), limit, reverse)
                got = disk.search(int(node), limit_s=limit, reverse=reverse)
                if got is None:  # the disk holds too large a share: the caller searches the whole graph
                    got = search_reached(graph, int(node), limit_s=limit, reverse=reverse)
                else:
                    used += 1
                assert np.array_equal(got[0], want_nodes)
                assert np.array_equal(got[1], want_s)  # same sums in the same order: bit-identical
    assert used >= 12  # the short searches did run on disks


@pytest.mark.parametrize("mode", MODES)
def test_disk_search_with_any_share_equals_the_full_search(mode: str) -> None:
    graph = town()[mode]
    whole = DiskSearcher(graph, max_share=1.0)
    rng = np.random.default_rng(2)
    for node in rng.choice(graph.n_nodes, 4, replace=False):
        for reverse in (False, True):
            got = whole.search(int(node), limit_s=1500.0, reverse=reverse)
            want = _full(graph, int(node), 1500.0, reverse)
            assert got is not None and np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_every_reached_node_lies_within_the_speed_bound() -> None:
    graph = town()["car"]
    node = graph.n_nodes // 2
    nodes, secs = _full(graph, node, 900.0, False)
    straight = np.hypot(graph.x[nodes] - graph.x[node], graph.y[nodes] - graph.y[node])
    assert np.all(straight <= graph.euclid_mps * secs + 1e-6)
    assert graph.euclid_mps == pytest.approx(80 / 3.6, rel=1e-6)  # the expressways' speed


def test_graph_without_grid_order_falls_back_to_the_full_search(tmp_path) -> None:
    graph = town()["walk"]
    path = save_graph(graph, tmp_path / "walk.npz")
    old = load_graph(path)
    old.meta.pop("grid")  # as a graph compiled before grid numbering
    assert not old.disk.enabled and old.disk.search(5, limit_s=300.0, reverse=False) is None
    got = search_reached(old, 5, limit_s=300.0)
    want = _full(graph, 5, 300.0, False)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert search_reached(old, 5, limit_s=-1.0)[0].size == 0


def test_reachable_uses_the_disk_and_stays_sorted() -> None:
    graphs = town()
    eng = CityEngine(graphs, speeds_mps=SPEEDS_MPS, max_snap_m=300.0)
    g = graphs["walk"]
    node = int(np.argmin(np.hypot(g.x - np.median(g.x), g.y - np.median(g.y))))
    reach = eng.reachable(float(g.lon[node]) + 2e-4, float(g.lat[node]), mode="walk", minutes=10, direction="to")
    assert np.all(np.diff(reach.node_idx) > 0)
    want_nodes, want_s = _full(g, reach.origin_node, 600.0 - (reach.seconds.min()), True)
    assert np.array_equal(reach.node_idx, want_nodes)
    assert np.allclose(reach.seconds, want_s + reach.seconds.min())


def test_isochrone_on_the_disk_contains_reached_nodes_and_keeps_the_tolerance() -> None:
    graphs = town()
    eng = CityEngine(graphs, speeds_mps=SPEEDS_MPS, max_snap_m=300.0)
    g = graphs["ebike"]
    node = int(np.argmin(np.hypot(g.x - np.median(g.x), g.y - np.median(g.y))))
    assert g.disk.search(node, limit_s=180.0, reverse=False) is not None  # a 3-minute ride is a small disk
    fc = eng.isochrone(float(g.lon[node]), float(g.lat[node]), mode="ebike", minutes=(2, 3), direction="from")
    polys = {f["properties"]["minutes"]: shape(f["geometry"]) for f in fc["features"]}
    tol = fc["features"][0]["properties"]["tolerance_m"]
    times = search(g, node, limit_s=np.inf)
    for band in (2, 3):
        inside = shapely.contains_xy(polys[band].buffer(15 / 60_000), g.lon, g.lat)
        assert inside[times <= band * 60].all()
        xs, ys, _ = reached_samples(g, times, reverse=False, max_s=band * 60, step_m=10.0)
        d, _ = cKDTree(np.column_stack([xs, ys])).query(np.column_stack([g.x[inside], g.y[inside]]))
        assert d.max() <= tol
