"""Import a planner's own population data: a gridded raster or a town-level census table.

``skillcircle population import CITY FILE`` takes

* a GeoTIFF of people per pixel (WorldPop, GHS-POP, …) in any CRS rasterio/PROJ knows (WorldPop is
  EPSG:4326, GHS-POP also ships in Mollweide ESRI:54009): pixel centres are transformed to WGS84 and
  their counts summed per H3 cell; or
* a CSV of 乡镇街道 populations (columns ``town`` — name or statistical code — and ``population``;
  optional ``district``), each town's people spread over its cells in proportion to the model surface.

Either way cells in water are dropped, and the result is stored as relative weights per H3 cell
(at the finest resolution the coverage grid allows) under ``<var>/cities/<city>/population/`` with a
record of its source (file name, SHA-256, kind, time). :func:`geo.population.population_grid` then
rescales it to each district's 2020 census total, so district totals never change; only where people
live inside a district does. Bad input raises :class:`~geo.errors.PopulationImportError` and writes
nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h3
import numpy as np
import pandas as pd

from geo.cities import CityPack
from geo.errors import PopulationImportError

log = logging.getLogger(__name__)

MAX_PIXELS = 40_000_000  # a WorldPop 100 m tile of a whole prefecture is ~1–5 M pixels
MAX_CSV_ROWS = 10_000


@dataclass(frozen=True)
class StoredSurface:
    """An imported surface: weights per H3 cell and where they came from."""

    weights: pd.Series  # index: H3 cell id at ``resolution``
    resolution: int
    meta: dict[str, Any]


def _folder(city: CityPack) -> Path:
    return city.var_dir / "population"


def _paths(city: CityPack) -> tuple[Path, Path]:
    return _folder(city) / "imported.csv", _folder(city) / "imported.json"


def storage_resolution(city: CityPack) -> int:
    """The finest grid resolution coverage may ask for (default + 1, at most 10): coarser grids sum children."""
    from geo.population import default_resolution

    return min(10, default_resolution(city) + 1)


def load_imported(city: CityPack) -> StoredSurface | None:
    """The city's imported surface, or None when it has none."""
    data, meta = _paths(city)
    if not (data.is_file() and meta.is_file()):
        return None
    info = json.loads(meta.read_text(encoding="utf-8"))
    frame = pd.read_csv(data, dtype={"h3": str})
    return StoredSurface(frame.set_index("h3")["weight"], int(info["resolution"]), info)


def imported_signature(city: CityPack) -> str:
    """A short token that changes when the imported surface changes ("" when there is none)."""
    _, meta = _paths(city)
    return f"{meta.stat().st_mtime_ns}" if meta.is_file() else ""


def remove_imported(city: CityPack) -> bool:
    """Forget the imported surface (back to the model). True if there was one."""
    found = False
    for path in _paths(city):
        if path.is_file():
            path.unlink()
            found = True
    return found


def _fail(msg: str, msg_zh: str, **details: Any) -> PopulationImportError:
    return PopulationImportError(msg, message_zh=msg_zh, details=details)


def _raster_cells(city: CityPack, path: Path, resolution: int) -> pd.Series:
    import rasterio
    from rasterio.errors import RasterioIOError
    from rasterio.warp import transform

    try:
        src = rasterio.open(path)
    except RasterioIOError as exc:
        raise _fail(
            f"{path.name} is not a readable raster: {exc}", f"{path.name} 不是可读取的栅格文件", file=path.name
        ) from exc
    with src:
        if src.crs is None:
            raise _fail(
                f"{path.name} has no coordinate reference system (CRS); save it with one (e.g. EPSG:4326)",
                f"{path.name} 没有坐标参考系（CRS），请带坐标系保存（如 EPSG:4326）",
                file=path.name,
            )
        if src.width * src.height > MAX_PIXELS:
            raise _fail(
                f"{path.name} has {src.width * src.height:,} pixels (limit {MAX_PIXELS:,}); crop it to the city first",
                f"{path.name} 像元过多（{src.width * src.height:,}，上限 {MAX_PIXELS:,}），请先裁剪到本市范围",
                file=path.name,
            )
        band = src.read(1, masked=True).astype("float64")
        rows, cols = np.nonzero(~np.ma.getmaskarray(band) & np.isfinite(band.filled(np.nan)))
        values = band.data[rows, cols]
        if (values < 0).any():
            raise _fail(
                f"{path.name} holds negative population values (e.g. {values.min():g})",
                f"{path.name} 含负的人口数（如 {values.min():g}）",
                file=path.name,
            )
        keep = values > 0
        rows, cols, values = rows[keep], cols[keep], values[keep]
        xs, ys = src.xy(rows, cols) if len(rows) else ([], [])
        lon, lat = transform(src.crs, "EPSG:4326", list(np.atleast_1d(xs)), list(np.atleast_1d(ys)))
        crs_name = src.crs.to_string()
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    min_lon, min_lat, max_lon, max_lat = city.bbox
    inside = (lon >= min_lon) & (lon <= max_lon) & (lat >= min_lat) & (lat <= max_lat) & np.isfinite(lon)
    if not inside.any():
        raise _fail(
            f"{path.name} ({crs_name}) does not overlap {city.name_en}'s area {list(city.bbox)}: "
            "wrong CRS, or a raster of another place",
            f"{path.name}（{crs_name}）与{city.name_zh}范围不重叠：坐标系有误或不是本市的数据",
            file=path.name,
            crs=crs_name,
        )
    cells = [h3.latlng_to_cell(y, x, resolution) for x, y in zip(lon[inside], lat[inside], strict=True)]
    return pd.Series(values[inside], index=cells).groupby(level=0).sum()


