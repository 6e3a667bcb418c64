"""Isochrone polygons from reached travel times: one fine raster per band, real gaps kept as holes.

Why not a convex hull: it fills lakes, canals and unreachable campuses. Why not buffering the reached
network: buffering one MultiLineString of a whole network took 8–12 s on Helsinki and over ten minutes
on a larger network (measured on these machines). Instead, for each band ``T`` (ascending):

1. **Cell.** The band's raster cell is its reach ``R`` (the largest straight distance from the origin
   of a node reached within ``T``) divided by :data:`CELLS_PER_REACH`, at least :data:`MIN_CELL_M`:
   ~5 m for a 5-minute walk, ~85 m for a 30-minute e-bike ride. A short band is drawn as finely as a
   long one, relative to its size.
2. **Samples.** The edges reached within ``T`` are sampled at most one cell apart (:func:`reached_samples`;
   partial edges at the frontier are cut where ``T`` runs out), so consecutive samples of an edge lie in
   the same or neighbouring cells.
3. **Ribbon.** Cells holding a sample, grown by one cell (3 × 3), are the band. Every reached point is
   then at least half a cell inside the boundary, so simplifying by :data:`SIMPLIFY_FRACTION` of a cell
   keeps every reached point inside (tested).
4. **Gaps.** An enclosed hole of the ribbon is filled only when it is small — under ``(R/4)²``, at most
   :data:`MAX_FILL_M2` — *and* holds no network node that is not reached within ``T``. So city blocks
   are filled; a lake, a park without paths or a walled campus larger than that stays a hole, and so does
   any block holding roads reached later than ``T`` (across a river, behind a one-way system).
5. **Contour** the band mask with ``contourpy`` (holes kept), simplify, union with the smaller bands so
   bands nest, and reproject to WGS84.

Tolerance (a Feature's ``tolerance_m``): every point of a band's polygon lies within
:func:`tolerance_m` ``= 1.5·√2·cell + √(fill/π) + simplify`` of a network point reached within the band
(the ribbon's width, plus the radius of the largest filled gap) — well under the band's reach ``R``.
Leakage (:func:`leakage`): the share of the network nodes inside a band that need more than 1.15 × its
time; measured by ``benchmarks/bench_engine.py`` and bounded in the tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np
import shapely
from contourpy import FillType, contour_generator
from scipy.ndimage import label
from shapely.geometry import MultiPolygon, Polygon, mapping
from shapely.geometry.base import BaseGeometry

from isochrones.graph import CompiledGraph, transformer

if TYPE_CHECKING:
    from contourpy._contourpy import FillReturn_OuterOffset

#: A band's raster cell is its reach divided by this (at least :data:`MIN_CELL_M`).
CELLS_PER_REACH = 60.0
MIN_CELL_M = 5.0
#: Largest enclosed gap (m²) filled when it holds no unreached node (smaller ones: ``(reach/4)²``).
MAX_FILL_M2 = 250.0**2
#: Simplification tolerance as a share of the cell (reached points lie ≥ 1 cell inside the boundary).
SIMPLIFY_FRACTION = 0.3
#: Largest raster side (cells); the cell grows beyond the reach rule only past it.
MAX_CELLS = 1500
#: Leakage counts nodes needing more than this factor times the band (:func:`leakage`).
LEAK_FACTOR = 1.15


@dataclass(frozen=True)
class Band:
    """One band's polygon (projected metres) with the raster cell and tolerance it was drawn with."""

    seconds: float
    geom: BaseGeometry
    cell_m: float
    tolerance_m: float
    reach_m: float


def band_cell(reach_m: float) -> float:
    """Raster cell (metres) of a band reaching ``reach_m`` from its origin (module docstring, step 1)."""
    return max(MIN_CELL_M, float(reach_m) / CELLS_PER_REACH)


def fill_limit_m2(reach_m: float, cell_m: float) -> float:
    """Largest enclosed gap (m²) a band may fill: ``(reach/4)²`` capped at :data:`MAX_FILL_M2`."""
    return max(min((float(reach_m) / 4.0) ** 2, MAX_FILL_M2), (3.0 * cell_m) ** 2)


def tolerance_m(cell_m: float, fill_m2: float) -> float:
    """How far (metres) a band's polygon may extend beyond the network reached in it (module docstring)."""
    return 1.5 * math.sqrt(2.0) * cell_m + math.sqrt(fill_m2 / math.pi) + SIMPLIFY_FRACTION * cell_m


