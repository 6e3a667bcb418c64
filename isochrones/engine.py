"""The city travel-time engine the API calls: one object per city holding every mode's compiled graph.

>>> eng = CityEngine.load(load_city("demo"))          # doctest: +SKIP
>>> eng.set_resources(ids, lons, lats)                # snap resources, precompute nearby() tables
>>> eng.nearby(24.94, 60.17, mode="walk", minutes=30)  # [NearbyHit(resource_id, seconds, distance_m, estimate)]

Directions: ``reachable``/``isochrone`` with ``direction="from"`` search outward from the point on the
forward graph; ``direction="to"`` gives the time from every node *to* the point (reversed graph).
``nearby`` is the worker's question — time from the worker *to* each resource — and ``nearest_times``
the coverage question — time from every node to its nearest resource; both use the reversed graph
from the resources. One-way streets make the directions differ for bicycle, e-bike and car.

All times include the straight walk (at walking speed) between a point and its snapped node, for the
query point and for each resource.

Speed: ``reachable`` and ``isochrone`` search a Euclidean-disk slice of the graph when it is small
(:mod:`isochrones.subgraph`; same answer as the whole graph). ``nearby`` reads a precomputed table: the
sparse node × resource table (:class:`isochrones.travel.ResourceTable`) when it fits the memory budget at
the mode's :data:`TABLE_MINUTES`, else — for modes that reach most of the city, like the car — a dense
node × resource table (:mod:`isochrones.densetable`). Cached tables are read row by row from their
files (:class:`isochrones.storage.StoredArray`): they add nothing to a worker's resident memory. Both are exact
to 0.1 s (the times of a fresh Dijkstra from the worker's snapped node, rounded up to 0.1 s).
``resource_isochrones`` reads the polygons ``skillcircle build`` precomputed (:mod:`isochrones.precomputed`).
Choosing, building and caching the nearby() tables is :mod:`isochrones.nearby_tables`.

Without compiled graphs (e.g. Jiaxing before its network is fetched) the engine answers with
straight-line estimates: distance × ``city.network.detour_factor`` at the mode's speed, every answer
flagged ``estimate``; "nodes" are then a regular lattice over the city's box (:mod:`isochrones.estimates`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from geo.errors import InvalidParameterError, NetworkNotBuiltError, NotFoundError
from geo.moderules import MODE_KEYS, WALK_MODE, check_mode
from isochrones import polygons as _poly
from isochrones import precomputed as _pre
from isochrones.densetable import DenseTable
from isochrones.estimates import StraightLine
from isochrones.graph import CompiledGraph, load_graph, project, utm_crs
from isochrones.heap import reuse_heap_for_temporaries
from isochrones.nearby_tables import TABLE_KINDS, TableKind, nearby_table
from isochrones.snap import Snap, Snapper
from isochrones.travel import (
    TABLE_BUDGET_BYTES,
    ResourceTable,
    nearest_times,
    search,
    search_reached,
    tree_lengths,
)

if TYPE_CHECKING:
    from geo.cities import CityPack

log = logging.getLogger(__name__)

#: Minutes each mode's exact nearby() table covers; longer queries run a fresh Dijkstra (same answer).
#: A mode whose sparse table would not fit the memory budget at these minutes gets a dense table instead.
TABLE_MINUTES: dict[str, float] = {"walk": 60.0, "bicycle": 60.0, "ebike": 45.0, "car": 60.0}
MAX_MINUTES = 180.0
Direction = Literal["from", "to"]


def graphs_dir(city: CityPack) -> Path:
    """Where a city's compiled graphs live: ``<var_dir>/cities/<key>/graphs/<mode>.npz``."""
    return city.var_dir / "graphs"


class NearbyHit(NamedTuple):
    """A resource reachable within the limit: seconds and network metres from the worker to it.

    A named tuple (cheap to create: a query can return hundreds).
    """

    resource_id: int
    seconds: float
    distance_m: float
    estimate: bool


@dataclass(frozen=True)
class Reach:
    """Result of :meth:`CityEngine.reachable`: reached node indices with their seconds (incl. snap walk)."""

    node_idx: np.ndarray
    seconds: np.ndarray
    origin_node: int
    snap_m: float
    estimate: bool = False


@dataclass
class _Resources:
    ids: np.ndarray
    lons: np.ndarray
    lats: np.ndarray
    xy: tuple[np.ndarray, np.ndarray]  # projected (estimate mode)
    snaps: dict[str, Snap] = field(default_factory=dict)
    tables: dict[str, ResourceTable | DenseTable] = field(default_factory=dict)


