"""Isochrone polygons from reached travel times: rasterise, close small gaps, contour per band.

Why not a convex hull: it fills lakes, canals and unreachable campuses. Why not buffering the reached
network: buffering a whole multi-line takes seconds to minutes (``../shared/NOTES.md``). Instead:

1. Sample the reached edges of the search graph at most one cell apart; a sample at fraction ``f`` of
   edge ``a → b`` is reached at ``t_a + f · w_ab`` (so partial edges at the boundary are interpolated,
   and the exact point where the budget runs out is added as a sample). Consecutive samples of an edge
   then lie in the same or neighbouring cells, which step 3 joins.
2. Rasterise the samples and the reached nodes onto a grid in projected metres, keeping the minimum
   time per cell. The cell is :func:`cell_size` — ``max(75 m, reach extent / 400)``: 75 m for a
   30-minute walk or e-bike ride, larger for a long car reach — and grows further only if the grid
   would exceed ``max_cells`` cells a side.
3. A 3 × 3 minimum filter joins neighbouring roads (a cell next to a reached road counts as reached at
   that road's time).
4. ``contourpy`` filled contours ``time ≤ band`` per band keep holes (a lake, a fenced campus:
   areas farther than about one cell from any reached road). Holes smaller than ``min_hole_m2``
   (a few cells: ordinary city blocks) are filled.
5. Simplify to ``simplify_m``, union with the smaller bands so bands are strictly nested, and
   reproject to WGS84.

Tolerance (tested): every reached node lies inside its band's polygon up to ``simplify_m``; every point
of a band's polygon lies within :func:`tolerance_m` ``= 2.5·√2·cell + √(min_hole_m2/π) + simplify_m``
(≈ 400 m with 75 m cells; a routed Feature's ``tolerance_m`` property gives it for the cell used) of a
network point reached within the band — the minimum filter reaches
1.5 cells diagonally, contouring interpolates within one more cell, and a filled small hole adds at
most the radius of the largest disc it can hold.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from contourpy import FillType, contour_generator
from scipy.ndimage import minimum_filter
from shapely.geometry import MultiPolygon, Polygon, mapping

from isochrones.graph import CompiledGraph, transformer

DEFAULT_CELL_M = 75.0
DEFAULT_SIMPLIFY_M = 15.0
MAX_CELLS = 1200
#: The raster has at least this many cells across the reached extent (cells grow with the extent).
CELLS_ACROSS = 400


def cell_size(span_m: float, cell_m: float = DEFAULT_CELL_M, *, cells_across: int = CELLS_ACROSS) -> float:
    """Raster cell (metres) for a reach ``span_m`` across: ``max(cell_m, span_m / cells_across)``.

    A 30-minute walk (~4.5 km across) keeps 75 m cells; a 30-minute e-bike ride over a city (~20 km)
    keeps 75 m; a 60-minute car reach over 60 km gets 150 m. :func:`tolerance_m` grows in proportion.
    """
    return max(float(cell_m), float(span_m) / cells_across)


def tolerance_m(
    cell_m: float = DEFAULT_CELL_M, simplify_m: float = DEFAULT_SIMPLIFY_M, min_hole_m2: float | None = None
) -> float:
    """How far (metres) a polygon may extend beyond the reached network (see the module docstring)."""
    if min_hole_m2 is None:
        min_hole_m2 = (3.0 * cell_m) ** 2
    return 2.5 * math.sqrt(2.0) * cell_m + math.sqrt(min_hole_m2 / math.pi) + simplify_m


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
    indptr, indices, sec, _ = graph.search_arrays(reverse=reverse)
    if nodes is None:
        src = np.flatnonzero(times <= max_s)
        t_src = times[src]
    else:
        keep = times <= max_s
        src, t_src = np.asarray(nodes)[keep], np.asarray(times)[keep]
    start = indptr[src]
    counts = indptr[src + 1] - start
    csum = np.cumsum(counts)
    total = int(csum[-1]) if csum.size else 0
    x_src, y_src = graph.x[src], graph.y[src]
    if total == 0:
        return x_src, y_src, t_src
    # every edge leaving a reached node (CSR positions), as runs per source node
    edge = np.arange(total, dtype=np.int64) + np.repeat(start - (csum - counts), counts)
    b = indices[edge]
    w = sec[edge]
    xa, ya, ta = np.repeat(x_src, counts), np.repeat(y_src, counts), np.repeat(t_src, counts)
    frac = np.minimum(1.0, (max_s - ta) / w)
    dx, dy = graph.x[b] - xa, graph.y[b] - ya
    k = np.maximum(np.ceil(np.hypot(dx, dy) * frac / step_m), 1.0)  # segments of <= step_m
    per_edge = (k - (frac >= 1.0)).astype(np.int64)  # interior points, plus the cut point if cut
    sel = per_edge > 0
    per_edge, xa, ya, ta = per_edge[sel], xa[sel], ya[sel], ta[sel]
    scale = frac[sel] / k[sel]
    sx, sy, st = dx[sel] * scale, dy[sel] * scale, w[sel] * scale
    n_s = int(per_edge.sum())
    ends = np.cumsum(per_edge)
    j = (np.arange(1, n_s + 1, dtype=np.int64) - np.repeat(ends - per_edge, per_edge)).astype(np.float64)
    xs = np.concatenate([x_src, np.repeat(xa, per_edge) + j * np.repeat(sx, per_edge)])
    ys = np.concatenate([y_src, np.repeat(ya, per_edge) + j * np.repeat(sy, per_edge)])
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


def _fill_small_holes(geom: shapely.Geometry, min_hole_m2: float) -> shapely.Geometry:
    if min_hole_m2 <= 0 or geom.is_empty:
        return geom
    parts = geom.geoms if isinstance(geom, MultiPolygon) else [geom]
    out = []
    for p in parts:
        holes = [h for h in p.interiors if Polygon(h).area >= min_hole_m2]
        out.append(Polygon(p.exterior, holes))
    return MultiPolygon(out) if len(out) > 1 else out[0]


def band_polygons(
    xs: np.ndarray,
    ys: np.ndarray,
    ts: np.ndarray,
    bands_s: list[float],
    *,
    cell_m: float = DEFAULT_CELL_M,
    simplify_m: float = DEFAULT_SIMPLIFY_M,
    min_hole_m2: float | None = None,
    max_cells: int = MAX_CELLS,
) -> list[shapely.Geometry]:
    """Nested polygons (projected metres) of ``time ≤ band`` for each band (ascending), holes kept.

    Parameters
    ----------
    xs, ys, ts
        Reached sample points (projected) and their seconds.
    bands_s
        Band limits in seconds, ascending.
    cell_m
        Raster cell size (metres); grown if the extent would exceed ``max_cells`` cells a side.
    simplify_m
        Simplification tolerance (metres).
    min_hole_m2
        Holes smaller than this are filled (default ``(3 · cell)²``).
    """
    bands_s = sorted(float(b) for b in bands_s)
    empty = [Polygon() for _ in bands_s]
    keep = ts <= bands_s[-1]
    xs, ys, ts = xs[keep], ys[keep], ts[keep]
    if xs.size == 0:
        return empty
    span = max(float(np.ptp(xs)), float(np.ptp(ys)))
    cell = max(cell_m, span / (max_cells - 6))
    if min_hole_m2 is None:
        min_hole_m2 = (3.0 * cell) ** 2
    x0, y0 = float(xs.min()) - 3 * cell, float(ys.min()) - 3 * cell
    nx_ = int((float(xs.max()) - x0) / cell) + 4
    ny_ = int((float(ys.max()) - y0) / cell) + 4
    big = bands_s[-1] * 4.0 + 3600.0
    grid = np.full(nx_ * ny_, big)
    ix = ((xs - x0) / cell).astype(np.int64)
    iy = ((ys - y0) / cell).astype(np.int64)
    np.minimum.at(grid, iy * nx_ + ix, ts)
    grid = minimum_filter(grid.reshape(ny_, nx_), size=3, mode="constant", cval=big)
    cx = x0 + (np.arange(nx_) + 0.5) * cell
    cy = y0 + (np.arange(ny_) + 0.5) * cell
    gen = contour_generator(cx, cy, grid, fill_type=FillType.OuterOffset)
    out: list[shapely.Geometry] = []
    prev: shapely.Geometry | None = None
    for band in bands_s:
        pts, offs = gen.filled(-1.0, band)
        polys = _rings_to_geometry(pts, offs)
        geom = MultiPolygon(polys) if len(polys) != 1 else polys[0]
        geom = _fill_small_holes(geom.simplify(simplify_m, preserve_topology=True), min_hole_m2)
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
        if prev is not None and not prev.is_empty:
            geom = shapely.union(geom, prev)
        out.append(geom)
        prev = geom
    return out


def to_wgs84(geom: shapely.Geometry, crs: str) -> shapely.Geometry:
    """Reproject a projected geometry to WGS84 lon/lat."""
    tr = transformer(crs, "EPSG:4326")

    def _xy(coords: np.ndarray) -> np.ndarray:
        lon, lat = tr.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(geom, _xy)


def feature_collection(geoms: list[shapely.Geometry], bands_min: list[float], *, crs: str, properties: dict) -> dict:
    """GeoJSON FeatureCollection (WGS84), one Feature per band, largest band first."""
    feats = []
    for geom, minutes in sorted(zip(geoms, bands_min, strict=True), key=lambda gm: -gm[1]):
        area_km2 = round(float(geom.area) / 1e6, 4)
        wgs = to_wgs84(geom, crs) if not geom.is_empty else geom
        body = mapping(wgs) if not wgs.is_empty else {"type": "MultiPolygon", "coordinates": []}
        feats.append(
            {
                "type": "Feature",
                "geometry": body,
                "properties": {"minutes": minutes, "area_km2": area_km2, **properties},
            }
        )
    return {"type": "FeatureCollection", "features": feats}
