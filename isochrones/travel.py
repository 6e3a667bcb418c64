"""Shortest-path queries on compiled graphs with ``scipy.sparse.csgraph.dijkstra`` (no networkx).

* :func:`search` — one bounded Dijkstra, forward (times *from* a node) or on the reversed graph
  (times from every node *to* it); :func:`search_reached` — the same answer as (nodes, seconds), searched
  on a Euclidean-disk sub-graph when that is a small share of the graph (:mod:`isochrones.subgraph`).
* :func:`nearest_times` — for every node the time to the nearest of a set of targets in ONE pass:
  a virtual super-source joined to every target by its snap-walk time, searched on the reverse graph.
* :class:`ResourceTable` — the precomputed node × resource travel-time table behind ``nearby``:
  one bounded reverse Dijkstra per resource, stored node-major (CSR) so a worker's query is a single
  row read. Seconds are kept as ``uint16`` deciseconds rounded *up* (so ``t ≤ limit`` tests agree with a
  fresh search), resource columns as ``uint16`` and — for modes whose speed varies by edge (car) —
  the network length of each fastest path in 10 m units.
* :func:`tree_lengths` — metre lengths along shortest-path trees by pointer doubling (vectorised).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, overload

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from tqdm.auto import tqdm

from isochrones.graph import CompiledGraph
from isochrones.storage import StoredArray, open_npz, save_npz

log = logging.getLogger(__name__)

TABLE_MAX_S = 6500.0  # uint16 deciseconds hold up to 6553.5 s
TABLE_BUDGET_BYTES = 128 * 2**20  # per mode: keeps a city-scale engine with four modes under 1 GiB
_LIMIT_STEPS_MIN = (60, 50, 45, 40, 35, 30, 25, 20, 15, 12, 10, 8, 6, 5)
_CHUNK_CELLS = 8_000_000  # sources per Dijkstra batch x nodes (a 64 MB float64 block)


@overload
def search(
    graph: CompiledGraph, node: int, *, limit_s: float, reverse: bool = False, predecessors: Literal[False] = False
) -> np.ndarray: ...
@overload
def search(
    graph: CompiledGraph, node: int, *, limit_s: float, reverse: bool = False, predecessors: Literal[True]
) -> tuple[np.ndarray, np.ndarray]: ...
def search(
    graph: CompiledGraph,
    node: int,
    *,
    limit_s: float,
    reverse: bool = False,
    predecessors: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Bounded single-source Dijkstra.

    Parameters
    ----------
    graph
        Compiled graph.
    node
        Source node index.
    limit_s
        Stop at this many seconds (nodes beyond are ``inf``).
    reverse
        Search the reversed graph: the result is the time from every node *to* ``node``.
    predecessors
        Also return the predecessor tree (``-9999`` for none).

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, numpy.ndarray)
        Seconds per node (``inf`` where unreached), and optionally predecessors.
    """
    mat = graph.csr_t if reverse else graph.csr
    if limit_s < 0:
        dist = np.full(graph.n_nodes, np.inf)
        return (dist, np.full(graph.n_nodes, -9999, np.int32)) if predecessors else dist
    # scipy-stubs type dijkstra's ``indices`` as an array only; scipy takes one index (and answers in 1-D)
    if predecessors:
        return dijkstra(  # type: ignore[call-overload]
            mat, directed=True, indices=int(node), limit=float(limit_s), return_predecessors=True
        )
    return dijkstra(mat, directed=True, indices=int(node), limit=float(limit_s))  # type: ignore[call-overload]


