"""Conversions between the three coordinate systems Chinese map data comes in: WGS84, GCJ-02, BD-09.

SkillCircle stores every point in WGS84 (what OpenStreetMap and GPS use). Sheets exported from Amap
or Tencent maps are in GCJ-02 (the state-mandated obfuscated datum, "火星坐标"), and Baidu's are in
BD-09 (GCJ-02 shifted once more). The forward formulas are the widely published ones (the same as
googollee/eviltransform and wandergis/coordtransform). GCJ-02 → WGS84 has no closed form, so it is
solved by fixed-point iteration until the round trip is within 0.01 m. Outside mainland China's
rough bounding box (the standard ``out_of_china`` rule: lon 72.004–137.8347, lat 0.8293–55.8271)
GCJ-02 equals WGS84.

Every function accepts scalars or numpy arrays and returns the same shape (floats for scalars).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from geo.errors import CoordinateError

logger = logging.getLogger(__name__)

CRS_KEYS: tuple[str, ...] = ("wgs84", "gcj02", "bd09")
_ALIASES = {
    "wgs84": "wgs84",
    "wgs-84": "wgs84",
    "epsg:4326": "wgs84",
    "gps": "wgs84",
    "gcj02": "gcj02",
    "gcj-02": "gcj02",
    "amap": "gcj02",
    "gaode": "gcj02",
    "tencent": "gcj02",
    "bd09": "bd09",
    "bd-09": "bd09",
    "baidu": "bd09",
}

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 formulas.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0
_EARTH_R = 6371008.8  # mean Earth radius (m) for residual checks
_TOL_M = 0.01
_MAX_ITER = 30


def normalize_crs(crs: str) -> str:
    """Return the canonical key ("wgs84", "gcj02", "bd09") of a CRS name, or raise CoordinateError."""
    key = _ALIASES.get(str(crs).strip().lower())
    if key is None:
        msg = f"unknown coordinate system {crs!r}; expected one of {', '.join(CRS_KEYS)}"
        raise CoordinateError(
            msg,
            message_zh=f"未知的坐标系“{crs}”，应为 wgs84、gcj02（高德/腾讯）或 bd09（百度）",
            details={"crs": str(crs), "allowed": list(CRS_KEYS)},
        )
    return key


def out_of_china(lon: Any, lat: Any) -> np.ndarray | bool:
    """True where (lon, lat) is outside the box in which GCJ-02 differs from WGS84."""
    lon_a, lat_a = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    res = (lon_a < 72.004) | (lon_a > 137.8347) | (lat_a < 0.8293) | (lat_a > 55.8271)
    return bool(res) if res.ndim == 0 else res


def _offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 offset (dlon, dlat) in degrees at WGS84 point (lon, lat), inside China."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
    dlat += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
    dlon += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    return dlon, dlat


def _as_arrays(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    lon_a = np.asarray(lon, dtype=float)
    lat_a = np.asarray(lat, dtype=float)
    if lon_a.shape != lat_a.shape:
        msg = f"lon and lat have different shapes: {lon_a.shape} vs {lat_a.shape}"
        raise CoordinateError(msg, message_zh="经度与纬度数量不一致", details={"lon": lon_a.shape, "lat": lat_a.shape})
    return lon_a, lat_a, lon_a.ndim == 0


def _out(lon: np.ndarray, lat: np.ndarray, scalar: bool) -> tuple[Any, Any]:
    if scalar:
        return float(lon), float(lat)
    return lon, lat


def _wgs_to_gcj(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dlon, dlat = _offset(lon, lat)
    outside = np.asarray(out_of_china(lon, lat))
    return np.where(outside, lon, lon + dlon), np.where(outside, lat, lat + dlat)


def _gcj_to_wgs(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Invert GCJ-02 by fixed-point iteration: w ← w + (g − f(w)) until |f(w) − g| < 0.01 m."""
    w_lon, w_lat = lon.copy(), lat.copy()
    for _ in range(_MAX_ITER):
        g_lon, g_lat = _wgs_to_gcj(w_lon, w_lat)
        e_lon, e_lat = lon - g_lon, lat - g_lat
        w_lon, w_lat = w_lon + e_lon, w_lat + e_lat
        err_m = _EARTH_R * np.radians(np.hypot(e_lon * np.cos(np.radians(lat)), e_lat))
        if not np.any(err_m > _TOL_M):
            break
    else:  # pragma: no cover - the map is a contraction; 3-5 iterations suffice in practice
        logger.warning("GCJ-02 inversion did not reach %.2f m in %d iterations", _TOL_M, _MAX_ITER)
    return w_lon, w_lat