def _town_cells(city: CityPack, path: Path, resolution: int) -> pd.Series:
    from geo.boundaries import towns
    from geo.population import population_grid

    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", nrows=MAX_CSV_ROWS + 1)
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise _fail(
            f"{path.name} is not a UTF-8 CSV table: {exc}", f"{path.name} 不是 UTF-8 编码的 CSV 表", file=path.name
        ) from exc
    cols = {c.strip().lower(): c for c in table.columns}
    town_col = next((cols[c] for c in ("town", "乡镇街道", "乡镇", "name") if c in cols), None)
    pop_col = next((cols[c] for c in ("population", "人口", "常住人口", "pop") if c in cols), None)
    if town_col is None or pop_col is None:
        raise _fail(
            f"{path.name} needs columns 'town' and 'population' (found {list(table.columns)})",
            f"{path.name} 须有“town（乡镇街道）”和“population（人口）”两列，实际为 {list(table.columns)}",
            file=path.name,
        )
    if len(table) > MAX_CSV_ROWS:
        raise _fail(
            f"{path.name} has more than {MAX_CSV_ROWS} rows", f"{path.name} 超过 {MAX_CSV_ROWS} 行", file=path.name
        )
    seats = towns(city)
    by_key = {
        **dict(zip(seats["name_zh"], seats.index, strict=True)),
        **dict(zip(seats["code"], seats.index, strict=True)),
    }
    errors: list[dict[str, Any]] = []
    pops: dict[int, float] = {}
    for row, (_, r) in enumerate(table.iterrows(), start=2):  # read_csv's RangeIndex: header is row 1
        key = str(r[town_col]).strip()
        if key not in by_key:
            errors.append(
                {
                    "row": row,
                    "column": town_col,
                    "message_en": f"unknown town {key!r}",
                    "message_zh": f"未知的乡镇街道“{key}”",
                }
            )
            continue
        try:
            value = float(str(r[pop_col]).replace(",", ""))
        except ValueError:
            value = float("nan")
        if not np.isfinite(value) or value < 0:
            errors.append(
                {
                    "row": row,
                    "column": pop_col,
                    "message_en": f"population {r[pop_col]!r} is not a number ≥ 0",
                    "message_zh": f"人口“{r[pop_col]}”不是非负数",
                }
            )
            continue
        pops[by_key[key]] = pops.get(by_key[key], 0.0) + value
    missing = [seats.at[j, "name_zh"] for j in seats.index if j not in pops]
    if errors or missing:
        first = errors[0]["message_en"] if errors else f"towns missing: {missing[:5]}"
        raise PopulationImportError(
            f"{path.name}: {len(errors)} bad row(s), {len(missing)} town(s) missing; nothing imported. First: {first}",
            message_zh=f"{path.name}：{len(errors)} 行有误，缺少 {len(missing)} 个乡镇街道，未导入任何数据",
            details={"file": path.name, "errors": errors, "missing_towns": missing},
        )
    grid = population_grid(city, resolution=resolution, surface="model")
    out = np.zeros(len(grid))
    for j, value in pops.items():
        mine = (grid["town"].to_numpy() == seats.at[j, "name_zh"]) & (
            grid["district_adcode"].to_numpy() == seats.at[j, "district_adcode"]
        )
        if mine.any():
            w = grid["population"].to_numpy(float)[mine]
            out[mine] += value * (w / w.sum() if w.sum() > 0 else np.full(mine.sum(), 1.0 / mine.sum()))
        else:  # a town whose area holds no grid cell: its people go to the cell nearest its seat
            c = grid.geometry.centroid
            seat_x, seat_y = float(seats.geometry.x[j]), float(seats.geometry.y[j])
            k = int(np.argmin((c.x - seat_x) ** 2 + (c.y - seat_y) ** 2))
            out[k] += value
    return pd.Series(out, index=grid["h3"].to_numpy())


