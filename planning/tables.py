"""Tabular exports for planners' reports: every export that is rows and columns.

* :func:`grid_frame` — one row per H3 cell: population, minutes to the nearest resource of the
  category (by one mode), covered flags per threshold, district and town.
* :func:`coverage_bands` — the covered area per threshold (covered cells dissolved with H3), i.e. the
  category's combined isochrones derived from the ONE-pass times, not from unioned polygons.
* :func:`resource_isochrones` — each resource's own bands (travel *to* it), for maps of catchments.
* :func:`write_geopackage` — layers ``grid``, ``coverage_bands``, ``isochrones``, ``districts`` and
  ``towns`` (district polygons / Voronoi town areas with their coverage figures), and ``notes``.
* :func:`write_geojson` — the grid or the resources' isochrones as one GeoJSON file.
* :func:`write_tables` — CSV per district and town (every mode × threshold) and an XLSX workbook
  with a notes sheet (sources, sample/estimate notices).

Every file says in its data when its resources are sample data or its times straight-line estimates
(:func:`data_flags`), and text that would start a spreadsheet formula is neutralised.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import shape

from geo.clock import city_today
from geo.config import get_settings
from geo.errors import InvalidParameterError
from geo.moderules import MODE_KEYS, check_mode
from geo.population import surface_of
from geo.safe_cells import safe_frame
from planning.coverage import CoverageModel, CoverageTable
from planning.notices import coverage_notice
from planning.params import ALL_CATEGORIES, THRESHOLDS, check_minutes, parse_category_or_all, plain_number

_Frame = TypeVar("_Frame", bound=pd.DataFrame)

#: At most this many resources' own isochrones go into one export.
MAX_ISOCHRONE_RESOURCES = 300


def data_flags(frame: _Frame, model: CoverageModel) -> _Frame:
    """``frame`` with the flags a file must carry in its data, not only in HTTP headers: ``sample``
    (the resources are a labelled sample), ``population_surface`` (``model`` or ``imported``) and
    ``population_source`` (the model's rule or the imported file). ``estimate`` stays per row/mode."""
    out = frame.copy()
    surface = surface_of(model.grid)
    out["sample"] = bool(model.resources.any_sample)
    out["population_surface"] = surface["kind"]
    out["population_source"] = surface["source"]
    return out


# ---------------------------------------------------------------------------------------------- frames
def grid_frame(
    model: CoverageModel, category: str, *, mode: str, thresholds: Iterable[float] = THRESHOLDS
) -> gpd.GeoDataFrame:
    """The population grid with coverage of ``category`` by ``mode``: one row per cell.

    Columns ``h3, district_adcode, district, town, population, minutes`` (``NaN``: unreachable),
    ``covered_<T>`` per threshold, ``category, mode, estimate, sample``; hexagon geometry (EPSG:4326).
    """
    cat = parse_category_or_all(category)
    check_mode(mode)
    limits = [check_minutes(t) for t in thresholds]
    seconds = model.cell_seconds(cat, mode=mode)
    cols = [c for c in ("h3", "district_adcode", "district", "town", "population") if c in model.grid.columns]
    out = gpd.GeoDataFrame(model.grid[cols].reset_index(drop=True), geometry=model.grid.geometry.values, crs=4326)
    minutes = seconds / 60.0
    out["minutes"] = np.where(np.isfinite(minutes), np.round(minutes, 2), np.nan)
    for lim in limits:
        out[f"covered_{_tag(lim)}"] = seconds <= lim * 60.0
    out["category"] = cat
    out["mode"] = mode
    out["estimate"] = model.estimate(mode)
    return data_flags(out, model)


def coverage_bands(
    model: CoverageModel, category: str, *, mode: str, thresholds: Iterable[float] = THRESHOLDS
) -> gpd.GeoDataFrame:
    """Area covered within each threshold: covered cells dissolved (one (multi)polygon per threshold).

    Columns ``minutes, population, covered, share, category, mode, estimate``; largest band first.
    """
    cat = parse_category_or_all(category)
    seconds = model.cell_seconds(cat, mode=mode)
    pop = model.population
    rows, geoms = [], []
    for lim in sorted((check_minutes(t) for t in thresholds), reverse=True):
        covered = seconds <= lim * 60.0
        geoms.append(_dissolve(model, covered))
        c, p = float(pop[covered].sum()), float(pop.sum())
        rows.append(
            {
                "minutes": plain_number(lim),
                "population": int(round(p)),
                "covered": int(round(c)),
                "share": round(c / p, 4) if p > 0 else 0.0,
                "category": cat,
                "mode": mode,
                "estimate": model.estimate(mode),
            }
        )
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=4326)


