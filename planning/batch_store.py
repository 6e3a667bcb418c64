"""Where a batch's tables go: GeoParquet files in a folder, and PostGIS tables — each all or nothing.

* :func:`write_geoparquet` — one ``<table>.parquet`` per table (GeoParquet, via geopandas and pyarrow,
  where rows have a geometry; plain Parquet otherwise) and ``manifest.json``, written into a staging
  folder next to the target and moved into place only when every file is complete. A previous batch
  folder at the target is replaced; any other non-empty folder is refused, never overwritten.
* :func:`write_postgis` — ``<schema>.batch_<table>`` on a PostgreSQL database with PostGIS
  (``geometry`` columns with SRID 4326, via geopandas ``to_postgis``), every table replaced in ONE
  transaction: a failure leaves the previous tables as they were.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from geo.errors import InvalidParameterError, PostGISUnavailableError

log = logging.getLogger(__name__)

#: ``manifest.json`` of a batch folder names this format, so only a batch's own folder is replaced.
FORMAT = "skillcircle-batch/1"
TABLE_PREFIX = "batch_"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,39}$")


def write_geoparquet(tables: Mapping[str, pd.DataFrame], out: Path | str, *, manifest: dict[str, Any]) -> Path:
    """Write every table to ``out/<table>.parquet`` plus ``out/manifest.json``, all or nothing.

    Parameters
    ----------
    tables
        Table name → frame (a GeoDataFrame is written as GeoParquet with its CRS).
    out
        Target folder: absent, empty, or a previous batch's folder (replaced).
    manifest
        What the batch was (spec, cities, timings); ``format`` and ``tables`` are added.
    """
    target = Path(out)
    _check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))
    try:
        files = {}
        for name, frame in tables.items():
            path = staging / f"{name}.parquet"
            frame.to_parquet(path, index=False)  # geopandas: GeoParquet metadata and WKB geometry
            files[name] = {"file": path.name, "rows": len(frame), "geometry": isinstance(frame, gpd.GeoDataFrame)}
        body = {"format": FORMAT, **manifest, "tables": files}
        (staging / "manifest.json").write_text(json.dumps(body, indent=2, ensure_ascii=False), encoding="utf-8")
        _swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("wrote %d tables to %s", len(tables), target)
    return target


def _check_target(target: Path) -> None:
    if not target.exists():
        return
    if not target.is_dir():
        msg = f"{target} exists and is not a folder"
        raise InvalidParameterError(msg, message_zh=f"{target} 已存在且不是文件夹")
    manifest = target / "manifest.json"
    ours = False
    if manifest.is_file():
        try:
            ours = json.loads(manifest.read_text(encoding="utf-8")).get("format") == FORMAT
        except (ValueError, OSError):
            ours = False
    if not ours and any(target.iterdir()):
        msg = f"{target} is a non-empty folder that is not a batch result; choose another --out"
        raise InvalidParameterError(msg, message_zh=f"{target} 不是批量分析结果文件夹且非空，请另选 --out")


def _swap_in(staging: Path, target: Path) -> None:
    """Move the complete ``staging`` folder to ``target`` (renames on one file system)."""
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    try:
        staging.rename(target)
    except BaseException:
        if old is not None:
            old.rename(target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def read_geoparquet(folder: Path | str) -> dict[str, pd.DataFrame]:
    """Read a batch folder back: table name → frame (GeoDataFrame where the file has geometry)."""
    root = Path(folder)
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    out: dict[str, pd.DataFrame] = {}
    for name, meta in manifest["tables"].items():
        path = root / meta["file"]
        out[name] = gpd.read_parquet(path) if meta["geometry"] else pd.read_parquet(path)
    return out


def is_postgresql(url: str) -> bool:
    """True when the SQLAlchemy ``url`` is a PostgreSQL database."""
    from sqlalchemy import make_url

    return make_url(url).get_backend_name() == "postgresql"


def write_postgis(tables: Mapping[str, pd.DataFrame], *, url: str, schema: str = "analytics") -> list[str]:
    """Replace ``schema.batch_<table>`` for every table in ONE transaction; returns the qualified names.

    Parameters
    ----------
    tables
        Table name → frame; a GeoDataFrame's geometry becomes a PostGIS ``geometry`` column (SRID 4326).
    url
        A PostgreSQL database with the ``postgis`` extension (``skillcircle db upgrade`` enables it).
    schema
        Schema for the tables (created if missing): lower-case letters, digits and ``_``.

    Raises
    ------
    InvalidParameterError
        ``url`` is not PostgreSQL, or ``schema`` is not a plain identifier.
    PostGISUnavailableError
        The database has no ``postgis`` extension; nothing is written.
    """
    from sqlalchemy import text

    from geo.db import get_engine

    if not is_postgresql(url):
        msg = "PostGIS tables need a PostgreSQL DATABASE_URL"
        raise InvalidParameterError(msg, message_zh="写入 PostGIS 表需要 PostgreSQL 数据库（DATABASE_URL）")
    if not _IDENTIFIER.match(schema):
        msg = f"schema must be lower-case letters, digits and _ (at most 40), got {schema!r}"
        raise InvalidParameterError(msg, message_zh=f"模式名只能由小写字母、数字和下划线组成，收到“{schema}”")
    names = []
    with get_engine(url).begin() as conn:
        if conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).first() is None:
            msg = "PostGIS is missing on the PostgreSQL server (run `skillcircle db upgrade` as a superuser first)"
            raise PostGISUnavailableError(
                msg,
                message_zh="PostgreSQL 服务器缺少 PostGIS（请先以超级用户运行 skillcircle db upgrade）",
                details={"reason": "extension_missing"},
            )
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        for name, frame in tables.items():
            table = f"{TABLE_PREFIX}{name}"
            if isinstance(frame, gpd.GeoDataFrame):
                frame.to_postgis(table, conn, schema=schema, if_exists="replace", index=False)
            else:
                frame.to_sql(table, conn, schema=schema, if_exists="replace", index=False)
            names.append(f"{schema}.{table}")
    log.info("wrote %d PostGIS tables in schema %s", len(names), schema)
    return names


__all__ = ["FORMAT", "TABLE_PREFIX", "is_postgresql", "read_geoparquet", "write_geoparquet", "write_postgis"]
