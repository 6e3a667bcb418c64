"""A compiled per-mode graph: node coordinates plus CSR travel-time adjacency, saved to disk with a hash.

Compiling turns a :class:`geo.network.RoadNetwork` into flat numpy arrays that scipy's
``csgraph.dijkstra`` searches directly (no networkx on any hot path):

* ``node_id`` (OSM ids), ``lon``/``lat`` (WGS84) and ``x``/``y`` (metres in the city's UTM zone), nodes
  numbered in grid order (row-major by cells of ~12 nodes; ``meta["grid"]``) so that a neighbourhood
  is a few contiguous runs of indices (:mod:`isochrones.subgraph`);
* a CSR matrix of travel seconds (forward: row = from-node) and its transpose (row = to-node) for
  searches towards a point; each with the metre length of every edge alongside.

Only the largest weakly connected component of each mode is kept (clipped extracts leave fragments a
point could snap to and then reach nothing). Within it, ``snap_ok`` marks the largest *strongly*
connected component, restricted to nodes on ground-level ways (no tunnels, bridges or other layers:
:func:`geo.moderules.surface_ways`): the only nodes points are snapped to (:mod:`isochrones.snap`). With one-way
streets (bicycle, e-bike, car) a node in a one-way dead end can be entered but not left (or the
reverse), so a point snapped there would reach nothing or be reached by nobody; such nodes stay in
the graph (paths may still pass through them) but are never snap targets. For walking (both
directions everywhere) the strong component is the whole graph. Parallel edges are collapsed to the
fastest before the CSR is built, because ``scipy.sparse.csr_matrix`` would SUM duplicate entries.

Saved as an uncompressed ``.npz`` (loads in milliseconds) holding a BLAKE2b ``content_hash`` of the
arrays; :func:`load_graph` recomputes and checks it. ``meta`` also records ``euclid_mps``, the largest
straight-line speed of any edge (the disk-search bound).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse import csr_matrix

from geo.errors import NetworkNotBuiltError
from geo.moderules import DEFAULT_WALK_KMH, mode_edges
from geo.network import RoadNetwork, largest_component
from isochrones.storage import StoredArray, load_npz, open_npz, save_npz
from isochrones.subgraph import DiskSearcher, euclid_speed, grid_keys, grid_layout

if TYPE_CHECKING:
    import networkx as nx
    from pyproj import Transformer

log = logging.getLogger(__name__)

FORMAT_VERSION = 3  # 2: snap_ok (largest strongly connected component); 3: the rules of geo.moderules
_MIN_SECONDS = 1e-3  # csgraph would treat a zero-weight edge as missing
_ARRAYS = (
    "node_id",
    "lon",
    "lat",
    "x",
    "y",
    "indptr",
    "indices",
    "seconds",
    "length_m",
    "t_indptr",
    "t_indices",
    "t_seconds",
    "t_length_m",
    "snap_ok",
)


def utm_crs(lon: float, lat: float) -> str:
    """The EPSG code (``"EPSG:326zz"`` / ``"EPSG:327zz"``) of the UTM zone containing (lon, lat)."""
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


@lru_cache(maxsize=32)
def transformer(src: str, dst: str) -> Transformer:
    """A cached pyproj transformer (building one costs about a millisecond; queries must not pay it)."""
    from pyproj import Transformer

    return Transformer.from_crs(src, dst, always_xy=True)


def project(lon: np.ndarray, lat: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 → ``crs`` metres (vectorised)."""
    x, y = transformer("EPSG:4326", crs).transform(np.asarray(lon, np.float64), np.asarray(lat, np.float64))
    return np.asarray(x, np.float64), np.asarray(y, np.float64)


