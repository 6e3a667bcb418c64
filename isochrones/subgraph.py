"""Exact bounded searches on a Euclidean-disk slice of a compiled graph.

``scipy.sparse.csgraph.dijkstra`` pays an O(N) set-up on every call (distance and heap arrays over all
N nodes, ~1 ms for 268k nodes), which dominates a 30-minute walk on a city-scale graph: that search
reaches ~2k nodes. This module cuts the graph to the nodes that *can* be reached before searching:

* ``v_max`` (:func:`euclid_speed`) is the largest straight-line speed of any edge: the straight distance
  between its end nodes (projected metres) divided by its travel seconds.
* Along any path, the straight distance from the origin to each node is at most the sum of the straight
  lengths of the path's edges (triangle inequality), which is at most ``v_max`` × the path's seconds.
  So every node reached within ``T`` seconds, *and every node on its shortest path*, lies within
  ``v_max · T`` metres of the origin.
* Searching the sub-graph induced by any node set containing that disk therefore gives exactly the
  times of a search of the whole graph (the sub-graph holds every shortest path that stays within
  ``T``, and it has no edge the graph lacks). The bound uses the graph's own coordinates and seconds,
  not the recorded edge lengths, so it holds whatever the lengths' source or the projection's scale.

To make the slice cheap, compiled graphs number their nodes in **grid order** (:func:`grid_layout`):
row-major by square cells of about :data:`NODES_PER_CELL` nodes. The cells of one grid row that meet
the disk are then one contiguous run of node indices, so the sub-graph is a few dozen contiguous CSR
slices (no per-node gather, no circle filter: whole cells are taken, a superset of the disk). Spatial
numbering also keeps the nodes of a neighbourhood close in memory for every other search.

When the slice would hold more than :data:`DISK_MAX_SHARE` of the graph (long searches, fast modes),
the caller searches the whole graph instead: copying most of the graph costs more than scipy's set-up.
Graphs compiled before grid numbering (no ``meta["grid"]``) always use the whole graph.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from isochrones.graph import CompiledGraph


class Sliceable(Protocol):
    """An array read by slices: a numpy array or an :class:`isochrones.storage.StoredArray`."""

    def __getitem__(self, key: slice, /) -> Any: ...  # an array


log = logging.getLogger(__name__)

#: Use the disk sub-graph when it holds at most this share of the graph's nodes.
DISK_MAX_SHARE = 0.05
#: Target mean number of nodes per grid cell of the node numbering.
NODES_PER_CELL = 12.0
#: Relative slack on the disk radius (floating-point rounding of the speed bound).
_RADIUS_SLACK = 1e-9


def euclid_speed(
    x: ArrayLike, y: ArrayLike, indptr: ArrayLike, indices: Sliceable, seconds: Sliceable, *, block: int = 1 << 17
) -> float:
    """Largest straight-line speed (m/s) of any edge of a CSR graph: ``hypot(Δx, Δy) / seconds``.

    Computed over blocks of about ``block`` edges, so the temporaries stay small; ``indices`` and
    ``seconds`` are only sliced, so they may be :class:`isochrones.storage.StoredArray` views read
    from the graph file (nothing mapped). The answer does not depend on ``block``.

    Parameters
    ----------
    x, y
        Projected node coordinates (metres).
    indptr, indices, seconds
        The CSR adjacency and travel seconds.
    block
        Edges per block.

    Returns
    -------
    float
        The bound ``v_max`` of the module docstring (0.0 for a graph without edges).
    """
    ptr = np.asarray(indptr, dtype=np.int64)
    n_edges = int(ptr[-1]) if ptr.size else 0
    if n_edges == 0:
        return 0.0
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    starts = np.searchsorted(ptr, np.arange(0, n_edges, max(int(block), 1)), side="right") - 1
    cuts = np.unique(np.append(starts, ptr.size - 1))
    best = 0.0
    for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
        e0, e1 = int(ptr[a]), int(ptr[b])
        if e1 == e0:
            continue
        src = np.repeat(np.arange(a, b, dtype=np.int64), np.diff(ptr[a : b + 1]))
        dst = np.asarray(indices[e0:e1])
        straight = np.hypot(xs[dst] - xs[src], ys[dst] - ys[src])
        best = max(best, float(np.max(straight / np.asarray(seconds[e0:e1]))))
    return best


def grid_layout(x: np.ndarray, y: np.ndarray, *, nodes_per_cell: float = NODES_PER_CELL) -> dict:
    """The grid that numbers a graph's nodes: origin, cell size and cells per row/column.

    The cell is sized for about ``nodes_per_cell`` nodes per cell of the nodes' bounding box. The
    result is JSON-serialisable (it is stored in the compiled graph's metadata).
    """
    n = int(x.size)
    x0, y0 = (float(x.min()), float(y.min())) if n else (0.0, 0.0)
    width = float(np.ptp(x)) if n else 0.0
    height = float(np.ptp(y)) if n else 0.0
    cell = max(math.sqrt(max(width * height, 1.0) / max(n, 1) * nodes_per_cell), 1.0)
    return {"cell_m": cell, "x0": x0, "y0": y0, "ncx": int(width // cell) + 1, "ncy": int(height // cell) + 1}


def grid_keys(x: np.ndarray, y: np.ndarray, layout: dict) -> np.ndarray:
    """Row-major cell number of each point in ``layout`` (clipped to the grid)."""
    cell = layout["cell_m"]
    cx = np.clip(((np.asarray(x) - layout["x0"]) // cell).astype(np.int64), 0, layout["ncx"] - 1)
    cy = np.clip(((np.asarray(y) - layout["y0"]) // cell).astype(np.int64), 0, layout["ncy"] - 1)
    return cy * layout["ncx"] + cx


class DiskSearcher:
    """Bounded Dijkstra searches of one compiled graph on Euclidean-disk sub-graphs (module docstring).

    One instance per graph (:attr:`isochrones.graph.CompiledGraph.disk`); stateless per query, so safe
    to share between threads.

    Parameters
    ----------
    graph
        The compiled graph.
    max_share
        Above this share of the graph's nodes in the slice, :meth:`search` returns ``None`` (the caller
        searches the whole graph).
    """

    def __init__(self, graph: CompiledGraph, *, max_share: float = DISK_MAX_SHARE) -> None:
        self.graph = graph
        self.max_share = float(max_share)
        self.v_max = float(graph.euclid_mps)
        layout = graph.meta.get("grid")
        self.first: np.ndarray | None = None
        if layout is not None and graph.n_nodes:
            keys = grid_keys(graph.x, graph.y, layout)
            if np.all(keys[1:] >= keys[:-1]):
                self.layout = layout
                self.first = np.searchsorted(keys, np.arange(layout["ncx"] * layout["ncy"] + 1)).astype(np.int64)
            else:
                log.warning("%s graph: nodes are not in grid order; disk searches disabled", graph.mode)

    @property
    def enabled(self) -> bool:
        """True when the graph is in grid order (disk searches possible)."""
        return self.first is not None

    def radius_m(self, limit_s: float) -> float:
        """The disk radius (metres) holding every node reachable within ``limit_s``."""
        return self.v_max * float(limit_s) * (1.0 + _RADIUS_SLACK) + 1e-6

    def runs(self, px: float, py: float, r: float) -> tuple[np.ndarray, np.ndarray]:
        """Node index runs ``[a_i, b_i)`` (one per grid row) of the cells meeting the disk of radius r."""
        lay, first = self.layout, self.first
        assert first is not None, "runs() needs a graph in grid order (see enabled)"
        cell, x0, y0, ncx = lay["cell_m"], lay["x0"], lay["y0"], lay["ncx"]
        iy0 = max(int((py - r - y0) // cell), 0)
        iy1 = min(int((py + r - y0) // cell), lay["ncy"] - 1)
        starts, ends = [], []
        for iy in range(iy0, iy1 + 1):  # a few dozen rows: plain Python beats a dozen tiny numpy calls
            ylo = y0 + iy * cell
            dy = max(ylo - py, py - (ylo + cell), 0.0)  # disk centre to the row's band
            half = math.sqrt(max(r * r - dy * dy, 0.0))
            ix0 = min(max(int((px - half - x0) // cell), 0), ncx - 1)
            ix1 = min(max(int((px + half - x0) // cell), 0), ncx - 1)
            starts.append(iy * ncx + ix0)
            ends.append(iy * ncx + ix1 + 1)
        return first[starts], first[ends]

    def subgraph(self, a: np.ndarray, b: np.ndarray, *, reverse: bool) -> tuple[csr_matrix, np.ndarray]:
        """The travel-seconds matrix induced by the node runs ``[a_i, b_i)``, and its node indices.

        Row/column ``l < k`` of the ``(k + 1)²`` matrix is node ``nodes[l]`` (ascending). Each run's rows
        are one contiguous CSR slice. Edges leaving the runs all point to one extra *sink* (row/column
        ``k``, no out-edges) instead of being filtered out: the nodes they lead to lie outside the disk,
        so the sink's time exceeds the limit and no path passes through it.
        """
        indptr, indices, seconds, _ = self.graph.search_arrays(reverse=reverse)
        lens = b - a
        k = int(lens.sum())
        nodes = np.arange(k, dtype=np.int64) + np.repeat(a - (np.cumsum(lens) - lens), lens)
        lo, window = int(a[0]), int(b[-1] - a[0])
        lookup = np.full(window + 1, k, dtype=np.int32)  # the last entry (and every non-run node) → sink
        lookup[nodes - lo] = np.arange(k, dtype=np.int32)
        e_starts, e_ends = indptr[a].tolist(), indptr[b].tolist()
        cols = np.concatenate([indices[s:e] for s, e in zip(e_starts, e_ends, strict=True)])
        data = np.concatenate([seconds[s:e] for s, e in zip(e_starts, e_ends, strict=True)])
        # columns below the window wrap to huge unsigned values; "clip" sends them, and those above, to the sink
        local = np.take(lookup, (cols - lo).view(np.uint32), mode="clip")
        elen = np.asarray(e_ends, dtype=np.int64) - np.asarray(e_starts, dtype=np.int64)
        shift = np.asarray(e_starts, dtype=np.int64) - (np.cumsum(elen) - elen)  # CSR position − slice position
        new_ptr = np.empty(k + 2, dtype=np.int32)
        new_ptr[0] = 0
        new_ptr[1:-1] = indptr[nodes + 1] - np.repeat(shift, lens)
        new_ptr[-1] = cols.size  # the sink's row is empty
        return csr_matrix((data, local, new_ptr), shape=(k + 1, k + 1), copy=False), nodes

    def search(self, node: int, *, limit_s: float, reverse: bool) -> tuple[np.ndarray, np.ndarray] | None:
        """Nodes reached within ``limit_s`` from ``node`` (``reverse``: to it) and their seconds, or ``None``.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray) or None
            Ascending node indices (int64) and their float64 seconds — exactly what a full-graph bounded
            Dijkstra gives — or ``None`` when disk searches are disabled or the slice is too large.
        """
        if self.first is None:
            return None
        g = self.graph
        a, b = self.runs(float(g.x[node]), float(g.y[node]), self.radius_m(limit_s))
        if int((b - a).sum()) > self.max_share * g.n_nodes:
            return None
        mat, nodes = self.subgraph(a, b, reverse=reverse)
        root = int(np.searchsorted(nodes, node))
        # scipy-stubs type dijkstra's ``indices`` as an array only; scipy takes one index (and answers in 1-D)
        dist = dijkstra(mat, directed=True, indices=root, limit=float(limit_s))  # type: ignore[call-overload]
        hit = np.flatnonzero(np.isfinite(dist))
        return nodes[hit], dist[hit]
