"""The map pages: ``/`` (home), ``/map``, ``/map/coverage``, ``/embed`` and ``/embed/snippet``.

Pages are HTML generated with folium (see :mod:`api.maps.builder`) and completed by
``/static/map.js``, which calls the public API. Bad parameters get a 4xx with a stable code
(:mod:`api.maps.params`): an HTML error page for browsers (``Accept: text/html``,
:func:`api.web.wants_page`), the usual JSON error body for every other client. Any other failure
(a lost database, an unexpected error) is answered by the app-wide handlers, with a page too.
Every page sends a Content-Security-Policy that allows scripts (files, or inline with the request's
nonce: :mod:`api.security`), styles and requests only from this service (tile images also from the
basemap's host); ``/embed`` may be framed by this site and the portal origins in
``settings.embed_origins``, the other pages only by this site.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from api.deps import DbSession
from api.i18n import negotiate, safe_negotiate
from api.maps.basemaps import Basemap, basemap_keys, basemap_names
from api.maps.builder import build_map
from api.maps.embed import province_embed_context, snippet_choices, snippet_context
from api.maps.overlays import data_notes, district_features, resource_points
from api.maps.params import MapParams, parse_map_params, parse_resolution
from api.maps.province import coverage_page_context, map_page_context, province_choices, province_links
from api.maps.province_params import ProvinceParams, parse_province_params, province_of_query
from api.maps.text import texts
from api.security import content_security_policy, frame_ancestors, template_context
from api.state import get_runtime
from api.web import wants_page
from geo.categories import CATEGORIES
from geo.cities import CityPack, load_city
from geo.config import Settings, get_settings
from geo.coords import from_wgs84
from geo.errors import SkillCircleError
from geo.moderules import MODE_KEYS
from geo.provinces import ProvincePack

log = logging.getLogger(__name__)

API_DIR = Path(__file__).resolve().parent.parent
templates = Jinja2Templates(directory=API_DIR / "templates", context_processors=[template_context])
router = APIRouter(tags=["maps"], include_in_schema=False)

ISOCHRONE_BANDS = (10, 20, 30)


def _csp(basemap: Basemap | None, *, ancestors: str = "'self'") -> str:
    """The page's Content-Security-Policy (the security middleware adds the request's script nonce)."""
    return content_security_policy(img_origins=tuple(basemap.tile_origins) if basemap else (), ancestors=ancestors)


def _static_url(name: str) -> str:
    """``/static/<name>?v=<mtime>`` so browsers pick up a new map.js/map.css after a deploy."""
    path = API_DIR / "static" / name
    version = int(path.stat().st_mtime) if path.is_file() else 0
    return f"/static/{name}?v={version}"


def _error_response(request: Request, exc: SkillCircleError) -> Response:
    """A 4xx answer for a bad page parameter: HTML for browsers, the API's JSON body otherwise."""
    if not wants_page(request):
        return JSONResponse(exc.to_dict(), status_code=exc.status)
    lang = safe_negotiate(request.query_params.get("lang"), request.headers.get("accept-language"))
    return templates.TemplateResponse(
        request,
        "map_error.html",
        {"t": texts(lang), "lang": lang, "error": exc, "css": _static_url("map.css")},
        status_code=exc.status,
        headers={"Content-Security-Policy": _csp(None)},
    )


def _page(request: Request, render: Callable[[], Response]) -> Response:
    try:
        return render()
    except SkillCircleError as exc:
        log.info("map page %s refused: %s", request.url.path, exc.code)
        return _error_response(request, exc)


def _province_params(request: Request, pack: ProvincePack) -> ProvinceParams:
    return parse_province_params(
        request.query_params, pack, settings=get_settings(), accept_language=request.headers.get("accept-language")
    )


def _province_base(request: Request, params: ProvinceParams) -> dict[str, Any]:
    """The entries every province page's context shares (the router's: request, choices, assets)."""
    return {
        "request": request,
        "cities": _city_choices(params.lang),
        "provinces": province_choices(params.lang),
        "basemaps": basemap_names(params.lang),
        "basemap_keys": basemap_keys(),
        "css": _static_url("map.css"),
        "js": _static_url("map.js"),
        "extra_js": [_static_url("province.js")],
    }