def unproject(x: np.ndarray, y: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """``crs`` metres → WGS84 (vectorised)."""
    lon, lat = transformer(crs, "EPSG:4326").transform(np.asarray(x, np.float64), np.asarray(y, np.float64))
    return np.asarray(lon, np.float64), np.asarray(lat, np.float64)


@dataclass(eq=False)
class CompiledGraph:
    """One mode's routable graph as flat arrays (see the module docstring).

    Node *indices* (0..n-1) are what every query uses; ``node_id`` maps them back to OSM ids.
    ``snap_ok`` (bool per node) marks the snap targets: the largest strongly connected component.
    """

    mode: str
    crs: str
    source: str
    node_id: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    x: np.ndarray
    y: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    seconds: np.ndarray
    length_m: np.ndarray
    t_indptr: np.ndarray
    t_indices: np.ndarray
    t_seconds: np.ndarray
    t_length_m: np.ndarray
    snap_ok: np.ndarray
    content_hash: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.node_id.size)

    @property
    def snap_nodes(self) -> np.ndarray:
        """Indices of the nodes points may be snapped to (the largest strongly connected component)."""
        return np.flatnonzero(self.snap_ok)

    @property
    def n_edges(self) -> int:
        """Number of directed edges (after collapsing parallels)."""
        return int(self.indices.size)

    @cached_property
    def euclid_mps(self) -> float:
        """Largest straight-line speed of any edge (m/s): bounds how far a search can get in T seconds.

        Computed from the arrays on first use (the hash-checked data, not the metadata, since exactness
        rests on it); ``meta["euclid_mps"]`` records it for information. See :mod:`isochrones.subgraph`.
        A graph from :func:`load_graph` reads the same arrays from its file instead of through its maps
        (the pass touches every edge, and mapped pages, once touched, stay in the process's RSS).
        """
        stored = self.__dict__.pop("_stored", None)
        if stored is not None:
            return euclid_speed(stored["x"], stored["y"], stored["indptr"], stored["indices"], stored["seconds"])
        return euclid_speed(self.x, self.y, self.indptr, self.indices, self.seconds)

    @cached_property
    def disk(self) -> DiskSearcher:
        """Exact bounded searches on Euclidean-disk sub-graphs (:class:`isochrones.subgraph.DiskSearcher`)."""
        return DiskSearcher(self)

    @cached_property
    def csr(self) -> csr_matrix:
        """Forward travel-seconds matrix (row = from-node), shared memory with the arrays."""
        return _csr(self.seconds, self.indices, self.indptr, self.n_nodes)

    @cached_property
    def csr_t(self) -> csr_matrix:
        """Reverse travel-seconds matrix (row = to-node): searches give times *towards* a source."""
        return _csr(self.t_seconds, self.t_indices, self.t_indptr, self.n_nodes)

    def search_arrays(self, *, reverse: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(indptr, indices, seconds, length_m) of the forward or reverse CSR."""
        if reverse:
            return self.t_indptr, self.t_indices, self.t_seconds, self.t_length_m
        return self.indptr, self.indices, self.seconds, self.length_m

    def edge_sources(self, *, reverse: bool) -> np.ndarray:
        """Row (source) index of every CSR entry, in CSR order."""
        indptr = self.t_indptr if reverse else self.indptr
        return np.repeat(np.arange(self.n_nodes, dtype=np.int32), np.diff(indptr))

    def edge_lengths(self, src: np.ndarray, dst: np.ndarray, *, reverse: bool) -> np.ndarray:
        """Metre length of the edges ``src[i] → dst[i]`` of the forward (or reverse) CSR (vectorised).

        Every pair must be an edge (as in a shortest-path predecessor tree).
        """
        indptr, indices, _, length = self.search_arrays(reverse=reverse)
        key = self._edge_keys(reverse=reverse)
        pos = np.searchsorted(key, src.astype(np.int64) * self.n_nodes + dst)
        return length[np.minimum(pos, length.size - 1)]

    def _edge_keys(self, *, reverse: bool) -> np.ndarray:
        name = "_t_keys" if reverse else "_keys"
        keys = self.__dict__.get(name)
        if keys is None:
            indices = self.t_indices if reverse else self.indices
            keys = self.edge_sources(reverse=reverse).astype(np.int64) * self.n_nodes + indices
            self.__dict__[name] = keys
        return keys

    def to_networkx(self) -> nx.MultiDiGraph[int]:
        """A networkx MultiDiGraph with ``travel_time``/``length`` edges and x/y (metres) nodes (baselines)."""
        import networkx as nx

        graph: nx.MultiDiGraph[int] = nx.MultiDiGraph(crs=self.crs)
        graph.add_nodes_from((i, {"x": float(self.x[i]), "y": float(self.y[i])}) for i in range(self.n_nodes))
        src = self.edge_sources(reverse=False)
        graph.add_edges_from(
            (int(a), int(b), {"travel_time": float(s), "length": float(m)})
            for a, b, s, m in zip(src, self.indices, self.seconds, self.length_m, strict=True)
        )
        return graph


def _csr(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, n: int) -> csr_matrix:
    mat = csr_matrix((n, n), dtype=np.float64)
    mat.data, mat.indices, mat.indptr = data, indices, indptr  # no copy, no duplicate summing
    mat.has_sorted_indices = True
    return mat


def _build_csr(
    u: np.ndarray, v: np.ndarray, sec: np.ndarray, length: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CSR arrays of the edges (u → v), parallel edges collapsed to the fastest one."""
    key = u.astype(np.int64) * n + v
    order = np.lexsort((sec, key))
    key, u, v, sec, length = key[order], u[order], v[order], sec[order], length[order]
    first = np.ones(key.size, dtype=bool)
    first[1:] = key[1:] != key[:-1]
    u, v, sec, length = u[first], v[first], sec[first], length[first]
    indptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(u, minlength=n), out=indptr[1:])
    return indptr, v.astype(np.int32), np.maximum(sec, _MIN_SECONDS).astype(np.float64), length.astype(np.float32)


