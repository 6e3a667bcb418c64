"""技能码 admin API: create, list, export, scan counts, read, edit, re-target and disable codes.

Token scope ``codes:write``; every write is audited (in :mod:`geo.skillcodes`).

    ``POST /api/v1/admin/skill-codes``                         create
    ``GET /api/v1/admin/skill-codes``                          list (with the ``broken`` flag and scan totals)
    ``GET /api/v1/admin/skill-codes/export.zip?district=…``   QR images + posters of a district's codes
    ``GET /api/v1/admin/skill-codes/scans``                    scan counts per code, day and coarse cell
    ``GET|PATCH /api/v1/admin/skill-codes/{code}``             read; change title / enable / disable
    ``PUT /api/v1/admin/skill-codes/{code}/target``            re-target (the printed code stays valid)
    ``POST /api/v1/admin/skill-codes/{code}/disable``          retire (the page then answers 410)

The pages a worker opens by scanning, their JSON form and the QR/poster downloads are in ``skillcodes``.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from api import qrcodes
from api.deps import DbSession, require_scope
from api.params import SkillCodeParam
from api.schemas import Crs, ErrorResponse
from api.services.skillcodes import codes_with_health, export_codes, scan_summary
from geo import skillcodes as registry
from geo.cities import load_city
from geo.config import get_settings
from geo.models import ApiToken, SkillCode
from geo.text_input import Line

router = APIRouter(tags=["skill codes"])

Writer = Annotated[ApiToken, Depends(require_scope("codes:write"))]
ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse},
    403: {"model": ErrorResponse},
    410: {"model": ErrorResponse},
    422: {"model": ErrorResponse},
}


# ---------------------------------------------------------------------------------------------- schemas
class SkillCodeTarget(BaseModel):
    """What a code points to (see :mod:`geo.skillcodes`); coordinates in ``crs`` (default WGS84)."""

    model_config = ConfigDict(extra="forbid")

    target_type: Literal["city", "place", "resource", "skill"]
    title: Line | None = Field(default=None, max_length=200, description="printed title; derived when empty")
    resource_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    skill: Line | None = Field(default=None, max_length=100)
    place_name: Line | None = Field(default=None, max_length=200, description="community, factory gate, office…")
    district: Line | None = Field(default=None, max_length=60, description="district name or adcode")
    town: Line | None = Field(default=None, max_length=60, description="town/sub-district name or code")
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    crs: Crs = "wgs84"

    def target(self) -> registry.Target:
        """The registry's :class:`~geo.skillcodes.Target` of this body (the title is not part of it)."""
        return registry.Target(**self.model_dump(include={f.name for f in fields(registry.Target)}))


class SkillCodeIn(SkillCodeTarget):
    """A code to create."""

    city: str | None = Field(default=None, max_length=40, description="city pack key (default: the default city)")


class SkillCodePatch(BaseModel):
    """Fields of a code that change without re-targeting."""

    model_config = ConfigDict(extra="forbid")

    title: Line | None = Field(default=None, min_length=1, max_length=200)
    enabled: bool | None = None


class SkillCodeOut(BaseModel):
    """A code as the admin sees it."""

    code: str
    printed: str
    url: str
    city: str
    title: str
    target_type: str
    resource_id: int | None = None
    skill: str | None = None
    place_name: str | None = None
    district: str | None = None
    town: str | None = None
    lon: float | None = None
    lat: float | None = None
    enabled: bool
    broken: bool
    broken_reason: str | None = None
    scans: int = 0
    downloads: dict[str, str]

    @classmethod
    def of(
        cls, session: Session, row: SkillCode, *, health: registry.CodeHealth | None = None, scans: int = 0
    ) -> SkillCodeOut:
        """Build from a row (``health``: its target's state when already known)."""
        health = health or registry.code_health(session, row)
        base = f"/api/v1/skill-codes/{row.code}"
        return cls(
            code=row.code,
            printed=registry.format_code(row.code),
            url=qrcodes.code_url(row.code),
            city=row.city,
            title=row.title,
            target_type=row.target_type,
            resource_id=row.resource_id,
            skill=row.skill,
            place_name=row.place_name,
            district=row.district,
            town=row.town,
            lon=row.lon,
            lat=row.lat,
            enabled=row.enabled,
            broken=health.broken,
            broken_reason=health.reason,
            scans=scans,
            downloads={k: f"{base}/{k}" for k in ("qr.svg", "qr.png", "poster.png", "poster.pdf")},
        )


class ScanRow(BaseModel):
    """Scans of one code on one day in one coarse cell ("" = location not shared)."""

    code: str
    day: date
    cell: str
    count: int


class CellTotal(BaseModel):
    """Scans in one H3 cell (resolution 7) over the period, with the cell's centre for maps."""

    cell: str
    lat: float
    lon: float
    count: int


class ScanReport(BaseModel):
    """Scan analytics for planners: no personal data, only counts per code, day and coarse cell."""

    city: str | None
    total: int
    located: int
    rows: list[ScanRow]
    cells: list[CellTotal]


# ---------------------------------------------------------------------------------------------- routes
ADMIN = "/api/v1/admin/skill-codes"


def _city_key(city: str | None) -> str:
    key = city or get_settings().default_city
    load_city(key)
    return key


