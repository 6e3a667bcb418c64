"""技能码 (skill codes): the page a worker opens by scanning, its JSON form, QR/poster downloads, and the
admin API that creates, lists, re-targets and disables codes.

Public
    ``GET /s/{code}``                              the mobile landing page (server-rendered; ``?lang=en``
                                                   or ``Accept-Language`` for English)
    ``GET /s/{code}/live``                         the page's live part for a mode/location (HTML fragment)
    ``GET /api/v1/skill-codes/{code}``             the same answer as JSON
    ``GET /api/v1/skill-codes/{code}/qr.svg|qr.png|poster.png|poster.pdf``

Admin (token scope ``codes:write``; every write audited)
    ``POST /api/v1/admin/skill-codes``                         create
    ``GET /api/v1/admin/skill-codes``                          list (with the ``broken`` flag and scan totals)
    ``GET /api/v1/admin/skill-codes/export.zip?district=…``   QR images + posters of a district's codes
    ``GET /api/v1/admin/skill-codes/scans``                    scan counts per code, day and coarse cell
    ``GET|PATCH /api/v1/admin/skill-codes/{code}``             read; change title / enable / disable
    ``PUT /api/v1/admin/skill-codes/{code}/target``            re-target (the printed code stays valid)
    ``POST /api/v1/admin/skill-codes/{code}/disable``          retire (the page then answers 410)

Unknown codes get a friendly 404 page (in the page language) linking to the city map, disabled ones a 410 "no longer in
use" page; the JSON endpoints answer with the usual error body (``skill_code_not_found``,
``skill_code_disabled``).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import fields
from datetime import date
from functools import partial
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from api import qrcodes
from api.deps import DbSession, require_scope
from api.i18n import html_lang, negotiate, safe_negotiate
from api.params import wgs84_point
from api.schemas import Crs, ErrorResponse, Mode
from api.security import template_context
from api.services.skillcodes import codes_with_health, export_codes
from api.skillcode_answer import SkillCodeAnswer, answer_json, build_answer
from api.skillcode_text import js_texts, texts
from api.state import CityRuntime, get_runtime
from api.telemetry import SKILL_CODE_SCANS
from api.web import when
from geo import skillcodes as registry
from geo.cities import load_city
from geo.config import get_settings
from geo.errors import GoneError, InvalidParameterError, NotFoundError, SkillCircleError
from geo.models import ApiToken, SkillCode
from geo.moderules import check_mode
from geo.text_input import Line

log = logging.getLogger(__name__)
router = APIRouter(tags=["skill codes"])

API_DIR = FsPath(__file__).resolve().parent.parent
templates = Jinja2Templates(directory=API_DIR / "templates", context_processors=[template_context])
CodeText = Annotated[str, Path(min_length=1, max_length=40, description="the code, e.g. K7M2Q9XA (case-insensitive)")]
Writer = Annotated[ApiToken, Depends(require_scope("codes:write"))]
ERRORS: dict[int | str, dict[str, Any]] = {
    410: {"model": ErrorResponse},
    422: {"model": ErrorResponse},
}
ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, **ERRORS}


def _asset_version(*names: str) -> str:
    h = hashlib.blake2b(digest_size=4)
    for name in names:
        path = API_DIR / "static" / name
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()


ASSET_VERSION = _asset_version("skillcode.css", "skillcode.js")


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


# ---------------------------------------------------------------------------------------------- helpers
def _runtime(row: SkillCode) -> CityRuntime:
    return get_runtime(row.city)


def _phone_point(runtime: CityRuntime, lat: float | None, lon: float | None, crs: str) -> tuple[float, float] | None:
    if lat is None and lon is None:
        return None
    if lat is None or lon is None:
        msg = "give both lat and lon, or neither"
        raise InvalidParameterError(msg, message_zh="纬度和经度须同时提供", code="invalid_coordinates")
    return wgs84_point(runtime, lon, lat, crs)


def _answer(
    db: Session,
    row: SkillCode,
    *,
    mode: str,
    lat: float | None,
    lon: float | None,
    crs: str,
    located: bool,
    lang: str = "zh",
) -> SkillCodeAnswer:
    runtime = _runtime(row)
    phone = _phone_point(runtime, lat, lon, crs)
    answer = build_answer(db, runtime, row, mode=mode, phone=phone, lang=lang)
    if located and phone is not None:
        registry.locate_scan(db, row.code, lon=phone[0], lat=phone[1])
    return answer


_PAGE_HEADERS = {"Cache-Control": "no-store", "Vary": "Accept-Language"}


def _page_lang(request: Request, *, strict: bool) -> str:
    """``?lang=``, else ``Accept-Language``, else Chinese (``strict``: a bad ``?lang=`` is a 422)."""
    pick = negotiate if strict else safe_negotiate
    return pick(request.query_params.get("lang"), request.headers.get("accept-language"))


def _page_context(request: Request, lang: str, **extra: Any) -> dict[str, Any]:
    """What every 技能码 page template needs: wording, language, the link to the other language."""
    other = "en" if lang == "zh" else "zh"
    query = {k: v for k, v in request.query_params.items() if k in ("mode",)} | {"lang": other}
    return {
        "t": texts(lang),
        "lang": lang,
        "html_lang": html_lang(lang),
        "js_text": js_texts(lang),
        "other_lang_url": "?" + urlencode(query),
        "asset_version": ASSET_VERSION,
        **extra,
    }


def map_link(
    city: str, *, lang: str, mode: str | None = None, lat: float | None = None, lon: float | None = None
) -> str:
    """``/map`` for a phone page: the city, language and travel mode, centred on the code's place if any."""
    query = {"city": city, "lang": lang}
    if mode:
        query["mode"] = mode
    if lat is not None and lon is not None:
        query |= {"center": f"{lat:.5f},{lon:.5f}", "zoom": "14"}
    return "/map?" + urlencode(query)