def _dissolve(model: CoverageModel, covered: np.ndarray) -> shapely.Geometry:
    if not covered.any():
        return shapely.MultiPolygon()
    if "h3" in model.grid.columns:
        cells = [str(c) for c in model.grid["h3"].to_numpy()[covered]]
        if all(h3.is_valid_cell(c) for c in cells):
            return shape(h3.cells_to_h3shape(cells).__geo_interface__)
    return shapely.union_all(model.grid.geometry.to_numpy()[covered])


def resource_isochrones(
    model: CoverageModel,
    category: str,
    *,
    mode: str,
    minutes: Sequence[float] = THRESHOLDS,
    max_resources: int = MAX_ISOCHRONE_RESOURCES,
) -> gpd.GeoDataFrame:
    """Each resource's bands (the area from which it is reached within each band), as separate features.

    At most ``max_resources`` resources (by id) are drawn; the frame's ``attrs["truncated"]`` says
    whether some were left out. Resources off the network are skipped.
    """
    from geo.errors import OffNetworkError

    cat = parse_category_or_all(category)
    check_mode(mode)
    bands = sorted(check_minutes(m) for m in minutes)
    res = model.resources
    idx = np.flatnonzero(res.mask(cat))
    truncated = idx.size > max_resources
    idx = idx[:max_resources]
    feats: list[dict[str, Any]] = []
    for i in idx:
        try:
            fc = model.engine.isochrone(
                float(res.lons[i]), float(res.lats[i]), mode=mode, minutes=tuple(bands), direction="to"
            )
        except OffNetworkError:
            continue
        for feat in fc["features"]:
            props = dict(feat.get("properties") or {})
            feats.append(
                {
                    "resource_id": int(res.ids[i]),
                    "category": str(res.categories[i]),
                    "minutes": plain_number(float(props.get("minutes", 0))),
                    "mode": mode,
                    "estimate": bool(props.get("estimate", model.estimate(mode))),
                    "geometry": shape(feat["geometry"]),
                }
            )
    frame = gpd.GeoDataFrame(
        feats or None, columns=["resource_id", "category", "minutes", "mode", "estimate", "geometry"], crs=4326
    )
    frame.attrs["truncated"] = bool(truncated)
    return frame