def _province_page(request: Request, db: DbSession, pack: ProvincePack, *, page: str) -> Response:
    """``/map``, ``/map/coverage`` or ``/embed`` of a province (built by :mod:`api.maps.province`, ``.embed``)."""
    params = _province_params(request, pack)
    base = _province_base(request, params)
    ancestors = "'self'"
    if page == "embed":
        context = province_embed_context(db, pack, params, base=base)
        template = "embed_province.html"
        ancestors = frame_ancestors(get_settings().embed_origins)
    elif page == "coverage":
        if not any(k in request.query_params for k in ("category", "mode", "minutes")):
            view = pack.coverage_view
            query = {**request.query_params, "city": pack.key}
            query |= {"category": view.category, "mode": view.mode, "minutes": str(view.minutes)}
            return RedirectResponse("/map/coverage?" + urlencode(query), status_code=302)
        context = coverage_page_context(db, pack, params, base=base)
        template = "map_province_coverage.html"
    else:
        context = map_page_context(db, pack, params, base=base)
        template = "map_province.html"
    return templates.TemplateResponse(
        request, template, context, headers={"Content-Security-Policy": _csp(params.basemap, ancestors=ancestors)}
    )


def _city_choices(lang: str) -> list[dict[str, str]]:
    out = []
    for key in get_settings().cities:
        try:
            city = load_city(key)
        except SkillCircleError:
            log.warning("settings.cities lists %r, which has no valid pack", key)
            continue
        out.append({"key": key, "name": city.name(lang)})
    return out


ORIGIN_ZOOM = 13  # a 技能码's place: the streets around it, until its reach is drawn and framed


def _view(params: MapParams) -> tuple[tuple[float, float], int, bool]:
    """Initial centre (in the basemap's datum), zoom, and whether the page chose them itself.

    An ``origin`` without a ``center`` centres the map on the origin (the page then frames its reach).
    """
    zoom = params.zoom if params.zoom is not None else ORIGIN_ZOOM if params.origin else params.city.zoom
    chose = params.center is None and params.zoom is None and params.origin is None
    return _on_basemap(params.center or params.origin or params.city.center, params), zoom, chose


def _on_basemap(point: tuple[float, float], params: MapParams) -> tuple[float, float]:
    """A WGS84 (lat, lon) in the basemap's datum, to 7 decimals (as the page's script draws it)."""
    mlon, mlat = from_wgs84(point[1], point[0], crs=params.basemap.crs)
    return round(float(mlat), 7), round(float(mlon), 7)


def _origin(params: MapParams) -> list[float] | None:
    """The ``origin`` in the basemap's datum, as the page's script draws it (None without one)."""
    return None if params.origin is None else list(_on_basemap(params.origin, params))


def _routed_modes(city: CityPack) -> list[str]:
    engine = get_runtime(city.key).engine
    return [m for m in MODE_KEYS if m in engine.modes_loaded]


def _links(params: MapParams) -> dict[str, str]:
    other = "en" if params.lang == "zh" else "zh"
    base = params.query()
    return {
        "home": "/?" + urlencode({"lang": params.lang}),
        "map": "/map?" + urlencode(base),
        # no category/mode/minutes: the coverage page opens on the city's gap view
        "coverage": "/map/coverage?" + urlencode(params.query(skill=None, category=None, mode=None)),
        "snippet": "/embed/snippet?" + urlencode({"city": params.city.key, "lang": params.lang}),
        "other_lang": "?" + urlencode({**base, "lang": other, **_extra(params)}),
        "api": "/docs",
    }


def _extra(params: MapParams) -> dict[str, str]:
    out: dict[str, str] = {}
    if params.center is not None:
        out["center"] = f"{params.center[0]},{params.center[1]}"
    if params.zoom is not None:
        out["zoom"] = str(params.zoom)
    if params.origin is not None:
        out["origin"] = f"{params.origin[0]},{params.origin[1]}"
    return out


def _params(request: Request, db: DbSession, settings: Settings, *, with_origin: bool = False) -> MapParams:
    return parse_map_params(
        request.query_params,
        settings=settings,
        session=db,
        accept_language=request.headers.get("accept-language"),
        with_origin=with_origin,
    )


