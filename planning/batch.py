"""Batch analytics for many cities on Dask: coverage tables, 2SFCA and gap lists, one task per city.

``skillcircle plan batch`` computes, for every city × category × mode × threshold, the tables a
provincial planner asks for, with the same functions the single-process CLI and API use (so the
numbers are identical):

* ``coverage_totals`` / ``coverage_districts`` / ``coverage_towns`` — :meth:`CoverageModel.table`;
* ``access_summary`` / ``access_districts`` / ``access_towns`` — 2SFCA,
  :meth:`CoverageModel.two_step_fca`;
* ``gap_cells`` — populated cells beyond the threshold (:meth:`CoverageModel.coverage`), with the
  minutes to the nearest resource;
* ``gap_sites`` — the ``k`` new sites that newly cover the most of them (greedy MCLP,
  :func:`planning.sites.suggest_sites`).

Each city is one task on a ``dask.distributed`` cluster: a :class:`~distributed.LocalCluster` by
default, or a running scheduler (``tcp://HOST:8786``). The client reads each city's resources from
the database and ships them with the task; a worker loads the city's compiled road graphs from its
own ``SKILLCIRCLE_VAR_DIR`` (on a real cluster: a shared folder, or graphs built on every worker).
Rows of districts and towns carry their polygons, cells their hexagons and sites their points
(EPSG:4326), so :mod:`planning.batch_store` writes them as GeoParquet and PostGIS tables. Every row
also says, as every export does (:func:`planning.tables.data_flags`), whether the city's resources are
a labelled sample and which population surface it counts.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from geo.categories import CATEGORY_KEYS
from geo.errors import InvalidParameterError, SchedulerUnreachableError
from geo.moderules import MODE_KEYS, check_mode
from planning.coverage import CoverageModel
from planning.mclp import check_k
from planning.params import THRESHOLDS, check_minutes, parse_category_or_all, plain_number
from planning.resources import ResourceSet
from planning.sites import suggest_sites
from planning.tables import data_flags

if TYPE_CHECKING:
    from distributed import Client

    from geo.cities import CityPack

log = logging.getLogger(__name__)

#: The tables of a batch, in the order they are written; those with a geometry column are GeoDataFrames.
TABLES = (
    "coverage_totals",
    "coverage_districts",
    "coverage_towns",
    "access_summary",
    "access_districts",
    "access_towns",
    "gap_cells",
    "gap_sites",
)
GEOMETRY_TABLES = frozenset(TABLES) - {"coverage_totals", "access_summary"}
#: Bounds on one batch's size (every public input has a bounded cost).
MAX_CITIES = 200
MAX_COMBINATIONS = 7 * 4 * 8  # categories (six and "all") × modes × thresholds per city
MAX_WORKERS = 64
SUPPLIES = ("seats", "classes")


@dataclass(frozen=True)
class BatchSpec:
    """What every city of a batch computes.

    Parameters
    ----------
    categories
        Category keys (or ``"all"``).
    modes
        Travel modes.
    thresholds
        Thresholds in minutes.
    supply
        2SFCA supply: ``"seats"`` or ``"classes"``.
    sites
        ``k`` of the gap-closing site suggestion per category × mode × threshold (0: no ``gap_sites``).
    resolution
        H3 resolution of the population grid (default: the city's).
    """

    categories: tuple[str, ...] = tuple(CATEGORY_KEYS)
    modes: tuple[str, ...] = tuple(MODE_KEYS)
    thresholds: tuple[float, ...] = tuple(THRESHOLDS)
    supply: str = "seats"
    sites: int = 3
    resolution: int | None = None

    def checked(self) -> BatchSpec:
        """The spec with every value checked and normalised (category keys, modes, sorted thresholds)."""
        cats = tuple(dict.fromkeys(parse_category_or_all(c) for c in self.categories))
        modes = tuple(dict.fromkeys(check_mode(m) for m in self.modes))
        limits = tuple(sorted({check_minutes(t) for t in self.thresholds}))
        if not cats or not modes or not limits:
            msg = "a batch needs at least one category, mode and threshold"
            raise InvalidParameterError(msg, message_zh="批量分析至少需要一个类别、一种出行方式和一个时间阈值")
        if len(cats) * len(modes) * len(limits) > MAX_COMBINATIONS:
            msg = f"at most {MAX_COMBINATIONS} category × mode × threshold combinations per city"
            raise InvalidParameterError(msg, message_zh=f"每个城市最多 {MAX_COMBINATIONS} 个类别×方式×阈值组合")
        if self.supply not in SUPPLIES:
            msg = f"supply must be one of {', '.join(SUPPLIES)}, got {self.supply!r}"
            raise InvalidParameterError(
                msg,
                message_zh=f"供给须为 seats（座位）或 classes（班级名额），收到“{self.supply}”",
                code="invalid_supply",
            )
        sites = check_k(self.sites) if self.sites else 0
        return BatchSpec(cats, modes, limits, self.supply, sites, self.resolution)

    def combinations(self) -> Iterator[tuple[str, str, float]]:
        """(mode, category, minutes) in the order of :meth:`CoverageModel.table`'s rows."""
        for mode in self.modes:
            for cat in self.categories:
                for minutes in self.thresholds:
                    yield mode, cat, minutes


@dataclass
class CityResult:
    """One city's tables and what its task cost (``stats``: seconds, cells, population, graph nodes, area)."""

    city: str
    tables: dict[str, pd.DataFrame]
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class BatchResult:
    """Every city's tables concatenated in the order the cities were given, and each task's stats."""

    tables: dict[str, pd.DataFrame]
    stats: list[dict[str, Any]]
    spec: BatchSpec
    seconds: float
    workers: int
    scheduler: str


# ---------------------------------------------------------------------------------------------- one city
def city_tables(city: CityPack, resources: ResourceSet, spec: BatchSpec) -> CityResult:
    """Every table of ``spec`` for one city (the Dask task; also callable in-process).

    Parameters
    ----------
    city
        The city pack.
    resources
        The city's resources as the database holds them (read by the client).
    spec
        What to compute (checked with :meth:`BatchSpec.checked`).
    """
    from geo.boundaries import districts, town_areas

    t0 = time.perf_counter()
    spec = spec.checked()
    model = CoverageModel.for_city(city, resources=resources, resolution=spec.resolution)
    tab = model.table(categories=spec.categories, modes=spec.modes, thresholds=spec.thresholds)
    d_frame = districts(city)
    d_geom = dict(zip(d_frame["adcode"].astype(str), d_frame.geometry, strict=True))
    t_frame = town_areas(city)
    t_geom = dict(zip(zip(t_frame["district"], t_frame["name_zh"], strict=True), t_frame.geometry, strict=True))
    acc_summary, acc_d, acc_t, gap_cells, gap_sites = [], [], [], [], []
    for mode, cat, minutes in spec.combinations():
        head = {"category": cat, "mode": mode, "minutes": plain_number(minutes)}
        acc = model.two_step_fca(cat, mode=mode, minutes=minutes, supply=spec.supply)
        acc_summary.append(
            {
                **head,
                "supply": spec.supply,
                "estimate": acc.estimate,
                "resources": int(acc.resource_ids.size),
                "seats": float(acc.resource_seats.sum()),
                "seats_per_1000": 1000.0 * acc.city_ratio,
                "no_access": int(np.rint((model.population * ~acc.covered).sum())),
                "crowded": int(np.rint((model.population * acc.crowded).sum())),
                "missing_supply": acc.missing_supply,
            }
        )
        acc_d.append(_headed(acc.districts, head, estimate=acc.estimate))
        acc_t.append(_headed(acc.towns, head, estimate=acc.estimate))
        gap_cells.append(_gap_cells(model, cat, mode=mode, minutes=minutes))
        if spec.sites:
            gap_sites.append(_gap_sites(model, cat, mode=mode, minutes=minutes, k=spec.sites))
    tables = {
        "coverage_totals": tab.totals,
        "coverage_districts": _geo(tab.districts, [d_geom.get(str(a)) for a in tab.districts["adcode"]]),
        "coverage_towns": _geo(tab.towns, _town_geoms(tab.towns, t_geom)),
        "access_summary": pd.DataFrame(acc_summary),
        "access_districts": _geo(d := _concat(acc_d), [d_geom.get(str(a)) for a in d["adcode"]]),
        "access_towns": _geo(t := _concat(acc_t), _town_geoms(t, t_geom)),
        "gap_cells": _concat_geo(gap_cells),
        "gap_sites": _concat_geo(gap_sites) if gap_sites else _empty_sites(),
    }
    tables = {name: _with_city(data_flags(frame, model), city.key) for name, frame in tables.items()}
    stats = _stats(city, model, d_frame, time.perf_counter() - t0)
    log.info("batch %s: %d cells, %.2f s", city.key, model.n_cells, stats["seconds"])
    return CityResult(city=city.key, tables=tables, stats=stats)


def _headed(frame: pd.DataFrame, head: dict[str, Any], *, estimate: bool) -> pd.DataFrame:
    out = frame.copy()
    for pos, (col, value) in enumerate(head.items()):
        out.insert(pos, col, value)
    out.insert(len(head), "estimate", estimate)
    return out


def _gap_cells(model: CoverageModel, category: str, *, mode: str, minutes: float) -> gpd.GeoDataFrame:
    """Populated cells not reached within ``minutes``: the gaps, with minutes to the nearest resource."""
    cov = model.coverage(category, mode=mode, minutes=minutes)
    gap = ~cov.covered & (model.population > 0)
    grid = model.grid
    cols = [c for c in ("h3", "district_adcode", "district", "town") if c in grid.columns]
    out = pd.DataFrame(grid.loc[gap, cols]).reset_index(drop=True)
    for pos, (col, value) in enumerate(
        {"category": cov.category, "mode": mode, "minutes": plain_number(minutes), "estimate": cov.estimate}.items()
    ):
        out.insert(pos, col, value)
    out["population"] = model.population[gap]
    seconds = cov.seconds[gap]
    out["minutes_to_nearest"] = np.where(np.isfinite(seconds), np.round(seconds / 60.0, 2), np.nan)
    return gpd.GeoDataFrame(out, geometry=list(grid.geometry.to_numpy()[gap]), crs=4326)


def _gap_sites(model: CoverageModel, category: str, *, mode: str, minutes: float, k: int) -> gpd.GeoDataFrame:
    """The ``k`` sites (greedy MCLP) that newly cover the most residents of the gaps."""
    s = suggest_sites(model, category, mode=mode, minutes=minutes, k=k, method="greedy")
    rows = [
        {
            "category": s.category,
            "mode": mode,
            "minutes": plain_number(minutes),
            "estimate": s.estimate,
            "rank": x.rank,
            "lon": x.lon,
            "lat": x.lat,
            "label": x.label,
            "district": x.district,
            "town": x.town,
            "newly_covered": x.gain,
            "cumulative": x.cumulative,
            "covered_before": int(s.before.total["covered"]),
        }
        for x in s.sites
    ]
    frame = pd.DataFrame(rows, columns=list(_empty_sites().columns.drop("geometry")))
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs=4326)