def area_frames(
    model: CoverageModel, category: str, *, mode: str, minutes: float
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """District polygons and (approximate, Voronoi) town areas with coverage of one threshold."""
    from geo.boundaries import districts, town_areas

    cov = model.coverage(category, mode=mode, minutes=minutes)
    city = model.city
    if city is None:
        msg = "area layers need the model's city pack"
        raise InvalidParameterError(msg, message_zh="缺少城市配置，无法导出行政区图层")
    d = districts(city)[["adcode", "name_zh", "name_en", "geometry"]]
    d = d.merge(cov.districts.drop(columns=["name"]), on="adcode", how="left")
    t = town_areas(city)
    name_col = "name_zh" if "name_zh" in t.columns else "name"
    t = t.rename(columns={name_col: "town"})
    keep = [c for c in ("code", "town", "district_adcode", "district", "geometry") if c in t.columns]
    t = t[keep].merge(
        cov.towns.rename(columns={"name": "town"}), on=[c for c in ("district", "town") if c in t.columns], how="left"
    )
    for frame in (d, t):
        frame["category"] = cov.category
        frame["mode"] = mode
        frame["minutes"] = plain_number(cov.minutes)
        frame["estimate"] = cov.estimate
    return gpd.GeoDataFrame(d, geometry="geometry", crs=4326), gpd.GeoDataFrame(t, geometry="geometry", crs=4326)


# ---------------------------------------------------------------------------------------------- writers
def write_geopackage(
    path: Path | str,
    model: CoverageModel,
    category: str,
    *,
    mode: str,
    minutes: float = 30,
    thresholds: Iterable[float] = THRESHOLDS,
    isochrones: bool = True,
) -> Path:
    """GeoPackage with layers ``grid``, ``coverage_bands``, ``isochrones``, ``districts``, ``towns``, ``notes``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    limits = list(thresholds)
    grid_frame(model, category, mode=mode, thresholds=limits).to_file(path, layer="grid", driver="GPKG")
    coverage_bands(model, category, mode=mode, thresholds=limits).to_file(path, layer="coverage_bands", driver="GPKG")
    if isochrones:
        iso = resource_isochrones(model, category, mode=mode, minutes=limits)
        if len(iso):
            iso.to_file(path, layer="isochrones", driver="GPKG")
    if model.city is not None:
        d, t = area_frames(model, category, mode=mode, minutes=minutes)
        d.to_file(path, layer="districts", driver="GPKG")
        t.to_file(path, layer="towns", driver="GPKG")
    import pyogrio

    pyogrio.write_dataframe(_notes_frame(model, mode=mode), path, layer="notes", driver="GPKG")
    return path


def write_geojson(
    path: Path | str,
    model: CoverageModel,
    category: str,
    *,
    mode: str,
    thresholds: Iterable[float] = THRESHOLDS,
    layer: str = "grid",
) -> Path:
    """GeoJSON of the coverage grid (``layer="grid"``) or of the resources' isochrones (``"isochrones"``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if layer == "grid":
        frame = grid_frame(model, category, mode=mode, thresholds=thresholds)
    elif layer == "isochrones":
        frame = resource_isochrones(model, category, mode=mode, minutes=list(thresholds))
    else:
        msg = f"unknown GeoJSON layer {layer!r}; expected grid or isochrones"
        raise InvalidParameterError(msg, message_zh=f"未知的图层“{layer}”，可选 grid 或 isochrones")
    frame = data_flags(frame, model) if layer == "isochrones" else frame  # the grid layer has them already
    path.write_text(frame.to_json(drop_id=True, ensure_ascii=False), encoding="utf-8")
    return path


def write_tables(
    out_dir: Path | str,
    model: CoverageModel,
    *,
    categories: Iterable[str] = (ALL_CATEGORIES,),
    modes: Iterable[str] = MODE_KEYS,
    thresholds: Iterable[float] = THRESHOLDS,
    stem: str = "coverage",
    table: CoverageTable | None = None,
) -> dict[str, Path]:
    """CSV per district and per town (and totals), plus one XLSX workbook with a notes sheet.

    Returns ``{"totals.csv": path, "districts.csv": …, "towns.csv": …, "xlsx": …}``. CSVs are UTF-8
    with a byte-order mark so that Excel opens the Chinese names correctly; text that would start a formula
    is neutralised (:mod:`geo.safe_cells`).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tab = table or model.table(categories=categories, modes=modes, thresholds=thresholds)
    paths = {}
    for name, frame in (("totals", tab.totals), ("districts", tab.districts), ("towns", tab.towns)):
        p = out / f"{stem}-{name}.csv"
        safe_frame(data_flags(frame, model)).to_csv(p, index=False, encoding="utf-8-sig")
        paths[f"{name}.csv"] = p
    paths["xlsx"] = write_xlsx(out / f"{stem}.xlsx", model, tab)
    return paths


def write_xlsx(path: Path | str, model: CoverageModel, table: CoverageTable) -> Path:
    """One workbook: sheets 说明 notes, 总计 totals, 区县 districts, 乡镇街道 towns (no live formulas)."""
    path = Path(path)
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        for sheet, frame in (
            ("说明 notes", _notes_frame(model)),
            ("总计 totals", table.totals),
            ("区县 districts", table.districts),
            ("乡镇街道 towns", table.towns),
        ):
            safe_frame(frame).to_excel(xl, sheet_name=sheet, index=False)
    return path


def _notes_frame(model: CoverageModel, *, mode: str | None = None) -> pd.DataFrame:
    rows = []
    city = model.city
    if city is not None:
        rows.append({"item": "city", "zh": city.name_zh, "en": city.name_en})
    for key, text in coverage_notice(model, mode=mode).items():
        rows.append({"item": key, "zh": text["zh"], "en": text["en"]})
    if mode is None:
        est = [m for m in MODE_KEYS if model.estimate(m)]
        if est:
            rows.append(
                {
                    "item": "estimate",
                    "zh": f"以下出行方式为直线距离估算（无路网）：{'、'.join(est)}",
                    "en": f"Straight-line estimates (no road network) for: {', '.join(est)}",
                }
            )
    if city is not None:
        from geo.boundaries import districts

        for _, d in districts(city).iterrows():
            rows.append({"item": f"population source {d['adcode']}", "zh": d["name_zh"], "en": d["population_source"]})
    generated = city_today(city if city is not None else get_settings().default_city).isoformat()
    rows.append({"item": "generated", "zh": generated, "en": "SkillCircle planning.coverage"})
    return pd.DataFrame(rows)


def _tag(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value).replace(".", "_")


__all__ = [
    "MAX_ISOCHRONE_RESOURCES",
    "area_frames",
    "coverage_bands",
    "data_flags",
    "grid_frame",
    "resource_isochrones",
    "write_geojson",
    "write_geopackage",
    "write_tables",
    "write_xlsx",
]