def _error_page(request: Request, exc: SkillCircleError, *, code_text: str) -> HTMLResponse:
    settings = get_settings()
    lang = _page_lang(request, strict=False)
    t = texts(lang)
    city_key = exc.details.get("city") or settings.default_city
    try:
        city_name = load_city(city_key).name(lang)
    except SkillCircleError:
        city_name = ""
    if isinstance(exc, GoneError):
        kind = "gone"
    elif isinstance(exc, NotFoundError):
        kind = "not_found"
    else:
        kind = "invalid"
    context = _page_context(
        request,
        lang,
        kind=kind,
        heading=t[f"err_{kind}"],
        error=exc,
        code_text=code_text[:40],
        city_key=city_key,
        city_name=city_name,
        map_url=map_link(city_key, lang=lang) if city_name else f"/map?lang={lang}",
    )
    return templates.TemplateResponse(
        request, "skillcode_error.html", context, status_code=exc.status, headers=_PAGE_HEADERS
    )


def _poster_text(db: Session, code: str) -> qrcodes.PosterText:
    return qrcodes.poster_text(db, registry.resolve_code(db, code))


# ---------------------------------------------------------------------------------------------- public
@router.get("/s/{code}", response_class=HTMLResponse, include_in_schema=False)
def landing_page(request: Request, db: DbSession, code: CodeText, mode: str = "ebike") -> HTMLResponse:
    """The page a worker sees after scanning (counts one scan of the bare URL; no personal data stored).

    Chinese by default; English with ``?lang=en`` or a browser that prefers English (``Accept-Language``).
    """
    try:
        lang = _page_lang(request, strict=True)
        row = registry.get_code(db, code)
        if "mode" not in request.query_params:  # a scan opens the bare URL; ?mode= is the no-JS mode switch
            registry.count_scan(db, row.code)
            db.commit()
            SKILL_CODE_SCANS.labels(row.city).inc()
        registry.resolve_code(db, row.code)
        check_mode(mode)
        answer = build_answer(db, _runtime(row), row, mode=mode, lang=lang)
    except SkillCircleError as exc:
        return _error_page(request, exc, code_text=code)
    place = answer.origin if answer.origin.source != "city_centre" else None
    url = map_link(
        answer.city, lang=lang, mode=mode, lat=place.lat if place else None, lon=place.lon if place else None
    )
    context = _page_context(request, lang, a=answer, map_url=url, day=partial(when, city=row.city))
    return templates.TemplateResponse(request, "skillcode.html", context, headers=_PAGE_HEADERS)


