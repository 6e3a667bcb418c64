"""Files for planners' reports: the coverage grid and isochrones as GeoPackage/GeoJSON, tables as CSV/XLSX,
and a one-page PNG/PDF summary figure per category.

* :func:`grid_frame` — one row per H3 cell: population, minutes to the nearest resource of the
  category (by one mode), covered flags per threshold, district and town.
* :func:`coverage_bands` — the covered area per threshold (covered cells dissolved with H3), i.e. the
  category's combined isochrones derived from the ONE-pass times, not from unioned polygons.
* :func:`resource_isochrones` — each resource's own bands (travel *to* it), for maps of catchments.
* :func:`write_geopackage` — layers ``grid``, ``coverage_bands``, ``isochrones``, ``districts`` and
  ``towns`` (district polygons / Voronoi town areas with their coverage figures).
* :func:`write_tables` — CSV per district and town (every mode × threshold) and an XLSX workbook
  with a notes sheet (sources, sample/estimate notices).
* :func:`summary_figure` — gap map, share covered per district and mode, the totals table, and the
  notices, on one A4 landscape page. Chinese text needs a CJK font (Debian ``fonts-noto-cjk``,
  installed by ``scripts/system-deps.sh``); :func:`cjk_font` finds it.

Every file says when its resources are sample data or its times straight-line estimates.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import shape

from geo.categories import CATEGORY_BY_KEY
from geo.clock import city_today
from geo.config import get_settings
from geo.errors import InvalidParameterError
from geo.moderules import MODE_KEYS, check_mode
from geo.population import surface_of
from geo.safe_cells import safe_frame
from planning.coverage import CoverageModel, CoverageTable
from planning.notices import coverage_notice
from planning.params import ALL_CATEGORIES, THRESHOLDS, check_minutes, parse_category_or_all

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

#: Export formats: file suffix → media type.
FORMATS: dict[str, str] = {
    "gpkg": "application/geopackage+sqlite3",
    "geojson": "application/geo+json",
    "isochrones.geojson": "application/geo+json",
    "districts.csv": "text/csv; charset=utf-8",
    "towns.csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "png": "image/png",
    "pdf": "application/pdf",
}
MODE_LABELS: dict[str, tuple[str, str]] = {
    "walk": ("步行", "walk"),
    "bicycle": ("自行车", "bicycle"),
    "ebike": ("电动自行车", "e-bike"),
    "car": ("汽车", "car"),
}
MAX_ISOCHRONE_RESOURCES = 300
_CJK_FILES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)


def category_label(category: str) -> tuple[str, str]:
    """Chinese and English label of a category key (or ``"all"``)."""
    if category == ALL_CATEGORIES:
        return "全部培训与评价资源", "all resources"
    cat = CATEGORY_BY_KEY[category]
    return cat.label_zh, cat.label_en


def data_flags(frame: pd.DataFrame, model: CoverageModel) -> pd.DataFrame:
    """``frame`` with the flags a file must carry in its data, not only in HTTP headers: ``sample``
    (the resources are a labelled sample), ``population_surface`` (``model`` or ``imported``) and
    ``population_source`` (the model's rule or the imported file). ``estimate`` stays per row/mode."""
    out = frame.copy()
    surface = surface_of(model.grid)
    out["sample"] = bool(model.resources.any_sample)
    out["population_surface"] = surface["kind"]
    out["population_source"] = surface["source"]
    return out


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        msg = f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}"
        raise InvalidParameterError(
            msg,
            message_zh=f"未知的导出格式“{fmt}”，可选：{'、'.join(FORMATS)}",
            code="invalid_format",
            details={"format": fmt, "allowed": list(FORMATS)},
        )
    return fmt


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
                "minutes": _num(lim),
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
                    "minutes": _num(float(props.get("minutes", 0))),
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
        frame["minutes"] = _num(cov.minutes)
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


