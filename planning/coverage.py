"""Population coverage of the training circle: who lives within 10/15/20/30 minutes of each kind of place.

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

Thresholds are then a comparison, and the covered population per district and town a sparse
group-sum, so the full table (6 categories × 4 modes × 4 thresholds) costs 24 Dijkstra passes.

Capacity-aware access: :func:`two_step_fca` (two-step floating catchment, Luo & Wang 2003) with seats
as supply. Step 1 gives each resource ``R_j = S_j / Σ_{i: t_ij ≤ T} P_i`` (seats per resident of its
catchment); step 2 gives each cell ``A_i = Σ_{j: t_ij ≤ T} R_j``. Both steps are one sparse
matrix–vector product over the cell × resource catchment matrix. ``Σ_i P_i A_i`` equals the seats of
every resource whose catchment holds anyone, which the tests check. Cells reached by some resource but
with ``A_i`` well below the city's seats-per-resident ratio are *crowded*: covered on a map, yet
competing with many people for few seats.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.spatial import cKDTree

from geo.categories import CATEGORY_KEYS, parse_category
from geo.cities import MODE_KEYS
from geo.errors import InvalidParameterError, OffNetworkError
from geo.population import default_resolution as _default_resolution
from geo.population import population_grid, surface_of
from isochrones.graph import project
from isochrones.modes import check_mode

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from geo.cities import CityPack
    from isochrones.engine import CityEngine

log = logging.getLogger(__name__)

#: The planner's thresholds in minutes (the "30-minute circle" and its inner rings).
THRESHOLDS: tuple[int, ...] = (10, 15, 20, 30)
#: "all" = every category together (any training or evaluation place).
ALL_CATEGORIES = "all"
#: A covered cell whose 2SFCA access is below this fraction of the city-wide seats per resident is crowded.
CROWDED_FRACTION = 0.5
SUPPLY_KINDS: tuple[str, ...] = ("seats", "classes")

_GRID_CACHE: dict[tuple[str, str, int, str], gpd.GeoDataFrame] = {}
_GRID_LOCK = threading.Lock()


# ---------------------------------------------------------------------------------------------- inputs
def check_minutes(minutes: float) -> float:
    """Return ``minutes`` as a float if it is a usable threshold (0 < minutes ≤ 180), else raise.

    Raises
    ------
    InvalidParameterError
        Code ``invalid_minutes``.
    """
    try:
        value = float(minutes)
    except (TypeError, ValueError):
        value = math.nan
    if not (0.0 < value <= 180.0):
        msg = f"minutes must be a number in (0, 180], got {minutes!r}"
        raise InvalidParameterError(
            msg, message_zh=f"时间阈值须为 0–180 分钟之间的数，收到“{minutes}”", code="invalid_minutes"
        )
    return value


def parse_category_or_all(value: str | None) -> str:
    """``None``/``"all"``/``"全部"`` → ``"all"``; otherwise the category key (see :func:`parse_category`)."""
    if value is None or str(value).strip().lower() in ("", ALL_CATEGORIES, "全部", "*"):
        return ALL_CATEGORIES
    return parse_category(value)


def default_resolution(city: CityPack) -> int:
    """The coarsest H3 resolution from 8 up to 10 giving at least :data:`MIN_CELLS` cells over the city
    (:func:`geo.population.default_resolution`)."""
    return _default_resolution(city)


def city_grid(city: CityPack, *, resolution: int | None = None) -> gpd.GeoDataFrame:
    """The city's population grid (:func:`geo.population.population_grid`), cached per city and resolution.

    ``resolution`` may be one coarser to one finer than :func:`default_resolution`, within 6–10 (finer
    grids multiply the cells by 7 per step for no planning gain; much coarser ones can lose a district
    smaller than a cell). The returned frame is shared: treat it as read-only.
    """
    default = default_resolution(city)
    res = default if resolution is None else int(resolution)
    coarsest, finest = max(6, default - 1), min(10, default + 1)
    if not coarsest <= res <= finest:
        msg = f"grid resolution for {city.name_en} must be {coarsest}-{finest}, got {resolution}"
        raise InvalidParameterError(
            msg,
            message_zh=f"{city.name_zh}覆盖分析的网格分辨率须为 {coarsest}–{finest}，收到 {resolution}",
            code="invalid_resolution",
            details={"resolution": resolution, "min": coarsest, "max": finest},
        )
    from geo.population_import import imported_signature

    key = (city.key, str(city.folder), res, imported_signature(city))  # a new import is a new grid
    with _GRID_LOCK:
        if key not in _GRID_CACHE:
            _GRID_CACHE[key] = population_grid(city, resolution=res)
        return _GRID_CACHE[key]


def _utm(city: CityPack) -> str:
    from isochrones.graph import utm_crs

    return utm_crs(city.center[1], city.center[0])


@dataclass(frozen=True)
class ResourceSet:
    """The resources the engine was given (same order), with what coverage and 2SFCA need.

    Attributes
    ----------
    ids, lons, lats
        Resource ids and WGS84 positions, in the order passed to ``engine.set_resources``.
    categories
        Category key of each resource.
    seats
        ``Resource.seats`` (``nan`` where unknown).
    class_seats
        Seats of the resource's current and upcoming classes (``seats_total`` of classes ending today
        or later; 0 where none).
    any_sample
        True if any resource is sample data (every answer must then say so).
    """

    ids: np.ndarray
    lons: np.ndarray
    lats: np.ndarray
    categories: np.ndarray
    seats: np.ndarray
    class_seats: np.ndarray
    any_sample: bool = False

    @classmethod
    def of(
        cls,
        ids: Sequence[int],
        lons: Sequence[float],
        lats: Sequence[float],
        categories: Sequence[str],
        *,
        seats: Sequence[float | None] | None = None,
        class_seats: Sequence[float] | None = None,
        any_sample: bool = False,
    ) -> ResourceSet:
        """Build a set from sequences (``None`` seats become ``nan``)."""
        n = len(ids)
        seat_arr = np.full(n, np.nan) if seats is None else np.array([np.nan if s is None else s for s in seats], float)
        cls_arr = np.zeros(n) if class_seats is None else np.asarray(class_seats, dtype=float)
        out = cls(
            ids=np.asarray(ids, dtype=np.int64),
            lons=np.asarray(lons, dtype=np.float64),
            lats=np.asarray(lats, dtype=np.float64),
            categories=np.asarray(list(categories), dtype=object),
            seats=seat_arr,
            class_seats=cls_arr,
            any_sample=bool(any_sample),
        )
        if not (out.lons.size == out.lats.size == out.categories.size == out.seats.size == out.class_seats.size == n):
            msg = "resource arrays must have the same length"
            raise InvalidParameterError(msg, message_zh="资源数组长度必须一致")
        return out

    @classmethod
    def from_db(cls, session: Session, city_key: str, *, today: date | None = None) -> ResourceSet:
        """Every resource of ``city_key`` ordered by id (the order :mod:`api.state` gives the engine)."""
        from sqlalchemy import select

        from geo.clock import city_today
        from geo.models import Resource

        rows = session.execute(
            select(Resource.id, Resource.lon, Resource.lat, Resource.category, Resource.seats, Resource.is_sample)
            .where(Resource.city == city_key)
            .order_by(Resource.id)
        ).all()
        ids = [r.id for r in rows]
        return cls.of(
            ids,
            [r.lon for r in rows],
            [r.lat for r in rows],
            [r.category for r in rows],
            seats=[r.seats for r in rows],
            class_seats=_class_seats(session, ids, today=today or city_today(city_key)),
            any_sample=any(r.is_sample for r in rows),
        )

    def mask(self, category: str) -> np.ndarray:
        """Boolean mask of the resources of ``category`` (``"all"``: every resource)."""
        if category == ALL_CATEGORIES:
            return np.ones(self.ids.size, dtype=bool)
        return self.categories == category

    def supply(self, kind: str) -> np.ndarray:
        """Seats per resource for 2SFCA: ``"seats"`` (``Resource.seats``) or ``"classes"`` (class seats)."""
        if kind == "seats":
            return self.seats
        if kind == "classes":
            return self.class_seats
        msg = f"supply must be one of {', '.join(SUPPLY_KINDS)}, got {kind!r}"
        raise InvalidParameterError(
            msg,
            message_zh=f"供给口径须为 seats（机构名额）或 classes（在办班级名额），收到“{kind}”",
            code="invalid_supply",
        )

    @property
    def version(self) -> str:
        """A short hash of everything coverage depends on (ids, positions, categories, seats)."""
        h = hashlib.blake2b(digest_size=10)
        for arr in (self.ids, self.lons, self.lats, self.seats, self.class_seats):
            h.update(np.ascontiguousarray(arr).tobytes())
        h.update("|".join(map(str, self.categories)).encode())
        return h.hexdigest()


def class_seats_by_resource(session: Session, ids: Sequence[int], *, today: date) -> dict[int, float]:
    """Total ``seats_total`` of the upcoming classes (:mod:`geo.clock`: not ended by ``today``, the
    city's date, and not cancelled), per resource id (for 2SFCA supply)."""
    from sqlalchemy import func, select

    from geo.clock import upcoming_class
    from geo.models import TrainingClass

    rows = session.execute(
        select(TrainingClass.resource_id, func.sum(TrainingClass.seats_total))
        .where(upcoming_class(today))
        .group_by(TrainingClass.resource_id)
    ).all()
    wanted = set(int(i) for i in ids)
    return {int(r): float(s or 0) for r, s in rows if int(r) in wanted}


def _class_seats(session: Session, ids: Sequence[int], *, today: date) -> list[float]:
    by_id = class_seats_by_resource(session, ids, today=today)
    return [by_id.get(int(i), 0.0) for i in ids]


# ---------------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Coverage:
    """Coverage of one category × mode × threshold.

    Attributes
    ----------
    seconds
        Per grid cell, seconds to the nearest resource (``inf``: unreachable).
    covered
        Per grid cell, ``seconds ≤ minutes × 60``.
    total
        ``{"population", "covered", "share"}`` over the whole grid.
    districts
        Columns ``adcode, name, population, covered, uncovered, share``.
    towns
        Columns ``district, name, population, covered, uncovered, share, approximate``.
    """

    category: str
    mode: str
    minutes: float
    estimate: bool
    seconds: np.ndarray
    covered: np.ndarray
    total: dict[str, Any]
    districts: pd.DataFrame
    towns: pd.DataFrame


@dataclass(frozen=True)
class CoverageTable:
    """The planner's table for many categories × modes × thresholds, in long format."""

    totals: pd.DataFrame  # category, mode, minutes, estimate, population, covered, uncovered, share
    districts: pd.DataFrame  # + adcode, district
    towns: pd.DataFrame  # + district, town, approximate
    seconds_elapsed: float = 0.0


@dataclass(frozen=True)
class Access:
    """Two-step floating catchment (2SFCA) result for one category × mode × threshold.

    ``cell_access`` is seats per resident reachable (× 1000 = seats per 1,000 residents);
    ``resource_ratio`` seats per resident of each resource's catchment; ``city_ratio`` all seats of the
    category per resident of the city. ``crowded`` marks cells reached by some resource whose access is
    below ``CROWDED_FRACTION × city_ratio``.
    """

    category: str
    mode: str
    minutes: float
    supply: str
    estimate: bool
    cell_access: np.ndarray
    covered: np.ndarray
    crowded: np.ndarray
    resource_ids: np.ndarray
    resource_seats: np.ndarray
    resource_catchment: np.ndarray
    resource_ratio: np.ndarray
    city_ratio: float
    missing_supply: int
    districts: pd.DataFrame
    towns: pd.DataFrame


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


# ---------------------------------------------------------------------------------------------- the model
@dataclass
class CoverageModel:
    """Population cells, resources and the city's engine: every coverage question for one city.

    Parameters
    ----------
    engine
        The city's :class:`~isochrones.engine.CityEngine` with ``set_resources`` called on exactly
        ``resources`` (same order).
    grid
        Population cells: columns ``h3, district_adcode, district, town, population`` and cell
        geometries (EPSG:4326), as :func:`geo.population.population_grid` returns.
    resources
        The resources (see :class:`ResourceSet`).
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
    _seconds: dict[tuple[str, str], np.ndarray] = field(init=False, repr=False, default_factory=dict)
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
        self._lon, self._lat = _cell_centres(grid)
        self._x, self._y = project(self._lon, self._lat, self.engine.crs)
        self._pop = grid["population"].to_numpy(dtype=np.float64)
        self._district_codes, self._district_keys = pd.factorize(grid["district_adcode"].astype(str), sort=True)
        town_key = grid["district_adcode"].astype(str) + "\x1f" + grid["town"].astype(str)
        self._town_codes, self._town_keys = pd.factorize(town_key, sort=True)
        self._group_d = _group_matrix(self._district_codes, len(self._district_keys))
        self._group_t = _group_matrix(self._town_codes, len(self._town_keys))
        self._district_meta = self._make_district_meta()
        self._town_meta = self._make_town_meta()

    # ------------------------------------------------------------------ construction
    @classmethod
    def for_city(
        cls,
        city: CityPack,
        *,
        session: Session | None = None,
        engine: CityEngine | None = None,
        resources: ResourceSet | None = None,
        resolution: int | None = None,
        grid: gpd.GeoDataFrame | None = None,
    ) -> CoverageModel:
        """Load what is missing: resources from the database, the engine (resources set), the grid.

        Parameters
        ----------
        city
            The city pack.
        session
            Database session for the resources (a fresh one when omitted and ``resources`` is None).
        engine
            A loaded engine; if its resource count differs from ``resources``, ``set_resources`` is called.
        resources
            Resources to use instead of the database's.
        resolution
            H3 resolution of the population grid (default :func:`default_resolution`).
        grid
            A population grid to use instead of :func:`city_grid`.
        """
        if resources is None:
            if session is None:
                from geo.db import session_scope

                with session_scope() as own:
                    resources = ResourceSet.from_db(own, city.key)
            else:
                resources = ResourceSet.from_db(session, city.key)
        if engine is None:
            from isochrones.engine import CityEngine

            engine = CityEngine.load(city)
        if engine.resource_count != resources.ids.size or engine.resource_count == 0:
            engine.set_resources(resources.ids, resources.lons, resources.lats)
        grid = city_grid(city, resolution=resolution) if grid is None else grid
        return cls(engine=engine, grid=grid, resources=resources, city=city)

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
        return dist * self.engine.detour_factor / self.engine.speeds_mps[mode]

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

    def seconds_to_points(self, lons: Sequence[float], lats: Sequence[float], *, mode: str, limit_s: float) -> Pairs:
        """Seconds from every cell to each point, where within ``limit_s`` (sparse).

        Graph modes: one bounded Dijkstra on the reversed graph per point (``engine.reachable(...,
        direction="to")``), plus each cell's access walk; points off the network reach nobody.
        Estimate modes: KD-tree ball queries with radius ``limit_s × speed ÷ detour``.
        """
        check_mode(mode)
        lons = np.atleast_1d(np.asarray(lons, dtype=np.float64))
        lats = np.atleast_1d(np.asarray(lats, dtype=np.float64))
        n_pts = lons.size
        off = np.zeros(n_pts, dtype=bool)
        if n_pts == 0:
            e = np.zeros(0, dtype=np.int64)
            return Pairs(e, e, np.zeros(0), self.n_cells, 0, off)
        if self.estimate(mode):
            speed = self.engine.speeds_mps[mode] / self.engine.detour_factor
            px, py = project(lons, lats, self.engine.crs)
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
                    float(lons[j]), float(lats[j]), mode=mode, minutes=minutes, direction="to"
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

    # ------------------------------------------------------------------ coverage
    def coverage(self, category: str, *, mode: str, minutes: float) -> Coverage:
        """Covered population of ``category`` by ``mode`` within ``minutes``, in total, per district and town."""
        cat = parse_category_or_all(category)
        limit = check_minutes(minutes)
        seconds = self.cell_seconds(cat, mode=mode)
        return self.coverage_of_seconds(seconds, category=cat, mode=mode, minutes=limit)

    def coverage_of_seconds(self, seconds: np.ndarray, *, category: str, mode: str, minutes: float) -> Coverage:
        """Aggregate per-cell ``seconds`` into a :class:`Coverage` (used by what-if and site suggestion)."""
        covered = np.asarray(seconds) <= float(minutes) * 60.0
        pop = self._pop
        cov_pop = pop * covered
        total_pop, total_cov = int(round(pop.sum())), int(round(cov_pop.sum()))
        total = {"population": total_pop, "covered": total_cov, "share": _share(total_cov, total_pop)}
        d_pop = self._group_d @ pop
        d_cov = self._group_d @ cov_pop
        t_pop = self._group_t @ pop
        t_cov = self._group_t @ cov_pop
        return Coverage(
            category=category,
            mode=mode,
            minutes=float(minutes),
            estimate=self.estimate(mode),
            seconds=np.asarray(seconds),
            covered=covered,
            total=total,
            districts=_with_counts(self._district_meta, d_pop, d_cov),
            towns=_with_counts(self._town_meta, t_pop, t_cov),
        )

    def table(
        self,
        *,
        categories: Iterable[str] = CATEGORY_KEYS,
        modes: Iterable[str] = MODE_KEYS,
        thresholds: Iterable[float] = THRESHOLDS,
    ) -> CoverageTable:
        """Coverage for every category × mode × threshold (long format).

        One nearest-resource pass per category × mode, bounded at the largest threshold; then the
        thresholds are comparisons and the district/town sums sparse products (assembled once).
        """
        t0 = time.perf_counter()
        cats = [parse_category_or_all(c) for c in categories]
        mode_list = [check_mode(m) for m in modes]
        limits = np.array(sorted({check_minutes(t) for t in thresholds}), dtype=float)
        pop = self._pop
        total = int(round(pop.sum()))
        heads: list[tuple[str, str, bool]] = []
        tot_cov, d_cov, t_cov = [], [], []
        for mode in mode_list:
            est = self.estimate(mode)
            for cat in cats:
                seconds = self.cell_seconds(cat, mode=mode, limit_s=float(limits[-1]) * 60.0)
                cov = (seconds[:, None] <= limits[None, :] * 60.0) * pop[:, None]  # cells × thresholds
                heads.append((cat, mode, est))
                tot_cov.append(cov.sum(axis=0))
                d_cov.append((self._group_d @ cov).T)  # thresholds × districts
                t_cov.append((self._group_t @ cov).T)
        head = pd.DataFrame(heads, columns=["category", "mode", "estimate"])
        minutes = [_num(x) for x in limits]
        totals = _long(head, minutes, np.array(tot_cov)[:, :, None], np.array([float(total)]), None)
        districts = _long(head, minutes, np.array(d_cov), self._group_d @ pop, self._district_meta)
        towns = _long(head, minutes, np.array(t_cov), self._group_t @ pop, self._town_meta)
        elapsed = time.perf_counter() - t0
        log.info("coverage table %d×%d×%d in %.2fs", len(cats), len(mode_list), limits.size, elapsed)
        return CoverageTable(totals, districts, towns, elapsed)

    # ------------------------------------------------------------------ capacity-aware access
    def two_step_fca(self, category: str, *, mode: str, minutes: float, supply: str = "seats") -> Access:
        """Two-step floating catchment access (see the module docstring) with seats as supply.

        Parameters
        ----------
        category
            Category key (or ``"all"``).
        mode
            Travel mode.
        minutes
            Catchment size.
        supply
            ``"seats"``: ``Resource.seats``; ``"classes"``: seats of current and upcoming classes.
            Resources without a known supply (``nan``) are left out and counted in ``missing_supply``.
        """
        cat = parse_category_or_all(category)
        limit = check_minutes(minutes)
        seats_all = self.resources.supply(supply)
        in_cat = self.resources.mask(cat)
        missing = int((in_cat & ~np.isfinite(seats_all)).sum())
        use = np.flatnonzero(in_cat & np.isfinite(seats_all) & (seats_all > 0))
        pairs = self.seconds_to_points(
            self.resources.lons[use], self.resources.lats[use], mode=mode, limit_s=limit * 60
        )
        result = two_step_fca(pairs.matrix(), self._pop, seats_all[use])
        cell_access, ratio, catchment = result
        total_pop = float(self._pop.sum())
        city_ratio = float(seats_all[use].sum() / total_pop) if total_pop > 0 else 0.0
        reached = np.zeros(self.n_cells, dtype=bool)
        reached[pairs.cell] = True
        crowded = reached & (cell_access < CROWDED_FRACTION * city_ratio)
        return Access(
            category=cat,
            mode=mode,
            minutes=limit,
            supply=supply,
            estimate=self.estimate(mode),
            cell_access=cell_access,
            covered=reached,
            crowded=crowded,
            resource_ids=self.resources.ids[use],
            resource_seats=seats_all[use],
            resource_catchment=catchment,
            resource_ratio=ratio,
            city_ratio=city_ratio,
            missing_supply=missing,
            districts=self._access_groups(self._group_d, self._district_meta, cell_access, reached, crowded),
            towns=self._access_groups(self._group_t, self._town_meta, cell_access, reached, crowded),
        )

    def _access_groups(
        self,
        group: sparse.csr_matrix,
        meta: pd.DataFrame,
        access: np.ndarray,
        reached: np.ndarray,
        crowded: np.ndarray,
    ) -> pd.DataFrame:
        pop = self._pop
        g_pop = group @ pop
        seats = group @ (pop * access)  # seats "held" by the group's residents
        out = meta.copy()
        out["population"] = np.rint(g_pop).astype(np.int64)
        out["seats_per_1000"] = np.where(g_pop > 0, 1000.0 * seats / np.maximum(g_pop, 1e-12), 0.0).round(3)
        out["no_access"] = np.rint(group @ (pop * ~reached)).astype(np.int64)
        out["crowded"] = np.rint(group @ (pop * crowded)).astype(np.int64)
        return out

    # ------------------------------------------------------------------ lookup tables
    def _make_district_meta(self) -> pd.DataFrame:
        names = (
            self.grid.drop_duplicates("district_adcode")
            .assign(district_adcode=lambda f: f["district_adcode"].astype(str))
            .set_index("district_adcode")["district"]
        )
        keys = list(self._district_keys)
        return pd.DataFrame({"adcode": keys, "name": [str(names.get(k, k)) for k in keys]})

    def _make_town_meta(self) -> pd.DataFrame:
        keys = [str(k).split("\x1f", 1) for k in self._town_keys]
        approx = _approximate_towns(self.city) if self.city is not None else {}
        d_names = dict(zip(self._district_meta["adcode"], self._district_meta["name"], strict=True))
        return pd.DataFrame(
            {
                "district": [d_names.get(a, a) for a, _ in keys],
                "name": [t for _, t in keys],
                "approximate": [bool(approx.get((a, t), True)) for a, t in keys],
                "district_adcode": [a for a, _ in keys],
            }
        )

    def cell_frame(self) -> pd.DataFrame:
        """One row per cell: ``h3, district_adcode, district, town, population, lon, lat``."""
        cols = [c for c in ("h3", "district_adcode", "district", "town", "population") if c in self.grid.columns]
        frame = pd.DataFrame(self.grid[cols]).reset_index(drop=True)
        frame["lon"], frame["lat"] = self._lon, self._lat
        return frame


# ---------------------------------------------------------------------------------------------- functions
def two_step_fca(
    catchment: sparse.spmatrix, population: np.ndarray, supply: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two-step floating catchment on a cells × resources 0/1 matrix (vectorised, scipy.sparse).

    Parameters
    ----------
    catchment
        ``W[i, j] = 1`` when cell ``i`` reaches resource ``j`` within the threshold.
    population
        Residents per cell ``P_i``.
    supply
        Seats per resource ``S_j``.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray)
        Access per cell ``A_i = Σ_j W_ij R_j`` (seats per resident), the supply ratio per resource
        ``R_j = S_j / Σ_i W_ij P_i`` (0 for an empty catchment) and each resource's catchment
        population ``Σ_i W_ij P_i``.
    """
    w = sparse.csr_matrix(catchment, dtype=np.float64)
    pop = np.asarray(population, dtype=np.float64)
    seats = np.asarray(supply, dtype=np.float64)
    if w.shape != (pop.size, seats.size):
        msg = f"catchment matrix shape {w.shape} does not match {pop.size} cells × {seats.size} resources"
        raise InvalidParameterError(msg, message_zh="可达矩阵的维度与网格或资源数量不一致")
    catch = w.T @ pop
    ratio = np.divide(seats, catch, out=np.zeros_like(seats), where=catch > 0)
    return w @ ratio, ratio, catch


def resources_version(*arrays: Any) -> str:
    """A short content hash of arrays (cache keys: "the resources changed")."""
    h = hashlib.blake2b(digest_size=10)
    for arr in arrays:
        a = np.asarray(arr)
        h.update(("|".join(map(str, a)) if a.dtype == object else np.ascontiguousarray(a).tobytes()) or b"-")
    return h.hexdigest()


def _cell_centres(grid: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 centres: the H3 cell centre when ``h3`` holds valid ids, else the geometry's centroid."""
    if "h3" in grid.columns and len(grid) and all(h3.is_valid_cell(str(c)) for c in grid["h3"]):
        ll = np.array([h3.cell_to_latlng(str(c)) for c in grid["h3"]], dtype=np.float64).reshape(-1, 2)
        return ll[:, 1].copy(), ll[:, 0].copy()
    geo = grid.geometry
    if geo.crs is not None and not geo.crs.equals("EPSG:4326"):
        geo = geo.to_crs("EPSG:4326")
    pts = geo.representative_point() if (geo.geom_type != "Point").any() else geo
    return pts.x.to_numpy(np.float64), pts.y.to_numpy(np.float64)


def _long(
    head: pd.DataFrame, minutes: list[int | float], covered: np.ndarray, pop: np.ndarray, meta: pd.DataFrame | None
) -> pd.DataFrame:
    """Long table from blocks × thresholds × groups of covered counts (one row per block, threshold, group)."""
    n_blocks, n_t, n_g = covered.shape if covered.size else (len(head), len(minutes), len(pop))
    rows = n_blocks * n_t * n_g
    block = np.repeat(np.arange(n_blocks), n_t * n_g)
    out = head.iloc[block].reset_index(drop=True)
    mins = np.array(minutes, dtype=np.int64 if all(isinstance(m, int) for m in minutes) else np.float64)
    out.insert(2, "minutes", np.tile(np.repeat(mins, n_g), n_blocks))
    if meta is not None:
        grouped = meta.iloc[np.tile(np.arange(n_g), n_blocks * n_t)].reset_index(drop=True)
        out = pd.concat([out, grouped], axis=1)
    p = np.rint(np.tile(np.asarray(pop, dtype=float), n_blocks * n_t)).astype(np.int64)
    c = np.rint(covered.reshape(rows)).astype(np.int64) if rows else np.zeros(0, np.int64)
    out["population"] = p
    out["covered"] = c
    out["uncovered"] = p - c
    out["share"] = np.where(p > 0, c / np.maximum(p, 1), 0.0).round(4)
    if "approximate" in out.columns:
        out = out[[col for col in out.columns if col not in ("approximate", "district_adcode")] + ["approximate"]]
    return out


def _concat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)


def _group_matrix(codes: np.ndarray, n_groups: int) -> sparse.csr_matrix:
    n = codes.size
    return sparse.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(n_groups, n))


