"""Request parameters shared by several routers: their declarations and their parsers.

A router declares a shared query or path parameter with the ``…Param`` aliases here and parses shared text
parameters (category lists, minute bands, a point in a request's ``crs``) with the functions here, so
every route that takes one answers the same 4xx with the same stable code and zh/en messages.
:func:`geojson_to_crs` is the other half of the ``crs`` parameter: the answer's coordinates.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import Path, Query

from api.state import CityRuntime
from geo.boundaries import district_of
from geo.categories import parse_category
from geo.cities import CityPack
from geo.coords import from_wgs84, to_wgs84
from geo.errors import InvalidParameterError, OutsideServiceAreaError
from geo.land import check_on_land

CategoryParam = Annotated[str, Query(description="category key or label, or 'all' (every category)", max_length=40)]
MinutesParam = Annotated[int, Query(ge=1, le=120, description="threshold in minutes (planners use 10, 15, 20, 30)")]
ResolutionParam = Annotated[
    int | None, Query(ge=6, le=10, description="H3 resolution of the population grid (default: by city size)")
]
SkillCodeParam = Annotated[
    str, Path(min_length=1, max_length=40, description="the code, e.g. K7M2Q9XA (case-insensitive)")
]


def parse_categories(category: str | None) -> list[str] | None:
    """``training,college`` or Chinese labels → category keys (None = all)."""
    if not category:
        return None
    return [parse_category(part) for part in category.replace("，", ",").split(",") if part.strip()]


def parse_minutes_list(minutes: str, *, max_bands: int = 6, max_minutes: int = 60) -> list[int]:
    """``"10,20,30"`` → ``[10, 20, 30]``: at most ``max_bands`` whole minutes from 1 to ``max_minutes``."""
    try:
        values = sorted({int(m) for m in minutes.replace("，", ",").split(",") if m.strip()})
    except ValueError:
        values = []
    if not values or len(values) > max_bands or values[0] < 1 or values[-1] > max_minutes:
        msg = f"minutes must be 1–{max_bands} comma-separated whole numbers from 1 to {max_minutes}, got {minutes!r}"
        raise InvalidParameterError(
            msg,
            message_zh=f"分钟数应为 1–{max_bands} 个以逗号分隔的 1–{max_minutes} 的整数，收到“{minutes}”",
            code="invalid_minutes",
        )
    return values


def wgs84_point(city_runtime: CityRuntime, lon: float, lat: float, crs: str) -> tuple[float, float]:
    """Convert a request point to WGS84 and check it lies in the city's service area: its box, then
    its district polygons (a point in Hangzhou Bay is inside Jiaxing's box but in no district), then
    on land (the district polygons reach into the Qiantang estuary: ``in_water``)."""
    wlon, wlat = to_wgs84(lon, lat, crs=crs)
    wlon, wlat = float(wlon), float(wlat)
    check_service_point(city_runtime.city, wlon, wlat)
    return wlon, wlat


def check_service_point(city: CityPack, lon: float, lat: float) -> None:
    """Check a WGS84 point lies in ``city``'s service area: its box, a district polygon, then on land.

    Raises
    ------
    CoordinateError, OutsideServiceAreaError, InWaterError
        ``invalid_coordinates`` / ``outside_service_area`` (outside the box or every district) /
        ``in_water`` (in a district but in the sea, the estuary or a lake, by the land mask).
    """
    city.check_point(lon, lat)
    if district_of([lon], [lat], city)[0] is None:
        msg = f"point lat={lat:.5f}, lon={lon:.5f} lies in none of the districts of {city.name_en}"
        raise OutsideServiceAreaError(
            msg,
            message_zh=f"位置（纬度 {lat:.5f}，经度 {lon:.5f}）不在{city.name_zh}任何区县内",
            details={"lat": lat, "lon": lon, "city": city.key},
        )
    check_on_land(lon, lat, city)


def point_out(lon: float, lat: float, crs: str) -> dict[str, float]:
    """A WGS84 point as ``{"lon", "lat"}`` in ``crs`` (the datum an answer was asked in), to 6 decimals."""
    if crs == "wgs84":
        return {"lon": round(lon, 6), "lat": round(lat, 6)}
    x, y = from_wgs84(lon, lat, crs=crs)
    return {"lon": round(float(x), 6), "lat": round(float(y), 6)}


def _coords_to_crs(coords: Any, crs: str) -> Any:
    arr = np.asarray(coords, dtype=float)
    if arr.ndim == 1:
        lon, lat = from_wgs84(arr[0], arr[1], crs=crs)
        return [float(lon), float(lat)]
    if arr.ndim == 2:
        lon, lat = from_wgs84(arr[:, 0], arr[:, 1], crs=crs)
        return np.column_stack([lon, lat]).tolist()
    return [_coords_to_crs(c, crs) for c in coords]


def geojson_to_crs(fc: dict, crs: str) -> dict:
    """Convert every coordinate of a GeoJSON FeatureCollection from WGS84 to ``crs`` (in place)."""
    if crs == "wgs84":
        return fc
    for feat in fc.get("features", []):
        geom = feat.get("geometry")
        if geom and "coordinates" in geom:
            geom["coordinates"] = _coords_to_crs(geom["coordinates"], crs)
    fc["crs_name"] = crs
    return fc
