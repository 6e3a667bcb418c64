"""Travel times from every population cell: to the nearest resource of a category, and to given points.

For one travel mode and one category the time from *every* population cell to its nearest resource
comes from ONE multi-source pass of the engine (:meth:`CityEngine.nearest_times`, a virtual
super-source on the reversed graph), never from one isochrone per resource unioned:

* each H3 cell's centre is snapped to its nearest snap target — a node of the mode's largest strongly
  connected component (the engine's KD-tree on projected metres, once per mode) — and the straight
  access walk to that node is added at walking speed, so a cell's time is ``walk(cell → node) +
  nearest_times[node]`` (the resource's own snap walk is already inside ``nearest_times``). Cells
  farther than the city's ``max_snap_m`` from the mode's network are unreachable (``inf``),
  exactly as the engine treats off-network points;
* when the mode has no compiled graph (Jiaxing offline: the engine is in estimate mode), the time is
  the straight-line distance from the cell centre to the nearest resource (``cKDTree``) × the city's
  ``detour_factor`` ÷ the mode's speed, and every answer is flagged ``estimate``.

To given points (site candidates, planned sites, the resources of a 2SFCA catchment) the times are
sparse: one bounded reverse search per point, kept where within the limit (:class:`Pairs`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.spatial import cKDTree

from geo.errors import InvalidParameterError, OffNetworkError
from geo.moderules import check_mode
from isochrones.graph import project
from planning.grid import cell_centres
from planning.params import parse_category_or_all
from planning.resources import ResourceSet

if TYPE_CHECKING:
    from geo.cities import CityPack
    from isochrones.engine import CityEngine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pairs:
    """Sparse cell × point travel times within a limit (COO triplets): ``seconds[k]`` from cell ``cell[k]``
    to point ``point[k]``. ``off_network`` marks points that could not be snapped (they reach nobody)."""

    cell: np.ndarray
    point: np.ndarray
    seconds: np.ndarray
    n_cells: int
    n_points: int
    off_network: np.ndarray

    def matrix(self) -> sparse.csr_matrix:
        """Boolean-valued (1.0) CSR matrix, cells × points."""
        data = np.ones(self.cell.size, dtype=np.float64)
        return sparse.csr_matrix((data, (self.cell, self.point)), shape=(self.n_cells, self.n_points))

    def min_seconds(self) -> np.ndarray:
        """Per cell, the least seconds to any point (``inf`` where none within the limit)."""
        out = np.full(self.n_cells, np.inf)
        np.minimum.at(out, self.cell, self.seconds)
        return out


@dataclass
class _CellSnap:
    node: np.ndarray  # graph node per cell (-1: off the network)
    walk_s: np.ndarray  # straight walk from the cell centre to the node
    n_nodes: int


@dataclass
class CellTimes:
    """Population cells, resources and the city's engine: travel times from every cell.

    Parameters
    ----------
    engine
        The city's :class:`~isochrones.engine.CityEngine` with ``set_resources`` called on exactly
        ``resources`` (same order).
    grid
        Population cells: columns ``h3, district_adcode, district, town, population`` and cell
        geometries (EPSG:4326), as :func:`geo.population.population_grid` returns.
    resources
        The resources (see :class:`~planning.resources.ResourceSet`).
    city
        City pack (district English names, approximate town flags, service area); defaults to
        ``engine.city``.
    """

    engine: CityEngine
    grid: gpd.GeoDataFrame
    resources: ResourceSet
    city: CityPack | None = None
    _lon: np.ndarray = field(init=False, repr=False)
    _lat: np.ndarray = field(init=False, repr=False)
    _x: np.ndarray = field(init=False, repr=False)
    _y: np.ndarray = field(init=False, repr=False)
    _pop: np.ndarray = field(init=False, repr=False)
    _snaps: dict[str, _CellSnap] = field(init=False, repr=False, default_factory=dict)
    _seconds: dict[tuple[str, str, float | None], np.ndarray] = field(init=False, repr=False, default_factory=dict)
    _lock: threading.RLock = field(init=False, repr=False, default_factory=threading.RLock)

    def __post_init__(self) -> None:
        if self.city is None:
            self.city = getattr(self.engine, "city", None)
        if self.engine.resource_count != self.resources.ids.size:
            msg = (
                f"the engine holds {self.engine.resource_count} resources but the coverage model was given "
                f"{self.resources.ids.size}; call engine.set_resources with the same resources"
            )
            raise InvalidParameterError(
                msg, message_zh="路由引擎中的资源与覆盖分析的资源不一致", code="stale_resources"
            )
        grid = self.grid
        missing = [c for c in ("district_adcode", "district", "town", "population") if c not in grid.columns]
        if missing:
            msg = f"population grid lacks columns {missing}"
            raise InvalidParameterError(msg, message_zh=f"人口网格缺少列：{missing}", details={"missing": missing})
        self._lon, self._lat = cell_centres(grid)
        self._x, self._y = project(self._lon, self._lat, self.engine.crs)
        self._pop = grid["population"].to_numpy(dtype=np.float64)

    # ------------------------------------------------------------------ basic facts
    @property
    def n_cells(self) -> int:
        """Number of population cells."""
        return int(self._pop.size)

    @property
    def population(self) -> np.ndarray:
        """Population per cell (float64 view of the grid's integers)."""
        return self._pop

    @property
    def cell_lonlat(self) -> tuple[np.ndarray, np.ndarray]:
        """WGS84 centre of every cell."""
        return self._lon, self._lat

    @property
    def resolution(self) -> int | None:
        """H3 resolution of the grid, when known."""
        res = self.grid.attrs.get("resolution")
        return None if res is None else int(res)

    def estimate(self, mode: str) -> bool:
        """True when ``mode`` has no compiled graph: its times are straight-line estimates."""
        check_mode(mode)
        return mode not in self.engine.modes_loaded

    def category_mask(self, category: str) -> np.ndarray:
        """Resources of ``category`` (key or ``"all"``)."""
        return self.resources.mask(parse_category_or_all(category))

    # ------------------------------------------------------------------ travel times per cell
    def _snap(self, mode: str) -> _CellSnap:
        """Nearest graph node of each cell centre and the straight walk to it (cached per mode).

        Uses the engine's snapper for the mode (a KD-tree on the graph's projected metres, built once
        by the engine): cells farther than ``max_snap_m`` get node -1, the walk is priced at walking speed.
        """
        with self._lock:
            if mode not in self._snaps:
                t0 = time.perf_counter()
                snap = self.engine.snappers[mode].snap_many(self._lon, self._lat)
                n_nodes = int(self.engine.node_lonlat(mode)[0].size)
                self._snaps[mode] = _CellSnap(node=snap.node, walk_s=snap.walk_s, n_nodes=n_nodes)
                log.info(
                    "%s: %d cells snapped (%d off network) in %.3fs",
                    mode,
                    snap.node.size,
                    int((snap.node < 0).sum()),
                    time.perf_counter() - t0,
                )
            return self._snaps[mode]

    def seconds_for_mask(self, mask: np.ndarray, *, mode: str, limit_s: float | None = None) -> np.ndarray:
        """Seconds from every cell to the nearest resource in ``mask`` (one pass; ``inf``: unreachable).

        Graph modes: ``walk(cell → node) + engine.nearest_times(mask)[node]``; estimate modes:
        straight-line distance to the nearest masked resource × detour factor ÷ speed.

        With ``limit_s`` the graph search stops there (:meth:`CityEngine.nearest_times` ``limit_s``, same
        answer up to the limit; cells beyond it may read ``inf``) — what a table of thresholds
        ≤ ``limit_s`` needs.
        """
        check_mode(mode)
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != self.resources.ids.shape:
            msg = f"mask must have one value per resource ({self.resources.ids.size}), got shape {mask.shape}"
            raise InvalidParameterError(msg, message_zh="资源掩码长度与资源数量不一致")
        if self.estimate(mode):
            return self._straight_seconds(self.resources.lons[mask], self.resources.lats[mask], mode=mode)
        snap = self._snap(mode)
        node_s = self.engine.nearest_times(mask, mode=mode, limit_s=limit_s)
        out = np.full(self.n_cells, np.inf)
        ok = snap.node >= 0
        out[ok] = node_s[snap.node[ok]] + snap.walk_s[ok]
        return out

    def _straight_seconds(self, lons: np.ndarray, lats: np.ndarray, *, mode: str) -> np.ndarray:
        if lons.size == 0:
            return np.full(self.n_cells, np.inf)
        rx, ry = project(lons, lats, self.engine.crs)
        dist, _ = cKDTree(np.column_stack([rx, ry])).query(np.column_stack([self._x, self._y]), k=1)
        return np.asarray(dist, dtype=np.float64) * self.engine.detour_factor / self.engine.speeds_mps[mode]

    def cell_seconds(self, category: str, *, mode: str, limit_s: float | None = None) -> np.ndarray:
        """Seconds from every cell to the nearest resource of ``category`` by ``mode`` (cached).

        ``limit_s``: exact only up to that many seconds (a bounded, faster search; see
        :meth:`seconds_for_mask`). Unbounded times are reused whenever they are already cached.
        """
        cat = parse_category_or_all(category)
        check_mode(mode)
        full = (cat, mode, None)
        with self._lock:
            if full in self._seconds:
                return self._seconds[full]
            if self.estimate(mode):
                limit_s = None  # straight-line nearest distances cost the same either way
            key = (cat, mode, None if limit_s is None else float(limit_s))
            if key not in self._seconds:
                t0 = time.perf_counter()
                self._seconds[key] = self.seconds_for_mask(self.resources.mask(cat), mode=mode, limit_s=limit_s)
                log.debug("cell seconds %s/%s (limit %s) in %.3fs", cat, mode, limit_s, time.perf_counter() - t0)
            return self._seconds[key]

    def seconds_to_points(
        self, lons: Sequence[float] | np.ndarray, lats: Sequence[float] | np.ndarray, *, mode: str, limit_s: float
    ) -> Pairs:
        """Seconds from every cell to each point, where within ``limit_s`` (sparse).

        Graph modes: one bounded Dijkstra on the reversed graph per point (``engine.reachable(...,
        direction="to")``), plus each cell's access walk; points off the network reach nobody.
        Estimate modes: KD-tree ball queries with radius ``limit_s × speed ÷ detour``.
        """
        check_mode(mode)
        lon_a = np.atleast_1d(np.asarray(lons, dtype=np.float64))
        lat_a = np.atleast_1d(np.asarray(lats, dtype=np.float64))
        n_pts = lon_a.size
        off = np.zeros(n_pts, dtype=bool)
        if n_pts == 0:
            e = np.zeros(0, dtype=np.int64)
            return Pairs(e, e, np.zeros(0), self.n_cells, 0, off)
        if self.estimate(mode):
            speed = self.engine.speeds_mps[mode] / self.engine.detour_factor
            px, py = project(lon_a, lat_a, self.engine.crs)
            cells = cKDTree(np.column_stack([self._x, self._y]))
            rec = cells.sparse_distance_matrix(
                cKDTree(np.column_stack([px, py])), max_distance=limit_s * speed, output_type="ndarray"
            )
            secs = rec["v"] / speed
            keep = secs <= limit_s
            return Pairs(
                rec["i"][keep].astype(np.int64), rec["j"][keep].astype(np.int64), secs[keep], self.n_cells, n_pts, off
            )
        snap = self._snap(mode)
        ok = snap.node >= 0
        cell_node = np.where(ok, snap.node, 0)
        buf = np.full(snap.n_nodes, np.inf)
        rows, cols, data = [], [], []
        minutes = limit_s / 60.0
        for j in range(n_pts):
            try:
                reach = self.engine.reachable(
                    float(lon_a[j]), float(lat_a[j]), mode=mode, minutes=minutes, direction="to"
                )
            except OffNetworkError:
                off[j] = True
                continue
            buf[reach.node_idx] = reach.seconds
            secs = buf[cell_node] + snap.walk_s
            secs[~ok] = np.inf
            sel = np.flatnonzero(secs <= limit_s)
            rows.append(sel)
            cols.append(np.full(sel.size, j, dtype=np.int64))
            data.append(secs[sel])
            buf[reach.node_idx] = np.inf
        return Pairs(
            _concat(rows, np.int64), _concat(cols, np.int64), _concat(data, np.float64), self.n_cells, n_pts, off
        )

    def cell_frame(self) -> pd.DataFrame:
        """One row per cell: ``h3, district_adcode, district, town, population, lon, lat``."""
        cols = [c for c in ("h3", "district_adcode", "district", "town", "population") if c in self.grid.columns]
        frame = pd.DataFrame(self.grid[cols]).reset_index(drop=True)
        frame["lon"], frame["lat"] = self._lon, self._lat
        return frame


def _concat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)


__all__ = ["CellTimes", "Pairs"]