def _map_context(request: Request, db: DbSession, *, page: str) -> tuple[dict[str, Any], MapParams]:
    """Everything the /map and /embed templates need."""
    settings = get_settings()
    params = _params(request, db, settings, with_origin=True)
    t = texts(params.lang)
    points = resource_points(db, params.city, crs=params.basemap.crs)
    shown = params.categories or tuple(c.key for c in CATEGORIES)
    items = [p for p in points.items if p["category"] in shown]
    routed = _routed_modes(params.city)
    districts = district_features(params.city, crs=params.basemap.crs, lang=params.lang)
    center, zoom, auto_view = _view(params)
    parts = build_map(
        city=params.city,
        basemap=params.basemap,
        lang=params.lang,
        districts=districts,
        district_label=t["districts_layer"],
        categories=params.categories,
        counts=points.counts,
        center=center,
        zoom=zoom,
    )
    legend = [
        {"key": c.key, "label": c.label(params.lang), "color": c.color, "count": points.counts.get(c.key, 0)}
        for c in CATEGORIES
        if c.key in shown
    ]
    notes = data_notes(params.city, routed_modes=routed, any_sample=points.any_sample, lang=params.lang)
    title = t["map_title"].format(city=params.city.name(params.lang))
    config = {
        "page": page,
        "city": {"key": params.city.key, "name": params.city.name(params.lang)},
        "lang": params.lang,
        "crs": params.basemap.crs,
        "api": "/api/v1",
        "mode": params.mode,
        "bands": list(ISOCHRONE_BANDS),
        "skill": params.skill,
        "categories": {c["key"]: {"label": c["label"], "color": c["color"]} for c in legend},
        "resources": items,
        "routed_modes": routed,
        "fit": auto_view,
        "origin": _origin(params),
        "text": t,
    }
    context = {
        "request": request,
        "t": t,
        "lang": params.lang,
        "title": title,
        "params": params,
        "parts": parts,
        "config": config,
        "legend": legend,
        "notes": notes,
        "sample": points.any_sample,
        "estimate": not routed,
        "basemap": params.basemap,
        "basemaps": basemap_names(params.lang),
        "basemap_keys": basemap_keys(),
        "cities": _city_choices(params.lang),
        "provinces": province_choices(params.lang),
        "modes": MODE_KEYS,
        "links": _links(params),
        "full_map_url": "/map?" + urlencode({**params.query(), **_extra(params)}),
        "css": _static_url("map.css"),
        "js": _static_url("map.js"),
    }
    return context, params


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    """A home page linking each city's circle map, coverage map and the embed-code generator."""

    def render() -> Response:
        lang = negotiate(request.query_params.get("lang"), request.headers.get("accept-language"))
        t = texts(lang)
        cities = [
            {
                **c,
                "map": "/map?" + urlencode({"city": c["key"], "lang": lang}),
                "coverage": "/map/coverage?" + urlencode({"city": c["key"], "lang": lang}),
                "snippet": "/embed/snippet?" + urlencode({"city": c["key"], "lang": lang}),
            }
            for c in _city_choices(lang)
        ]
        provinces = [
            {
                **p,
                "map": "/map?" + urlencode({"city": p["key"], "lang": lang}),
                "coverage": "/map/coverage?" + urlencode({"city": p["key"], "lang": lang}),
                "snippet": "/embed/snippet?" + urlencode({"city": p["key"], "lang": lang}),
            }
            for p in province_choices(lang)
        ]
        other = "en" if lang == "zh" else "zh"
        return templates.TemplateResponse(
            request,
            "map_home.html",
            {
                "t": t,
                "lang": lang,
                "cities": cities,
                "provinces": provinces,
                "other_lang": "/?" + urlencode({"lang": other}),
                "css": _static_url("map.css"),
            },
            headers={"Content-Security-Policy": _csp(None)},
        )

    return _page(request, render)


@router.get("/map", response_class=HTMLResponse)
def public_map(request: Request, db: DbSession) -> Response:
    """The public 30-minute circle map (``city, lang, basemap, mode, category, skill, center, zoom, origin``).

    ``origin=lat,lon`` opens the map on what is within reach from that point. ``city`` may name a
    province pack (``zhejiang``): the province view of every member city (which has no ``origin``).
    """

    def render() -> Response:
        pack = province_of_query(request.query_params)
        if pack is not None:
            return _province_page(request, db, pack, page="map")
        context, params = _map_context(request, db, page="map")
        return templates.TemplateResponse(
            request, "map.html", context, headers={"Content-Security-Policy": _csp(params.basemap)}
        )

    return _page(request, render)


@router.get("/embed", response_class=HTMLResponse)
def embed_map(request: Request, db: DbSession) -> Response:
    """The circle map without page chrome, for portals' iframes (same parameters as ``/map``).

    ``city`` may name a province pack: the province view without page chrome.
    """

    def render() -> Response:
        pack = province_of_query(request.query_params)
        if pack is not None:
            return _province_page(request, db, pack, page="embed")
        context, params = _map_context(request, db, page="embed")
        ancestors = frame_ancestors(get_settings().embed_origins)
        return templates.TemplateResponse(
            request,
            "embed.html",
            context,
            headers={"Content-Security-Policy": _csp(params.basemap, ancestors=ancestors)},
        )

    return _page(request, render)


