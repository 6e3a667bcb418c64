"""The table behind ``nearby``: one per mode, chosen, built and cached for the engine's resources.

A mode's table is the sparse node × resource table (:class:`isochrones.travel.ResourceTable`) when it
fits the memory budget at the mode's table minutes, else the dense one (:mod:`isochrones.densetable`),
for modes that reach most of the city like the car. Both are exact. Tables are cached as files under the
engine's cache folder, keyed by everything they depend on (graph hash, the resources' snapped nodes and
walks, the minutes, kind and budget), and served from those files (:class:`isochrones.storage.StoredArray`):
they add nothing to a worker's resident memory. One mode keeps one file: older ones are removed.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Literal

import numpy as np

from isochrones.densetable import DenseTable
from isochrones.graph import CompiledGraph
from isochrones.snap import Snap
from isochrones.travel import ResourceTable, estimate_table_bytes

log = logging.getLogger(__name__)

TableKind = Literal["auto", "nodes", "dense"]
TABLE_KINDS: tuple[TableKind, ...] = ("auto", "nodes", "dense")


def load_table(path: Path) -> ResourceTable | DenseTable:
    """Read a cached nearby() table of either kind (files record their kind)."""
    with np.load(path, allow_pickle=False) as data:
        kind = str(data["kind"]) if "kind" in data else ResourceTable.kind
    return DenseTable.load(path) if kind == DenseTable.kind else ResourceTable.load(path)


def nearby_table(
    graph: CompiledGraph,
    snap: Snap,
    *,
    mode: str,
    limit_s: float,
    kind: TableKind,
    budget_bytes: int,
    cache_dir: Path | None,
    progress: bool,
    previous: tuple[DenseTable, np.ndarray, np.ndarray] | None = None,
) -> ResourceTable | DenseTable:
    """The mode's nearby() table: from the cache when its key matches, else built (and cached).

    Parameters
    ----------
    graph, snap
        The mode's compiled graph and the resources' snaps to it.
    mode
        The travel mode (names the cache file).
    limit_s
        Seconds the table covers (a sparse table's bound; a dense table covers every node).
    kind
        ``"auto"`` (the sparse table when it fits ``budget_bytes``, else dense), ``"nodes"`` or ``"dense"``.
    budget_bytes
        Memory budget of the sparse table.
    cache_dir
        Where the table file is kept (``None``: built in memory, not cached).
    progress
        Show progress bars while building.
    previous
        The current dense table with its resources' snaps: a rebuild after a resource edit copies the
        unchanged resources' columns from it (and keeps the dense kind).
    """
    with_len = "speed_mps" not in graph.meta
    key = hashlib.blake2b(digest_size=12)
    key.update(f"v3|{graph.content_hash}|{limit_s}|{with_len}|{kind}|{budget_bytes}".encode())
    key.update(snap.node.tobytes())
    key.update(np.round(snap.walk_s, 3).tobytes())
    path = cache_dir / f"{mode}-{key.hexdigest()}.npz" if cache_dir else None
    if path is not None and path.is_file():
        try:
            return load_table(path)
        except (OSError, ValueError, KeyError):
            log.warning("rebuilding unreadable table cache %s", path)
    if kind == "auto" and previous is not None:
        kind = "dense"  # a re-set after an edit keeps the kind (and reuses the unchanged columns)
    if kind == "auto":
        size = estimate_table_bytes(graph, snap.node, snap.walk_s, limit_s=limit_s, with_lengths=with_len)
        kind = "nodes" if size <= budget_bytes else "dense"
        log.info("%s: exact nearby table ≈ %.0f MiB at %.0f min → %s table", mode, size / 2**20, limit_s / 60, kind)
    table: ResourceTable | DenseTable
    if kind == "dense":
        table = DenseTable.build(
            graph, snap.node, snap.walk_s, with_lengths=with_len, progress=progress, previous=previous
        )
    else:
        table = ResourceTable.build(
            graph,
            snap.node,
            snap.walk_s,
            limit_s=limit_s,
            with_lengths=with_len,
            progress=progress,
            budget_bytes=budget_bytes,
        )
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            for old in path.parent.glob(f"{mode}-*.npz"):
                old.unlink(missing_ok=True)  # another worker may have removed it already
            table.save(path)
            reused = table.reused_columns if isinstance(table, DenseTable) else 0
            table = load_table(path)  # serve from the file: the built arrays are freed
            if isinstance(table, DenseTable):
                table.reused_columns = reused
        except OSError:
            log.warning("cannot cache nearby table at %s", path)
    return table
