"""Isochrone polygons: nested bands, reached nodes inside, nothing beyond the tolerance, holes kept, leakage."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from scipy.spatial import cKDTree
from shapely.geometry import shape

from isochrones.engine import CityEngine
from isochrones.graph import project
from isochrones.polygons import band_polygons, leakage, reached_samples
from isochrones.travel import search, search_reached
from tests._engine_fixtures import SPEEDS_KMH, SPEEDS_MPS, grid_edges, hand_graph, helsinki_engine, lonlat


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
    tols = {f["properties"]["minutes"]: f["properties"]["tolerance_m"] for f in fc["features"]}
    for b in bands:
        poly = polys[b]
        tol = tols[b]
        assert poly.is_valid and not poly.is_empty
        assert 0 < tol < b * 60 * SPEEDS_MPS[mode] / 2  # well under the band's own reach
        xs, ys, _ = reached_samples(graph, times, reverse=reverse, max_s=b * 60, step_m=2.0)
        slon, slat = shapely.get_coordinates(shapely.transform(shapely.points(xs, ys), _to_wgs(graph.crs))).T
        assert shapely.contains_xy(poly, slon, slat).all()  # every reached point inside its band, no slack
        inside = shapely.contains_xy(poly, graph.lon, graph.lat)
        assert inside[times <= b * 60].all()
        # every node inside the band lies within the tolerance of a network point reached in time
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
    tol = next(f["properties"]["tolerance_m"] for f in fc["features"] if f["properties"]["minutes"] == 10)
    times = search(graph, int(np.flatnonzero(graph.node_id == n * 15 + 15)[0]), limit_s=np.inf)
    inside = shapely.contains_xy(poly, graph.lon, graph.lat)
    assert inside[times <= 600 - 1].all()
    slack = tol * 2.0 / SPEEDS_MPS["walk"]  # Manhattan detour of the tolerance
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


def test_park_without_paths_stays_a_hole_and_blocks_are_filled() -> None:
    # a 40 x 40 grid of 80 m blocks; a 480 m square park in the middle has no roads
    n, step = 40, 80.0
    xy = np.array([(ix * step, iy * step) for iy in range(n) for ix in range(n)])
    park = (np.abs(xy[:, 0] - 1200) < 240) & (np.abs(xy[:, 1] - 1800) < 240)
    keep = np.flatnonzero(~park)
    pos = {int(k): i for i, k in enumerate(keep)}
    edges = [(pos[a], pos[b]) for a, b in grid_edges(n, n) if a in pos and b in pos]
    graph = hand_graph(xy[keep], edges, mode="walk")
    eng = CityEngine({"walk": graph}, speeds_mps=SPEEDS_MPS, max_snap_m=100.0)
    lon, lat = lonlat(xy[[n * 15 + 15]])  # (1200, 1200): 600 m south of the park's centre
    poly = _features(eng.isochrone(lon[0], lat[0], mode="walk", minutes=(30,)))[30]
    inside = lambda x, y: bool(shapely.contains_xy(poly, *lonlat(np.array([(x, y)]))))  # noqa: E731
    assert not inside(1200, 1800)  # the park is a hole (no path crosses it)
    assert inside(1240, 1240) and inside(1000, 1400)  # ordinary blocks around the origin are filled
    assert shapely.get_num_interior_rings(shapely.get_parts(poly)).sum() >= 1


def _to_wgs(crs: str):
    from isochrones.graph import unproject

    return lambda xy: np.column_stack(unproject(xy[:, 0], xy[:, 1], crs))


def _leak_p95(graph, origins: np.ndarray, bands_min: tuple[int, ...]) -> dict[int, float]:
    found: dict[int, list[float]] = {b: [] for b in bands_min}
    for node in origins.tolist():
        times = search(graph, node, limit_s=np.inf)
        nodes, secs = search_reached(graph, node, limit_s=max(bands_min) * 60.0)
        out = band_polygons(
            graph, nodes, secs, [b * 60.0 for b in bands_min], reverse=False, origin_xy=(graph.x[node], graph.y[node])
        )
        for b, band in zip(bands_min, out, strict=True):
            reached = nodes[secs <= b * 60.0]
            assert shapely.contains_xy(band.geom, graph.x[reached], graph.y[reached]).all()
            assert band.tolerance_m < band.reach_m
            found[b].append(leakage(graph, band.geom, times, b * 60.0))
    return {b: float(np.percentile(v, 95)) for b, v in found.items()}


@pytest.mark.parametrize("mode", ["walk", "bicycle", "ebike"])
def test_leakage_on_helsinki_is_at_most_ten_percent(mode: str) -> None:
    graph = helsinki_engine().graphs[mode]
    origins = np.random.default_rng(0).choice(graph.snap_nodes, 20, replace=False)
    p95 = _leak_p95(graph, origins, (5, 10, 15, 30))
    assert all(v <= 0.10 for v in p95.values()), p95


@pytest.mark.parametrize("mode", ["walk", "ebike"])
def test_leakage_on_a_town_with_lakes_and_one_way_arterials(mode: str) -> None:
    from benchmarks._synthetic import synthetic_network
    from isochrones.graph import compile_graph

    graph = compile_graph(synthetic_network(side=110), mode, speed_kmh=SPEEDS_KMH[mode])
    centre = np.hypot(graph.x - np.median(graph.x), graph.y - np.median(graph.y)) < 1500
    origins = np.random.default_rng(1).choice(np.flatnonzero(centre & graph.snap_ok), 12, replace=False)
    p95 = _leak_p95(graph, origins, (5, 10, 15, 30))
    assert all(v <= 0.10 for v in p95.values()), p95


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
