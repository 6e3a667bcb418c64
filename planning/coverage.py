"""Population coverage of the training circle: who lives within 10/15/20/30 minutes of each kind of place.

Times come from :class:`planning.times.CellTimes` (one multi-source pass of the engine per category and
mode, never one isochrone per resource unioned). Thresholds are then a comparison, and the covered
population per district and town a sparse group-sum (:class:`planning.grid.AreaGroups`), so the full
table (6 categories × 4 modes × 4 thresholds) costs 24 Dijkstra passes.

:class:`CoverageModel` is the one object a planner's question starts from: it adds these sums to the
cell times, and answers capacity-aware access through :mod:`planning.access`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.categories import CATEGORY_KEYS
from geo.moderules import MODE_KEYS, check_mode
from planning.access import Access, catchment_access
from planning.grid import AreaGroups, city_grid
from planning.params import THRESHOLDS, check_minutes, parse_category_or_all, plain_number
from planning.resources import ResourceSet
from planning.times import CellTimes

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from geo.cities import CityPack
    from isochrones.engine import CityEngine

log = logging.getLogger(__name__)


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


@dataclass
class CoverageModel(CellTimes):
    """Every coverage question for one city: the cell times of :class:`~planning.times.CellTimes`
    (same parameters) summed per district and town (``areas``)."""

    areas: AreaGroups = field(init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.areas = AreaGroups.of(self.grid, city=self.city)

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
            H3 resolution of the population grid (default :func:`geo.population.default_resolution`).
        grid
            A population grid to use instead of :func:`planning.grid.city_grid`.
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
            engine.set_resources(resources.ids.tolist(), resources.lons.tolist(), resources.lats.tolist())
        grid = city_grid(city, resolution=resolution) if grid is None else grid
        return cls(engine=engine, grid=grid, resources=resources, city=city)

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
        pop = self.population
        cov_pop = pop * covered
        total_pop, total_cov = int(round(pop.sum())), int(round(cov_pop.sum()))
        total = {"population": total_pop, "covered": total_cov, "share": _share(total_cov, total_pop)}
        d_pop = self.areas.district @ pop
        d_cov = self.areas.district @ cov_pop
        t_pop = self.areas.town @ pop
        t_cov = self.areas.town @ cov_pop
        return Coverage(
            category=category,
            mode=mode,
            minutes=float(minutes),
            estimate=self.estimate(mode),
            seconds=np.asarray(seconds),
            covered=covered,
            total=total,
            districts=_with_counts(self.areas.district_meta, d_pop, d_cov),
            towns=_with_counts(self.areas.town_meta, t_pop, t_cov),
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
        pop = self.population
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
                d_cov.append((self.areas.district @ cov).T)  # thresholds × districts
                t_cov.append((self.areas.town @ cov).T)
        head = pd.DataFrame(heads, columns=["category", "mode", "estimate"])
        minutes = [plain_number(x) for x in limits]
        totals = _long(head, minutes, np.array(tot_cov)[:, :, None], np.array([float(total)]), None)
        districts = _long(head, minutes, np.array(d_cov), self.areas.district @ pop, self.areas.district_meta)
        towns = _long(head, minutes, np.array(t_cov), self.areas.town @ pop, self.areas.town_meta)
        elapsed = time.perf_counter() - t0
        log.info("coverage table %d×%d×%d in %.2fs", len(cats), len(mode_list), limits.size, elapsed)
        return CoverageTable(totals, districts, towns, elapsed)

    # ------------------------------------------------------------------ capacity-aware access
    def two_step_fca(self, category: str, *, mode: str, minutes: float, supply: str = "seats") -> Access:
        """Two-step floating catchment access of ``category`` (:func:`planning.access.catchment_access`)."""
        return catchment_access(self, category, mode=mode, minutes=minutes, supply=supply)


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


__all__ = ["Coverage", "CoverageModel", "CoverageTable"]