@router.get("/s/{code}/live", response_class=HTMLResponse, include_in_schema=False, responses=ERRORS)
def landing_live(
    request: Request,
    db: DbSession,
    code: CodeText,
    mode: Mode = "ebike",
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    located: bool = False,
    lang: Annotated[Literal["zh", "en"] | None, Query(description="page language (default: Accept-Language)")] = None,
) -> HTMLResponse:
    """The live part of the page (mode switch, phone location) rendered from the same answer as the JSON."""
    page_lang = _page_lang(request, strict=True)
    row = registry.resolve_code(db, code)
    answer = _answer(db, row, mode=mode, lat=lat, lon=lon, crs="wgs84", located=located, lang=page_lang)
    context = _page_context(request, page_lang, a=answer, day=partial(when, city=row.city))
    return templates.TemplateResponse(request, "skillcode_live.html", context, headers=_PAGE_HEADERS)


@router.get(
    "/api/v1/skill-codes/{code}",
    response_model=SkillCodeAnswer,
    responses=ERRORS,
    summary="What a scan of the code shows: nearest places, classes, evaluations, sign-up, map links",
)
def skill_code_answer(
    db: DbSession,
    code: CodeText,
    mode: Mode = "ebike",
    lat: Annotated[float | None, Query(ge=-90, le=90, description="the phone's latitude (optional)")] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180, description="the phone's longitude (optional)")] = None,
    crs: Annotated[Crs, Query(description="crs of lat/lon (phones give WGS84)")] = "wgs84",
    located: Annotated[bool, Query(description="count this scan in the location's coarse cell")] = False,
    lang: Annotated[Literal["zh", "en"], Query(description="language of labels and of origin.statement")] = "zh",
) -> dict:
    """Travel times from the phone's location when given, else from the code's place (or city centre).

    ``origin`` says which (``source``, ``label`` and the sentence ``statement`` the page shows).
    """
    row = registry.resolve_code(db, code)
    return answer_json(_answer(db, row, mode=mode, lat=lat, lon=lon, crs=crs, located=located, lang=lang))


@router.get("/api/v1/skill-codes/{code}/qr.svg", responses=ERRORS, summary="The code's QR image (SVG)")
def skill_code_svg(db: DbSession, code: CodeText) -> Response:
    """SVG QR code (error correction Q) of ``{BASE_URL}/s/{code}``."""
    row = registry.resolve_code(db, code)
    return Response(qrcodes.qr_svg(row.code), media_type="image/svg+xml")


@router.get("/api/v1/skill-codes/{code}/qr.png", responses=ERRORS, summary="The code's QR image (PNG)")
def skill_code_png(
    db: DbSession, code: CodeText, scale: Annotated[int, Query(ge=1, le=40, description="pixels per module")] = 10
) -> Response:
    """PNG QR code (error correction Q) of ``{BASE_URL}/s/{code}``."""
    row = registry.resolve_code(db, code)
    return Response(qrcodes.qr_png(row.code, scale=scale), media_type="image/png")


