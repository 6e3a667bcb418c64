"""Import of resource, class and evaluation sheets: all or nothing, upsert by external id.

Every row is validated first; any problem (missing name, unknown category, a point outside the city
or in the sea, an unparseable date, a duplicate external id, …) is collected with its row and column,
and if there is one the import raises :class:`ImportValidationError` having written nothing. Only a
sheet with no problem is written, in one transaction. Re-importing the same sheet updates the rows
with the same external id instead of duplicating them. A class's confirmed online sign-ups hold their
seats whatever a re-imported sheet says: its seats left are at most its total minus those (the report
names the classes lowered so, ``seats_kept_for_signups``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.audit import record
from geo.categories import parse_category, parse_level, parse_schedule
from geo.cities import CityPack
from geo.coords import CRS_KEYS, to_wgs84
from geo.errors import CoordinateError, ImportValidationError
from geo.import_rows import ImportReport, ProgressFn, RowChecks, Ticker, chunks
from geo.models import Evaluation, Resource, ResourceSkill, TrainingClass
from geo.sheets import (
    SheetRow,
    parse_bool,
    parse_skills,
    read_table,
)
from geo.signups import live_counts

log = logging.getLogger(__name__)


def import_sheet(
    session: Session,
    city: CityPack,
    source: Path | bytes,
    *,
    kind: str,
    crs: str = "wgs84",
    filename: str | None = None,
    sheet: str | None = None,
    actor: str = "cli",
    progress: ProgressFn | None = None,
) -> ImportReport:
    """Validate a sheet completely, then upsert it into ``session`` (the caller commits).

    Parameters
    ----------
    session
        An open session; nothing is added to it unless every row is valid.
    city
        The city the rows belong to; points must lie inside its districts.
    source
        Path or bytes of a CSV, XLSX or GeoJSON file.
    kind
        ``resources``, ``classes`` or ``evaluations``.
    crs
        Coordinate system of the sheet's points when a row has no ``crs`` cell: ``wgs84``,
        ``gcj02`` (Amap, Tencent) or ``bd09`` (Baidu). Points are stored in WGS84.
    sheet
        XLSX: the worksheet to read; by default the first visible one (never a hidden one unless named).
    actor
        Who imports, for the audit log.
    progress
        Called as ``progress(phase, done, total)`` while the import runs (phases ``reading``,
        ``checking``, ``writing``, ``saving``; every few hundred rows): the CLI's progress bar and the
        job API's progress. It must not use ``session``.

    Raises
    ------
    ImportValidationError
        With ``details["errors"]``: every bad cell, by row and column. The session is untouched.
    """
    if crs not in CRS_KEYS:
        msg = f"unknown coordinate system {crs!r}; expected one of {', '.join(CRS_KEYS)}"
        raise CoordinateError(msg, message_zh=f"未知的坐标系“{crs}”，应为 wgs84、gcj02 或 bd09")
    tick = Ticker(progress)
    tick("reading", 0, 0, force=True)
    table, rows = read_table(source, kind=kind, filename=filename, sheet=sheet)
    tick("checking", 0, len(rows), force=True)
    if kind == "resources":
        report = _import_resources(session, city, rows, crs=crs, tick=tick)
    else:
        report = _import_events(session, city, rows, kind=kind, tick=tick)
    report.sheet, report.encoding = table.sheet, table.encoding
    record(session, actor=actor, action="import", entity=kind, entity_id=city.key, changes=report.to_dict())
    log.info("imported %s for %s: %s", kind, city.key, report.to_dict())
    return report


def import_records(
    session: Session,
    city: CityPack,
    records: list[dict[str, Any]],
    *,
    kind: str,
    crs: str = "wgs84",
    dry_run: bool = False,
) -> ImportReport:
    """Validate and upsert records given as dicts of sheet columns (the console's forms), by the same
    rules and with the same row/column error report as a sheet; the caller audits and commits.

    Text values are stripped and empty ones count as missing, as in a sheet. Rows are numbered from 2
    (as if under a header row). ``dry_run`` validates and writes nothing.
    """
    if kind not in _KINDS:
        msg = f"unknown kind {kind!r}"
        raise ImportValidationError(msg, message_zh=f"未知的数据类型“{kind}”", code="unknown_kind")
    rows = [
        SheetRow(row=i + 2, cells={k: _form_value(v) for k, v in rec.items() if _form_value(v) is not None})
        for i, rec in enumerate(records)
    ]
    if kind == "resources":
        return _import_resources(session, city, rows, crs=crs, dry_run=dry_run)
    return _import_events(session, city, rows, kind=kind, dry_run=dry_run)


_KINDS = ("resources", "classes", "evaluations")


def _form_value(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip() or None
    return value


def _resource_points(city: CityPack, rows: list[SheetRow], checks: RowChecks, *, crs: str) -> list[tuple | None]:
    """Validate and convert every row's point to WGS84, then check it lies in a district polygon, on land."""
    from geo.boundaries import district_of, districts
    from geo.land import on_land

    raw: list[tuple[int, float, float, str] | None] = []
    for r in rows:
        lon = checks.number(r, "lon", integer=False, required=True, minimum=-180)
        lat = checks.number(r, "lat", integer=False, required=True, minimum=-90)
        row_crs = str(r.cells.get("crs") or crs).lower()
        if row_crs not in CRS_KEYS:
            en, zh = f"unknown coordinate system '{row_crs}'", f"未知的坐标系“{row_crs}”"
            checks.add(r.row, "crs", en, zh, kind="unknown_crs")
            raw.append(None)
        elif lon is None or lat is None:
            raw.append(None)
        elif not (-180 <= lon <= 180 and -90 <= lat <= 90):
            en, zh = f"coordinates out of range: {lon}, {lat}", f"坐标超出范围：{lon}, {lat}"
            checks.add(r.row, "lon", en, zh, kind="out_of_range")
            raw.append(None)
        else:
            wlon, wlat = to_wgs84(lon, lat, crs=row_crs)
            raw.append((r.row, float(wlon), float(wlat), row_crs))
    valid = [p for p in raw if p is not None]
    if not valid:
        return raw
    lons = np.array([p[1] for p in valid])
    lats = np.array([p[2] for p in valid])
    codes = district_of(lons, lats, city)
    land = on_land(lons, lats, city)
    names = dict(zip(districts(city)["adcode"], districts(city)["name_zh"], strict=True))
    out: list[tuple | None] = []
    it = iter(zip(codes, land, strict=True))
    for p in raw:
        if p is None:
            out.append(None)
            continue
        code, dry = next(it)
        if code is not None and not dry:
            checks.add(
                p[0],
                "lon",
                f"point ({p[1]:.5f}, {p[2]:.5f}) lies in water (sea, estuary or lake) by the land mask; "
                "check the coordinates and their crs",
                f"坐标（{p[1]:.5f}, {p[2]:.5f}）位于水域（海面、江口或湖泊），请核对坐标及坐标系",
            )
            out.append(None)
        elif code is None:
            checks.add(
                p[0],
                "lon",
                f"point ({p[1]:.5f}, {p[2]:.5f}) lies outside {city.name_en} (outside every district, or in the sea)",
                f"坐标（{p[1]:.5f}, {p[2]:.5f}）不在{city.name_zh}范围内（不在任何区县内或位于海上）",
                kind="outside_city",
            )
            out.append(None)
        else:
            out.append((p[1], p[2], names.get(code)))
    return out


def _import_resources(
    session: Session,
    city: CityPack,
    rows: list[SheetRow],
    *,
    crs: str,
    dry_run: bool = False,
    tick: Ticker | None = None,
) -> ImportReport:
    tick = tick or Ticker(None)
    checks = RowChecks()
    checks.texts(rows, kind="resources", model=Resource)
    checks.unique_ids(rows)
    points = _resource_points(city, rows, checks, crs=crs)
    parsed = []
    for i, (r, point) in enumerate(zip(rows, points, strict=True), 1):
        tick("checking", i, len(rows))
        values = {
            "external_id": checks.required(r, "external_id"),
            "name": checks.required(r, "name"),
            "category": checks.parsed(r, "category", parse_category) if checks.required(r, "category") else None,
            "seats": checks.number(r, "seats", integer=True, required=False),
            "subsidy_eligible": checks.parsed(r, "subsidy_eligible", parse_bool) or False,
            "is_sample": checks.parsed(r, "is_sample", parse_bool) or False,
            "updated_at": checks.date(r, "updated_at", required=False),
            "skills": parse_skills(r.cells.get("skills")),
        }
        for col in ("town", "address", "phone", "opening_hours", "reg_url", "reg_phone", "subsidy_note", "source"):
            values[col] = None if r.cells.get(col) is None else str(r.cells[col])
        steps = r.cells.get("reg_steps")
        parts = str(steps).replace("；", ";").replace("\n", ";").split(";") if steps else []
        values["reg_steps"] = [s.strip() for s in parts if s.strip()]
        if point is not None:
            values["lon"], values["lat"], district = point
            values["district"] = district or r.cells.get("district")
        parsed.append(values)
    if checks.errors:
        raise checks.error(kind="resources")
    if dry_run:
        return ImportReport(kind="resources", rows=len(parsed))

    existing = {
        res.external_id: res
        for chunk in chunks([str(v["external_id"]) for v in parsed])
        for res in session.scalars(select(Resource).where(Resource.city == city.key, Resource.external_id.in_(chunk)))
    }
    report = ImportReport(kind="resources", rows=len(parsed))
    for i, values in enumerate(parsed, 1):
        tick("writing", i, len(parsed))
        ext = str(values.pop("external_id"))
        skills = values.pop("skills")
        updated_at = values.pop("updated_at")
        res = existing.get(ext)
        if res is None:
            res = Resource(city=city.key, external_id=ext)
            session.add(res)
            report.created += 1
        else:
            report.updated += 1
        for key, value in values.items():
            setattr(res, key, value)
        res.name = str(res.name)
        res.skills = [ResourceSkill(name=name, code=code) for name, code in skills]
        if updated_at:
            res.updated_at = datetime(updated_at.year, updated_at.month, updated_at.day, tzinfo=UTC)
        else:
            res.updated_at = datetime.now(UTC)
        report.external_ids.append(ext)
    tick("saving", len(parsed), len(parsed), force=True)
    session.flush()
    return report


_EVENT_SPECS: dict[str, tuple[type[TrainingClass] | type[Evaluation], str]] = {
    "classes": (TrainingClass, "resource_external_id"),
    "evaluations": (Evaluation, "agency_external_id"),
}


def _import_events(
    session: Session,
    city: CityPack,
    rows: list[SheetRow],
    *,
    kind: str,
    dry_run: bool = False,
    tick: Ticker | None = None,
) -> ImportReport:
    tick = tick or Ticker(None)
    model, owner_col = _EVENT_SPECS[kind]
    checks = RowChecks()
    checks.texts(rows, kind=kind, model=model)
    checks.unique_ids(rows)
    owner_ids = sorted({str(r.cells[owner_col]) for r in rows if r.cells.get(owner_col)})
    owners = {
        ext: rid
        for chunk in chunks(owner_ids)
        for ext, rid in session.execute(
            select(Resource.external_id, Resource.id).where(Resource.city == city.key, Resource.external_id.in_(chunk))
        )
    }
    parsed = []
    for i, r in enumerate(rows, 1):
        tick("checking", i, len(rows))
        owner = checks.required(r, owner_col)
        values: dict[str, Any] = {
            "external_id": checks.required(r, "external_id"),
            "skill": checks.required(r, "skill"),
            "skill_code": None if r.cells.get("skill_code") is None else str(r.cells["skill_code"]),
            "level": checks.parsed(r, "level", parse_level) if checks.required(r, "level") else None,
            "fee": checks.number(r, "fee", integer=False, required=False),
            "is_sample": checks.parsed(r, "is_sample", parse_bool) or False,
            "seats_left": checks.number(r, "seats_left", integer=True, required=True),
        }
        if owner is not None:
            values["resource_id"] = owners.get(str(owner))
            if values["resource_id"] is None:
                checks.add(
                    r.row,
                    owner_col,
                    f"no resource with external_id '{owner}' in {city.key}; import resources first",
                    f"找不到编号为“{owner}”的资源，请先导入资源表",
                    kind="unknown_owner",
                )
        if kind == "classes":
            values["start_date"] = checks.date(r, "start_date", required=True)
            values["end_date"] = checks.date(r, "end_date", required=True)
            values["signup_deadline"] = checks.date(r, "signup_deadline", required=False)
            values["schedule"] = (
                checks.parsed(r, "schedule", parse_schedule) if checks.required(r, "schedule") else None
            )
            values["seats_total"] = checks.number(r, "seats_total", integer=True, required=True)
            values["subsidy"] = checks.number(r, "subsidy", integer=False, required=False)
            if values["start_date"] and values["end_date"] and values["end_date"] < values["start_date"]:
                en, zh = "end_date is before start_date", "结束日期早于开始日期"
                checks.add(r.row, "end_date", en, zh, kind="invalid_dates")
            if values["seats_total"] is not None and values["seats_left"] is not None:
                if values["seats_left"] > values["seats_total"]:
                    en, zh = "seats_left exceeds seats_total", "剩余名额多于总名额"
                    checks.add(r.row, "seats_left", en, zh, kind="invalid_seats")
        else:
            values["date"] = checks.date(r, "date", required=True)
        parsed.append(values)
    if checks.errors:
        raise checks.error(kind=kind)
    if dry_run:
        return ImportReport(kind=kind, rows=len(parsed))

    # select() of a union of mapped classes is typed as their common base; the rows are of ``model``.
    existing = {
        obj.external_id: obj
        for chunk in chunks([str(v["external_id"]) for v in parsed])
        for obj in cast(
            "Iterable[TrainingClass | Evaluation]",
            session.scalars(select(model).where(model.city == city.key, model.external_id.in_(chunk))),
        )
    }
    report = ImportReport(kind=kind, rows=len(parsed))
    held = live_counts(session, ids=[o.id for o in existing.values()]) if model is TrainingClass else {}
    for i, values in enumerate(parsed, 1):
        tick("writing", i, len(parsed))
        ext = str(values.pop("external_id"))
        obj = existing.get(ext)
        if obj is None:
            obj = model(city=city.key, external_id=ext)
            session.add(obj)
            report.created += 1
        else:
            report.updated += 1
            # a seat confirmed online is taken whatever the sheet says: seats left ≤ total − those
            confirmed = held.get((obj.id, "confirmed"), 0)
            cap = max(int(values["seats_total"]) - confirmed, 0)
            if confirmed and int(values["seats_left"]) > cap:
                values["seats_left"] = cap
                report.seats_kept_for_signups.append(ext)
        for key, value in values.items():
            setattr(obj, key, value)
        obj.skill = str(obj.skill)
        report.external_ids.append(ext)
    tick("saving", len(parsed), len(parsed), force=True)
    session.flush()
    return report


def import_folder(session: Session, city: CityPack, folder: Path, *, actor: str = "cli") -> list[ImportReport]:
    """Import ``resources``, ``classes`` and ``evaluations`` sheets found in ``folder`` (CSV/XLSX/GeoJSON)."""
    reports = []
    for kind in ("resources", "classes", "evaluations"):
        for suffix in (".csv", ".xlsx", ".geojson"):
            path = folder / f"{kind}{suffix}"
            if path.is_file():
                reports.append(import_sheet(session, city, path, kind=kind, actor=actor))
                break
    if not reports:
        msg = f"no resources/classes/evaluations sheet in {folder}"
        raise ImportValidationError(msg, message_zh=f"目录 {folder} 中没有可导入的表格", code="no_sheets")
    return reports
