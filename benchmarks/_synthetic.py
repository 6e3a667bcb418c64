"""A deterministic, road-like planar network of city scale (≥ 250,000 nodes) for benchmarks.

A jittered grid (80 m blocks) around Jiaxing's centre, laid out in UTM zone 51N metres:

* local streets (``residential``, 30 km/h) with ~8 % of them removed at random;
* arterials every 10th row/column (``primary``, 60 km/h); every 20th row is a one-way arterial,
  alternating east- and west-bound (``oneway=yes`` / ``oneway=-1``);
* expressways every 60th row/column (``trunk``, 80 km/h: no walking or cycling along them);
* a few round "lakes" with no nodes at all (holes the isochrones must keep).

Built as a :class:`geo.network.RoadNetwork`, so it goes through the same mode rules and compiler as OSM data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo.network import RoadNetwork, assemble_network

CRS = "EPSG:32651"
CENTER_X, CENTER_Y = 283_000.0, 3_404_000.0  # ≈ 30.754°N 120.759°E


def synthetic_network(*, side: int = 520, spacing_m: float = 80.0, seed: int = 20260101) -> RoadNetwork:
    """The benchmark network: ``side × side`` grid minus lakes (520 → ~266k nodes).

    Parameters
    ----------
    side
        Nodes per grid side.
    spacing_m
        Block size in metres.
    seed
        Random seed (jitter, removed streets, lakes).
    """
    from isochrones.graph import unproject

    rng = np.random.default_rng(seed)
    iy, ix = np.divmod(np.arange(side * side), side)
    x = (ix - side / 2) * spacing_m + rng.uniform(-0.2, 0.2, ix.size) * spacing_m
    y = (iy - side / 2) * spacing_m + rng.uniform(-0.2, 0.2, iy.size) * spacing_m
    alive = np.ones(ix.size, dtype=bool)
    extent = side * spacing_m / 2
    for _ in range(6):
        cx, cy = rng.uniform(-0.7, 0.7, 2) * extent
        r = rng.uniform(500, 1300)
        alive &= np.hypot(x - cx, y - cy) > r
    # horizontal (k, k+1) and vertical (k, k+side) neighbours
    h = np.flatnonzero(ix < side - 1)
    v = np.flatnonzero(iy < side - 1)
    u = np.concatenate([h, v])
    w = np.concatenate([h + 1, v + side])
    horizontal = np.concatenate([np.ones(h.size, bool), np.zeros(v.size, bool)])
    line = np.where(horizontal, iy[u], ix[u])  # the row (horizontal) or column (vertical) of the street
    highway = np.full(u.size, "residential", dtype=object)
    maxspeed = np.full(u.size, "30", dtype=object)
    arterial = line % 10 == 0
    highway[arterial] = "primary"
    maxspeed[arterial] = "60"
    express = line % 60 == 30
    highway[express] = "trunk"
    maxspeed[express] = "80"
    oneway = np.full(u.size, None, dtype=object)
    one = horizontal & (line % 20 == 0)
    oneway[one & (line % 40 == 0)] = "yes"
    oneway[one & (line % 40 == 20)] = "-1"
    keep = alive[u] & alive[w] & ((highway != "residential") | (rng.random(u.size) > 0.08))
    seg = pd.DataFrame(
        {
            "u": u[keep],
            "v": w[keep],
            "length_m": np.hypot(x[w] - x[u], y[w] - y[u])[keep],
            "highway": highway[keep],
            "maxspeed": maxspeed[keep],
            "oneway": oneway[keep],
        }
    )
    ids = np.flatnonzero(alive)
    lon, lat = unproject(x[ids] + CENTER_X, y[ids] + CENTER_Y, CRS)
    return assemble_network(ids.astype(np.int64), lon, lat, seg, f"synthetic(side={side}, seed={seed})")
