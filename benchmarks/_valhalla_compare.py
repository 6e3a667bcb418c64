"""Compare SkillCircle's and Valhalla's answers to the same queries (for :mod:`benchmarks.bench_valhalla`).

Isochrones: the area of each band (projected to the network's UTM zone) and how well each polygon
fits an exact reference: SkillCircle's bounded Dijkstra (:func:`isochrones.travel.search`) from the
origin's node on the same compiled graph. For each band it counts the places (the graph's snap
targets) reached within the band that lie *outside* the polygon (a polygon should leave out none),
and the leakage: the share of places inside the polygon that need more than 1.15 × the band
(:func:`isochrones.polygons.leakage`). The reference is our engine's travel-time model, so a
difference of speed model (Valhalla's bicycle costing adds turn and intersection time) shows up as
Valhalla leaving out places we reach; the matrix comparison reports that time ratio on its own.

Nearby vs matrix: whether both engines name the same resources within the time budget (Jaccard of
the two sets) and the median ratio of their times for the resources both name.
"""

from __future__ import annotations

from statistics import median

import numpy as np
import shapely
from shapely.geometry import shape

from isochrones.graph import CompiledGraph, project
from isochrones.polygons import LEAK_FACTOR, leakage
from isochrones.snap import Snapper
from isochrones.travel import search


def projected(geojson: dict, crs: str) -> shapely.Geometry:
    """A GeoJSON geometry (WGS84) in the projected ``crs`` (metres)."""
    return shapely.transform(shape(geojson), lambda xy: np.column_stack(project(xy[:, 0], xy[:, 1], crs)))


def _bands(fc: dict, key: str, crs: str) -> dict[float, shapely.Geometry]:
    return {float(f["properties"][key]): projected(f["geometry"], crs) for f in fc["features"]}


def _fit(graph: CompiledGraph, times: np.ndarray, geom: shapely.Geometry, band_s: float) -> tuple[float, float]:
    """(share of the places reached within ``band_s`` left outside ``geom``, leakage of ``geom``)."""
    places = graph.snap_nodes
    reached = places[times[places] <= band_s]
    inside = shapely.contains_xy(geom, graph.x[reached], graph.y[reached]) if reached.size else np.ones(0, bool)
    missed = float(np.count_nonzero(~inside)) / reached.size if reached.size else 0.0
    return missed, leakage(graph, geom, times, band_s)


def compare_isochrones(
    graph: CompiledGraph, origins: list, ours: list[dict], theirs: list[dict], *, bands: tuple[int, ...]
) -> dict:
    """Area ratios per band and, for both engines, left-out share and leakage against an exact search.

    Parameters
    ----------
    graph
        The mode's compiled graph (the reference search runs on it).
    origins
        ``(lon, lat)`` of each query.
    ours, theirs
        SkillCircle's and Valhalla's FeatureCollections, one per origin (same order).
    bands
        Band minutes.
    """
    snapper = Snapper(graph, max_snap_m=500.0, walk_mps=4.5 / 3.6)
    ratios: dict[int, list[float]] = {b: [] for b in bands}
    fit = {"ours": ([], []), "valhalla": ([], [])}
    for (lon, lat), fo, fv in zip(origins, ours, theirs, strict=True):
        node, _, walk_s = snapper.snap(lon, lat)
        times = search(graph, node, limit_s=LEAK_FACTOR * max(bands) * 60 + 60) + walk_s
        g_o, g_v = _bands(fo, "minutes", graph.crs), _bands(fv, "contour", graph.crs)
        for b in bands:
            if float(b) not in g_o or float(b) not in g_v:
                continue
            if g_v[float(b)].area > 0:
                ratios[b].append(g_o[float(b)].area / g_v[float(b)].area)
            for name, geom in (("ours", g_o[float(b)]), ("valhalla", g_v[float(b)])):
                missed, leak = _fit(graph, times, geom, b * 60.0)
                fit[name][0].append(missed)
                fit[name][1].append(leak)
    return {
        "area": {b: median(r) if r else float("nan") for b, r in ratios.items()},
        "missed": {k: float(np.mean(v[0])) if v[0] else float("nan") for k, v in fit.items()},
        "leak_p95": {k: float(np.percentile(v[1], 95)) if v[1] else float("nan") for k, v in fit.items()},
    }


def compare_matrix(matrix_jobs: list, ours: list[dict], theirs: list[list], *, limit_s: float) -> dict:
    """Agreement of ``nearby`` with Valhalla's matrix: median Jaccard of the sets within ``limit_s``, time ratio.

    Parameters
    ----------
    matrix_jobs
        ``[origin, targets]`` per query; each target is ``[lon, lat, resource id]``.
    ours
        ``{resource id (str): seconds}`` per query (SkillCircle's ``nearby``).
    theirs
        Valhalla's seconds per target (``None`` where it found no path), per query.
    """
    jac, time_ratio, sizes = [], [], []
    for (_, targets), got, times in zip(matrix_jobs, ours, theirs, strict=True):
        sizes.append(len(targets))
        v_in = {str(t[2]): s for t, s in zip(targets, times, strict=True) if s is not None and s <= limit_s}
        both = set(v_in) & set(got)
        union = set(v_in) | set(got)
        jac.append(len(both) / len(union) if union else 1.0)
        time_ratio += [got[k] / v_in[k] for k in both if v_in[k] > 0]
    return {
        "targets": median(sizes),
        "n": len(sizes),
        "jaccard": median(jac),
        "time_ratio": median(time_ratio) if time_ratio else float("nan"),
    }