@router.get("/api/v1/skill-codes/{code}/poster.png", responses=ERRORS, summary="Print-ready A4 poster (PNG, 300 dpi)")
def skill_code_poster_png(db: DbSession, code: CodeText) -> Response:
    """A4 poster: title, target, QR code, Chinese instruction, the code in print."""
    text = _poster_text(db, code)
    headers = {"Content-Disposition": f'inline; filename="skillcode-{text.code}.png"'}
    return Response(qrcodes.poster_png(text), media_type="image/png", headers=headers)


@router.get("/api/v1/skill-codes/{code}/poster.pdf", responses=ERRORS, summary="Print-ready A4 poster (PDF)")
def skill_code_poster_pdf(db: DbSession, code: CodeText) -> Response:
    """The A4 poster as a one-page PDF."""
    text = _poster_text(db, code)
    headers = {"Content-Disposition": f'inline; filename="skillcode-{text.code}.pdf"'}
    return Response(qrcodes.poster_pdf(text), media_type="application/pdf", headers=headers)


# ---------------------------------------------------------------------------------------------- admin
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
    import h3

    if city:
        load_city(city)
    if since and until and until < since:
        msg = f"until {until} is before since {since}"
        raise InvalidParameterError(msg, message_zh=f"结束日期 {until} 早于开始日期 {since}", code="bad_date_range")
    rows = registry.scan_counts(db, city=city, code=code, since=since, until=until)
    per_cell: dict[str, int] = {}
    for r in rows:
        if r.cell:
            per_cell[r.cell] = per_cell.get(r.cell, 0) + r.count
    cells = []
    for cell, n in sorted(per_cell.items(), key=lambda kv: (-kv[1], kv[0])):
        clat, clon = h3.cell_to_latlng(cell)
        cells.append(CellTotal(cell=cell, lat=round(clat, 5), lon=round(clon, 5), count=n))
    return ScanReport(
        city=city,
        total=sum(r.count for r in rows),
        located=sum(per_cell.values()),
        rows=[ScanRow(code=r.code, day=r.day, cell=r.cell, count=r.count) for r in rows],
        cells=cells,
    )


@router.get(f"{ADMIN}/{{code}}", response_model=SkillCodeOut, responses=ADMIN_ERRORS, summary="One skill code")
def admin_get(db: DbSession, code: CodeText, token: Writer) -> SkillCodeOut:
    """A code, enabled or not, with its broken flag and scans."""
    row = registry.get_code(db, code)
    return SkillCodeOut.of(db, row, scans=registry.scan_totals(db, city=row.city).get(row.code, 0))


@router.patch(f"{ADMIN}/{{code}}", response_model=SkillCodeOut, responses=ADMIN_ERRORS, summary="Edit title / enable")
def admin_patch(db: DbSession, code: CodeText, body: SkillCodePatch, token: Writer) -> SkillCodeOut:
    """Change the title, or enable/disable the code (re-targeting is ``PUT …/target``)."""
    row = registry.update_code(db, code, actor=token.name, title=body.title, enabled=body.enabled)
    db.commit()
    return SkillCodeOut.of(db, row)


@router.put(f"{ADMIN}/{{code}}/target", response_model=SkillCodeOut, responses=ADMIN_ERRORS, summary="Re-target")
def admin_retarget(db: DbSession, code: CodeText, body: SkillCodeTarget, token: Writer) -> SkillCodeOut:
    """Bind the (already printed) code to a new target; also repairs a broken code."""
    row = registry.get_code(db, code)
    row = registry.retarget_code(db, load_city(row.city), row.code, body.target(), actor=token.name, title=body.title)
    db.commit()
    return SkillCodeOut.of(db, row)


@router.post(f"{ADMIN}/{{code}}/disable", response_model=SkillCodeOut, responses=ADMIN_ERRORS, summary="Disable")
def admin_disable(db: DbSession, code: CodeText, token: Writer) -> SkillCodeOut:
    """Retire a code; its page then politely says it is no longer in use (HTTP 410)."""
    row = registry.disable_code(db, code, actor=token.name)
    db.commit()
    return SkillCodeOut.of(db, row)
