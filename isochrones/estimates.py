"""Straight-line estimates: the engine's answers for a mode without a compiled road graph.

Jiaxing before its network is fetched, or any generated city pack, answers with straight-line
distance × the city's detour factor (network / straight-line distance) at the mode's speed; every
answer carries ``estimate``. Where a routed mode has graph nodes, an estimate has a regular lattice over
the city's box (:data:`ESTIMATE_SPACING_M`), so coverage and the planners' grids work the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import shapely
from scipy.spatial import cKDTree

from isochrones import polygons as _poly
from isochrones.graph import project, unproject

ESTIMATE_SPACING_M = 500.0


class StraightLine:
    """Straight-line travel times in one projected CRS (metres) over a service box.

    Parameters
    ----------
    crs
        The projected CRS of every x, y (the engine's).
    bbox
        WGS84 (min_lon, min_lat, max_lon, max_lat) the lattice covers.
    detour_factor
        Network / straight-line distance ratio.
    speeds_mps
        Speed of each mode, metres per second.
    """

    def __init__(
        self,
        *,
        crs: Any,
        bbox: tuple[float, float, float, float],
        detour_factor: float,
        speeds_mps: Mapping[str, float],
    ) -> None:
        self.crs = crs
        self.bbox = bbox
        self.detour_factor = float(detour_factor)
        self.speeds_mps = dict(speeds_mps)
        self._lattice: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def seconds(self, lon: float, lat: float, x: np.ndarray, y: np.ndarray, *, mode: str) -> np.ndarray:
        """Seconds between the WGS84 point and every projected (x, y), by straight line × detour."""
        px, py = project(np.array([lon]), np.array([lat]), self.crs)
        return np.hypot(x - px[0], y - py[0]) * self.detour_factor / self.speeds_mps[mode]

    def lattice(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Regular lattice over the service box (projected x, y and lon, lat): an estimate's "nodes"."""
        if self._lattice is None:
            min_lon, min_lat, max_lon, max_lat = self.bbox
            bx, by = project(
                np.array([min_lon, max_lon, min_lon, max_lon]), np.array([min_lat, min_lat, max_lat, max_lat]), self.crs
            )
            step = ESTIMATE_SPACING_M
            xs = np.arange(bx.min(), bx.max() + step, step)
            ys = np.arange(by.min(), by.max() + step, step)
            gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
            lon, lat = unproject(gx, gy, self.crs)
            inside = (lon >= min_lon) & (lon <= max_lon) & (lat >= min_lat) & (lat <= max_lat)
            self._lattice = (gx[inside], gy[inside], lon[inside], lat[inside])
        return self._lattice

    def reached(self, lon: float, lat: float, *, mode: str, limit_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Lattice points within ``limit_s`` of the point, and their seconds."""
        lx, ly, _, _ = self.lattice()
        secs = self.seconds(lon, lat, lx, ly, mode=mode)
        idx = np.flatnonzero(secs <= limit_s)
        return idx, secs[idx]

    def to_points(
        self, lon: float, lat: float, xy: tuple[np.ndarray, np.ndarray], *, mode: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """Seconds and estimated network metres from the point to every projected (x, y)."""
        x, y = project(np.array([lon]), np.array([lat]), self.crs)
        metres = np.hypot(xy[0] - x[0], xy[1] - y[0]) * self.detour_factor
        return metres / self.speeds_mps[mode], metres

    def nearest_times(self, xy: tuple[np.ndarray, np.ndarray], *, mode: str, limit_s: float | None) -> np.ndarray:
        """Seconds from every lattice point to the nearest of the projected points (``inf`` past ``limit_s``)."""
        lx, ly, _, _ = self.lattice()
        if xy[0].size == 0:
            return np.full(lx.size, np.inf)
        found = cKDTree(np.column_stack(xy)).query(np.column_stack([lx, ly]))
        secs = np.asarray(found[0], dtype=np.float64) * self.detour_factor / self.speeds_mps[mode]
        return secs if limit_s is None else np.where(secs <= limit_s, secs, np.inf)

    def isochrone(
        self, lon: float, lat: float, *, mode: str, bands: Sequence[float], properties: dict[str, Any]
    ) -> dict:
        """One disc per band (minutes), as the engine's FeatureCollection, flagged ``estimate``."""
        x, y = project(np.array([lon]), np.array([lat]), self.crs)
        metres = [b * 60.0 * self.speeds_mps[mode] / self.detour_factor for b in bands]
        geoms = [shapely.Point(x[0], y[0]).buffer(m, quad_segs=16) for m in metres]
        return _poly.feature_collection(geoms, list(bands), crs=self.crs, properties={**properties, "estimate": True})