def _gcj_to_bd(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd_to_gcj_closed(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = lon - 0.0065, lat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _bd_to_gcj(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 → GCJ-02: the published closed form (off by up to ~0.2 m), refined by iteration to 0.01 m."""
    g_lon, g_lat = _bd_to_gcj_closed(lon, lat)
    for _ in range(_MAX_ITER):
        b_lon, b_lat = _gcj_to_bd(g_lon, g_lat)
        e_lon, e_lat = lon - b_lon, lat - b_lat
        g_lon, g_lat = g_lon + e_lon, g_lat + e_lat
        if not np.any(_EARTH_R * np.radians(np.hypot(e_lon * np.cos(np.radians(lat)), e_lat)) > _TOL_M):
            break
    return g_lon, g_lat


def wgs84_to_gcj02(lon: Any, lat: Any) -> tuple[Any, Any]:
    """WGS84 → GCJ-02 (Amap/Tencent)."""
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    return _out(*_wgs_to_gcj(lon_a, lat_a), scalar)


def gcj02_to_wgs84(lon: Any, lat: Any) -> tuple[Any, Any]:
    """GCJ-02 → WGS84, iterated to a round-trip residual below 0.01 m."""
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    return _out(*_gcj_to_wgs(lon_a, lat_a), scalar)


def gcj02_to_bd09(lon: Any, lat: Any) -> tuple[Any, Any]:
    """GCJ-02 → BD-09 (Baidu)."""
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    return _out(*_gcj_to_bd(lon_a, lat_a), scalar)


def bd09_to_gcj02(lon: Any, lat: Any) -> tuple[Any, Any]:
    """BD-09 → GCJ-02 (the published closed-form inverse, refined to a 0.01 m round trip)."""
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    return _out(*_bd_to_gcj(lon_a, lat_a), scalar)


def to_wgs84(lon: Any, lat: Any, *, crs: str) -> tuple[Any, Any]:
    """Convert points given in ``crs`` ("wgs84", "gcj02", "bd09" or an alias) to WGS84.

    Parameters
    ----------
    lon, lat
        Scalars or equally shaped arrays of longitudes and latitudes in ``crs``.
    crs
        Source coordinate system. Aliases such as "amap", "baidu" and "gps" are accepted.

    Returns
    -------
    tuple
        ``(lon, lat)`` in WGS84, floats for scalar input, arrays otherwise.

    Raises
    ------
    CoordinateError
        If ``crs`` is unknown or the shapes differ.
    """
    key = normalize_crs(crs)
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    if key == "gcj02":
        lon_a, lat_a = _gcj_to_wgs(lon_a, lat_a)
    elif key == "bd09":
        lon_a, lat_a = _gcj_to_wgs(*_bd_to_gcj(lon_a, lat_a))
    return _out(lon_a, lat_a, scalar)


def from_wgs84(lon: Any, lat: Any, *, crs: str) -> tuple[Any, Any]:
    """Convert WGS84 points to ``crs`` ("wgs84", "gcj02", "bd09" or an alias); the inverse of :func:`to_wgs84`."""
    key = normalize_crs(crs)
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    if key == "gcj02":
        lon_a, lat_a = _wgs_to_gcj(lon_a, lat_a)
    elif key == "bd09":
        lon_a, lat_a = _gcj_to_bd(*_wgs_to_gcj(lon_a, lat_a))
    return _out(lon_a, lat_a, scalar)
