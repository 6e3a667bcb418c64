"""The portal pages' building: ``/embed?city=<province>`` and the embed-code generator ``/embed/snippet``.

A city's ``/embed`` is the city map without page chrome (``embed.html``). A province's is the province
view the same way (``embed_province.html``, which extends ``embed.html``): every member city's districts
and outline, the members without a pack grey with their reason, the resources of every city clustered,
a "go to city" choice above the map, and below it the sample and estimate notices, one line per city
without a pack (its worded reason) and the "open the full map" link. Its figures are those of the full
province map (:func:`api.maps.province.map_page_context`).

``/embed/snippet`` offers every city this server serves and every province pack; its form writes the
``<iframe>`` code (``/static/map.js``), whose preview is the real ``/embed`` page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from api.maps.basemaps import basemap_names
from api.maps.province import map_page_context
from api.maps.province_params import ProvinceParams
from api.maps.text import LANGS, texts
from geo.categories import CATEGORIES
from geo.config import Settings
from geo.moderules import MODE_KEYS
from geo.provinces import ProvincePack

#: Notes of the full page that an embed repeats below its map (the others stay on the full map).
EMBED_NOTE_KINDS = ("sample", "estimate")


def province_full_map_url(params: ProvinceParams) -> str:
    """The full province map with the embed's view (``/map?city=<province>&…``, centre and zoom kept)."""
    query = params.query()
    if params.center is not None:
        query["center"] = f"{params.center[0]},{params.center[1]}"
    if params.zoom is not None:
        query["zoom"] = str(params.zoom)
    return "/map?" + urlencode(query)


def province_embed_notes(context: dict[str, Any], lang: str) -> list[dict[str, str]]:
    """The notes under a province embed: sample and estimate, then each city without a pack and why.

    Each is ``{"kind", "text"}``; a missing city's is ``kind="missing"`` with its ``city`` key.
    """
    t = texts(lang)
    notes = [n for n in context["notes"] if n["kind"] in EMBED_NOTE_KINDS]
    sep = ": " if lang == "en" else "："
    for m in context["view"]["missing"]:
        text = f"{m['name']} ({t['no_pack']}){sep}{m['reason_text']}"
        notes.append({"kind": "missing", "city": m["key"], "text": text})
    return notes


def province_embed_context(
    db: Session, pack: ProvincePack, params: ProvinceParams, *, base: dict[str, Any]
) -> dict[str, Any]:
    """Everything ``embed_province.html`` needs: the province map's context, as an embed.

    ``base`` holds the router's shared entries (request, assets…), as for the full province map.
    """
    context = map_page_context(db, pack, params, base=base)
    config = {**context["config"], "page": "province-embed", "embed": True}
    return {
        **context,
        "config": config,
        "notes": province_embed_notes(context, params.lang),
        "full_map_url": province_full_map_url(params),
    }


def snippet_choices(cities: list[dict[str, str]], provinces: list[dict[str, str]]) -> list[dict[str, Any]]:
    """The snippet form's city choice: cities, then provinces, each with its default centre and zoom.

    ``cities`` and ``provinces`` are ``{key, name}`` (the header's lists); each choice gains ``province``
    (bool), ``center`` (``"lat,lon"``, the form's placeholder) and ``zoom``.
    """
    from geo.cities import load_city
    from geo.provinces import load_province

    out: list[dict[str, Any]] = []
    for c in cities:
        city = load_city(c["key"])
        out.append({**c, "province": False, "center": f"{city.center[0]},{city.center[1]}", "zoom": city.zoom})
    for p in provinces:
        pack = load_province(p["key"])
        out.append({**p, "province": True, "center": f"{pack.center[0]},{pack.center[1]}", "zoom": pack.zoom})
    return out


def snippet_context(
    *,
    lang: str,
    selected: str,
    mode: str,
    choices: list[dict[str, Any]],
    allowed: list[str],
    settings: Settings,
    base: dict[str, Any],
) -> dict[str, Any]:
    """Everything ``embed_snippet.html`` needs, for a city or a province (``selected``, one of ``choices``).

    ``allowed`` are the portal origins that may frame ``/embed``; ``base`` holds the router's shared
    entries (request, links, assets…).
    """
    t = texts(lang)
    choice = next(c for c in choices if c["key"] == selected)
    config = {
        "page": "snippet",
        "lang": lang,
        "api": "/api/v1",
        "base_url": settings.base_url.rstrip("/"),
        "city": selected,
        "text": t,
        "iframe_titles": {code: texts(code)["iframe_title"] for code in LANGS},
        "default_basemap": settings.basemap,
    }
    return {
        **base,
        "t": t,
        "lang": lang,
        "title": t["snippet_title"],
        "config": config,
        "allowed": allowed,
        "choices": choices,
        "choice": choice,
        "mode": mode,
        "modes": MODE_KEYS,
        "categories": [{"key": c.key, "label": c.label(lang)} for c in CATEGORIES],
        "basemaps": basemap_names(lang),
    }