def _empty_sites() -> gpd.GeoDataFrame:
    cols = ["category", "mode", "minutes", "estimate", "rank", "lon", "lat", "label", "district", "town"]
    cols += ["newly_covered", "cumulative", "covered_before"]
    return gpd.GeoDataFrame(pd.DataFrame(columns=cols), geometry=[], crs=4326)


def _town_geoms(frame: pd.DataFrame, geoms: dict[tuple[str, str], Any]) -> list[Any]:
    return [geoms.get((str(d), str(n))) for d, n in zip(frame["district"], frame["name"], strict=True)]


def _geo(frame: pd.DataFrame, geometry: list[Any]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(frame.reset_index(drop=True), geometry=geometry, crs=4326)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _concat_geo(frames: list[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=4326)


def _with_city(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    out = frame.copy()
    out.insert(0, "city", key)
    return out


def _stats(city: CityPack, model: CoverageModel, d_frame: gpd.GeoDataFrame, seconds: float) -> dict[str, Any]:
    """What the task cost and on what: for the per-city cost figures of the README's projection."""
    graphs = getattr(model.engine, "graphs", {}) or {}
    area = d_frame.to_crs(d_frame.estimate_utm_crs()).geometry.union_all().area / 1e6
    try:
        from distributed import get_worker

        worker = str(get_worker().address)
    except (ImportError, ValueError):
        worker = "local"
    return {
        "city": city.key,
        "seconds": round(seconds, 4),
        "cells": int(model.n_cells),
        "population": int(round(float(model.population.sum()))),
        "area_km2": round(float(area), 4),
        "resources": int(model.resources.ids.size),
        "nodes": {m: int(g.n_nodes) for m, g in sorted(graphs.items())},
        "worker": worker,
    }


# ---------------------------------------------------------------------------------------------- many cities
def read_resources(city: CityPack) -> ResourceSet:
    """The city's resources from ``DATABASE_URL`` (read once by the client, shipped with the task)."""
    from geo.clock import city_today
    from geo.db import session_scope

    with session_scope() as session:
        return ResourceSet.from_db(session, city.key, today=city_today(city))


def run_batch(
    cities: Sequence[CityPack],
    spec: BatchSpec,
    *,
    scheduler: str | None = None,
    workers: int = 2,
    processes: bool = True,
    connect_timeout: float = 10.0,
    progress: bool = True,
) -> BatchResult:
    """Compute ``spec`` for every city as one Dask task per city, and gather the tables.

    Parameters
    ----------
    cities
        City packs (each key once; at most :data:`MAX_CITIES`).
    spec
        What every city computes.
    scheduler
        Address of a running Dask scheduler (``tcp://HOST:8786``); ``None`` starts a LocalCluster.
    workers
        Workers of the LocalCluster (one thread each); ignored with ``scheduler``.
    processes
        LocalCluster workers as processes (``True``: real parallelism) or threads of this process.
    connect_timeout
        Seconds to wait for ``scheduler`` before :class:`~geo.errors.SchedulerUnreachableError`.
    progress
        Show a tqdm bar over the finished cities (stderr).
    """
    spec = spec.checked()
    keys = [c.key for c in cities]
    if not keys or len(keys) > MAX_CITIES or len(set(keys)) != len(keys):
        msg = f"a batch takes 1 to {MAX_CITIES} different cities, got {keys}"
        raise InvalidParameterError(msg, message_zh=f"批量分析须包含 1 至 {MAX_CITIES} 个不同的城市")
    if not 1 <= workers <= MAX_WORKERS:
        msg = f"workers must be between 1 and {MAX_WORKERS}, got {workers}"
        raise InvalidParameterError(msg, message_zh=f"工作进程数须在 1 至 {MAX_WORKERS} 之间")
    t0 = time.perf_counter()
    resources = [read_resources(c) for c in cities]
    with dask_client(scheduler, workers=workers, processes=processes, timeout=connect_timeout) as client:
        n_workers = len(client.scheduler_info(n_workers=-1).get("workers", {}))
        log.info("batch of %d cities on %s (%d workers)", len(keys), scheduler or "a LocalCluster", n_workers)
        run = uuid.uuid4().hex[:8]
        futures = [
            client.submit(city_tables, city, res, spec, key=f"skillcircle-batch-{run}-{city.key}", pure=False)
            for city, res in zip(cities, resources, strict=True)
        ]
        from distributed import as_completed

        try:
            bar = tqdm(as_completed(futures), total=len(futures), desc="cities", unit="city", disable=not progress)
            for fut in bar:
                done: CityResult = fut.result()  # re-raises a task's error here, with its code
                bar.set_postfix_str(done.city)
                log.info("city %s done on %s in %.2f s", done.city, done.stats["worker"], done.stats["seconds"])
            parts: list[CityResult] = [f.result() for f in futures]
        finally:
            client.cancel(futures)
    return BatchResult(
        tables=combine(parts),
        stats=[p.stats for p in parts],
        spec=spec,
        seconds=time.perf_counter() - t0,
        workers=n_workers,
        scheduler=scheduler or "LocalCluster",
    )


def combine(parts: Sequence[CityResult]) -> dict[str, pd.DataFrame]:
    """Each table of every city, concatenated in the cities' order (GeoDataFrames where rows have geometry)."""
    out: dict[str, pd.DataFrame] = {}
    for name in TABLES:
        frames = [p.tables[name] for p in parts]
        if name in GEOMETRY_TABLES:
            out[name] = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=4326)
        else:
            out[name] = pd.concat(frames, ignore_index=True)
    return out


@contextmanager
def dask_client(scheduler: str | None, *, workers: int, processes: bool, timeout: float) -> Iterator[Client]:
    """A Dask client on ``scheduler``, or on a new LocalCluster of ``workers`` one-thread workers.

    Raises
    ------
    SchedulerUnreachableError
        ``scheduler`` does not answer within ``timeout`` seconds (or is not an address).
    """
    from distributed import Client, LocalCluster

    if scheduler is None:
        with (
            LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=processes, dashboard_address=":0"
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    try:
        client = Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        msg = f"the Dask scheduler at {scheduler} cannot be reached within {timeout:g} s: {exc}"
        raise SchedulerUnreachableError(
            msg,
            message_zh=f"无法在 {timeout:g} 秒内连接 Dask 调度器 {scheduler}（地址错误、端口未开放或被防火墙阻断）",
            details={"scheduler": scheduler, "timeout_s": timeout},
        ) from exc
    try:
        yield client
    finally:
        client.close()


__all__ = [
    "GEOMETRY_TABLES",
    "MAX_CITIES",
    "TABLES",
    "BatchResult",
    "BatchSpec",
    "CityResult",
    "city_tables",
    "combine",
    "dask_client",
    "read_resources",
    "run_batch",
]
