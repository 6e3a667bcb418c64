"""技能码 (skill codes): the page a worker opens by scanning, its JSON form and the QR/poster downloads.

    ``GET /s/{code}``                              the mobile landing page (server-rendered; ``?lang=en``
                                                   or ``Accept-Language`` for English)
    ``GET /s/{code}/live``                         the page's live part for a mode/location (HTML fragment)
    ``GET /api/v1/skill-codes/{code}``             the same answer as JSON
    ``GET /api/v1/skill-codes/{code}/qr.svg|qr.png|poster.png|poster.pdf``

Unknown codes get a friendly 404 page (in the page language) linking to the city map, disabled ones a 410 "no longer in
use" page; the JSON endpoints answer with the usual error body (``skill_code_not_found``,
``skill_code_disabled``). The admin API that creates, lists, re-targets and disables codes is in
``skillcodes_admin``.
"""

from __future__ import annotations

import hashlib
import logging
from functools import partial
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from api import qrcodes
from api.deps import DbSession
from api.i18n import html_lang, negotiate, safe_negotiate
from api.params import SkillCodeParam, wgs84_point
from api.schemas import Crs, ErrorResponse, Mode
from api.security import template_context
from api.skillcode_answer import answer_json, build_answer
from api.skillcode_schemas import SkillCodeAnswer
from api.skillcode_text import js_texts, texts
from api.state import CityRuntime, get_runtime
from api.telemetry import SKILL_CODE_SCANS
from api.web import when
from geo import skillcodes as registry
from geo.cities import load_city
from geo.config import get_settings
from geo.errors import GoneError, InvalidParameterError, NotFoundError, SkillCircleError
from geo.models import SkillCode
from geo.moderules import check_mode

log = logging.getLogger(__name__)
router = APIRouter(tags=["skill codes"])

API_DIR = FsPath(__file__).resolve().parent.parent
templates = Jinja2Templates(directory=API_DIR / "templates", context_processors=[template_context])
ERRORS: dict[int | str, dict[str, Any]] = {
    410: {"model": ErrorResponse},
    422: {"model": ErrorResponse},
}


def _asset_version(*names: str) -> str:
    h = hashlib.blake2b(digest_size=4)
    for name in names:
        path = API_DIR / "static" / name
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()


ASSET_VERSION = _asset_version("skillcode.css", "skillcode.js")


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
    """``/map`` for a phone page: the city, language and travel mode, opened on the reach from the code's place.

    With a place, the map runs "what is within reach from here" from it (``origin``) at once, so the
    worker sees the same circle the page listed, drawn.
    """
    query = {"city": city, "lang": lang}
    if mode:
        query["mode"] = mode
    if lat is not None and lon is not None:
        query["origin"] = f"{lat:.5f},{lon:.5f}"
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
def landing_page(request: Request, db: DbSession, code: SkillCodeParam, mode: str = "ebike") -> HTMLResponse:
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
    code: SkillCodeParam,
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
    code: SkillCodeParam,
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
def skill_code_svg(db: DbSession, code: SkillCodeParam) -> Response:
    """SVG QR code (error correction Q) of ``{BASE_URL}/s/{code}``."""
    row = registry.resolve_code(db, code)
    return Response(qrcodes.qr_svg(row.code), media_type="image/svg+xml")


@router.get("/api/v1/skill-codes/{code}/qr.png", responses=ERRORS, summary="The code's QR image (PNG)")
def skill_code_png(
    db: DbSession, code: SkillCodeParam, scale: Annotated[int, Query(ge=1, le=40, description="pixels per module")] = 10
) -> Response:
    """PNG QR code (error correction Q) of ``{BASE_URL}/s/{code}``."""
    row = registry.resolve_code(db, code)
    return Response(qrcodes.qr_png(row.code, scale=scale), media_type="image/png")


@router.get("/api/v1/skill-codes/{code}/poster.png", responses=ERRORS, summary="Print-ready A4 poster (PNG, 300 dpi)")
def skill_code_poster_png(db: DbSession, code: SkillCodeParam) -> Response:
    """A4 poster: title, target, QR code, Chinese instruction, the code in print."""
    text = _poster_text(db, code)
    headers = {"Content-Disposition": f'inline; filename="skillcode-{text.code}.png"'}
    return Response(qrcodes.poster_png(text), media_type="image/png", headers=headers)


@router.get("/api/v1/skill-codes/{code}/poster.pdf", responses=ERRORS, summary="Print-ready A4 poster (PDF)")
def skill_code_poster_pdf(db: DbSession, code: SkillCodeParam) -> Response:
    """The A4 poster as a one-page PDF."""
    text = _poster_text(db, code)
    headers = {"Content-Disposition": f'inline; filename="skillcode-{text.code}.pdf"'}
    return Response(qrcodes.poster_pdf(text), media_type="application/pdf", headers=headers)