def strong_component(indptr: np.ndarray, indices: np.ndarray, n: int) -> np.ndarray:
    """Boolean mask of the largest strongly connected component of a CSR adjacency (ties: lowest label).

    Every node of it can reach, and be reached from, every other: the safe place to join a point to a
    directed network. Nodes without edges are never in it (unless the graph has no edges at all).

    Parameters
    ----------
    indptr, indices
        CSR structure of the directed edges (row = from-node).
    n
        Number of nodes.
    """
    from scipy.sparse.csgraph import connected_components

    if n == 0:
        return np.zeros(0, dtype=bool)
    if indices.size == 0:
        return np.ones(n, dtype=bool)
    adj = csr_matrix((np.ones(indices.size, dtype=np.int8), indices, indptr), shape=(n, n))
    _, labels = connected_components(adj, directed=True, connection="strong")
    return labels == int(np.argmax(np.bincount(labels)))


def compile_arrays(
    *,
    mode: str,
    lon: np.ndarray,
    lat: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    length_m: np.ndarray,
    speed_mps: np.ndarray,
    node_id: np.ndarray | None = None,
    crs: str | None = None,
    source: str = "",
    keep_largest: bool = True,
    surface: np.ndarray | None = None,
) -> CompiledGraph:
    """Compile directed edges over nodes (lon, lat) into a :class:`CompiledGraph`.

    Parameters
    ----------
    mode
        Travel mode name (recorded).
    lon, lat
        WGS84 coordinates of all candidate nodes.
    u, v, length_m, speed_mps
        Directed edges as node positions, with metres and metres/second.
    node_id
        External ids of the nodes (default: positions).
    crs
        Projected CRS for x/y (default: UTM zone of the nodes' centre).
    keep_largest
        Keep only the largest weakly connected component.
    surface
        Per edge, True when it is at ground level (default: all). Only nodes on a ground-level edge
        are snap targets.

    Notes
    -----
    The largest strongly connected component (restricted to nodes on ground-level edges) is computed
    here, once, and stored as ``snap_ok``.
    """
    n_all = int(np.asarray(lon).size)
    node_id = np.arange(n_all, dtype=np.int64) if node_id is None else np.asarray(node_id, np.int64)
    u = np.asarray(u, np.int64)
    v = np.asarray(v, np.int64)
    if keep_largest:
        keep = largest_component(n_all, u, v)
    else:
        keep = np.zeros(n_all, dtype=bool)
        keep[u] = True
        keep[v] = True
    kept = np.flatnonzero(keep)
    n = int(kept.size)
    lon_k = np.asarray(lon, np.float64)[kept]
    lat_k = np.asarray(lat, np.float64)[kept]
    if crs is None:
        crs = utm_crs(float(np.median(lon_k)) if n else 0.0, float(np.median(lat_k)) if n else 0.0)
    x, y = project(lon_k, lat_k, crs)
    # number the nodes in grid order (isochrones.subgraph): a neighbourhood is a few runs of indices
    layout = grid_layout(x, y)
    order = np.argsort(grid_keys(x, y, layout), kind="stable")
    kept, lon_k, lat_k, x, y = kept[order], lon_k[order], lat_k[order], x[order], y[order]
    new_index = np.full(n_all, -1, dtype=np.int64)
    new_index[kept] = np.arange(n)
    ok = keep[u] & keep[v]
    nu, nv = new_index[u[ok]], new_index[v[ok]]
    length = np.asarray(length_m, np.float64)[ok]
    sec = length / np.asarray(speed_mps, np.float64)[ok]
    fwd = _build_csr(nu, nv, sec, length, n)
    rev = _build_csr(nv, nu, sec, length, n)
    snap_ok = strong_component(fwd[0], fwd[1], n)
    if surface is not None:
        ground = np.zeros(n, dtype=bool)
        on = np.asarray(surface, dtype=bool)[ok]
        ground[nu[on]] = True
        ground[nv[on]] = True
        snap_ok &= ground
    graph = CompiledGraph(mode, crs, source, node_id[kept], lon_k, lat_k, x, y, *fwd, *rev, snap_ok)
    graph.meta["grid"] = layout
    graph.meta["snap_nodes"] = int(snap_ok.sum())
    speeds = np.asarray(speed_mps, np.float64)[ok]
    if speeds.size and np.ptp(speeds) < 1e-9:
        graph.meta["speed_mps"] = float(speeds[0])  # constant speed: network metres = seconds x speed
    graph.meta["euclid_mps"] = euclid_speed(x, y, fwd[0], fwd[1], fwd[2])
    graph.content_hash = content_hash(graph)
    log.info(
        "compiled %s graph: %d nodes (%d in the largest strongly connected component), %d edges",
        mode,
        graph.n_nodes,
        int(snap_ok.sum()),
        graph.n_edges,
    )
    return graph