@router.post(ADMIN, response_model=SkillCodeOut, status_code=201, responses=ADMIN_ERRORS, summary="Create a skill code")
def admin_create(db: DbSession, body: SkillCodeIn, token: Writer) -> SkillCodeOut:
    """Create a code bound to a city, place, resource or skill; its id is random and unguessable."""
    city = load_city(_city_key(body.city))
    row = registry.create_code(db, city, body.target(), actor=token.name, title=body.title)
    db.commit()
    return SkillCodeOut.of(db, row)


@router.get(ADMIN, response_model=list[SkillCodeOut], responses=ADMIN_ERRORS, summary="List skill codes")
def admin_list(
    db: DbSession,
    token: Writer,
    city: Annotated[str | None, Query(max_length=40)] = None,
    district: Annotated[str | None, Query(max_length=60)] = None,
    target_type: Literal["city", "place", "resource", "skill"] | None = None,
    enabled: bool | None = None,
    broken: Annotated[bool | None, Query(description="only broken (true) or only working (false) codes")] = None,
) -> list[SkillCodeOut]:
    """Codes with their ``broken`` flag (target deleted) and total scans."""
    if city:
        load_city(city)
    listed = codes_with_health(
        db, city=city, district=district, target_type=target_type, enabled=enabled, broken=broken
    )
    return [SkillCodeOut.of(db, c.row, health=c.health, scans=c.scans) for c in listed]


@router.get(
    f"{ADMIN}/export.zip",
    responses=ADMIN_ERRORS | {200: {"content": {"application/zip": {}}}},
    summary="Zip of QR images and A4 posters of every code of a district",
)
def admin_export(
    db: DbSession,
    token: Writer,
    city: Annotated[str | None, Query(max_length=40)] = None,
    district: Annotated[str | None, Query(max_length=60, description="district name (default: whole city)")] = None,
    include_disabled: bool = False,
    posters: Annotated[bool, Query(description="include the PDF poster of each code")] = True,
) -> Response:
    """``<code>/qr.svg``, ``<code>/qr.png``, ``<code>/poster.pdf`` per code and a ``codes.csv`` index."""
    key = _city_key(city)
    out = export_codes(db, load_city(key), district=district, include_disabled=include_disabled, posters=posters)
    name = f"skillcodes-{key}-{out.district or 'all'}.zip"
    headers = {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}"}
    return Response(out.data, media_type="application/zip", headers=headers)


@router.get(
    f"{ADMIN}/scans", response_model=ScanReport, responses=ADMIN_ERRORS, summary="Scan counts (no personal data)"
)
def admin_scans(
    db: DbSession,
    token: Writer,
    city: Annotated[str | None, Query(max_length=40)] = None,
    code: Annotated[str | None, Query(max_length=40)] = None,
    since: date | None = None,
    until: date | None = None,
) -> ScanReport:
    """Scans per code, day and coarse H3 cell (resolution 7), and totals per cell for demand maps."""
    if city:
        load_city(city)
    out = scan_summary(db, city=city, code=code, since=since, until=until)
    return ScanReport(
        city=city,
        total=out.total,
        located=out.located,
        rows=[ScanRow(code=r.code, day=r.day, cell=r.cell, count=r.count) for r in out.rows],
        cells=[CellTotal(cell=c.cell, lat=c.lat, lon=c.lon, count=c.count) for c in out.cells],
    )


@router.get(f"{ADMIN}/{{code}}", response_model=SkillCodeOut, responses=ADMIN_ERRORS, summary="One skill code")
def admin_get(db: DbSession, code: SkillCodeParam, token: Writer) -> SkillCodeOut:
    """A code, enabled or not, with its broken flag and scans."""
    row = registry.get_code(db, code)
    return SkillCodeOut.of(db, row, scans=registry.scan_totals(db, city=row.city).get(row.code, 0))


@router.patch(f"{ADMIN}/{{code}}", response_model=SkillCodeOut, responses=ADMIN_ERRORS, summary="Edit title / enable")
def admin_patch(db: DbSession, code: SkillCodeParam, body: SkillCodePatch, token: Writer) -> SkillCodeOut:
    """Change the title, or enable/disable the code (re-targeting is ``PUT …/target``)."""
    row = registry.update_code(db, code, actor=token.name, title=body.title, enabled=body.enabled)
    db.commit()
    return SkillCodeOut.of(db, row)


@router.put(f"{ADMIN}/{{code}}/target", response_model=SkillCodeOut, responses=ADMIN_ERRORS, summary="Re-target")
def admin_retarget(db: DbSession, code: SkillCodeParam, body: SkillCodeTarget, token: Writer) -> SkillCodeOut:
    """Bind the (already printed) code to a new target; also repairs a broken code."""
    row = registry.get_code(db, code)
    row = registry.retarget_code(db, load_city(row.city), row.code, body.target(), actor=token.name, title=body.title)
    db.commit()
    return SkillCodeOut.of(db, row)


@router.post(f"{ADMIN}/{{code}}/disable", response_model=SkillCodeOut, responses=ADMIN_ERRORS, summary="Disable")
def admin_disable(db: DbSession, code: SkillCodeParam, token: Writer) -> SkillCodeOut:
    """Retire a code; its page then politely says it is no longer in use (HTTP 410)."""
    row = registry.disable_code(db, code, actor=token.name)
    db.commit()
    return SkillCodeOut.of(db, row)