def import_population(city: CityPack, path: Path | str) -> dict[str, Any]:
    """Validate ``path`` (GeoTIFF or town CSV), store it as the city's surface, and return its record."""
    from geo.land import on_land

    path = Path(path)
    if not path.is_file():
        raise _fail(f"{path} does not exist", f"文件 {path} 不存在", file=str(path))
    suffix = path.suffix.lower()
    resolution = storage_resolution(city)
    if suffix in (".tif", ".tiff"):
        kind = "raster"
        weights = _raster_cells(city, path, resolution)
    elif suffix == ".csv":
        kind = "town census"
        weights = _town_cells(city, path, resolution)
    else:
        raise _fail(
            f"{path.name}: expected a GeoTIFF (.tif) or a town census table (.csv)",
            f"{path.name}：应为 GeoTIFF 栅格（.tif）或乡镇街道人口表（.csv）",
            file=path.name,
        )
    centres = np.array([h3.cell_to_latlng(c) for c in weights.index]).reshape(-1, 2)
    land = on_land(centres[:, 1], centres[:, 0], city)
    weights = weights[land & (weights.to_numpy() > 0)]
    from geo.boundaries import district_of, districts

    adcodes = district_of(centres[land, 1], centres[land, 0], city) if len(weights) else np.array([])
    names = districts(city).set_index("adcode")["name_zh"]
    covered = {a for a in adcodes if a is not None}
    uncovered = [names[a] for a in names.index if a not in covered]
    if not covered:
        raise _fail(
            f"{path.name} puts nobody on land inside {city.name_en}'s districts",
            f"{path.name} 在{city.name_zh}各区县陆地范围内没有人口",
            file=path.name,
        )
    if uncovered:
        raise _fail(
            f"{path.name} does not cover the districts {uncovered}; their census totals could not be placed",
            f"{path.name} 未覆盖 {uncovered}，无法分配其普查人口",
            file=path.name,
            districts=uncovered,
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    meta = {
        "kind": kind,
        "file": path.name,
        "sha256": digest,
        "imported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "resolution": resolution,
        "cells": len(weights),
        "total_in_file": round(float(weights.sum())),
        "rule": "rescaled to each district's 2020 census total (districts.csv); cells in water dropped",
    }
    folder = _folder(city)
    folder.mkdir(parents=True, exist_ok=True)
    data, info = _paths(city)
    tmp_data, tmp_info = data.with_suffix(".csv.tmp"), info.with_suffix(".json.tmp")
    pd.DataFrame({"h3": weights.index, "weight": weights.to_numpy()}).to_csv(tmp_data, index=False)
    tmp_info.write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp_data.replace(data)
    tmp_info.replace(info)
    log.info("imported population surface for %s: %s", city.key, meta)
    return meta


def describe_imported(meta: dict[str, Any]) -> str:
    """One line naming an imported surface (for notices, exports and pages)."""
    return (
        f"imported {meta['kind']} {meta['file']} (sha256 {meta['sha256'][:12]}…, {meta['imported_at']}), "
        "rescaled to the 2020 census district totals"
    )


def imported_weights(stored: StoredSurface, cells: np.ndarray, resolution: int) -> np.ndarray:
    """Weights of grid ``cells`` at ``resolution`` from a stored surface (children summed, or parent shared)."""
    if stored.resolution >= resolution:
        parents = pd.Series(
            stored.weights.to_numpy(), index=[h3.cell_to_parent(c, resolution) for c in stored.weights.index]
        )
        summed = parents.groupby(level=0).sum()
        return summed.reindex(cells).fillna(0.0).to_numpy()
    share = 7.0 ** (resolution - stored.resolution)
    keys = [h3.cell_to_parent(c, stored.resolution) for c in cells]
    return stored.weights.reindex(keys).fillna(0.0).to_numpy() / share
