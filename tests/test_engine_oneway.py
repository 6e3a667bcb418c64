"""One-way streets: mode rules from OSM tags, and the two directions of a search on hand-checkable graphs."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import shape

from geo.moderules import mode_edges
from isochrones.engine import CityEngine
from isochrones.graph import compile_graph
from tests._engine_fixtures import SPEEDS_MPS, hand_graph, lonlat, tag_network

# A(0) - B(1) two-way 300 m, B -> C(2) one-way 300 m, C - D(3) two-way 300 m; the only way back from C
# and D is a long one-way loop D -> E(4) -> F(5) -> A (20.9 km, beyond every time budget below). The loop
# makes the graph strongly connected, as a real street network is, so every node is a snap target
# (points join only the largest strongly connected component: see tests/test_engine_snap.py).
XY = np.array([(0, 0), (300, 0), (600, 0), (900, 0), (900, 10_000), (0, 10_000)], dtype=float)
LOOP = [
    {"u": 3, "v": 4, "highway": "residential", "oneway": "yes"},
    {"u": 4, "v": 5, "highway": "residential", "oneway": "yes"},
    {"u": 5, "v": 0, "highway": "residential", "oneway": "yes"},
]
SEGS = [
    {"u": 0, "v": 1, "highway": "residential"},
    {"u": 1, "v": 2, "highway": "residential", "oneway": "yes"},
    {"u": 2, "v": 3, "highway": "residential"},
    *LOOP,
]


def _pairs(edges) -> set[tuple[int, int]]:
    return set(zip(edges.u.tolist(), edges.v.tolist(), strict=True))


def test_mode_rules_for_oneway_tags() -> None:
    net = tag_network(
        XY,
        [
            {"u": 0, "v": 1, "highway": "residential", "oneway": "yes"},
            {"u": 1, "v": 2, "highway": "residential", "oneway": "-1"},
            {"u": 2, "v": 3, "highway": "residential", "oneway": "yes", "oneway:bicycle": "no"},
        ],
    )
    walk = _pairs(mode_edges(net, "walk", speed_kmh=4.5))
    bike = _pairs(mode_edges(net, "bicycle", speed_kmh=15))
    car = _pairs(mode_edges(net, "car", speed_kmh=30))
    assert walk == {(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2)}  # walkers ignore one-way
    assert car == {(0, 1), (2, 1), (2, 3)}  # oneway=-1 runs v -> u
    assert bike == {(0, 1), (2, 1), (2, 3), (3, 2)}  # contraflow allowed by oneway:bicycle=no


def test_mode_rules_for_highway_and_access_tags() -> None:
    xy = np.array([(0, 0), (100, 0), (200, 0), (300, 0), (400, 0), (500, 0)], dtype=float)
    net = tag_network(
        xy,
        [
            {"u": 0, "v": 1, "highway": "motorway"},
            {"u": 1, "v": 2, "highway": "footway"},
            {"u": 2, "v": 3, "highway": "footway", "bicycle": "yes"},
            {"u": 3, "v": 4, "highway": "primary", "foot": "no"},
            {"u": 4, "v": 5, "highway": "service", "access": "private"},
        ],
    )
    walk = _pairs(mode_edges(net, "walk", speed_kmh=4.5))
    bike = _pairs(mode_edges(net, "ebike", speed_kmh=20))
    car = _pairs(mode_edges(net, "car", speed_kmh=30))
    assert walk == {(1, 2), (2, 1), (2, 3), (3, 2)}
    assert bike == {(1, 2), (2, 1), (2, 3), (3, 2), (3, 4), (4, 3)}  # the footway is pushed (geo.moderules)
    assert car == {(0, 1), (3, 4), (4, 3)}  # motorway implied one-way; private service road excluded


def _engine(mode: str) -> CityEngine:
    graph = compile_graph(tag_network(XY, SEGS), mode, speed_kmh=SPEEDS_MPS[mode] * 3.6)
    return CityEngine({mode: graph}, speeds_mps=SPEEDS_MPS, max_snap_m=50.0)


def test_node_beyond_a_oneway_is_outside_the_reverse_search() -> None:
    eng = _engine("bicycle")
    a_lon, a_lat = lonlat(XY[:1])
    fwd = eng.reachable(a_lon[0], a_lat[0], mode="bicycle", minutes=10, direction="from")
    rev = eng.reachable(a_lon[0], a_lat[0], mode="bicycle", minutes=10, direction="to")
    ids = eng.graphs["bicycle"].node_id
    assert set(ids[fwd.node_idx].tolist()) == {0, 1, 2, 3}
    assert set(ids[rev.node_idx].tolist()) == {0, 1}  # C and D cannot come back through B -> C
    # forward time A -> C = 600 m at 15 km/h
    c = int(np.flatnonzero(ids == 2)[0])
    assert np.isclose(fwd.seconds[fwd.node_idx == c][0], 600 / (15 / 3.6))


def test_walk_ignores_the_oneway() -> None:
    eng = _engine("walk")
    a_lon, a_lat = lonlat(XY[:1])
    rev = eng.reachable(a_lon[0], a_lat[0], mode="walk", minutes=30, direction="to")
    assert set(eng.graphs["walk"].node_id[rev.node_idx].tolist()) == {0, 1, 2, 3}


def test_reverse_isochrone_excludes_the_oneway_side() -> None:
    # long enough edges that the polygon tolerance cannot bridge them
    xy = XY * 3  # the loop back (62.7 km) is far beyond 15 minutes
    graph = hand_graph(xy, [(0, 1), (1, 0), (1, 2), (2, 3), (3, 2), (3, 4), (4, 5), (5, 0)], mode="bicycle")
    assert graph.snap_ok.all()
    eng = CityEngine({"bicycle": graph}, speeds_mps=SPEEDS_MPS, max_snap_m=50.0)
    lon, lat = lonlat(xy)
    to_a = eng.isochrone(lon[0], lat[0], mode="bicycle", minutes=(15,), direction="to")
    from_a = eng.isochrone(lon[0], lat[0], mode="bicycle", minutes=(15,), direction="from")
    poly_to = shape(to_a["features"][0]["geometry"])
    poly_from = shape(from_a["features"][0]["geometry"])
    pts = shapely.points(lon, lat)
    assert poly_from.contains(pts[2]) and poly_from.contains(pts[3])  # 2.7 km at 15 km/h = 11 min
    assert poly_to.contains(pts[1]) and not poly_to.contains(pts[2]) and not poly_to.contains(pts[3])


def test_nearby_uses_worker_to_resource_direction() -> None:
    eng = _engine("car")
    lon, lat = lonlat(XY)
    eng.set_resources([10, 20], [lon[0], lon[2]], [lat[0], lat[2]])
    # a worker at A reaches the resource at C (through B -> C); a worker at C cannot reach A
    hits_a = eng.nearby(lon[0], lat[0], mode="car", minutes=30)
    hits_c = eng.nearby(lon[2], lat[2], mode="car", minutes=30)
    assert [h.resource_id for h in hits_a] == [10, 20]
    assert [h.resource_id for h in hits_c] == [20]
    assert abs(hits_a[1].distance_m - 600.0) <= 5.0  # car lengths are stored in 10 m units