@router.get("/map/coverage", response_class=HTMLResponse)
def coverage_map(request: Request, db: DbSession) -> Response:
    """The planners' gap map (``city, category, mode, minutes, resolution, lang, basemap``).

    Opened without a choice of category, mode and minutes, it redirects to the city pack's
    ``[coverage_view]`` (a view that shows gaps), so the choices are always in the URL.
    The cells, totals and tables come from ``/api/v1/coverage`` (fetched by the page). For a province
    (``city=zhejiang``) it is the province gap map: districts coloured by their covered share, from
    ``/api/v1/plan/table?city=<province>`` at city and district level.
    """

    def render() -> Response:
        pack = province_of_query(request.query_params)
        if pack is not None:
            return _province_page(request, db, pack, page="coverage")
        settings = get_settings()
        params = _params(request, db, settings)
        chosen = ("category", "mode", "minutes")
        if not any(k in request.query_params for k in chosen):
            view = params.city.coverage_view
            query = {**request.query_params, "city": params.city.key}
            query |= {"category": view.category, "mode": view.mode, "minutes": str(view.minutes)}
            return RedirectResponse("/map/coverage?" + urlencode(query), status_code=302)
        resolution = parse_resolution(request.query_params.get("resolution"))
        t = texts(params.lang)
        districts = district_features(params.city, crs=params.basemap.crs, lang=params.lang)
        center, zoom, auto_view = _view(params)
        parts = build_map(
            city=params.city,
            basemap=params.basemap,
            lang=params.lang,
            districts=districts,
            district_label=t["districts_layer"],
            categories=None,
            center=center,
            zoom=zoom,
        )
        routed = _routed_modes(params.city)
        points = resource_points(db, params.city)
        notes = data_notes(params.city, routed_modes=routed, any_sample=points.any_sample, lang=params.lang)
        category = ",".join(params.categories)
        config = {
            "page": "coverage",
            "city": {"key": params.city.key, "name": params.city.name(params.lang)},
            "lang": params.lang,
            "crs": params.basemap.crs,
            "api": "/api/v1",
            "mode": params.mode,
            "minutes": params.minutes,
            "category": category,
            "resolution": resolution,
            "routed_modes": routed,
            "fit": auto_view,
            "text": t,
        }
        context = {
            "request": request,
            "t": t,
            "lang": params.lang,
            "title": t["coverage_title"].format(city=params.city.name(params.lang)),
            "params": params,
            "parts": parts,
            "config": config,
            "notes": notes,
            "sample": points.any_sample,
            "estimate": not routed,
            "basemap": params.basemap,
            "basemaps": basemap_names(params.lang),
            "basemap_keys": basemap_keys(),
            "cities": _city_choices(params.lang),
            "provinces": province_choices(params.lang),
            "modes": MODE_KEYS,
            "mode_marks": {m: t["estimate_badge"] for m in MODE_KEYS if m not in routed},
            "categories": [{"key": c.key, "label": c.label(params.lang), "color": c.color} for c in CATEGORIES],
            "category": category,
            "links": _links(params),
            "css": _static_url("map.css"),
            "js": _static_url("map.js"),
        }
        return templates.TemplateResponse(
            request, "map_coverage.html", context, headers={"Content-Security-Policy": _csp(params.basemap)}
        )

    return _page(request, render)


@router.get("/embed/snippet", response_class=HTMLResponse)
def embed_snippet(request: Request, db: DbSession) -> Response:
    """A form that writes the ``<iframe>`` code for a portal editor, with a live preview.

    It offers every city this server serves and every province pack (``city=zhejiang``).
    """

    def render() -> Response:
        settings = get_settings()
        pack = province_of_query(request.query_params)
        if pack is not None:
            pparams = _province_params(request, pack)
            lang, selected, mode, links = pparams.lang, pack.key, pparams.mode, province_links(pparams)
        else:
            params = _params(request, db, settings)
            lang, selected, mode, links = params.lang, params.city.key, params.mode, _links(params)
        base = {"request": request, "links": links, "css": _static_url("map.css"), "js": _static_url("map.js")}
        context = snippet_context(
            lang=lang,
            selected=selected,
            mode=mode,
            choices=snippet_choices(_city_choices(lang), province_choices(lang)),
            allowed=frame_ancestors(settings.embed_origins).split()[1:],
            settings=settings,
            base=base,
        )
        return templates.TemplateResponse(
            request, "embed_snippet.html", context, headers={"Content-Security-Policy": _csp(None)}
        )

    return _page(request, render)