class CityEngine:
    """Travel times, nearby resources, isochrones and coverage for one city (see the module docstring).

    Parameters
    ----------
    graphs
        Compiled graph per loaded mode (may be empty: estimate mode).
    speeds_mps
        Speed of every mode (walk prices snap walks; all price estimates).
    max_snap_m
        Maximum distance from a point to the network.
    detour_factor
        Network / straight-line distance ratio used by estimates.
    bbox
        WGS84 (min_lon, min_lat, max_lon, max_lat) of the service area (estimate lattice).
    city
        The city pack, if any: points are checked against its service area.
    cache_dir
        Where nearby() tables are cached (``None``: not cached).
    table_minutes
        Override :data:`TABLE_MINUTES`.
    table_kinds
        Per mode, which nearby() table to build: ``"auto"`` (default: the sparse node table when it
        fits ``table_budget_bytes`` at the mode's table minutes, else the dense table), ``"nodes"`` or
        ``"dense"`` (see :mod:`isochrones.densetable`). Both are exact.
    table_budget_bytes
        Memory budget of each mode's sparse nearby() table.
    isochrone_dir
        Where :meth:`resource_isochrones` finds precomputed polygons (``None``: always computed).
    """

    def __init__(
        self,
        graphs: dict[str, CompiledGraph],
        *,
        speeds_mps: dict[str, float],
        max_snap_m: float = 500.0,
        detour_factor: float = 1.35,
        bbox: tuple[float, float, float, float] | None = None,
        city: CityPack | None = None,
        cache_dir: Path | None = None,
        table_minutes: dict[str, float] | None = None,
        table_kinds: dict[str, TableKind] | None = None,
        table_budget_bytes: int = TABLE_BUDGET_BYTES,
        isochrone_dir: Path | None = None,
    ) -> None:
        self.graphs = dict(graphs)
        self.speeds_mps = dict(speeds_mps)
        self.max_snap_m = float(max_snap_m)
        self.detour_factor = float(detour_factor)
        self.city = city
        self.cache_dir = cache_dir
        self.table_minutes = {**TABLE_MINUTES, **(table_minutes or {})}
        self.table_kinds: dict[str, TableKind] = dict(table_kinds or {})
        for kind in self.table_kinds.values():
            if kind not in TABLE_KINDS:
                msg = f"table kind must be auto, nodes or dense, got {kind!r}"
                raise InvalidParameterError(msg, message_zh=f"表类型须为 auto、nodes 或 dense，收到 {kind}")
        self.table_budget_bytes = int(table_budget_bytes)
        self.isochrone_dir = isochrone_dir
        walk = self.speeds_mps.get(WALK_MODE, 4.5 / 3.6)
        self.snappers: dict[str, Snapper] = {}
        for m, g in self.graphs.items():  # modes with the same snap targets share one KD-tree
            self.snappers[m] = Snapper(g, max_snap_m=self.max_snap_m, walk_mps=walk, share=self.snappers.values())
        self._res: _Resources | None = None
        if bbox is None and self.graphs:
            g = next(iter(self.graphs.values()))
            bbox = (float(g.lon.min()), float(g.lat.min()), float(g.lon.max()), float(g.lat.max()))
        self.bbox = bbox or (-0.01, -0.01, 0.01, 0.01)
        cx, cy = (self.bbox[0] + self.bbox[2]) / 2, (self.bbox[1] + self.bbox[3]) / 2
        self.crs = next(iter(self.graphs.values())).crs if self.graphs else utm_crs(cx, cy)
        self.straight = StraightLine(
            crs=self.crs, bbox=self.bbox, detour_factor=self.detour_factor, speeds_mps=self.speeds_mps
        )
        reuse_heap_for_temporaries()  # query speed must not depend on earlier frees (isochrones.heap)

    # ------------------------------------------------------------------ construction
    @classmethod
    def load(
        cls, city: CityPack, *, modes: Sequence[str] = MODE_KEYS, verify: bool = True, directory: Path | None = None
    ) -> CityEngine:
        """Load the city's compiled graphs from ``<var_dir>/graphs`` (missing modes → estimates).

        Parameters
        ----------
        city
            City pack (speeds, snap distance, detour factor, service box, var dir).
        modes
            Modes to load.
        verify
            Check each graph's content hash.
        directory
            Override the graphs folder.
        """
        folder = directory or graphs_dir(city)
        t0 = time.perf_counter()
        graphs = {}
        for mode in modes:
            check_mode(mode)
            path = folder / f"{mode}.npz"
            if path.is_file():
                try:
                    graphs[mode] = load_graph(path, verify=verify)
                except NetworkNotBuiltError:
                    log.exception("ignoring unusable compiled graph %s", path)
        eng = cls(
            graphs,
            speeds_mps={m: city.speed_mps(m) for m in MODE_KEYS},
            max_snap_m=city.network.max_snap_m,
            detour_factor=city.network.detour_factor,
            bbox=city.bbox,
            city=city,
            cache_dir=folder / "tables",
            isochrone_dir=folder / "isochrones",
        )
        if eng.estimate:
            log.warning("%s: no compiled road network; travel times are straight-line estimates", city.key)
        log.info("loaded %s engine (%s) in %.2fs", city.key, ",".join(graphs) or "estimate", time.perf_counter() - t0)
        return eng

    @property
    def estimate(self) -> bool:
        """True when no mode has a compiled graph: every answer is a straight-line estimate."""
        return not self.graphs

    @property
    def modes_loaded(self) -> list[str]:
        """Modes with a compiled graph (in :data:`MODE_KEYS` order)."""
        return [m for m in MODE_KEYS if m in self.graphs]

    # ------------------------------------------------------------------ validation helpers
    def _check(self, lon: float, lat: float, mode: str, minutes: float | None = None) -> None:
        check_mode(mode)
        if self.city is not None:
            self.city.check_point(lon, lat)
        if minutes is not None and not (0 < float(minutes) <= MAX_MINUTES):
            msg = f"minutes must be in (0, {MAX_MINUTES:g}], got {minutes}"
            raise InvalidParameterError(msg, message_zh=f"时间须在 0 到 {MAX_MINUTES:g} 分钟之间，收到 {minutes}")

    # ------------------------------------------------------------------ resources
    def set_resources(self, ids: ArrayLike, lons: ArrayLike, lats: ArrayLike, *, progress: bool = False) -> None:
        """Snap all resources once per mode and precompute the nearby() tables.

        Resources farther than ``max_snap_m`` from a mode's network are kept but never reachable in
        that mode. Tables are cached under ``cache_dir`` keyed by graph hash, resource snaps and limit.
        """
        ids_a = np.asarray(ids, dtype=np.int64)
        lons_a = np.asarray(lons, dtype=np.float64)
        lats_a = np.asarray(lats, dtype=np.float64)
        if not (ids_a.size == lons_a.size == lats_a.size):
            msg = "ids, lons and lats must have the same length"
            raise InvalidParameterError(msg, message_zh="资源编号、经度、纬度的数量必须一致")
        res = _Resources(ids=ids_a, lons=lons_a, lats=lats_a, xy=project(lons_a, lats_a, self.crs))
        for mode, graph in self.graphs.items():
            t0 = time.perf_counter()
            snap = self.snappers[mode].snap_many(lons_a, lats_a)
            res.snaps[mode] = snap
            res.tables[mode] = nearby_table(
                graph,
                snap,
                mode=mode,
                limit_s=self.table_minutes.get(mode, 60.0) * 60.0,
                kind=self.table_kinds.get(mode, "auto"),
                budget_bytes=self.table_budget_bytes,
                cache_dir=self.cache_dir,
                progress=progress,
                previous=self._previous(mode),
            )
            log.info("%s: %d resources ready in %.2fs", mode, ids_a.size, time.perf_counter() - t0)
        self._res = res

    def _previous(self, mode: str) -> tuple[DenseTable, np.ndarray, np.ndarray] | None:
        """The current dense table of ``mode`` with its resources' snaps (columns a rebuild can reuse)."""
        table = None if self._res is None else self._res.tables.get(mode)
        if self._res is None or not isinstance(table, DenseTable):
            return None
        snap = self._res.snaps[mode]
        return table, snap.node, snap.walk_s

    @property
    def resource_count(self) -> int:
        """Number of resources passed to :meth:`set_resources` (0 before)."""
        return 0 if self._res is None else int(self._res.ids.size)

    def resource_points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The resources' ids, WGS84 longitudes and latitudes, as passed to :meth:`set_resources`.

        Raises
        ------
        InvalidParameterError
            :meth:`set_resources` has not been called.
        """
        res = self._need_resources()
        return res.ids, res.lons, res.lats

    def resource_snap(self, mode: str) -> Snap | None:
        """Snap of every resource in ``mode`` (``None`` for estimate modes or before set_resources)."""
        return None if self._res is None else self._res.snaps.get(mode)

    def _need_resources(self) -> _Resources:
        if self._res is None:
            msg = "set_resources() has not been called"
            raise InvalidParameterError(msg, message_zh="尚未加载培训资源")
        return self._res

    def _mask(self, mask: np.ndarray | None, n: int) -> np.ndarray:
        if mask is None:
            return np.ones(n, dtype=bool)
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (n,):
            msg = f"mask must be a boolean array of length {n} (one per resource), got shape {mask.shape}"
            raise InvalidParameterError(msg, message_zh=f"筛选掩码长度应为 {n}")
        return mask

    # ------------------------------------------------------------------ queries
    def reachable(self, lon: float, lat: float, *, mode: str, minutes: float, direction: Direction = "from") -> Reach:
        """Every node reachable within ``minutes`` (one bounded Dijkstra) with its seconds.

        ``direction="from"``: outward from the point; ``"to"``: time from each node to the point.

        Raises
        ------
        OffNetworkError
            The point is farther than ``max_snap_m`` from the mode's network.
        """
        self._check(lon, lat, mode, minutes)
        _check_direction(direction)
        limit = float(minutes) * 60.0
        if mode not in self.graphs:
            idx, secs = self.straight.reached(lon, lat, mode=mode, limit_s=limit)
            return Reach(idx, secs, -1, 0.0, True)
        node, snap_m, snap_s = self.snappers[mode].snap(lon, lat)
        idx, secs = search_reached(self.graphs[mode], node, limit_s=limit - snap_s, reverse=direction == "to")
        return Reach(idx, secs + snap_s, node, snap_m, False)

    def nearby(
        self,
        lon: float,
        lat: float,
        *,
        mode: str,
        minutes: float,
        mask: np.ndarray | None = None,
        limit: int | None = None,
    ) -> list[NearbyHit]:
        """Resources the worker at (lon, lat) reaches within ``minutes``, fastest first.

        Parameters
        ----------
        lon, lat
            The worker's WGS84 position.
        mode
            Travel mode.
        minutes
            Time budget.
        mask
            Boolean array over the resources (as passed to :meth:`set_resources`): only ``True`` ones.
        limit
            Return only the ``limit`` fastest hits (saves building hundreds of result objects).

        Notes
        -----
        Every mode's answer is a fresh Dijkstra's from the worker's snapped node, rounded up to 0.1 s
        (both kinds of table are exact; queries beyond a table's minutes run that Dijkstra).
        """
        self._check(lon, lat, mode, minutes)
        max_hits = limit
        res = self._need_resources()
        mask = self._mask(mask, res.ids.size)
        budget_s = float(minutes) * 60.0
        if mode not in self.graphs:
            secs, d = self.straight.to_points(lon, lat, res.xy, mode=mode)
            pos = np.flatnonzero(mask & (secs <= budget_s))
            return _hits(res.ids, pos, secs[pos], d[pos], estimate=True, limit=max_hits)
        graph = self.graphs[mode]
        node, snap_m, snap_s = self.snappers[mode].snap(lon, lat)
        snap = res.snaps[mode]
        table = res.tables[mode]
        if budget_s - snap_s > table.limit_s:
            pos, secs, net_m = self._fresh_nearby(graph, node, snap_s, budget_s, mask, snap)
        elif isinstance(table, DenseTable):
            all_secs, all_dist = table.row(node)
            all_secs = all_secs + snap_s
            pos = np.flatnonzero(mask & (all_secs <= budget_s))
            secs = all_secs[pos]
            net_m = None if all_dist is None else all_dist[pos]
        else:
            cols, secs, dist = table.row(node)
            secs = secs + snap_s
            sel = mask[cols] & (secs <= budget_s)
            pos, secs = cols[sel].astype(np.int64), secs[sel]
            net_m = None if dist is None else dist[sel]
        if net_m is None:
            net_m = (secs - snap_s - snap.walk_s[pos]) * graph.meta["speed_mps"]
        return _hits(res.ids, pos, secs, net_m + snap.distance_m[pos] + snap_m, estimate=False, limit=max_hits)

    def _fresh_nearby(
        self, graph: CompiledGraph, node: int, snap_s: float, limit: float, mask: np.ndarray, snap: Snap
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        pred = None
        if "speed_mps" not in graph.meta:  # speed varies by edge: lengths come from the path tree
            dist, pred = search(graph, node, limit_s=limit - snap_s, predecessors=True)
        else:
            dist = search(graph, node, limit_s=limit - snap_s)
        cand = np.flatnonzero(mask & snap.ok)
        secs = dist[snap.node[cand]] + snap.walk_s[cand] + snap_s
        sel = secs <= limit
        pos, secs = cand[sel], secs[sel]
        net_m = None if pred is None else tree_lengths(graph, pred, reverse=False)[snap.node[pos]]
        return pos, secs, net_m

    def nearby_fresh(
        self, lon: float, lat: float, *, mode: str, minutes: float, mask: np.ndarray | None = None
    ) -> list[NearbyHit]:
        """:meth:`nearby` answered by a fresh forward Dijkstra (no table): the reference it must match."""
        self._check(lon, lat, mode, minutes)
        res = self._need_resources()
        if mode not in self.graphs:
            return self.nearby(lon, lat, mode=mode, minutes=minutes, mask=mask)
        mask = self._mask(mask, res.ids.size)
        graph = self.graphs[mode]
        node, snap_m, snap_s = self.snappers[mode].snap(lon, lat)
        snap = res.snaps[mode]
        pos, secs, net_m = self._fresh_nearby(graph, node, snap_s, float(minutes) * 60.0, mask, snap)
        if net_m is None:
            net_m = (secs - snap_s - snap.walk_s[pos]) * graph.meta["speed_mps"]
        return _hits(res.ids, pos, secs, net_m + snap.distance_m[pos] + snap_m, estimate=False)

    def nearest_times(self, resource_mask: np.ndarray, *, mode: str, limit_s: float | None = None) -> np.ndarray:
        """Seconds from every node (see :meth:`node_lonlat`) to the nearest resource in the mask.

        ONE multi-source pass on the reversed graph; ``inf`` where no resource is reachable. Resource
        snap walks are included; resources off the network are ignored.

        Parameters
        ----------
        resource_mask
            Boolean array over the resources (as passed to :meth:`set_resources`).
        mode
            Travel mode.
        limit_s
            Search only up to this many seconds (scipy's ``limit``): the same times up to it, ``inf``
            beyond — what a coverage table of thresholds ≤ ``limit_s`` needs, and much cheaper than the
            whole graph on a city. Estimate modes apply the same cut. ``None``: no bound.

        Raises
        ------
        InvalidParameterError
            ``limit_s`` is negative or not a number (code ``invalid_limit``).
        """
        check_mode(mode)
        limit = _check_limit(limit_s)
        res = self._need_resources()
        mask = self._mask(resource_mask, res.ids.size)
        if mode not in self.graphs:
            pos = np.flatnonzero(mask)
            return self.straight.nearest_times((res.xy[0][pos], res.xy[1][pos]), mode=mode, limit_s=limit)
        snap = res.snaps[mode]
        pos = np.flatnonzero(mask & snap.ok)
        return nearest_times(self.graphs[mode], snap.node[pos], snap.walk_s[pos], limit_s=limit)

    def node_lonlat(self, mode: str) -> tuple[np.ndarray, np.ndarray]:
        """WGS84 (lons, lats) of the mode's graph nodes (estimate mode: the lattice points)."""
        check_mode(mode)
        if mode in self.graphs:
            g = self.graphs[mode]
            return g.lon, g.lat
        _, _, lon, lat = self.straight.lattice()
        return lon, lat

    def isochrone(
        self,
        lon: float,
        lat: float,
        *,
        mode: str,
        minutes: Sequence[float] = (10, 15, 20, 30),
        direction: Direction = "from",
    ) -> dict:
        """Nested isochrone polygons as a GeoJSON FeatureCollection (WGS84), one Feature per band.

        Each band is drawn from a raster of the network reached within it, with cells sized to the band
        (real gaps kept as holes; see :mod:`isochrones.polygons`); properties: ``minutes``, ``mode``,
        ``direction``, ``estimate``, ``area_km2`` and, for routed bands, ``tolerance_m`` and ``cell_m``.
        Largest band first.
        """
        bands = sorted({float(m) for m in minutes})
        if not bands:
            msg = "at least one band is required"
            raise InvalidParameterError(msg, message_zh="至少需要一个时间段")
        self._check(lon, lat, mode, bands[-1])
        if bands[0] <= 0:
            msg = f"bands must be positive minutes, got {bands}"
            raise InvalidParameterError(msg, message_zh=f"时间段须为正数，收到 {bands}")
        _check_direction(direction)
        props = {"mode": mode, "direction": direction}
        if mode not in self.graphs:
            return self.straight.isochrone(lon, lat, mode=mode, bands=bands, properties=props)
        graph = self.graphs[mode]
        node, _, snap_s = self.snappers[mode].snap(lon, lat)
        reverse = direction == "to"
        max_s = bands[-1] * 60.0
        nodes, secs = search_reached(graph, node, limit_s=max_s - snap_s, reverse=reverse)
        secs += snap_s
        out = _poly.band_polygons(
            graph, nodes, secs, [b * 60.0 for b in bands], reverse=reverse, origin_xy=(graph.x[node], graph.y[node])
        )
        per_band = [{"tolerance_m": round(b.tolerance_m, 1), "cell_m": round(b.cell_m, 1)} for b in out]
        return _poly.feature_collection(
            [b.geom for b in out],
            bands,
            crs=graph.crs,
            properties={**props, "estimate": False},
            band_properties=per_band,
        )

    # ------------------------------------------------------------------ per-resource isochrones
    def _resource_point(self, resource_id: int) -> tuple[float, float]:
        res = self._need_resources()
        pos = np.flatnonzero(res.ids == int(resource_id))
        if pos.size == 0:
            msg = f"resource {resource_id} is not among the engine's resources"
            raise NotFoundError(
                msg, message_zh=f"找不到培训资源 {resource_id}", details={"resource_id": int(resource_id)}
            )
        return float(res.lons[pos[0]]), float(res.lats[pos[0]])

    def resource_isochrones(
        self, resource_id: int, *, mode: str, minutes: Sequence[float] = _pre.RESOURCE_BANDS
    ) -> dict:
        """Who reaches the resource within each band: :meth:`isochrone` ``direction="to"`` at its point.

        Read from the files ``skillcircle build`` precomputed (:mod:`isochrones.precomputed`) when they
        match this graph, point and bands (the collection then carries a ``precomputed`` stamp), else
        computed.

        Raises
        ------
        NotFoundError
            ``resource_id`` was not passed to :meth:`set_resources`.
        """
        check_mode(mode)
        lon, lat = self._resource_point(resource_id)
        graph = self.graphs.get(mode)
        if graph is not None and self.isochrone_dir is not None:
            found = _pre.read(
                self.isochrone_dir,
                mode=mode,
                graph_hash=graph.content_hash,
                resource_id=resource_id,
                lon=lon,
                lat=lat,
                minutes=sorted({float(m) for m in minutes}),
            )
            if found is not None:
                return found
        return self.isochrone(lon, lat, mode=mode, minutes=minutes, direction="to")


def _check_limit(limit_s: float | None) -> float | None:
    """``limit_s`` as a float (``None`` stays ``None``); a clear error if negative or not a number."""
    if limit_s is None:
        return None
    try:
        limit = float(limit_s)
    except (TypeError, ValueError):
        limit = float("nan")
    if not limit >= 0:  # also catches NaN
        msg = f"limit_s must be a non-negative number of seconds, got {limit_s!r}"
        raise InvalidParameterError(
            msg,
            code="invalid_limit",
            message_zh=f"搜索上限须为非负秒数，收到 {limit_s}",
            details={"limit_s": str(limit_s)},
        )
    return limit


def _check_direction(direction: str) -> None:
    if direction not in ("from", "to"):
        msg = f"direction must be 'from' or 'to', got {direction!r}"
        raise InvalidParameterError(msg, message_zh=f"方向须为 from 或 to，收到 {direction}")


def _hits(
    ids: np.ndarray, pos: np.ndarray, secs: np.ndarray, dist_m: np.ndarray, *, estimate: bool, limit: int | None = None
) -> list[NearbyHit]:
    order = np.lexsort((ids[pos], secs))[:limit]
    rid = ids[pos][order].tolist()
    sec = np.asarray(secs, dtype=np.float64)[order].tolist()
    dist = np.asarray(dist_m, dtype=np.float64)[order].tolist()
    return [NearbyHit(i, s, d, estimate) for i, s, d in zip(rid, sec, dist, strict=True)]


__all__ = ["CityEngine", "NearbyHit", "Reach", "graphs_dir"]