def _with_counts(meta: pd.DataFrame, pop: np.ndarray, covered: np.ndarray) -> pd.DataFrame:
    out = meta.drop(columns=["district_adcode"], errors="ignore").copy()
    p = np.rint(np.asarray(pop)).astype(np.int64)
    c = np.rint(np.asarray(covered)).astype(np.int64)
    out["population"] = p
    out["covered"] = c
    out["uncovered"] = p - c
    out["share"] = np.where(p > 0, c / np.maximum(p, 1), 0.0).round(4)
    if "approximate" in out.columns:
        out = out[[c for c in out.columns if c != "approximate"] + ["approximate"]]
    return out


def _share(covered: float, population: float) -> float:
    return round(float(covered) / float(population), 4) if population > 0 else 0.0


def _num(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _approximate_towns(city: CityPack) -> dict[tuple[str, str], bool]:
    from geo.boundaries import towns

    t = towns(city)
    return {
        (str(a), str(n)): bool(x)
        for a, n, x in zip(t["district_adcode"], t["name_zh"], t["location_approximate"], strict=True)
    }


def _census_population(city: CityPack | None) -> bool:
    """True when the city's district populations are census figures (their sources say so)."""
    if city is None:
        return False
    from geo.boundaries import districts

    sources = " ".join(map(str, districts(city)["population_source"]))
    return "人口普查" in sources or "census" in sources.lower().replace("not census", "")


def coverage_notice(model: CoverageModel, *, mode: str | None = None) -> dict[str, dict[str, str]]:
    """The notices every coverage answer carries: sample data, straight-line estimate, modelled population."""
    notice: dict[str, dict[str, str]] = {}
    if model.resources.any_sample:
        notice["sample"] = {
            "zh": "示例数据：本页机构为样例，不是真实机构。",
            "en": "Sample data: the resources are a labelled sample, not real institutions.",
        }
    if mode is not None and model.estimate(mode):
        notice["estimate"] = {
            "zh": "估算：该出行方式尚无路网，通行时间按直线距离乘以绕行系数估算。",
            "en": "Estimate: no road network for this mode yet; times are straight-line distance × a detour factor.",
        }
    res = model.resolution
    surface = surface_of(model.grid)
    if _census_population(model.city):
        notice["population"] = {
            "zh": (
                f"人口：各区县第七次全国人口普查（2020）常住人口分配到 H3 网格（分辨率 {res}），水域网格无人口；"
                f"{surface['zh']}；乡镇/街道范围为近似（乡镇驻地点的泰森多边形）。"
            ),
            "en": (
                f"Population: each district's 2020 census total spread over an H3 grid (resolution {res}); cells in "
                f"water hold nobody. {surface['en']}; town areas are approximate (Voronoi cells of town seats)."
            ),
        }
    else:
        notice["population"] = {
            "zh": (
                f"人口为示意数字（非普查），分配到 H3 网格（分辨率 {res}）；{surface['zh']}；"
                "分区为演示用，不是真实行政区。"
            ),
            "en": (
                f"Population figures are illustrative (not a census), spread over an H3 grid (resolution {res}); "
                f"{surface['en']}; zones are for demonstration, not real administrative areas."
            ),
        }
    return notice


__all__ = [
    "ALL_CATEGORIES",
    "THRESHOLDS",
    "Access",
    "Coverage",
    "CoverageModel",
    "CoverageTable",
    "Pairs",
    "ResourceSet",
    "check_minutes",
    "city_grid",
    "class_seats_by_resource",
    "coverage_notice",
    "default_resolution",
    "parse_category_or_all",
    "resources_version",
    "two_step_fca",
]