def compile_graph(
    net: RoadNetwork, mode: str, *, speed_kmh: float, walk_kmh: float = DEFAULT_WALK_KMH
) -> CompiledGraph:
    """Compile one mode of a road network (rules in :mod:`geo.moderules`; bikes are pushed at ``walk_kmh``)."""
    edges = mode_edges(net, mode, speed_kmh=speed_kmh, walk_kmh=walk_kmh)
    return compile_arrays(
        mode=mode,
        lon=net.lon,
        lat=net.lat,
        u=edges.u,
        v=edges.v,
        length_m=edges.length_m,
        speed_mps=edges.speed_mps,
        surface=edges.surface,
        node_id=net.node_id,
        source=net.source,
    )


def content_hash(graph: CompiledGraph) -> str:
    """BLAKE2b-160 hex digest of the graph's arrays and CRS/mode (what makes two graphs route alike)."""
    return _hash_arrays(graph.mode, graph.crs, lambda name: getattr(graph, name))


def _hash_arrays(mode: str, crs: str, get: Callable[[str], np.ndarray | StoredArray]) -> str:
    h = hashlib.blake2b(digest_size=20)
    h.update(f"v{FORMAT_VERSION}|{mode}|{crs}".encode())
    for name in _ARRAYS:
        arr = get(name)
        if isinstance(arr, StoredArray):  # hashed from the file a chunk at a time (no copy kept)
            h.update(f"|{name}:{arr.dtype.str}:{arr.shape}".encode())
            for chunk in arr.chunks():
                h.update(chunk)
            continue
        arr = np.ascontiguousarray(arr)
        h.update(f"|{name}:{arr.dtype.str}:{arr.shape}".encode())
        h.update(arr.data.cast("B"))
    return h.hexdigest()


