"""Dense node × resource travel-time table behind ``nearby`` for modes that reach most of the city.

A car's 30-minute reach covers most of a city-scale graph, so the sparse node table of
:class:`isochrones.travel.ResourceTable` would spend 2–4 bytes per entry on a resource column it does
not need, and a fresh search costs ~100 ms. This table keeps every node × resource time instead:

* ``deci[n, r]`` is the time from node ``n`` to resource ``r`` (its snap walk included) in deciseconds,
  rounded *up* (``uint16``; :data:`UNREACHABLE` beyond :data:`MAX_S`), from ONE reverse Dijkstra per
  resource over the whole graph; ``dist10[n, r]`` the network length of that fastest path in 10 m
  units, for modes whose speed varies by edge.
* A query snaps the worker to node ``n`` (exact walk) and reads row ``n``: the same answer as a fresh
  Dijkstra from ``n``, to 0.1 s (tested against networkx on every mode, next to one-way streets too).
  Queries longer than :data:`MAX_S` fall back to a fresh search.

Memory: nodes × resources × 2 bytes (×2 with lengths): 268k nodes × 450 resources × 4 B ≈ 460 MiB
*on disk*. Cached tables are not loaded: a query reads its row (≈ 2 × 900 bytes) from the file with
``preadv`` (:class:`isochrones.storage.StoredArray`), so the table adds nothing to a worker's resident
memory; the rows read stay in the operating system's page cache, shared by every worker and
reclaimable. (Mapping the file instead put ~1 MiB of RSS per row read: the kernel maps the whole
large folio around a faulting page.) Building holds the table in memory once (``skillcircle build``,
or a worker re-setting its resources after an edit, which then serves the file it wrote).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.sparse.csgraph import dijkstra
from tqdm.auto import tqdm

from isochrones.graph import CompiledGraph
from isochrones.storage import StoredArray, open_npz, save_npz
from isochrones.travel import tree_lengths

log = logging.getLogger(__name__)

MAX_S = 6500.0  # uint16 deciseconds hold up to 6553.4 s; 65535 marks "unreachable"
UNREACHABLE = np.uint16(65_535)
_CHUNK_CELLS = 8_000_000  # sources per Dijkstra batch × nodes (a 64 MB float64 block)


@dataclass
class DenseTable:
    """Times from every node to every resource (module docstring).

    Attributes
    ----------
    deci
        ``(nodes, resources)`` uint16 deciseconds, rounded up; :data:`UNREACHABLE` where none. An array
        (just built) or a :class:`isochrones.storage.StoredArray` (loaded: rows read on demand).
    dist10
        ``(nodes, resources)`` uint16 fastest-path length in 10 m units, or ``None`` (constant speed).
    """

    deci: np.ndarray | StoredArray
    dist10: np.ndarray | StoredArray | None

    #: Longest query the table answers (longer ones run a fresh search).
    limit_s = MAX_S
    kind = "dense"
    #: Columns copied from a previous build (see :meth:`build`); 0 for loaded or fresh tables.
    reused_columns = 0

    @property
    def nbytes(self) -> int:
        """Size of the table's arrays (on disk; a loaded table holds none of it in memory)."""
        return sum(a.nbytes for a in (self.deci, self.dist10) if a is not None)

    def row(self, node: int) -> tuple[np.ndarray, np.ndarray | None]:
        """(seconds to every resource, ``inf`` where unreachable; metres or None) from ``node``."""
        raw = self.deci[int(node)]
        secs = np.where(raw == UNREACHABLE, np.inf, raw.astype(np.float64) / 10.0)
        dist = None if self.dist10 is None else self.dist10[int(node)].astype(np.float64) * 10.0
        return secs, dist

    @classmethod
    def build(
        cls,
        graph: CompiledGraph,
        nodes: np.ndarray,
        offsets_s: np.ndarray,
        *,
        with_lengths: bool,
        progress: bool = False,
        previous: tuple[DenseTable, np.ndarray, np.ndarray] | None = None,
    ) -> DenseTable:
        """One reverse Dijkstra per resource (bounded by :data:`MAX_S`), written column block by block.

        Parameters
        ----------
        graph
            Compiled graph.
        nodes
            Node of each resource (``-1`` = off the network: never reachable).
        offsets_s
            Snap-walk seconds of each resource (included in its column).
        with_lengths
            Also store fastest-path lengths (needed when speed varies by edge).
        progress
            Show a tqdm bar.
        previous
            ``(table, nodes, offsets_s)`` of an earlier build on the same graph: columns of resources
            with the same node and snap walk are copied instead of searched again (the API re-sets its
            resources after every edit; one new resource then costs one search, not hundreds).
        """
        nodes = np.asarray(nodes, dtype=np.int64)
        offsets_s = np.asarray(offsets_s, dtype=np.float64)
        n, n_res = graph.n_nodes, int(nodes.size)
        deci = np.full((n, n_res), UNREACHABLE, dtype=np.uint16)
        dist10 = np.zeros((n, n_res), dtype=np.uint16) if with_lengths else None
        valid = np.flatnonzero(nodes >= 0)
        reused = 0
        if previous is not None:
            old, old_nodes, old_offsets = previous
            if old.deci.shape[0] == n and (old.dist10 is None) == (not with_lengths):
                column = {
                    (int(a), round(float(o), 3)): i
                    for i, (a, o) in enumerate(zip(np.asarray(old_nodes), np.asarray(old_offsets), strict=True))
                    if a >= 0
                }
                todo, src, dst = [], [], []
                for j in valid.tolist():
                    i = column.get((int(nodes[j]), round(float(offsets_s[j]), 3)))
                    if i is None:
                        todo.append(j)
                    else:
                        src.append(i)
                        dst.append(j)
                _copy_columns(old.deci, deci, src, dst)
                if dist10 is not None and old.dist10 is not None:  # both or neither (checked above)
                    _copy_columns(old.dist10, dist10, src, dst)
                reused = len(dst)
                valid = np.asarray(todo, dtype=np.int64)
        chunk = max(1, min(64, _CHUNK_CELLS // max(n, 1)))
        bar = tqdm(total=valid.size, desc=f"{graph.mode} dense table", unit="res", disable=not progress, leave=False)
        for start in range(0, valid.size, chunk):
            res = valid[start : start + chunk]
            pred = None
            if dist10 is not None:
                dist, pred = dijkstra(
                    graph.csr_t, directed=True, indices=nodes[res], limit=MAX_S, return_predecessors=True
                )
            else:
                dist = dijkstra(graph.csr_t, directed=True, indices=nodes[res], limit=MAX_S)
            secs = np.atleast_2d(dist) + offsets_s[res][:, None]  # (chunk, nodes)
            ok = secs <= MAX_S
            block = np.full(secs.shape, UNREACHABLE, dtype=np.uint16)
            block[ok] = np.ceil(secs[ok] * 10.0 - 1e-6).astype(np.uint16)
            deci[:, res] = block.T
            if dist10 is not None and pred is not None:
                lengths = tree_lengths(graph, np.atleast_2d(pred), reverse=True)
                dist10[:, res] = np.clip(np.rint(lengths / 10.0), 0, 65_534).astype(np.uint16).T
            bar.update(res.size)
        bar.close()
        table = cls(deci=deci, dist10=dist10)
        table.reused_columns = reused
        log.info(
            "%s dense table: %d nodes × %d resources (%d columns reused), %.1f MB",
            graph.mode,
            n,
            n_res,
            reused,
            table.nbytes / 2**20,
        )
        return table

    def save(self, path: Path) -> None:
        """Write the table as an uncompressed ``.npz`` (read row by row after :meth:`load`)."""
        extra = {} if self.dist10 is None else {"dist10": self.dist10}
        save_npz(path, kind=np.array(self.kind), deci=self.deci, **extra)

    @classmethod
    def load(cls, path: Path) -> DenseTable:
        """Open a table written by :meth:`save`: rows are read from the file on demand (module docstring)."""
        data = open_npz(path)
        if str(data["kind"]) != cls.kind:
            msg = f"{path} is not a dense table"
            raise ValueError(msg)
        return cls(deci=data["deci"], dist10=data.get("dist10"))


def _copy_columns(old: np.ndarray | StoredArray, new: np.ndarray, src: list[int], dst: list[int]) -> None:
    """``new[:, dst] = old[:, src]``, reading ``old`` in row blocks (a stored table is never read whole)."""
    if not dst:
        return
    src_a, dst_a = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
    step = max(1, (32 << 20) // max(old.shape[1] * old.dtype.itemsize, 1))
    for start in range(0, old.shape[0], step):
        block = old[start : start + step]
        new[start : start + block.shape[0], dst_a] = block[:, src_a]