def reached_samples(
    graph: CompiledGraph,
    times: np.ndarray,
    *,
    reverse: bool,
    max_s: float,
    step_m: float,
    nodes: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points along reached edges with their times (projected x, y, seconds), nodes included.

    Every reached node is a sample; each edge leaving a reached node adds points every ``step_m`` or
    less along it, up to its far node or to the point where ``max_s`` runs out (that cut point is a
    sample). The far node itself is not repeated: it is reached no later than along this edge, so it is
    already a sample with a time no larger.

    Parameters
    ----------
    graph
        Compiled graph.
    times
        Seconds of the search, the query point's offset included: per graph node (``inf`` where
        unreached), or per entry of ``nodes`` when given.
    reverse
        The search ran on the reversed graph (times *to* the point).
    max_s
        Largest band in seconds: samples beyond it are dropped, the edge cut where it runs out.
    step_m
        Largest gap between samples along an edge.
    nodes
        Node indices that ``times`` refers to (a sparse search result); ``None``: ``times`` covers all.
    """
    if nodes is None:
        src = np.flatnonzero(times <= max_s)
        t_src = times[src]
    else:
        keep = times <= max_s
        src, t_src = np.asarray(nodes)[keep], np.asarray(times)[keep]
    return _Edges.leaving(graph, src, t_src, reverse=reverse).samples(max_s, step_m)


@dataclass(frozen=True)
class _Edges:
    """Reached nodes and every edge leaving them, gathered once and sampled per band."""

    x_src: np.ndarray
    y_src: np.ndarray
    t_src: np.ndarray
    xa: np.ndarray
    ya: np.ndarray
    ta: np.ndarray
    dx: np.ndarray
    dy: np.ndarray
    length: np.ndarray
    w: np.ndarray

    @classmethod
    def leaving(cls, graph: CompiledGraph, src: np.ndarray, t_src: np.ndarray, *, reverse: bool) -> _Edges:
        indptr, indices, sec, _ = graph.search_arrays(reverse=reverse)
        start = indptr[src]
        counts = indptr[src + 1] - start
        csum = np.cumsum(counts)
        total = int(csum[-1]) if csum.size else 0
        edge = np.arange(total, dtype=np.int64) + np.repeat(start - (csum - counts), counts)
        b = indices[edge]
        x_src, y_src = graph.x[src], graph.y[src]
        xa, ya, ta = np.repeat(x_src, counts), np.repeat(y_src, counts), np.repeat(t_src, counts)
        dx, dy = graph.x[b] - xa, graph.y[b] - ya
        return cls(x_src, y_src, t_src, xa, ya, ta, dx, dy, np.hypot(dx, dy), sec[edge].astype(np.float64))

    def samples(self, max_s: float, step_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x, y, seconds) of the reached nodes within ``max_s`` and of points along their edges."""
        keep = self.t_src <= max_s
        x_src, y_src, t_src = self.x_src[keep], self.y_src[keep], self.t_src[keep]
        on = np.flatnonzero(self.ta <= max_s)
        ta, w = self.ta[on], self.w[on]
        frac = np.minimum(1.0, (max_s - ta) / w)
        k = np.maximum(np.ceil(self.length[on] * frac / step_m), 1.0)  # segments of <= step_m
        per_edge = (k - (frac >= 1.0)).astype(np.int64)  # interior points, plus the cut point if cut
        sel = per_edge > 0
        if not sel.any():
            return x_src, y_src, t_src
        on, per_edge, ta = on[sel], per_edge[sel], ta[sel]
        scale = frac[sel] / k[sel]
        sx, sy, st = self.dx[on] * scale, self.dy[on] * scale, w[sel] * scale
        n_s = int(per_edge.sum())
        ends = np.cumsum(per_edge)
        j = (np.arange(1, n_s + 1, dtype=np.int64) - np.repeat(ends - per_edge, per_edge)).astype(np.float64)
        xs = np.concatenate([x_src, np.repeat(self.xa[on], per_edge) + j * np.repeat(sx, per_edge)])
        ys = np.concatenate([y_src, np.repeat(self.ya[on], per_edge) + j * np.repeat(sy, per_edge)])
        ts = np.concatenate([t_src, np.repeat(ta, per_edge) + j * np.repeat(st, per_edge)])
        return xs, ys, ts


def _rings_to_geometry(points: list[np.ndarray], offsets: list[np.ndarray]) -> list[Polygon]:
    polys = []
    for pts, off in zip(points, offsets, strict=True):
        rings = [pts[off[i] : off[i + 1]] for i in range(len(off) - 1)]
        if len(rings[0]) < 4:
            continue
        polys.append(Polygon(rings[0], [r for r in rings[1:] if len(r) >= 4]))
    return polys