def export_bytes(
    fmt: str,
    model: CoverageModel,
    category: str,
    *,
    mode: str,
    minutes: float = 30,
    thresholds: Iterable[float] = THRESHOLDS,
    workdir: Path | str,
) -> bytes:
    """The bytes of one export format (:data:`FORMATS`) for ``category``/``mode`` (``minutes`` for maps).

    Tables cover every mode and threshold of the category; ``workdir`` holds temporary files.
    """
    _check_format(fmt)
    cat = parse_category_or_all(category)
    check_mode(mode)
    limit = check_minutes(minutes)
    limits = list(thresholds)
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    if fmt == "gpkg":
        return write_geopackage(
            work / "coverage.gpkg", model, cat, mode=mode, minutes=limit, thresholds=limits
        ).read_bytes()
    if fmt in ("geojson", "isochrones.geojson"):
        layer = "grid" if fmt == "geojson" else "isochrones"
        return write_geojson(
            work / f"{layer}.geojson", model, cat, mode=mode, thresholds=limits, layer=layer
        ).read_bytes()
    if fmt in ("districts.csv", "towns.csv", "xlsx"):
        paths = write_tables(work, model, categories=[cat], thresholds=limits)
        return paths[fmt].read_bytes()
    buf = io.BytesIO()
    summary_figure(model, cat, mode=mode, minutes=limit).savefig(buf, format=fmt, dpi=150)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------- figure
def cjk_font() -> str | None:
    """Path of a CJK font matplotlib can use (registered on first call), or ``None`` if none is installed."""
    from matplotlib import font_manager

    for path in _CJK_FILES:
        if Path(path).is_file():
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError):
                continue
            return path
    for f in font_manager.fontManager.ttflist:
        if "CJK" in f.name or "WenQuanYi" in f.name:
            return f.fname
    return None


def _font_family() -> list[str]:
    from matplotlib import font_manager

    path = cjk_font()
    if path is None:
        log.warning("no CJK font found (install fonts-noto-cjk): Chinese text will render as boxes")
        return ["DejaVu Sans"]
    return [font_manager.FontProperties(fname=path).get_name(), "DejaVu Sans"]


_BINS = (10, 15, 20, 30)
_COLORS = ("#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027")


