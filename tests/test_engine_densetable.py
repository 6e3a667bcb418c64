"""nearby() is exact in every mode: sparse and dense tables against an independent networkx search.

The reference is built here from the mode rules' edge list (geo.moderules.mode_edges) as a networkx
DiGraph, not from the engine's compiled arrays; origins include nodes at the ends of one-way streets.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from geo.moderules import mode_edges
from isochrones.densetable import DenseTable
from isochrones.storage import StoredArray
from isochrones.travel import ResourceTable
from tests._engine_fixtures import SPEEDS_KMH, helsinki_engine, helsinki_graphs, helsinki_network

MODES = ("walk", "bicycle", "ebike", "car")
ROUNDING_S = 0.1  # tables keep deciseconds, rounded up


@pytest.fixture(scope="module")
def resources() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    g = helsinki_graphs()["car"]
    rng = np.random.default_rng(8)
    idx = rng.choice(g.n_nodes, 60, replace=False)
    lons = g.lon[idx] + rng.normal(0, 2e-4, idx.size)
    lats = g.lat[idx] + rng.normal(0, 1e-4, idx.size)
    lons[0], lats[0] = 24.80, 60.10  # off the network: never reachable
    return np.arange(500, 500 + idx.size), lons, lats


def _reference(mode: str) -> nx.DiGraph:
    """networkx DiGraph of the mode's edges (OSM node ids, parallel edges collapsed to the fastest)."""
    net = helsinki_network()
    e = mode_edges(net, mode, speed_kmh=SPEEDS_KMH[mode], walk_kmh=SPEEDS_KMH["walk"])
    ref = nx.DiGraph()
    ids = net.node_id
    for a, b, s in zip(ids[e.u].tolist(), ids[e.v].tolist(), (e.length_m / e.speed_mps).tolist(), strict=True):
        if not ref.has_edge(a, b) or ref[a][b]["s"] > s:
            ref.add_edge(a, b, s=s)
    return ref


