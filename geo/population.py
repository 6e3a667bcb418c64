"""Population surface for planners: census totals per district spread over an H3 hexagon grid.

Each district's 2020 census total (``districts.csv``, source named there) is distributed over the
H3 cells whose centre lies in the district AND on land (:mod:`geo.land`: cells in the estuary or
the bay are left out, so they hold nobody), in proportion to a weight, then rounded with the
largest-remainder method so that every district's total is preserved exactly.

Default weights: the model surface of :mod:`geo.settlement_model` (GeoNames settlements with a
Gaussian distance decay; parameters in the pack's ``city.toml``). Other weights plug in through
``weights``; a city with its own population points uses :func:`population_from_points`.

Default resolution 8: average cell area about 0.74 km² (``h3.average_hexagon_area(8, "km^2")``),
about 6,300 land cells over Jiaxing; fine enough for 10–30-minute coverage, small enough to stay fast.
Each cell also carries its town: the nearest town point in the same district, i.e. the Voronoi town
areas of :func:`geo.boundaries.town_areas`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely

from geo.boundaries import district_of, districts, towns
from geo.cities import CityPack
from geo.coords import to_wgs84
from geo.errors import InvalidParameterError
from geo.land import on_land
from geo.population_import import describe_imported, imported_weights, load_imported
from geo.settlement_model import describe, model_weights

logger = logging.getLogger(__name__)

DEFAULT_RESOLUTION = 8
GRID_COLUMNS = ["h3", "district_adcode", "district", "town", "population", "geometry"]
Weights = Callable[[np.ndarray, np.ndarray], Any] | Mapping[str, float] | np.ndarray | list[float]


def largest_remainder(total: int, weights: Any) -> np.ndarray:
    """Integers proportional to ``weights`` summing exactly to ``total`` (largest-remainder rounding).

    All-zero weights fall back to equal shares so that a district's population is never lost.
    """
    w = np.clip(np.asarray(weights, dtype=float), 0.0, None)
    if len(w) == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.isfinite(w).all() or w.sum() <= 0:
        w = np.ones(len(w))
    raw = total * w / w.sum()
    base = np.floor(raw).astype(np.int64)
    rest = int(total - base.sum())
    order = np.lexsort((np.arange(len(w)), -(raw - base)))
    base[order[:rest]] += 1
    return base


#: The default grid resolution is the coarsest (from 8 up) giving at least this many cells.
MIN_CELLS = 300


def default_resolution(city: CityPack) -> int:
    """The coarsest H3 resolution from 8 up to 10 giving at least :data:`MIN_CELLS` cells over the city.

    Jiaxing (about 4,290 km² of district polygons) gets 8 (cells of about 0.74 km²); the demo city's
    7.7 km² box gets 10 (about 0.015 km²), so both grids resolve 10-minute walks.
    """
    frame = districts(city)
    area_km2 = float(frame.to_crs(frame.estimate_utm_crs()).area.sum()) / 1e6
    for res in (8, 9, 10):
        if area_km2 / h3.average_hexagon_area(res, unit="km^2") >= MIN_CELLS:
            return res
    return 10


def _check_resolution(resolution: int) -> None:
    if not 0 <= int(resolution) <= 15:
        msg = f"H3 resolution must be 0-15, got {resolution}"
        raise InvalidParameterError(
            msg, message_zh=f"H3 分辨率应为 0–15，实际为 {resolution}", details={"resolution": resolution}
        )


def _cell_polygons(cells: Sequence[str]) -> np.ndarray:
    """The hexagons (or pentagons) of H3 ``cells`` as shapely polygons in lon/lat, built in one call.

    The same polygons as ``Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(cell)])`` per cell
    (a cell crossing an icosahedron edge has more than six vertices), without a Python object per
    vertex: a province's grids hold about 150,000 cells.
    """
    bounds = [h3.cell_to_boundary(str(cell)) for cell in cells]
    if not bounds:
        return np.empty(0, dtype=object)
    sizes = np.fromiter((len(b) for b in bounds), dtype=np.int64, count=len(bounds))
    latlng = np.array([vertex for b in bounds for vertex in b], dtype=np.float64)
    rings = shapely.linearrings(latlng[:, ::-1], indices=np.repeat(np.arange(len(bounds)), sizes))
    return np.asarray(shapely.polygons(rings), dtype=object)


def _km(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    """Equirectangular distance in km (accurate to well under 1 % at city scale)."""
    k = 111.32
    return np.hypot((lon1 - lon2) * k * np.cos(np.radians((lat1 + lat2) / 2)), (lat1 - lat2) * 110.57)


def _nearest_town(
    lon: np.ndarray, lat: np.ndarray, adcodes: np.ndarray, city: CityPack
) -> tuple[np.ndarray, np.ndarray]:
    """Name of, and distance in km to, the nearest town point in the same district for each point."""
    town_pts = towns(city)
    names = np.full(len(lon), "", dtype=object)
    dist = np.full(len(lon), np.inf)
    for adcode, sub in town_pts.groupby("district_adcode"):
        mask = adcodes == adcode
        if not mask.any():
            continue
        d = _km(
            lon[mask, None], lat[mask, None], sub.geometry.x.to_numpy()[None, :], sub.geometry.y.to_numpy()[None, :]
        )
        idx = np.argmin(d, axis=1)
        names[mask] = sub["name_zh"].to_numpy()[idx]
        dist[mask] = d[np.arange(len(idx)), idx]
    return names, dist


def _grid_cells(city: CityPack, resolution: int) -> pd.DataFrame:
    """H3 cells whose centre lies in a district (one row per cell), sorted by district then cell id."""
    dist = districts(city)
    rows: list[tuple[str, Any, Any, int]] = []
    seen: set[str] = set()
    for _, d in dist.iterrows():
        cells = sorted(h3.geo_to_cells(d.geometry, resolution))
        if not cells:  # district smaller than a cell: use the cell of a point inside it
            p = d.geometry.representative_point()
            cells = [h3.latlng_to_cell(p.y, p.x, resolution)]
        fresh = [cell for cell in cells if cell not in seen]
        if not fresh and int(d["population"]) > 0:
            # every cell of this district already belongs to a neighbour: its population would be lost
            msg = f"H3 resolution {resolution} is too coarse for district {d['name_zh']}; use a finer one"
            raise InvalidParameterError(
                msg,
                message_zh=f"H3 分辨率 {resolution} 对 {d['name_zh']} 过粗，请使用更细的分辨率",
                code="resolution_too_coarse",
                details={"resolution": resolution, "district": d["name_zh"]},
            )
        seen.update(fresh)
        rows.extend((cell, d["adcode"], d["name_zh"], int(d["population"])) for cell in fresh)
    frame = pd.DataFrame(rows, columns=["h3", "district_adcode", "district", "district_population"])
    centres = np.array([h3.cell_to_latlng(c) for c in frame["h3"]]).reshape(-1, 2)
    frame["lat"], frame["lon"] = centres[:, 0], centres[:, 1]
    # cells whose centre is in water (sea, estuary, lake by the land mask) hold nobody: they are left out
    land = on_land(frame["lon"].to_numpy(), frame["lat"].to_numpy(), city)
    lost = sorted(set(frame["district"]) - set(frame.loc[land, "district"]))
    if lost:
        msg = f"H3 resolution {resolution} leaves no land cell in {lost}; use a finer one"
        raise InvalidParameterError(
            msg,
            message_zh=f"H3 分辨率 {resolution} 下 {lost} 没有陆地网格，请使用更细的分辨率",
            code="resolution_too_coarse",
            details={"resolution": resolution, "districts": lost},
        )
    return frame[land].reset_index(drop=True)


def _evaluate_weights(weights: Weights | None, frame: pd.DataFrame, city: CityPack) -> np.ndarray:
    if weights is None:
        return model_weights(city, frame)
    if callable(weights):
        w = np.asarray(weights(frame["lon"].to_numpy(), frame["lat"].to_numpy()), dtype=float)
    elif isinstance(weights, Mapping):
        w = np.array([float(weights.get(c, 0.0)) for c in frame["h3"]])
    else:
        w = np.asarray(weights, dtype=float)
    if w.shape != (len(frame),):
        msg = f"weights must give one value per grid cell ({len(frame)}), got shape {w.shape}"
        raise InvalidParameterError(
            msg,
            message_zh=f"权重数量应与网格单元数一致（{len(frame)}），实际为 {w.shape}",
            details={"cells": len(frame)},
        )
    return w


def _to_frame(frame: pd.DataFrame, resolution: int, proxy: str, *, surface: str = "model") -> gpd.GeoDataFrame:
    geo = gpd.GeoDataFrame(
        frame[GRID_COLUMNS[:-1]].reset_index(drop=True),
        geometry=_cell_polygons(frame["h3"].tolist()),
        crs="EPSG:4326",
    )
    geo.attrs.update(resolution=resolution, proxy=proxy, surface=surface)
    return geo


def surface_of(grid: gpd.GeoDataFrame) -> dict[str, str]:
    """Which population surface ``grid`` is: ``{"kind": "model"|"imported"|…, "source": …, "zh", "en"}``.

    Every coverage answer, table, export and page that shows people carries this, so a planner always
    knows whether the figures come from the model or from an imported raster/census table.
    """
    kind = str(grid.attrs.get("surface", "model"))
    source = str(grid.attrs.get("proxy", "see geo.population"))
    if kind == "model":
        zh, en = f"人口面：模型估算（{source}）", f"Population surface: model ({source})"
    else:
        zh, en = f"人口面：{kind}（{source}）", f"Population surface: {kind} ({source})"
    return {"kind": kind, "source": source, "zh": zh, "en": en}


def population_grid(
    city: CityPack,
    *,
    resolution: int = DEFAULT_RESOLUTION,
    weights: Weights | None = None,
    surface: str = "auto",
) -> gpd.GeoDataFrame:
    """Census population per H3 cell, district totals preserved exactly.

    Parameters
    ----------
    city
        City pack whose ``districts.csv`` gives the census totals.
    resolution
        H3 resolution (0–15); 8 by default (cells of about 0.74 km²).
    weights
        Proxy weights instead of the default town-distance proxy: a callable ``f(lon, lat) -> array``
        evaluated at the cell centres, a mapping ``{h3 cell: weight}`` (missing cells weigh 0), or an
        array with one value per cell in this function's cell order. A district whose weights are
        all zero is spread uniformly.
    surface
        ``"auto"`` (default): the surface imported with ``skillcircle population import`` when the
        city has one, else the model; ``"model"``: always the model (the sample uses it).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``h3, district_adcode, district, town, population, geometry`` (cell hexagons in
        EPSG:4326); ``attrs`` holds ``resolution`` and a description of the ``proxy``.
    """
    _check_resolution(resolution)
    frame = _grid_cells(city, resolution)
    stored = load_imported(city) if weights is None and surface != "model" else None
    if stored is not None:
        imported = imported_weights(stored, frame["h3"].to_numpy(), resolution)
        weights = np.asarray(imported, dtype=float)
    town, _ = _nearest_town(frame["lon"].to_numpy(), frame["lat"].to_numpy(), frame["district_adcode"].to_numpy(), city)
    frame["town"] = town
    w = _evaluate_weights(weights, frame, city)
    pop = np.zeros(len(frame), dtype=np.int64)
    for _adcode, idx in frame.groupby("district_adcode", sort=False).indices.items():
        pop[idx] = largest_remainder(int(frame["district_population"].iloc[idx[0]]), w[idx])
    frame["population"] = pop
    if stored is not None:
        proxy, kind = describe_imported(stored.meta), "imported"
    elif weights is None:
        proxy, kind = describe(city), "model"
    else:
        proxy, kind = "caller-supplied weights", "caller-supplied"
    logger.info("population grid %s r%d: %d cells, total %d", city.key, resolution, len(frame), pop.sum())
    return _to_frame(frame, resolution, proxy, surface=kind)


def population_from_points(
    csv_path: Path | str,
    city: CityPack,
    *,
    resolution: int = DEFAULT_RESOLUTION,
    count_column: str | None = None,
    crs: str = "wgs84",
) -> gpd.GeoDataFrame:
    """Aggregate a user-supplied CSV of points with counts (lon, lat, count) to the H3 grid.

    The counts are used as given (not rescaled to the census). Points outside every district are
    dropped and logged. ``count_column`` defaults to the first of ``count``, ``population``, ``pop``;
    ``crs`` may be "wgs84", "gcj02" or "bd09" (converted to WGS84 first).
    """
    _check_resolution(resolution)
    table = pd.read_csv(csv_path)
    cols = {c.lower(): c for c in table.columns}
    col = count_column or next((cols[c] for c in ("count", "population", "pop") if c in cols), None)
    missing = [c for c in ("lon", "lat") if c not in cols] + ([] if col in table.columns else [col or "count"])
    if missing:
        msg = f"population CSV {csv_path} lacks columns {missing}"
        raise InvalidParameterError(
            msg, message_zh=f"人口点文件 {csv_path} 缺少列：{missing}", details={"missing": missing}
        )
    lon, lat = to_wgs84(table[cols["lon"]].to_numpy(float), table[cols["lat"]].to_numpy(float), crs=crs)
    counts = pd.to_numeric(table[col], errors="coerce").fillna(0).to_numpy(float)
    adcode = district_of(lon, lat, city)
    inside = np.array([a is not None for a in adcode], dtype=bool)
    if (~inside).any():
        logger.warning("%d population points outside %s's districts dropped", int((~inside).sum()), city.key)
    cells = [h3.latlng_to_cell(y, x, resolution) for x, y in zip(lon[inside], lat[inside], strict=True)]
    pts = pd.DataFrame({"h3": cells, "district_adcode": adcode[inside], "count": counts[inside]})
    # a cell straddling a border goes to the district holding most of its points' counts
    by = pts.groupby(["h3", "district_adcode"], sort=True)["count"].sum().reset_index()
    owner = by.sort_values(["h3", "count"], ascending=[True, False]).drop_duplicates("h3")
    frame = pts.groupby("h3", sort=True)["count"].sum().rename("population").reset_index()
    frame = frame.merge(owner[["h3", "district_adcode"]], on="h3")
    names = districts(city).set_index("adcode")["name_zh"]
    frame["district"] = frame["district_adcode"].map(names)
    centres = np.array([h3.cell_to_latlng(c) for c in frame["h3"]]).reshape(-1, 2)
    frame["town"], _ = _nearest_town(centres[:, 1], centres[:, 0], frame["district_adcode"].to_numpy(), city)
    frame["population"] = np.round(frame["population"]).astype(np.int64)
    return _to_frame(frame, resolution, f"user points from {Path(csv_path).name}", surface="user points")