def _nodes_in_box(graph: CompiledGraph, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """Indices of the graph's nodes inside the box (via the grid numbering's runs when available)."""
    disk = graph.disk
    if disk.enabled:
        cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
        a, b = disk.runs(cx, cy, math.hypot(x1 - x0, y1 - y0) / 2.0 + 1.0)
        lens = b - a
        idx = np.arange(int(lens.sum()), dtype=np.int64) + np.repeat(a - (np.cumsum(lens) - lens), lens)
    else:
        idx = np.arange(graph.n_nodes, dtype=np.int64)
    x, y = graph.x[idx], graph.y[idx]
    return idx[(x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)]


def _dilate(cells: np.ndarray) -> np.ndarray:
    """3 × 3 binary dilation (the raster has an empty margin of three cells)."""
    rows = cells.copy()
    rows[1:] |= cells[:-1]
    rows[:-1] |= cells[1:]
    out = rows.copy()
    out[:, 1:] |= rows[:, :-1]
    out[:, :-1] |= rows[:, 1:]
    return out


def _band_mask(
    xs: np.ndarray, ys: np.ndarray, others_xy: tuple[np.ndarray, np.ndarray], cell: float, fill_m2: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The band's raster (steps 3–4 of the module docstring): (mask, cell-centre xs, cell-centre ys).

    ``others_xy`` are the positions of network nodes *not* reached within the band (any superset of
    those inside the raster will do): a gap holding one is never filled.
    """
    x0, y0 = float(xs.min()) - 3 * cell, float(ys.min()) - 3 * cell
    nx_ = int((float(xs.max()) - x0) / cell) + 4
    ny_ = int((float(ys.max()) - y0) / cell) + 4
    occupied = np.zeros(ny_ * nx_, dtype=bool)
    occupied[((ys - y0) / cell).astype(np.int64) * nx_ + ((xs - x0) / cell).astype(np.int64)] = True
    mask = _dilate(occupied.reshape(ny_, nx_))
    # enclosed gaps: fill the small ones that hold no unreached node
    gaps, n_gaps = label(~mask)
    if n_gaps:
        ox = np.floor((others_xy[0] - x0) / cell).astype(np.int64)
        oy = np.floor((others_xy[1] - y0) / cell).astype(np.int64)
        inside = (ox >= 0) & (ox < nx_) & (oy >= 0) & (oy < ny_)
        size = np.bincount(gaps.ravel(), minlength=n_gaps + 1)
        blocked = np.bincount(gaps[oy[inside], ox[inside]], minlength=n_gaps + 1)
        fill = (size * cell * cell < fill_m2) & (blocked == 0)
        border = np.unique(np.concatenate([gaps[0], gaps[-1], gaps[:, 0], gaps[:, -1]]))
        fill[border] = False
        fill[0] = False
        mask |= fill[gaps]
    cx = x0 + (np.arange(nx_) + 0.5) * cell
    cy = y0 + (np.arange(ny_) + 0.5) * cell
    return mask, cx, cy


def band_polygons(
    graph: CompiledGraph,
    nodes: np.ndarray,
    secs: np.ndarray,
    bands_s: list[float],
    *,
    reverse: bool,
    origin_xy: tuple[float, float],
) -> list[Band]:
    """Nested polygons (projected metres) of the network reached within each band (ascending), holes kept.

    Parameters
    ----------
    graph
        The compiled graph searched.
    nodes, secs
        Reached node indices (ascending) and their seconds, the query point's offset included.
    bands_s
        Band limits in seconds.
    reverse
        The search ran on the reversed graph (times *to* the point).
    origin_xy
        Projected position of the origin (the band's reach is measured from it).
    """
    out: list[Band] = []
    prev: BaseGeometry | None = None
    bands = sorted(float(b) for b in bands_s)
    keep = np.asarray(secs, dtype=np.float64) <= bands[-1]
    nodes = np.asarray(nodes, dtype=np.int64)[keep]
    secs = np.asarray(secs, dtype=np.float64)[keep]
    edges = _Edges.leaving(graph, nodes, secs, reverse=reverse)
    dist = np.hypot(graph.x[nodes] - origin_xy[0], graph.y[nodes] - origin_xy[1])
    # every node near the largest band (a superset of each band's raster): candidates for "unreached"
    margin = 2.0 * band_cell(float(dist.max()) if dist.size else 0.0) * 8.0
    near = _nodes_in_box(
        graph,
        float(graph.x[nodes].min()) - margin if nodes.size else 0.0,
        float(graph.y[nodes].min()) - margin if nodes.size else 0.0,
        float(graph.x[nodes].max()) + margin if nodes.size else 0.0,
        float(graph.y[nodes].max()) + margin if nodes.size else 0.0,
    )
    near_t = np.full(near.size, np.inf)
    pos = np.searchsorted(nodes, near).clip(0, max(nodes.size - 1, 0))
    hit = nodes[pos] == near if nodes.size else np.zeros(near.size, dtype=bool)
    near_t[hit] = secs[pos[hit]]
    near_x, near_y = graph.x[near], graph.y[near]
    for band in bands:
        sel = secs <= band
        if not sel.any():
            out.append(Band(band, Polygon(), MIN_CELL_M, 0.0, 0.0))
            continue
        reach = float(dist[sel].max())
        cell = band_cell(reach)
        xs, ys, _ = edges.samples(band, cell)
        span = max(float(np.ptp(xs)), float(np.ptp(ys)))
        if span / cell > MAX_CELLS - 8:  # very long reach: coarser cells, resampled
            cell = span / (MAX_CELLS - 8)
            xs, ys, _ = edges.samples(band, cell)
        fill = fill_limit_m2(reach, cell)
        late = near_t > band
        mask, cx, cy = _band_mask(xs, ys, (near_x[late], near_y[late]), cell, fill)
        filled = contour_generator(cx, cy, mask.astype(np.float32), fill_type=FillType.OuterOffset).filled(0.5, 2.0)
        pts, offs = cast("FillReturn_OuterOffset", filled)  # typed as any fill type's; this one is OuterOffset
        polys = _rings_to_geometry(pts, offs)
        geom: BaseGeometry = MultiPolygon(polys) if len(polys) != 1 else polys[0]
        geom = shapely.simplify(geom, SIMPLIFY_FRACTION * cell, preserve_topology=False)
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
        if prev is not None and not prev.is_empty:
            geom = shapely.union(geom, prev)
        out.append(Band(band, geom, cell, tolerance_m(cell, fill), reach))
        prev = geom
    return out


def leakage(graph: CompiledGraph, geom: BaseGeometry, times: np.ndarray, band_s: float) -> float:
    """Share of the places inside ``geom`` (projected) that need more than :data:`LEAK_FACTOR` × ``band_s``.

    Places are the graph's snap targets (``snap_ok``: ground-level nodes of the main network, where a
    point can join it); a tunnel node under a reached street is no place a worker stands. ``times``
    are the seconds of every node (``inf`` where unreached). 0.0 for an empty polygon.
    """
    places = graph.snap_nodes
    inside = shapely.contains_xy(geom, graph.x[places], graph.y[places])
    n_in = int(inside.sum())
    late = times[places] > LEAK_FACTOR * band_s
    return float(np.count_nonzero(inside & late)) / n_in if n_in else 0.0


def to_wgs84(geom: BaseGeometry, crs: str) -> BaseGeometry:
    """Reproject a projected geometry to WGS84 lon/lat."""
    tr = transformer(crs, "EPSG:4326")

    def _xy(coords: np.ndarray) -> np.ndarray:
        lon, lat = tr.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(geom, _xy)


def feature_collection(
    geoms: Sequence[BaseGeometry],
    bands_min: list[float],
    *,
    crs: str,
    properties: dict,
    band_properties: list[dict] | None = None,
) -> dict:
    """GeoJSON FeatureCollection (WGS84), one Feature per band, largest band first.

    ``band_properties`` (one dict per band, in the order of ``bands_min``) are added to that band's
    Feature only (e.g. its ``tolerance_m``).
    """
    feats = []
    extra = band_properties or [{} for _ in bands_min]
    for geom, minutes, own in sorted(zip(geoms, bands_min, extra, strict=True), key=lambda gm: -gm[1]):
        area_km2 = round(float(geom.area) / 1e6, 4)
        wgs = to_wgs84(geom, crs) if not geom.is_empty else geom
        body = mapping(wgs) if not wgs.is_empty else {"type": "MultiPolygon", "coordinates": []}
        feats.append(
            {
                "type": "Feature",
                "geometry": body,
                "properties": {"minutes": minutes, "area_km2": area_km2, **properties, **own},
            }
        )
    return {"type": "FeatureCollection", "features": feats}