def _origins(mode: str, n: int) -> list[tuple[float, float]]:
    """Half random snap targets, half snap targets at the ends of one-way edges (both directions differ)."""
    g = helsinki_graphs()[mode]
    rng = np.random.default_rng(21)
    src = g.edge_sources(reverse=False)
    pairs = set(zip(src.tolist(), g.indices.tolist(), strict=True))
    oneway = [a for a, b in pairs if (b, a) not in pairs and g.snap_ok[a]]
    pick = list(rng.choice(g.snap_nodes, n - n // 2, replace=False))
    if oneway:
        pick += list(rng.choice(oneway, min(n // 2, len(oneway)), replace=False))
    return [(float(g.lon[k]) + 2e-5, float(g.lat[k])) for k in pick]


@pytest.mark.parametrize("kind", ["nodes", "dense"])
@pytest.mark.parametrize("mode", MODES)
def test_nearby_equals_a_networkx_search_in_every_mode(resources, mode: str, kind: str) -> None:
    eng = helsinki_engine(table_kinds={mode: kind})
    eng.set_resources(*resources)
    table = eng._res.tables[mode]
    assert isinstance(table, DenseTable if kind == "dense" else ResourceTable)
    graph = eng.graphs[mode]
    ref = _reference(mode)
    snap = eng.resource_snap(mode)
    res_osm = graph.node_id[np.maximum(snap.node, 0)]
    ids = resources[0]
    origins = _origins(mode, 30)
    assert mode == "walk" or len(origins) == 30  # every directed mode has one-way streets in Helsinki
    compared = 0
    for lon, lat in origins:
        node, snap_m, snap_s = eng.snappers[mode].snap(lon, lat)
        dist = nx.single_source_dijkstra_path_length(ref, int(graph.node_id[node]), weight="s")
        for minutes in (3, 8, 20):
            limit = minutes * 60.0
            want = {}
            for k in np.flatnonzero(snap.ok):
                t = dist.get(int(res_osm[k]), np.inf) + snap.walk_s[k] + snap_s
                if t <= limit:
                    want[int(ids[k])] = t
            hits = eng.nearby(lon, lat, mode=mode, minutes=minutes)
            got = {h.resource_id: h.seconds for h in hits}
            edge = {r for r, t in want.items() if t > limit - ROUNDING_S}  # may round past the limit
            assert set(got) - edge == set(want) - edge, (mode, kind, lon, lat, minutes)
            for r in set(got) & set(want):
                assert want[r] - 1e-6 <= got[r] <= want[r] + ROUNDING_S + 1e-6  # rounded up, never down
            assert not any(h.estimate for h in hits) and 500 not in got
            compared += len(want)
    assert compared > 100


def test_dense_table_distances_and_long_limits(resources) -> None:
    eng = helsinki_engine(table_kinds={"car": "dense"})
    eng.set_resources(*resources)
    graph = eng.graphs["car"]
    lon, lat = float(graph.lon[10]), float(graph.lat[10])
    for minutes in (15, 120):  # 120 min is beyond the table's 108 min: a fresh search answers
        got = eng.nearby(lon, lat, mode="car", minutes=minutes)
        fresh = {h.resource_id: h for h in eng.nearby_fresh(lon, lat, mode="car", minutes=minutes)}
        assert {h.resource_id for h in got} == set(fresh)
        assert [h.seconds for h in got] == sorted(h.seconds for h in got)
        for h in got:
            assert h.seconds == pytest.approx(fresh[h.resource_id].seconds, abs=ROUNDING_S)
            assert h.distance_m == pytest.approx(fresh[h.resource_id].distance_m, abs=6.0)
            assert h.distance_m > 0


def test_auto_kind_follows_the_memory_budget_and_maps_the_cache(resources, tmp_path) -> None:
    roomy = helsinki_engine(cache_dir=tmp_path / "a")
    roomy.set_resources(*resources)
    assert all(isinstance(t, ResourceTable) for t in roomy._res.tables.values())  # sparse tables fit
    tight = helsinki_engine(cache_dir=tmp_path / "b", table_budget_bytes=5_000)
    tight.set_resources(*resources)
    car = tight._res.tables["car"]
    assert isinstance(car, DenseTable) and isinstance(car.deci, StoredArray)  # rows read from the shared file
    # cached with its kind: a new engine maps the same table back
    again = helsinki_engine(cache_dir=tmp_path / "b", table_budget_bytes=5_000)
    again.set_resources(*resources)
    back = again._res.tables["car"]
    assert isinstance(back, DenseTable) and np.array_equal(back.deci, car.deci)
    assert len(list((tmp_path / "b").glob("car-*.npz"))) == 1


def test_unknown_table_kind_is_refused() -> None:
    from geo.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError) as err:
        helsinki_engine(table_kinds={"car": "cells"})
    assert "表类型" in err.value.message_zh


@pytest.mark.parametrize("cached", [False, True])
def test_rebuild_after_an_edit_reuses_unchanged_columns(resources, cached: bool, tmp_path) -> None:
    ids, lons, lats = resources
    eng = helsinki_engine(table_kinds={"car": "dense"}, cache_dir=tmp_path if cached else None)
    eng.set_resources(ids, lons, lats)
    # cached: the previous table is read from its file (in row blocks) when its columns are copied
    assert isinstance(eng._res.tables["car"].deci, StoredArray if cached else np.ndarray)
    graph = eng.graphs["car"]
    # an edit: one resource moves across the extract, one is added
    ids2 = np.append(ids, 999)
    lons2 = np.append(lons, graph.lon[7]).copy()
    lats2 = np.append(lats, graph.lat[7]).copy()
    lons2[5], lats2[5] = graph.lon[-3], graph.lat[-3]
    eng.set_resources(ids2, lons2, lats2)
    table = eng._res.tables["car"]
    on_network = int(eng.resource_snap("car").ok.sum())
    assert table.reused_columns == on_network - 2  # everything but the moved and the new resource
    fresh = helsinki_engine(table_kinds={"car": "dense"})
    fresh.set_resources(ids2, lons2, lats2)
    want = fresh._res.tables["car"]
    assert want.reused_columns == 0
    assert np.array_equal(table.deci, want.deci) and np.array_equal(table.dist10, want.dist10)
