"""Cell × resource nearby tables: within the documented bound of a fresh Dijkstra, chosen by memory, cached."""

from __future__ import annotations

import numpy as np
import pytest

from isochrones.celltable import CellTable
from isochrones.travel import ResourceTable, search
from tests._engine_fixtures import helsinki_engine, helsinki_graphs


@pytest.fixture(scope="module")
def resources() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    g = helsinki_graphs()["car"]
    rng = np.random.default_rng(8)
    idx = rng.choice(g.n_nodes, 60, replace=False)
    lons = g.lon[idx] + rng.normal(0, 2e-4, idx.size)
    lats = g.lat[idx] + rng.normal(0, 1e-4, idx.size)
    lons[0], lats[0] = 24.80, 60.10  # off the network: never reachable
    return np.arange(500, 500 + idx.size), lons, lats


@pytest.mark.parametrize(("mode", "cell_m"), [("car", 100.0), ("car", 250.0), ("bicycle", 150.0)])
def test_cell_table_matches_a_fresh_dijkstra_within_the_bound(resources, mode: str, cell_m: float) -> None:
    eng = helsinki_engine(table_kinds={mode: "cells"}, cell_m=cell_m)
    eng.set_resources(*resources)
    table = eng._res.tables[mode]
    assert isinstance(table, CellTable) and table.cell_m == cell_m
    graph = eng.graphs[mode]
    rng = np.random.default_rng(4)
    exact = 0
    for node0 in rng.choice(graph.n_nodes, 25, replace=False):
        lon, lat = float(graph.lon[node0]) + 5e-5, float(graph.lat[node0])
        mask = rng.random(resources[0].size) < 0.8
        for minutes in (3, 8):
            hits = eng.nearby(lon, lat, mode=mode, minutes=minutes, mask=mask)
            fresh = eng.nearby_fresh(lon, lat, mode=mode, minutes=minutes, mask=mask)
            node = eng.snappers[mode].snap(lon, lat)[0]
            rep = table.representative(node)
            # the documented bound: travel time between the query node and its cell's representative
            bound = max(search(graph, node, limit_s=np.inf)[rep], search(graph, rep, limit_s=np.inf)[node]) + 1.0
            got = {h.resource_id: h.seconds for h in hits}
            want = {h.resource_id: h.seconds for h in fresh}
            for rid in got.keys() & want.keys():
                assert abs(got[rid] - want[rid]) <= bound + 1e-9
            for rid in got.keys() ^ want.keys():  # listed by one only: its time is within the bound of the limit
                assert abs(want.get(rid, got.get(rid)) - minutes * 60) <= bound + 1e-9
            assert [h.seconds for h in hits] == sorted(h.seconds for h in hits)
            assert 500 not in got  # the off-network resource
            exact += rep == node and got == pytest.approx(want, abs=1.0)
    assert exact >= 1  # at a representative node the table is exact (up to the 1 s rounding)


def test_cell_table_distances_and_long_limits(resources) -> None:
    eng = helsinki_engine(table_kinds={"car": "cells"}, cell_m=150.0)
    eng.set_resources(*resources)
    graph = eng.graphs["car"]
    lon, lat = float(graph.lon[10]), float(graph.lat[10])
    # the table covers every limit: a long query is answered from it (no fresh search), same resources
    long = eng.nearby(lon, lat, mode="car", minutes=120)
    assert {h.resource_id for h in long} == {h.resource_id for h in eng.nearby_fresh(lon, lat, mode="car", minutes=120)}
    assert all(h.distance_m > 0 and not h.estimate for h in long)
    node = eng.snappers["car"].snap(lon, lat)[0]
    table = eng._res.tables["car"]
    if table.representative(node) == node:
        fresh = {h.resource_id: h.distance_m for h in eng.nearby_fresh(lon, lat, mode="car", minutes=120)}
        for h in long:
            assert h.distance_m == pytest.approx(fresh[h.resource_id], abs=6.0)


def test_auto_kind_follows_the_memory_budget(resources, tmp_path) -> None:
    roomy = helsinki_engine(cache_dir=tmp_path / "a")
    roomy.set_resources(*resources)
    assert all(isinstance(t, ResourceTable) for t in roomy._res.tables.values())  # exact tables fit
    tight = helsinki_engine(cache_dir=tmp_path / "b", table_budget_bytes=5_000)
    tight.set_resources(*resources)
    car = tight._res.tables["car"]
    assert isinstance(car, CellTable) and car.secs.nbytes + car.dist10.nbytes <= 5_000
    assert car.cell_m > 250.0  # cells grown to fit the budget
    # cached with its kind: a new engine reads the same table back
    again = helsinki_engine(cache_dir=tmp_path / "b", table_budget_bytes=5_000)
    again.set_resources(*resources)
    back = again._res.tables["car"]
    assert isinstance(back, CellTable) and np.array_equal(back.secs, car.secs) and back.cell_m == car.cell_m
    assert len(list((tmp_path / "b").glob("car-*.npz"))) == 1


def test_unknown_table_kind_is_refused() -> None:
    from geo.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError) as err:
        helsinki_engine(table_kinds={"car": "dense"})
    assert "表类型" in err.value.message_zh


def test_rebuild_after_an_edit_reuses_unchanged_columns(resources) -> None:
    ids, lons, lats = resources
    eng = helsinki_engine(table_kinds={"car": "cells"})
    eng.set_resources(ids, lons, lats)
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
    fresh = helsinki_engine(table_kinds={"car": "cells"})
    fresh.set_resources(ids2, lons2, lats2)
    want = fresh._res.tables["car"]
    assert want.reused_columns == 0
    assert np.array_equal(table.secs, want.secs) and np.array_equal(table.dist10, want.dist10)