def search_reached(
    graph: CompiledGraph, node: int, *, limit_s: float, reverse: bool = False, use_disk: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Every node reached within ``limit_s`` and its seconds: :func:`search`'s answer, as a sparse pair.

    Searches the Euclidean-disk sub-graph of :mod:`isochrones.subgraph` when that disk is a small share
    of the graph (same answer, without scipy's O(N) set-up), else the whole graph.

    Parameters
    ----------
    graph
        Compiled graph.
    node
        Source node index.
    limit_s
        Time budget in seconds (negative: nothing is reached).
    reverse
        Search the reversed graph (times from every node *to* ``node``).
    use_disk
        Allow the disk sub-graph (``False`` forces the full-graph search, e.g. as a reference).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Ascending node indices (int64) and float64 seconds.
    """
    if limit_s < 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    if use_disk and np.isfinite(limit_s):
        found = graph.disk.search(int(node), limit_s=float(limit_s), reverse=reverse)
        if found is not None:
            return found
    dist = search(graph, node, limit_s=limit_s, reverse=reverse)
    hit = np.flatnonzero(np.isfinite(dist))
    return hit.astype(np.int64), dist[hit]


def tree_lengths(graph: CompiledGraph, pred: np.ndarray, *, reverse: bool) -> np.ndarray:
    """Network metres from the root(s) of shortest-path trees to every node (vectorised pointer doubling).

    Parameters
    ----------
    graph
        The graph the trees were computed on.
    pred
        Predecessor array(s) from :func:`search` / ``dijkstra`` (1-D or ``(k, n)``), ``-9999`` = none.
    reverse
        The trees were grown on the reversed graph.

    Returns
    -------
    numpy.ndarray
        float64 metres, same shape as ``pred`` (0 at roots and unreached nodes).
    """
    shape = pred.shape
    n = graph.n_nodes
    flat = pred.reshape(-1).astype(np.int64)
    pos = np.arange(flat.size, dtype=np.int64)
    has = flat >= 0
    row_base = (pos // n) * n
    jump = np.where(has, row_base + flat, pos)
    length = np.zeros(flat.size, dtype=np.float64)
    length[has] = graph.edge_lengths(flat[has], pos[has] % n, reverse=reverse)
    while True:
        nxt = jump[jump]
        if np.array_equal(nxt, jump):
            break
        length += length[jump]
        jump = nxt
    return length.reshape(shape)


def nearest_times(
    graph: CompiledGraph, nodes: np.ndarray, offsets_s: np.ndarray | None = None, *, limit_s: float | None = None
) -> np.ndarray:
    """Seconds from every node to the nearest of ``nodes`` (plus its offset), in ONE Dijkstra pass.

    A virtual node is appended to the reversed graph with an edge to each target weighted by the
    target's offset (its snap walk); one search from it gives, for every node, the minimum over targets
    of (time to the target's node + offset) — the same answer as ``dijkstra(indices=nodes,
    min_only=True)`` when all offsets are zero, which is what is used then.

    Parameters
    ----------
    graph
        Compiled graph.
    nodes
        Target node indices (duplicates allowed).
    offsets_s
        Extra seconds per target (default 0).
    limit_s
        Stop the search at this many seconds (scipy's ``limit``): the same answer up to it, ``inf``
        beyond. At a 30-minute planning limit the pass visits a fraction of a city-scale graph.
        ``None``: the whole graph.

    Returns
    -------
    numpy.ndarray
        float64 seconds per node, ``inf`` where no target is reachable (within ``limit_s``).
    """
    nodes = np.asarray(nodes, dtype=np.int64)
    n = graph.n_nodes
    if nodes.size == 0:
        return np.full(n, np.inf)
    limit = np.inf if limit_s is None else float(limit_s)
    if offsets_s is None or not np.any(np.asarray(offsets_s) > 0):
        return dijkstra(graph.csr_t, directed=True, indices=np.unique(nodes), min_only=True, limit=limit)
    off = np.asarray(offsets_s, dtype=np.float64)
    best = np.full(n, np.inf)
    np.minimum.at(best, nodes, off)
    targets = np.flatnonzero(np.isfinite(best))
    ip, ix, sec, _ = graph.search_arrays(reverse=True)
    indptr = np.concatenate([ip, [ip[-1] + targets.size]]).astype(np.int32)
    indices = np.concatenate([ix, targets.astype(np.int32)])
    data = np.concatenate([sec, np.maximum(best[targets], 1e-3)])
    mat = csr_matrix((n + 1, n + 1), dtype=np.float64)
    mat.data, mat.indices, mat.indptr = data, indices, indptr
    # scipy-stubs type dijkstra's ``indices`` as an array only; scipy takes one index (and answers in 1-D)
    return dijkstra(mat, directed=True, indices=n, limit=limit)[:n]  # type: ignore[call-overload]


def estimate_table_bytes(
    graph: CompiledGraph,
    nodes: np.ndarray,
    offsets_s: np.ndarray,
    *,
    limit_s: float,
    with_lengths: bool,
    sample: int = 12,
    seed: int = 0,
) -> float:
    """Predicted size (bytes) of the exact :class:`ResourceTable` at ``limit_s``, from a few searches.

    Runs bounded reverse searches from ``sample`` random resources (Euclidean-disk sub-graphs where
    small) and scales their mean reach to all resources. Cheap next to building the table.
    """
    nodes = np.asarray(nodes, dtype=np.int64)
    offsets_s = np.asarray(offsets_s, dtype=np.float64)
    valid = np.flatnonzero(nodes >= 0)
    if valid.size == 0:
        return 0.0
    pick = np.random.default_rng(seed).choice(valid, min(sample, valid.size), replace=False)
    reached = [search_reached(graph, int(nodes[k]), limit_s=limit_s - offsets_s[k], reverse=True)[0].size for k in pick]
    entry = (2 if valid.size < 65_535 else 4) + 2 + (2 if with_lengths else 0)
    return float(np.mean(reached)) * valid.size * entry + 8.0 * (graph.n_nodes + 1)


def _fit_limit(dist: np.ndarray, limit_s: float, bytes_per_entry_all: float, budget_bytes: int) -> float:
    """Largest step limit ≤ ``limit_s`` whose predicted table size (from a sample of searches) fits."""
    steps = [limit_s] + [m * 60.0 for m in _LIMIT_STEPS_MIN if m * 60.0 < limit_s]
    for cand in steps:
        per_source = float(np.count_nonzero(dist <= cand)) / dist.shape[0]
        if per_source * bytes_per_entry_all <= budget_bytes:
            if cand < limit_s:
                log.info("nearby table limit lowered to %.0f min to stay within %d MiB", cand / 60, budget_bytes >> 20)
            return cand
    return steps[-1]


@dataclass
class ResourceTable:
    """Node-major table of travel times from nodes to resources (see the module docstring).

    Row ``i`` lists the resources reachable from node ``i`` within ``limit_s`` (times include each
    resource's snap walk but not the querying point's). A loaded table's arrays are
    :class:`isochrones.storage.StoredArray` views: a row is read from the file (a few ``preadv``
    calls), nothing of the table is held in memory.
    """

    limit_s: float
    indptr: np.ndarray | StoredArray  # int64 (n + 1)
    cols: np.ndarray | StoredArray  # uint16/uint32 resource positions
    deci: np.ndarray | StoredArray  # uint16 deciseconds, rounded up
    dist10: np.ndarray | StoredArray | None  # uint16 network length in 10 m units (variable-speed modes only)

    kind = "nodes"

    @property
    def nbytes(self) -> int:
        """Size of the table's arrays (on disk; a loaded table holds none of it in memory)."""
        return sum(a.nbytes for a in (self.indptr, self.cols, self.deci, self.dist10) if a is not None)

    def row(self, node: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(resource positions, seconds, network metres or None) reachable from ``node``."""
        a, b = (int(v) for v in self.indptr[int(node) : int(node) + 2])
        dist = None if self.dist10 is None else self.dist10[a:b].astype(np.float64) * 10.0
        return self.cols[a:b], self.deci[a:b].astype(np.float64) / 10.0, dist

    @classmethod
    def build(
        cls,
        graph: CompiledGraph,
        nodes: np.ndarray,
        offsets_s: np.ndarray,
        *,
        limit_s: float,
        with_lengths: bool,
        progress: bool = False,
        budget_bytes: int = TABLE_BUDGET_BYTES,
    ) -> ResourceTable:
        """One bounded reverse Dijkstra per resource, collected into a node-major CSR.

        Parameters
        ----------
        graph
            Compiled graph.
        nodes
            Node of each resource (``-1`` = off the network: never reachable).
        offsets_s
            Snap-walk seconds of each resource (added to its column).
        limit_s
            Search bound (≤ :data:`TABLE_MAX_S`); ``nearby`` beyond it falls back to a fresh search.
        with_lengths
            Also store fastest-path lengths (needed when speed varies by edge).
        progress
            Show a tqdm bar.
        budget_bytes
            Memory cap: if the first batch of searches predicts a bigger table, ``limit_s`` is lowered
            to the largest of 60, 50, 45, ... 5 minutes that fits (longer queries use a fresh search).
        """
        limit_s = float(min(limit_s, TABLE_MAX_S))
        n = graph.n_nodes
        nodes = np.asarray(nodes, dtype=np.int64)
        offsets_s = np.asarray(offsets_s, dtype=np.float64)
        valid = np.flatnonzero(nodes >= 0)
        col_dtype = np.uint16 if nodes.size < 65_535 else np.uint32
        chunk = max(1, min(64, _CHUNK_CELLS // max(n, 1)))
        rows_l, cols_l, deci_l, dist_l = [], [], [], []
        bar = tqdm(total=valid.size, desc=f"{graph.mode} table", unit="res", disable=not progress, leave=False)
        entry_bytes = np.dtype(col_dtype).itemsize + 2 + (2 if with_lengths else 0)
        for start in range(0, valid.size, chunk):
            res = valid[start : start + chunk]
            pred = None
            if with_lengths:
                dist, pred = dijkstra(
                    graph.csr_t, directed=True, indices=nodes[res], limit=limit_s, return_predecessors=True
                )
            else:
                dist = dijkstra(graph.csr_t, directed=True, indices=nodes[res], limit=limit_s)
            dist = np.atleast_2d(dist) + offsets_s[res][:, None]
            if start == 0:
                limit_s = _fit_limit(dist, limit_s, valid.size * entry_bytes, budget_bytes)
            r_idx, node_idx = np.nonzero(dist <= limit_s)
            rows_l.append(node_idx.astype(np.int32))
            cols_l.append(res[r_idx].astype(col_dtype))
            deci_l.append(np.ceil(dist[r_idx, node_idx] * 10.0 - 1e-6).astype(np.uint16))
            if pred is not None:
                lengths = tree_lengths(graph, np.atleast_2d(pred), reverse=True)
                dist_l.append(np.clip(np.rint(lengths[r_idx, node_idx] / 10.0), 0, 65_535).astype(np.uint16))
            bar.update(res.size)
        bar.close()
        rows = np.concatenate(rows_l) if rows_l else np.zeros(0, np.int32)
        order = np.argsort(rows, kind="stable")
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        cols = np.concatenate(cols_l)[order] if cols_l else np.zeros(0, col_dtype)
        deci = np.concatenate(deci_l)[order] if deci_l else np.zeros(0, np.uint16)
        dist10 = (np.concatenate(dist_l)[order] if dist_l else np.zeros(0, np.uint16)) if with_lengths else None
        table = cls(limit_s=limit_s, indptr=indptr, cols=cols, deci=deci, dist10=dist10)
        log.info("%s resource table: %d entries, %.1f MB", graph.mode, cols.size, table.nbytes / 2**20)
        return table

    def save(self, path: Path) -> None:
        """Write the table as an uncompressed ``.npz``."""
        extra = {} if self.dist10 is None else {"dist10": self.dist10}
        save_npz(
            path,
            kind=np.array(self.kind),
            limit_s=np.array(self.limit_s),
            indptr=self.indptr,
            cols=self.cols,
            deci=self.deci,
            **extra,
        )

    @classmethod
    def load(cls, path: Path) -> ResourceTable:
        """Open a table written by :meth:`save`: rows are read from the file on demand (see the class)."""
        data = open_npz(path)
        if "kind" in data and str(data["kind"]) != cls.kind:
            msg = f"{path} is not a node table"
            raise ValueError(msg)
        return cls(
            limit_s=float(np.asarray(data["limit_s"])),
            indptr=data["indptr"],
            cols=data["cols"],
            deci=data["deci"],
            dist10=data.get("dist10"),
        )
