"""Dense grid-cell × resource travel-time table behind ``nearby`` for modes that reach most of the city.

A car's 30-minute reach covers most of a city-scale graph, so the exact node × resource table of
:class:`isochrones.travel.ResourceTable` would hold ~N × R entries (hundreds of MB) and a fresh
search costs ~100 ms. This table keeps one row per occupied grid cell instead:

* the graph's nodes are binned into square cells of ``cell_m`` metres (default 250 m); each occupied
  cell is a row, represented by its node nearest to the cell centre (``rep``) among the cell's snap
  targets (``CompiledGraph.snap_ok``) when it has any;
* ``secs[row, r]`` is the time from the representative node to resource ``r`` (its snap walk
  included), from ONE reverse Dijkstra per resource over the whole graph, rounded up to whole seconds
  (``uint16``; ``65535`` = unreachable or beyond :data:`MAX_S`); ``dist10`` the network length of that
  fastest path in 10 m units, for modes whose speed varies by edge;
* a query snaps the worker to node ``n`` (exact walk), reads row ``node_row[n]`` and filters/sorts it.

Bound (tested): with ``c`` the representative of ``n``'s cell, the triangle inequality gives
``t(c→r) − t(c→n) ≤ t(n→r) ≤ t(n→c) + t(c→r)``, so the table's time differs from a fresh Dijkstra's
by at most ``max(t(n→c), t(c→n))`` — the travel time between the query node and its cell's
representative, within one cell — plus 1 s of rounding. A resource is listed or not accordingly
when its time is within that bound of the limit.

Memory: rows × resources × 4 bytes (e.g. 26k cells of a 1,700 km² city × 450 resources ≈ 47 MB); when
that exceeds the budget the cells grow until it fits.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.sparse.csgraph import dijkstra
from tqdm.auto import tqdm

from isochrones.graph import CompiledGraph
from isochrones.storage import save_npz
from isochrones.travel import tree_lengths

log = logging.getLogger(__name__)

DEFAULT_CELL_M = 250.0
MAX_S = 65_534  # uint16 whole seconds (~18 h); 65535 marks "unreachable"
UNREACHABLE = np.uint16(65_535)
_CHUNK_CELLS = 8_000_000  # sources per Dijkstra batch × nodes (a 64 MB float64 block)


def _cells(graph: CompiledGraph, cell_m: float) -> tuple[np.ndarray, np.ndarray]:
    """(row of every node, representative node of every row) for square cells of ``cell_m``.

    The representative is the cell's snap target nearest to its centre (any node if it has none).
    """
    x0, y0 = float(graph.x.min()), float(graph.y.min())
    cx = ((graph.x - x0) // cell_m).astype(np.int64)
    cy = ((graph.y - y0) // cell_m).astype(np.int64)
    key = cy * (int(cx.max()) + 1) + cx
    _, node_row = np.unique(key, return_inverse=True)
    d2 = (graph.x - (x0 + (cx + 0.5) * cell_m)) ** 2 + (graph.y - (y0 + (cy + 0.5) * cell_m)) ** 2
    # a snap target (largest strongly connected component) when the cell has one: queries snap only to
    # those, so the bound t(n↔c) between a query node and its representative stays finite
    order = np.lexsort((d2, ~graph.snap_ok, node_row))
    first = np.ones(order.size, dtype=bool)
    first[1:] = node_row[order][1:] != node_row[order][:-1]
    return node_row.astype(np.int32), order[first].astype(np.int32)


@dataclass
class CellTable:
    """Times from every occupied grid cell's representative node to every resource (module docstring).

    Attributes
    ----------
    cell_m
        Cell size in metres.
    node_row
        Row of each graph node (int32).
    rep
        Representative node of each row (int32).
    secs
        ``(rows, resources)`` uint16 seconds, rounded up; :data:`UNREACHABLE` where none.
    dist10
        ``(rows, resources)`` uint16 fastest-path length in 10 m units, or ``None`` (constant speed).
    """

    cell_m: float
    node_row: np.ndarray
    rep: np.ndarray
    secs: np.ndarray
    dist10: np.ndarray | None

    #: A cell table answers every limit (no fresh-search fallback).
    limit_s = math.inf
    kind = "cells"
    #: Columns copied from a previous build (see :meth:`build`); 0 for loaded or fresh tables.
    reused_columns = 0

    @property
    def nbytes(self) -> int:
        """Memory held by the table's arrays."""
        return sum(a.nbytes for a in (self.node_row, self.rep, self.secs, self.dist10) if a is not None)

    def row(self, node: int) -> tuple[np.ndarray, np.ndarray | None]:
        """(seconds to every resource, ``inf`` where unreachable; metres or None) from ``node``'s cell."""
        r = int(self.node_row[node])
        raw = self.secs[r]
        secs = np.where(raw == UNREACHABLE, np.inf, raw.astype(np.float64))
        dist = None if self.dist10 is None else self.dist10[r].astype(np.float64) * 10.0
        return secs, dist

    def representative(self, node: int) -> int:
        """The representative node of ``node``'s cell (where the row's times are measured from)."""
        return int(self.rep[self.node_row[node]])

    @classmethod
    def build(
        cls,
        graph: CompiledGraph,
        nodes: np.ndarray,
        offsets_s: np.ndarray,
        *,
        cell_m: float = DEFAULT_CELL_M,
        with_lengths: bool,
        budget_bytes: int | None = None,
        progress: bool = False,
        previous: tuple[CellTable, np.ndarray, np.ndarray] | None = None,
    ) -> CellTable:
        """One full reverse Dijkstra per resource, read at the cells' representative nodes.

        Parameters
        ----------
        graph
            Compiled graph.
        nodes
            Node of each resource (``-1`` = off the network: never reachable).
        offsets_s
            Snap-walk seconds of each resource (included in its column).
        cell_m
            Cell size; grown (×1.25 steps) while the table would exceed ``budget_bytes``.
        with_lengths
            Also store fastest-path lengths (needed when speed varies by edge).
        budget_bytes
            Memory cap for ``secs`` + ``dist10`` (``None``: no cap).
        progress
            Show a tqdm bar.
        previous
            ``(table, nodes, offsets_s)`` of an earlier build on the same graph: columns of resources
            with the same node and snap walk are copied instead of searched again (the API re-sets its
            resources after every edit; one new resource then costs one search, not hundreds).
        """
        nodes = np.asarray(nodes, dtype=np.int64)
        offsets_s = np.asarray(offsets_s, dtype=np.float64)
        per_entry = 4 if with_lengths else 2
        node_row, rep = _cells(graph, cell_m)
        while budget_bytes is not None and rep.size * nodes.size * per_entry > budget_bytes and rep.size > 1:
            cell_m *= 1.25
            node_row, rep = _cells(graph, cell_m)
        n_rows, n_res = int(rep.size), int(nodes.size)
        secs = np.full((n_rows, n_res), UNREACHABLE, dtype=np.uint16)
        dist10 = np.zeros((n_rows, n_res), dtype=np.uint16) if with_lengths else None
        valid = np.flatnonzero(nodes >= 0)
        reused = 0
        if previous is not None:
            old, old_nodes, old_offsets = previous
            if old.cell_m == cell_m and np.array_equal(old.rep, rep) and (old.dist10 is None) == (not with_lengths):
                column = {
                    (int(n), round(float(o), 3)): i
                    for i, (n, o) in enumerate(zip(np.asarray(old_nodes), np.asarray(old_offsets), strict=True))
                    if n >= 0
                }
                todo = []
                for j in valid.tolist():
                    i = column.get((int(nodes[j]), round(float(offsets_s[j]), 3)))
                    if i is None:
                        todo.append(j)
                        continue
                    secs[:, j] = old.secs[:, i]
                    if with_lengths:
                        dist10[:, j] = old.dist10[:, i]
                reused = valid.size - len(todo)
                valid = np.asarray(todo, dtype=np.int64)
        chunk = max(1, min(64, _CHUNK_CELLS // max(graph.n_nodes, 1)))
        bar = tqdm(total=valid.size, desc=f"{graph.mode} cell table", unit="res", disable=not progress, leave=False)
        for start in range(0, valid.size, chunk):
            res = valid[start : start + chunk]
            out = dijkstra(
                graph.csr_t, directed=True, indices=nodes[res], limit=float(MAX_S), return_predecessors=with_lengths
            )
            dist, pred = out if with_lengths else (out, None)
            at_rep = np.atleast_2d(dist)[:, rep] + offsets_s[res][:, None]  # (chunk, rows)
            ok = at_rep <= MAX_S
            block = np.full(at_rep.shape, UNREACHABLE, dtype=np.uint16)
            block[ok] = np.ceil(at_rep[ok] - 1e-9).astype(np.uint16)
            secs[:, res] = block.T
            if with_lengths:
                lengths = tree_lengths(graph, np.atleast_2d(pred), reverse=True)[:, rep]
                dist10[:, res] = np.clip(np.rint(lengths / 10.0), 0, 65_535).astype(np.uint16).T
            bar.update(res.size)
        bar.close()
        table = cls(cell_m=float(cell_m), node_row=node_row, rep=rep, secs=secs, dist10=dist10)
        table.reused_columns = reused
        log.info(
            "%s cell table: %d cells of %.0f m × %d resources (%d columns reused), %.1f MB",
            graph.mode,
            n_rows,
            cell_m,
            n_res,
            reused,
            table.nbytes / 2**20,
        )
        return table

    def save(self, path: Path) -> None:
        """Write the table as an uncompressed ``.npz``."""
        extra = {} if self.dist10 is None else {"dist10": self.dist10}
        save_npz(
            path,
            kind=np.array(self.kind),
            cell_m=np.array(self.cell_m),
            node_row=self.node_row,
            rep=self.rep,
            secs=self.secs,
            **extra,
        )

    @classmethod
    def load(cls, path: Path) -> CellTable:
        """Read a table written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            if str(data["kind"]) != cls.kind:
                msg = f"{path} is not a cell table"
                raise ValueError(msg)
            return cls(
                cell_m=float(data["cell_m"]),
                node_row=data["node_row"],
                rep=data["rep"],
                secs=data["secs"],
                dist10=data["dist10"] if "dist10" in data else None,
            )