def save_graph(graph: CompiledGraph, path: Path) -> Path:
    """Write ``graph`` to ``path`` (``.npz``, uncompressed) with its content hash; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    graph.content_hash = content_hash(graph)
    meta = {
        "format": FORMAT_VERSION,
        "mode": graph.mode,
        "crs": graph.crs,
        "source": graph.source,
        "content_hash": graph.content_hash,
        **graph.meta,
    }
    return save_npz(path, meta=np.array(json.dumps(meta)), **{name: getattr(graph, name) for name in _ARRAYS})


def load_graph(path: Path, *, verify: bool = True, mmap: bool = True) -> CompiledGraph:
    """Load a graph written by :func:`save_graph`.

    Parameters
    ----------
    path
        The ``.npz`` file.
    verify
        Recompute the content hash and refuse a file whose arrays do not match it.
    mmap
        Map the large arrays read-only from the file (:func:`isochrones.storage.load_npz`): worker
        processes share one copy of the pages, and each holds only the pages its queries touch.

    Raises
    ------
    NetworkNotBuiltError
        If the file is missing, of another format version, or fails the hash check.
    """
    if not path.is_file():
        msg = f"compiled graph not found: {path}; run `skillcircle build`"
        raise NetworkNotBuiltError(msg, message_zh=f"找不到已编译的路网：{path}；请先运行 skillcircle build")
    stored = open_npz(path)
    meta = json.loads(str(stored["meta"]))
    if meta.get("format") != FORMAT_VERSION:  # checked first: older files lack newer arrays
        msg = f"compiled graph {path} has format {meta.get('format')}, expected {FORMAT_VERSION}; rebuild it"
        raise NetworkNotBuiltError(
            msg,
            message_zh=f"路网文件 {path} 版本过旧，请重新编译",
            details={"format": meta.get("format"), "expected": FORMAT_VERSION},
        )
    # the hash is checked by reading the file a few MiB at a time into one buffer (not mapped, no
    # array copies), so the process keeps none of the pages it read: serving then maps the file (below)
    if verify and _hash_arrays(meta["mode"], meta["crs"], stored.__getitem__) != meta["content_hash"]:
        msg = f"compiled graph {path} is corrupt (content hash mismatch); rebuild it"
        raise NetworkNotBuiltError(msg, message_zh=f"路网文件 {path} 已损坏（校验值不符），请重新编译")
    arrays = load_npz(path, mmap=mmap)
    extra = {k: v for k, v in meta.items() if k not in ("format", "mode", "crs", "source", "content_hash")}
    # mypy checks a **dict's values against every parameter, the str ones too: these are the arrays
    arrays_by_name = {n: arrays[n] for n in _ARRAYS}
    graph = CompiledGraph(meta["mode"], meta["crs"], meta.get("source", ""), **arrays_by_name, meta=extra)  # type: ignore[arg-type]
    graph.content_hash = meta["content_hash"]
    if mmap:  # euclid_mps reads these (the same inode as the maps) on first use, then drops them
        graph.__dict__["_stored"] = {k: stored[k] for k in ("x", "y", "indptr", "indices", "seconds")}
    return graph
