"""Where resources are: the district, town and bounding-box queries over resource points.

On PostgreSQL the points are PostGIS ``geometry(Point, 4326)`` (``resources.geom``, generated from
``lon``/``lat`` by migration 0004) with a GiST index, and each query is one ``ST_Intersects`` against the
area, which the planner answers from that index. On SQLite (the embedded default, no spatial index) the
same question is a ``lon``/``lat`` range on the area's bounding box, refined by shapely's vectorised
point-in-polygon test. Both count a point on the area's edge as inside, so both give the same answer.

Areas: a district is its polygon (:func:`geo.boundaries.districts`); a town is its approximate area,
the Voronoi cell of the town seats clipped to the district (:func:`geo.boundaries.town_areas`); a box is
``(min_lon, min_lat, max_lon, max_lat)`` in WGS84.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely
from sqlalchemy import BindParameter, ColumnElement, Select, bindparam, false, func, literal_column, select
from sqlalchemy.orm import Session

from geo.cities import CityPack
from geo.errors import InvalidParameterError
from geo.models import Resource

SRID = 4326
# the PostGIS column of migration 0004; not mapped on the model because SQLite has no such column
GEOM: ColumnElement[Any] = literal_column("resources.geom")
MAX_BOX_DEGREES = 10.0  # a province fits; a box of the whole world is not a "nearby" question


def is_postgis(session: Session) -> bool:
    """True when the session's database is PostgreSQL (whose schema carries ``resources.geom``)."""
    return session.get_bind().dialect.name == "postgresql"


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``"min_lon,min_lat,max_lon,max_lat"`` → a checked box (finite, ordered, at most 10° a side).

    Raises
    ------
    InvalidParameterError
        ``invalid_bbox`` for anything else.
    """
    try:
        values = tuple(float(v) for v in text.replace("，", ",").split(","))
    except ValueError:
        values = ()
    ok = len(values) == 4 and all(math.isfinite(v) for v in values)
    if ok:
        min_lon, min_lat, max_lon, max_lat = values
        ok = (
            -180 <= min_lon <= max_lon <= 180
            and -90 <= min_lat <= max_lat <= 90
            and max_lon - min_lon <= MAX_BOX_DEGREES
            and max_lat - min_lat <= MAX_BOX_DEGREES
        )
    if not ok:
        msg = (
            f"bbox must be min_lon,min_lat,max_lon,max_lat with min ≤ max and sides of at most "
            f"{MAX_BOX_DEGREES:g}°, got {text!r}"
        )
        raise InvalidParameterError(
            msg,
            message_zh=(
                f"范围 bbox 应为“最小经度,最小纬度,最大经度,最大纬度”，且每边不超过 {MAX_BOX_DEGREES:g}°，收到“{text}”"
            ),
            code="invalid_bbox",
            details={"bbox": text},
        )
    return min_lon, min_lat, max_lon, max_lat


def resolve_district(city: CityPack, value: str) -> tuple[str, Any]:
    """District ``value`` (Chinese name, English name or adcode) of ``city`` → (its Chinese name, its polygon).

    Raises
    ------
    InvalidParameterError
        ``unknown_district`` naming the city's districts.
    """
    from geo.boundaries import districts

    frame = districts(city)
    hit = frame[(frame["name_zh"] == value) | (frame["name_en"] == value) | (frame["adcode"] == value)]
    if hit.empty:
        names = list(frame["name_zh"])
        msg = f"{value!r} is not a district of {city.name_en}; expected one of {', '.join(names)}"
        raise InvalidParameterError(
            msg,
            message_zh=f"“{value}”不是{city.name_zh}的区县，应为：{'、'.join(names)}",
            code="unknown_district",
            details={"value": value, "allowed": names},
        )
    return str(hit.iloc[0]["name_zh"]), hit.geometry.iloc[0]


def district_area(city: CityPack, value: str) -> Any:
    """The polygon of district ``value`` (Chinese name, English name or adcode) of ``city``.

    Raises
    ------
    InvalidParameterError
        ``unknown_district`` naming the city's districts.
    """
    return resolve_district(city, value)[1]


def town_area(city: CityPack, value: str) -> Any:
    """The approximate area of town ``value`` (Chinese name or statistical code): its Voronoi cell.

    A name two districts share gives both cells (the union).

    Raises
    ------
    InvalidParameterError
        ``unknown_town``.
    """
    from geo.boundaries import town_areas

    frame = town_areas(city)
    hit = frame[((frame["name_zh"] == value) | (frame["code"] == value)) & frame.geometry.notna()]
    if hit.empty:
        msg = f"{value!r} is not a town/sub-district of {city.name_en}"
        raise InvalidParameterError(
            msg, message_zh=f"“{value}”不是{city.name_zh}的乡镇或街道", code="unknown_town", details={"value": value}
        )
    return shapely.union_all(hit.geometry.values)


def within(session: Session, area: Any, *, city: str) -> ColumnElement[bool]:
    """A filter on :class:`~geo.models.Resource` rows: the resource's point lies in ``area`` (a shapely
    polygon or box in WGS84; its edge counts as inside).

    PostgreSQL: ``ST_Intersects(resources.geom, area)``, answered from the GiST index. SQLite: the ids
    whose point shapely finds in ``area`` among the city's rows in the area's bounding box.
    """
    if area is None or area.is_empty:
        return false()
    if is_postgis(session):
        wkb: BindParameter[bytes] = bindparam("area_wkb", shapely.to_wkb(area, hex=False), unique=True)
        return func.ST_Intersects(GEOM, func.ST_GeomFromWKB(wkb, SRID))
    min_lon, min_lat, max_lon, max_lat = area.bounds
    rows = session.execute(
        select(Resource.id, Resource.lon, Resource.lat).where(
            Resource.city == city,
            Resource.lon.between(min_lon, max_lon),
            Resource.lat.between(min_lat, max_lat),
        )
    ).all()
    if not rows:
        return false()
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    lons = np.fromiter((r[1] for r in rows), dtype=float, count=len(rows))
    lats = np.fromiter((r[2] for r in rows), dtype=float, count=len(rows))
    shapely.prepare(area)
    inside = shapely.intersects_xy(area, lons, lats)
    return Resource.id.in_(ids[inside].tolist()) if inside.any() else false()


def resources_within(session: Session, area: Any, *, city: str) -> Select:
    """``SELECT resources.id`` of ``city`` whose point lies in ``area``, ordered by id (see :func:`within`)."""
    return select(Resource.id).where(Resource.city == city, within(session, area, city=city)).order_by(Resource.id)


def box_area(bbox: tuple[float, float, float, float]) -> Any:
    """The WGS84 box ``(min_lon, min_lat, max_lon, max_lat)`` as a polygon for :func:`within`."""
    return shapely.box(*bbox)


def located_areas(
    city: CityPack, *, bbox: str | None = None, in_district: str | None = None, in_town: str | None = None, crs: str
) -> list[Any]:
    """The areas a resource list is restricted to, from a request's ``bbox`` (in ``crs``; its corners are
    converted to WGS84), ``in_district`` and ``in_town``; an empty list when none is given.

    Raises
    ------
    InvalidParameterError
        ``invalid_bbox``, ``unknown_district`` or ``unknown_town``.
    """
    from geo.coords import to_wgs84

    areas = []
    if bbox:
        min_lon, min_lat, max_lon, max_lat = parse_bbox(bbox)
        lons, lats = to_wgs84([min_lon, max_lon], [min_lat, max_lat], crs=crs)
        areas.append(box_area((float(lons[0]), float(lats[0]), float(lons[1]), float(lats[1]))))
    if in_district:
        areas.append(district_area(city, in_district))
    if in_town:
        areas.append(town_area(city, in_town))
    return areas
