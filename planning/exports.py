"""Files for planners' reports, one format at a time: :func:`export_bytes` gives the bytes of any of
:data:`FORMATS` for a category and mode.

The tables (GeoPackage, GeoJSON, CSV, XLSX) come from :mod:`planning.tables`, the PNG/PDF summary page
from :mod:`planning.figures`; the API's ``/plan/export`` and the CLI's ``plan export`` both call this.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from geo.errors import InvalidParameterError
from geo.moderules import check_mode
from planning.figures import summary_figure
from planning.params import THRESHOLDS, check_minutes, parse_category_or_all
from planning.tables import write_geojson, write_geopackage, write_tables

if TYPE_CHECKING:
    from planning.coverage import CoverageModel

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


__all__ = ["FORMATS", "export_bytes"]
