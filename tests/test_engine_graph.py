"""Compiled graphs: times equal networkx's Dijkstra on real OSM data; CSR details; save/load with hash."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from geo.errors import NetworkNotBuiltError
from geo.moderules import mode_edges
from isochrones.graph import load_graph, save_graph
from isochrones.travel import search
from tests._engine_fixtures import SPEEDS_KMH, hand_graph, helsinki_graphs, helsinki_network


def _reference_digraph(mode: str) -> nx.DiGraph:
    """networkx graph built straight from the network's mode edges (independent of the CSR code)."""
    edges = mode_edges(helsinki_network(), mode, speed_kmh=SPEEDS_KMH[mode])
    ids = helsinki_network().node_id
    g = nx.DiGraph()
    for a, b, m, s in zip(edges.u, edges.v, edges.length_m, edges.speed_mps, strict=True):
        t = max(m / s, 1e-3)
        key = (int(ids[a]), int(ids[b]))
        if key not in g.edges or g.edges[key]["t"] > t:
            g.add_edge(*key, t=t)
    return g


@pytest.mark.parametrize("mode", ["walk", "bicycle", "car"])
def test_times_equal_networkx_dijkstra_on_helsinki(mode: str) -> None:
    graph = helsinki_graphs()[mode]
    ref = _reference_digraph(mode)
    rng = np.random.default_rng(7)
    position = {int(i): k for k, i in enumerate(graph.node_id)}
    for src in rng.choice(graph.n_nodes, 5, replace=False):
        for reverse in (False, True):
            ours = search(graph, int(src), limit_s=900.0, reverse=reverse)
            g = ref.reverse(copy=False) if reverse else ref
            theirs = nx.single_source_dijkstra_path_length(g, int(graph.node_id[src]), cutoff=900.0, weight="t")
            got = {int(graph.node_id[k]): float(ours[k]) for k in np.flatnonzero(np.isfinite(ours))}
            want = {k: v for k, v in theirs.items() if k in position}
            assert got.keys() == want.keys()
            assert np.allclose([got[k] for k in want], list(want.values()), rtol=1e-9, atol=1e-6)


def test_helsinki_modes_have_expected_sizes() -> None:
    g = helsinki_graphs()
    assert g["walk"].n_nodes > 2000
    assert g["car"].n_nodes < g["walk"].n_nodes
    assert g["walk"].meta["speed_mps"] == pytest.approx(4.5 / 3.6)
    assert "speed_mps" not in g["car"].meta  # car speed varies by road class
    # car speeds are positive and come from maxspeed/highway class
    assert (g["car"].length_m / g["car"].seconds).max() * 3.6 <= 130.0


def test_parallel_edges_collapse_to_the_fastest() -> None:
    xy = [(0, 0), (100, 0)]
    graph = hand_graph(xy, [(0, 1), (0, 1), (1, 0)], mode="walk")
    # a second, slower parallel edge: compile with two different speeds through compile_arrays
    from isochrones.graph import compile_arrays

    g2 = compile_arrays(
        mode="car",
        lon=graph.lon,
        lat=graph.lat,
        u=np.array([0, 0]),
        v=np.array([1, 1]),
        length_m=np.array([100.0, 100.0]),
        speed_mps=np.array([10.0, 5.0]),
        crs=graph.crs,
    )
    assert g2.n_edges == 1
    assert search(g2, 0, limit_s=100)[1] == pytest.approx(10.0)  # not 30 (sum) nor 20 (slow)
    assert graph.n_edges == 2


def test_save_load_round_trip_with_hash(tmp_path) -> None:
    graph = helsinki_graphs()["bicycle"]
    path = save_graph(graph, tmp_path / "bicycle.npz")
    back = load_graph(path)  # load time: benchmarks/bench_load.py
    assert back.content_hash == graph.content_hash
    assert back.mode == "bicycle" and back.crs == graph.crs
    for name in ("node_id", "x", "indptr", "indices", "seconds", "t_indptr", "t_seconds"):
        assert np.array_equal(getattr(back, name), getattr(graph, name))
    assert np.array_equal(search(back, 0, limit_s=600), search(graph, 0, limit_s=600))


def test_corrupt_or_missing_graph_is_refused(tmp_path) -> None:
    graph = helsinki_graphs()["walk"]
    path = save_graph(graph, tmp_path / "walk.npz")
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["seconds"] = arrays["seconds"] * 2
    np.savez(path, **arrays)
    with pytest.raises(NetworkNotBuiltError):
        load_graph(path)
    with pytest.raises(NetworkNotBuiltError):
        load_graph(tmp_path / "nope.npz")


def test_car_speeds_follow_osmnx_add_edge_speeds() -> None:
    import osmnx as ox

    from geo.moderules import CAR_HWY_SPEEDS_KMH, car_speeds_kmh

    seg = helsinki_network().segments
    seg = seg[seg["highway"].isin(list(CAR_HWY_SPEEDS_KMH))].reset_index(drop=True).copy()
    seg.loc[0, "maxspeed"] = "20 mph"
    seg.loc[1, "maxspeed"] = "40;60"
    seg.loc[2, "highway"] = "raceway"  # a class with no default and no tagged speed -> fallback
    seg.loc[2, "maxspeed"] = None
    graph = nx.MultiDiGraph(crs="epsg:4326")
    graph.add_nodes_from((int(n), {"x": 0.0, "y": 0.0}) for n in np.unique(np.r_[seg["u"], seg["v"]]))
    for k, (a, b, h, m) in enumerate(zip(seg["u"], seg["v"], seg["highway"], seg["maxspeed"], strict=True)):
        graph.add_edge(int(a), int(b), k, highway=h, **({"maxspeed": m} if m is not None else {}))
    ox.add_edge_speeds(graph, hwy_speeds=CAR_HWY_SPEEDS_KMH, fallback=33.0)
    ref = np.empty(len(seg))
    for _a, _b, k, kph in graph.edges(keys=True, data="speed_kph"):
        ref[k] = kph
    ours = car_speeds_kmh(seg, fallback_kmh=33.0)
    same = np.arange(len(seg)) != 1  # osmnx leaves "40;60" unparsed (class default); we take the mean
    assert np.allclose(ours[same], np.clip(ref, 5.0, 130.0)[same])
    assert ours[0] == pytest.approx(20 * 1.609344, rel=1e-3) and ours[1] == 50.0 and ours[2] == 33.0
