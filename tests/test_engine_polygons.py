"""Isochrone polygons: nested bands, reached nodes inside, nothing beyond the tolerance, holes kept."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from scipy.spatial import cKDTree
from shapely.geometry import shape

from isochrones.engine import CityEngine
from isochrones.graph import project
from isochrones.polygons import DEFAULT_SIMPLIFY_M, reached_samples, tolerance_m
from isochrones.travel import search
from tests._engine_fixtures import SPEEDS_MPS, grid_edges, hand_graph, helsinki_engine, lonlat


def _features(fc: dict) -> dict[float, shapely.Geometry]:
    return {f["properties"]["minutes"]: shape(f["geometry"]) for f in fc["features"]}


@pytest.mark.parametrize(("mode", "direction"), [("walk", "from"), ("bicycle", "to")])
def test_helsinki_polygons_contain_reached_nodes_and_stay_within_tolerance(mode: str, direction: str) -> None:
    eng = helsinki_engine()
    lon, lat = 24.9410, 60.1690
    bands = (2, 4, 6)
    fc = eng.isochrone(lon, lat, mode=mode, minutes=bands, direction=direction)
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 3
    polys = _features(fc)
    graph = eng.graphs[mode]
    node, _, snap_s = eng.snappers[mode].snap(lon, lat)
    reverse = direction == "to"
    times = search(graph, node, limit_s=np.inf, reverse=reverse) + snap_s
    tol = tolerance_m()
    for b in bands:
        poly = polys[b]
        assert poly.is_valid and not poly.is_empty
        inside = shapely.contains_xy(poly.buffer(DEFAULT_SIMPLIFY_M / 60_000), graph.lon, graph.lat)
        assert inside[times <= b * 60].all()  # every reached node inside its band
        # every node inside the band lies within the tolerance of a network point reached in time
        xs, ys, ts = reached_samples(graph, times, reverse=reverse, max_s=b * 60, step_m=10.0)
        d, _ = cKDTree(np.column_stack([xs, ys])).query(np.column_stack([graph.x[inside], graph.y[inside]]))
        assert d.max() <= tol
    # nested bands, largest first
    assert polys[6].buffer(1e-7).contains(polys[4]) and polys[4].buffer(1e-7).contains(polys[2])
    assert [f["properties"]["minutes"] for f in fc["features"]] == [6, 4, 2]
    areas = [f["properties"]["area_km2"] for f in fc["features"]]
    assert areas == sorted(areas, reverse=True) and areas[-1] > 0


def test_grid_polygon_time_tolerance() -> None:
    # a 30 x 30 grid of 100 m blocks: no barriers, so the time bound holds everywhere
    n = 30
    xy = np.array([(ix * 100.0, iy * 100.0) for iy in range(n) for ix in range(n)])
    graph = hand_graph(xy, grid_edges(n, n), mode="walk")
    eng = CityEngine({"walk": graph}, speeds_mps=SPEEDS_MPS, max_snap_m=100.0)
    lon, lat = lonlat(xy[[n * 15 + 15]])
    fc = eng.isochrone(lon[0], lat[0], mode="walk", minutes=(10, 20))
    poly = _features(fc)[10]
    times = search(graph, int(np.flatnonzero(graph.node_id == n * 15 + 15)[0]), limit_s=np.inf)
    inside = shapely.contains_xy(poly, graph.lon, graph.lat)
    assert inside[times <= 600 - 1].all()
    slack = tolerance_m() * 2.0 / SPEEDS_MPS["walk"]  # Manhattan detour of the tolerance
    assert times[inside].max() <= 600 + slack


def test_unreachable_lake_stays_a_hole() -> None:
    # a square ring road 2 km a side around a lake, nodes every 50 m, no roads inside
    side, step = 2000.0, 50.0
    k = int(side / step)
    ring = (
        [(i * step, 0.0) for i in range(k)]
        + [(side, i * step) for i in range(k)]
        + [(side - i * step, side) for i in range(k)]
        + [(0.0, side - i * step) for i in range(k)]
    )
    xy = np.array(ring)
    edges = [(i, (i + 1) % len(xy)) for i in range(len(xy))]
    graph = hand_graph(xy, edges + [(b, a) for a, b in edges], mode="walk")
    eng = CityEngine({"walk": graph}, speeds_mps=SPEEDS_MPS, max_snap_m=100.0)
    lon, lat = lonlat(xy[:1])
    fc = eng.isochrone(lon[0], lat[0], mode="walk", minutes=(30, 60, 120))
    polys = _features(fc)
    full = polys[120]  # 8 km ring at 4.5 km/h = 107 min: whole ring reached
    assert len(shapely.get_parts(full)) == 1
    assert shapely.get_num_interior_rings(shapely.get_parts(full)[0]) == 1
    clon, clat = lonlat(np.array([(side / 2, side / 2)]))
    assert not full.contains(shapely.Point(clon[0], clat[0]))  # the lake is not reachable
    ring_pts = shapely.points(graph.lon, graph.lat)
    assert full.buffer(1e-6).contains(ring_pts).all()
    assert polys[30].area < polys[60].area < full.area


def test_isochrone_properties_and_wgs84() -> None:
    eng = helsinki_engine()
    fc = eng.isochrone(24.9410, 60.1690, mode="ebike", minutes=(10, 15, 20, 30))
    for feat in fc["features"]:
        p = feat["properties"]
        assert set(p) >= {"minutes", "mode", "estimate", "area_km2"} and p["mode"] == "ebike" and not p["estimate"]
        minx, miny, maxx, maxy = shape(feat["geometry"]).bounds
        assert 24.8 < minx < maxx < 25.1 and 60.1 < miny < maxy < 60.3
    x, y = project(np.array([24.9410]), np.array([60.1690]), eng.graphs["ebike"].crs)
    assert np.isfinite(x).all() and np.isfinite(y).all()