def summary_figure(model: CoverageModel, category: str, *, mode: str = "ebike", minutes: float = 30) -> Figure:
    """One A4-landscape page for ``category``: gap map (``mode``), district shares, totals, notices.

    Returns a :class:`matplotlib.figure.Figure` (no pyplot state; safe in a server thread); save it
    with ``fig.savefig(path)`` as PNG or PDF.
    """
    import matplotlib as mpl
    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    cat = parse_category_or_all(category)
    check_mode(mode)
    limit = check_minutes(minutes)
    label_zh, label_en = category_label(cat)
    city = model.city
    with mpl.rc_context({"font.family": _font_family(), "axes.unicode_minus": False, "pdf.fonttype": 42}):
        fig = Figure(figsize=(11.69, 8.27), layout="constrained")
        grid = fig.add_gridspec(3, 2, width_ratios=[1.15, 1], height_ratios=[1.2, 1, 0.32])
        ax_map = fig.add_subplot(grid[0:2, 0])
        ax_bar = fig.add_subplot(grid[0, 1])
        ax_tab = fig.add_subplot(grid[1, 1])
        ax_note = fig.add_subplot(grid[2, :])
        title_city = f"{city.name_zh} " if city is not None else ""
        fig.suptitle(
            f"{title_city}{label_zh}：职业技能培训圈人口覆盖摘要\n"
            f"{city.name_en + ' — ' if city is not None else ''}{label_en}: population coverage summary",
            fontsize=14,
        )
        # gap map -------------------------------------------------------------------------------
        seconds = model.cell_seconds(cat, mode=mode)
        mins = seconds / 60.0
        klass = np.digitize(mins, _BINS, right=True)  # 0: ≤10 … 4: >30 or unreachable
        polys = [np.asarray(g.exterior.coords) for g in model.grid.geometry]
        coll = PolyCollection(
            polys, facecolors=[_COLORS[k] for k in klass], edgecolors="none", linewidths=0, antialiased=False
        )
        ax_map.add_collection(coll)
        if city is not None:
            from geo.boundaries import districts

            for geom in districts(city).geometry:
                for part in getattr(geom, "geoms", [geom]):
                    x, y = part.exterior.xy
                    ax_map.plot(x, y, color="#333333", linewidth=0.6)
        mask = model.resources.mask(cat)
        ax_map.scatter(model.resources.lons[mask], model.resources.lats[mask], s=6, c="black", marker="o", zorder=3)
        ax_map.autoscale_view()
        lat0 = float(np.mean(model.cell_lonlat[1])) if model.n_cells else 30.0
        ax_map.set_aspect(1.0 / math.cos(math.radians(lat0)))
        ax_map.set_xticks([])
        ax_map.set_yticks([])
        mode_zh, mode_en = MODE_LABELS[mode]
        est_zh, est_en = ("（直线估算）", " (straight-line estimate)") if model.estimate(mode) else ("", "")
        ax_map.set_title(
            f"{mode_zh}到最近{label_zh}的时间{est_zh}\nminutes by {mode_en} to the nearest{est_en}", fontsize=10
        )
        legend = [
            Patch(color=_COLORS[0], label="≤ 10 分钟 min"),
            Patch(color=_COLORS[1], label="10–15"),
            Patch(color=_COLORS[2], label="15–20"),
            Patch(color=_COLORS[3], label="20–30"),
            Patch(color=_COLORS[4], label="> 30 / 不可达 unreachable（缺口 gap）"),
        ]
        ax_map.legend(handles=legend, loc="lower left", fontsize=7, framealpha=0.85)
        # shares per district and mode ----------------------------------------------------------------
        tab = model.table(categories=[cat], modes=MODE_KEYS, thresholds=sorted({*THRESHOLDS, limit}))
        d = tab.districts[tab.districts["minutes"] == _num(limit)]
        names = list(dict.fromkeys(d["name"]))
        width = 0.8 / len(MODE_KEYS)
        xs = np.arange(len(names))
        for k, m in enumerate(MODE_KEYS):
            sub = d[d["mode"] == m].set_index("name").reindex(names)
            ax_bar.bar(xs + (k - 1.5) * width, 100 * sub["share"].to_numpy(float), width, label=MODE_LABELS[m][0])
        ax_bar.set_xticks(xs, names, rotation=30, ha="right", fontsize=8)
        ax_bar.set_ylim(0, 122)
        ax_bar.set_yticks([0, 20, 40, 60, 80, 100])
        ax_bar.set_ylabel("覆盖人口占比 % covered")
        ax_bar.set_title(f"{_num(limit)} 分钟内覆盖率（按区县、出行方式）/ share within {_num(limit)} min", fontsize=10)
        ax_bar.legend(fontsize=7, ncols=4, loc="upper center")
        # totals table ------------------------------------------------------------------------------
        t = tab.totals
        rows = []
        for m in MODE_KEYS:
            sub = t[t["mode"] == m].set_index("minutes")
            rows.append([f"{100 * sub.loc[_num(x), 'share']:.1f}%" for x in THRESHOLDS])
        ax_tab.axis("off")
        table = ax_tab.table(
            cellText=rows,
            rowLabels=[f"{MODE_LABELS[m][0]} {'（估算）' if model.estimate(m) else ''}" for m in MODE_KEYS],
            colLabels=[f"{x} 分钟" for x in THRESHOLDS],
            loc="center",
            cellLoc="center",
        )
        table.scale(1, 1.6)
        total_pop = int(t["population"].iloc[0]) if len(t) else 0
        ax_tab.set_title(f"全市覆盖率 / city-wide share covered（常住人口 {total_pop:,}）", fontsize=10)
        # notices ----------------------------------------------------------------------------------
        ax_note.axis("off")
        notes = coverage_notice(model, mode=None)
        est = [MODE_LABELS[m][0] for m in MODE_KEYS if model.estimate(m)]
        lines = [f"• {n['zh']}" for n in notes.values()]
        if est:
            lines.append(f"• 估算：{'、'.join(est)}为直线距离×绕行系数估算（尚无路网），数字偏粗。")
        day = city_today(model.city if model.city is not None else get_settings().default_city)
        lines.append(f"• 生成日期 {day.isoformat()}；SkillCircle 技能圈 planning.coverage")
        ax_note.text(0, 1, "\n".join(lines), va="top", ha="left", fontsize=8, wrap=True)
    return fig


def _tag(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value).replace(".", "_")


def _num(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


__all__ = [
    "FORMATS",
    "area_frames",
    "category_label",
    "cjk_font",
    "coverage_bands",
    "export_bytes",
    "grid_frame",
    "resource_isochrones",
    "summary_figure",
    "write_geojson",
    "write_geopackage",
    "write_tables",
    "write_xlsx",
]
