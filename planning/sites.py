"""Where to add the next sites, and what adding or closing one would change.

Site suggestion is the maximal covering location problem (MCLP, Church & ReVelle 1974): given the
population *not yet* covered within ``minutes`` by ``mode`` of a category, choose ``k`` new sites
among candidates (by default the population grid's cell centres; or a planner's own list of points)
so that the population they newly cover is largest, with the solvers of :mod:`planning.mclp` (greedy
with its proven bound, and exact integer programming for small instances).

Candidate catchments come from :meth:`CoverageModel.seconds_to_points` (one bounded reverse Dijkstra
per candidate on graph modes; KD-tree balls in estimate mode). Default candidates are pruned before
that: a candidate farther (straight line) than ``minutes × fastest speed of the mode`` from every
uncovered resident cannot cover anyone new; if more than ``max_candidates`` remain, those with the most
uncovered population within that radius are kept (the answer says how many were pruned).

:func:`what_if` closes resources (recomputing the one-pass nearest times without them) and/or adds
points (their own catchments, combined by minimum) and reports coverage before and after.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.spatial import cKDTree

from geo.errors import InvalidParameterError, NotFoundError
from geo.moderules import check_mode
from isochrones.graph import project
from planning.coverage import Coverage, CoverageModel
from planning.mclp import MAX_EXACT_K, MAX_K, CoverMatrix, ExactResult, GreedyResult, check_k, mclp_exact, mclp_greedy
from planning.params import ALL_CATEGORIES, check_minutes, parse_category_or_all

log = logging.getLogger(__name__)

#: Default candidates (grid cell centres) kept after pruning, and the most a planner may list.
DEFAULT_MAX_CANDIDATES = 1500
MAX_PLANNER_CANDIDATES = 2000
METHODS = ("greedy", "exact", "both")


# ---------------------------------------------------------------------------------------------- suggestion
@dataclass(frozen=True)
class Site:
    """A suggested new site: where, which cell/label, and the population it newly covers."""

    rank: int
    lon: float
    lat: float
    label: str
    district: str
    town: str
    gain: int
    cumulative: int
    gain_exact: float = 0.0  # ``gain`` before rounding to whole residents (a province ranks sites on it)


@dataclass(frozen=True)
class Suggestion:
    """Result of :func:`suggest_sites` (sites of the method asked for; both runs when ``method="both"``)."""

    category: str
    mode: str
    minutes: float
    k: int
    method: str
    estimate: bool
    before: Coverage
    after: Coverage
    sites: list[Site]
    greedy: GreedyResult | None
    exact: ExactResult | None
    candidates_total: int
    candidates_considered: int
    candidates_off_network: int
    uncovered_population: int
    notes: list[str] = field(default_factory=list)

    @property
    def newly_covered(self) -> int:
        """Population newly covered by the chosen sites."""
        return int(self.after.total["covered"] - self.before.total["covered"])


def _fastest_mps(model: CoverageModel, mode: str) -> float:
    """Upper bound on straight-line speed in ``mode`` (metres per second) for candidate pruning."""
    eng = model.engine
    if model.estimate(mode):
        return eng.speeds_mps[mode] / eng.detour_factor
    graph = eng.graphs[mode]
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.asarray(graph.length_m, dtype=np.float64) / np.asarray(graph.seconds, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(max(v.max() if v.size else 0.0, eng.speeds_mps[mode], eng.speeds_mps["walk"]))


def _locate(model: CoverageModel, lons: np.ndarray, lats: np.ndarray) -> tuple[list[str], list[str]]:
    """District and town of points: those of the nearest population cell."""
    clon, clat = model.cell_lonlat
    cx, cy = project(clon, clat, model.engine.crs)
    px, py = project(lons, lats, model.engine.crs)
    _, nearest = cKDTree(np.column_stack([cx, cy])).query(np.column_stack([px, py]), k=1)
    idx = np.atleast_1d(nearest)
    frame = model.grid
    return [str(frame["district"].iloc[i]) for i in idx], [str(frame["town"].iloc[i]) for i in idx]


def suggest_sites(
    model: CoverageModel,
    category: str,
    *,
    mode: str,
    minutes: float,
    k: int,
    method: str = "greedy",
    candidates: tuple[Sequence[float] | np.ndarray, Sequence[float] | np.ndarray] | None = None,
    labels: Sequence[str] | None = None,
    max_candidates: int = DEFAULT_MAX_CANDIDATES,
    time_limit: float = 30.0,
) -> Suggestion:
    """Choose ``k`` new sites of ``category`` maximising the population newly covered within ``minutes``.

    Parameters
    ----------
    model
        The city's coverage model.
    category
        Category key (or ``"all"``).
    mode
        Travel mode.
    minutes
        Coverage threshold.
    k
        Number of new sites (1–50; exact: 1–10).
    method
        ``"greedy"``, ``"exact"`` or ``"both"`` (sites from the exact run, both results reported).
    candidates
        ``(lons, lats)`` of a planner's candidate points (WGS84, inside the service area); default:
        every population cell's centre, pruned as the module docstring says.
    labels
        Names of the planner's candidates (default ``"#1"``, ``"#2"``, …).
    max_candidates
        Keep at most this many default candidates.
    time_limit
        Exact solver's time limit in seconds.
    """
    cat = parse_category_or_all(category)
    check_mode(mode)
    limit = check_minutes(minutes)
    if method not in METHODS:
        msg = f"method must be one of {', '.join(METHODS)}, got {method!r}"
        raise InvalidParameterError(
            msg, message_zh=f"求解方法须为 greedy（贪心）、exact（精确）或 both，收到“{method}”", code="invalid_method"
        )
    k = check_k(k, limit=MAX_EXACT_K if method != "greedy" else MAX_K)
    before = model.coverage(cat, mode=mode, minutes=limit)
    pop = model.population
    demand = np.flatnonzero(~before.covered & (pop > 0))
    notes: list[str] = []
    cand_lon, cand_lat, cand_label, total = _candidates(model, candidates, labels)
    considered = np.arange(cand_lon.size)
    if candidates is None:
        considered = _prune(model, mode, limit, demand, cand_lon, cand_lat, max_candidates)
        if considered.size < cand_lon.size:
            notes.append(f"{cand_lon.size - considered.size} of {cand_lon.size} candidate cells pruned")
    pairs = model.seconds_to_points(cand_lon[considered], cand_lat[considered], mode=mode, limit_s=limit * 60.0)
    in_demand = np.zeros(model.n_cells, dtype=bool)
    in_demand[demand] = True
    row_of = np.full(model.n_cells, -1, dtype=np.int64)
    row_of[demand] = np.arange(demand.size)
    keep = in_demand[pairs.cell]
    cover = sparse.csr_matrix(
        (np.ones(int(keep.sum())), (row_of[pairs.cell[keep]], pairs.point[keep])),
        shape=(demand.size, considered.size),
    )
    weights = pop[demand]
    greedy = mclp_greedy(cover, weights, k) if method in ("greedy", "both") else None
    exact = mclp_exact(cover, weights, k, time_limit=time_limit) if method in ("exact", "both") else None
    picked = exact.chosen if exact is not None else greedy.chosen if greedy is not None else []
    if exact is not None and greedy is not None and exact.value < greedy.value - 1e-9:
        picked = greedy.chosen  # the solver stopped early with a worse answer than greedy
        notes.append("exact solver stopped before proving optimality; greedy's sites are shown")
    if exact is not None and not exact.optimal:
        notes.append(f"exact solver status: {exact.status} (time limit {time_limit:g}s)")
    if demand.size == 0:
        notes.append("everyone is already covered")
    # order sites by marginal gain (greedy order for greedy; recomputed for exact)
    order, gains = _marginal_order(cover, weights, picked)
    sel_points = np.asarray(order, dtype=np.int64)
    after_seconds = before.seconds.copy()
    if sel_points.size:
        sub = np.isin(pairs.point, sel_points)
        best = np.full(model.n_cells, np.inf)
        np.minimum.at(best, pairs.cell[sub], pairs.seconds[sub])
        after_seconds = np.minimum(after_seconds, best)
    after = model.coverage_of_seconds(after_seconds, category=cat, mode=mode, minutes=limit)
    idx = considered[sel_points] if sel_points.size else np.zeros(0, dtype=np.int64)
    districts, towns = _locate(model, cand_lon[idx], cand_lat[idx]) if idx.size else ([], [])
    sites, running = [], 0
    for r, (i, g) in enumerate(zip(idx, gains, strict=True)):
        running += int(round(g))
        sites.append(
            Site(
                rank=r + 1,
                lon=float(cand_lon[i]),
                lat=float(cand_lat[i]),
                label=str(cand_label[i]),
                district=districts[r],
                town=towns[r],
                gain=int(round(g)),
                cumulative=running,
                gain_exact=float(g),
            )
        )
    log.info(
        "suggest %s/%s/%g min k=%d (%s): %d demand cells, %d candidates, +%d residents",
        cat,
        mode,
        limit,
        k,
        method,
        demand.size,
        considered.size,
        running,
    )
    return Suggestion(
        category=cat,
        mode=mode,
        minutes=limit,
        k=k,
        method=method,
        estimate=model.estimate(mode),
        before=before,
        after=after,
        sites=sites,
        greedy=greedy,
        exact=exact,
        candidates_total=total,
        candidates_considered=int(considered.size),
        candidates_off_network=int(pairs.off_network.sum()),
        uncovered_population=int(round(weights.sum())),
        notes=notes,
    )


def _candidates(
    model: CoverageModel,
    candidates: tuple[Sequence[float] | np.ndarray, Sequence[float] | np.ndarray] | None,
    labels: Sequence[str] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    if candidates is None:
        lon, lat = model.cell_lonlat
        label = model.grid["h3"].astype(str).to_numpy() if "h3" in model.grid.columns else np.arange(lon.size)
        if model.city is not None:
            inside = np.array([model.city.contains(float(x), float(y)) for x, y in zip(lon, lat, strict=True)])
            lon, lat, label = lon[inside], lat[inside], np.asarray(label)[inside]
        return lon, lat, np.asarray(label, dtype=object), int(lon.size)
    lon = np.asarray(candidates[0], dtype=np.float64).ravel()
    lat = np.asarray(candidates[1], dtype=np.float64).ravel()
    if lon.size != lat.size or lon.size == 0 or lon.size > MAX_PLANNER_CANDIDATES:
        msg = (
            f"candidates must be 1–{MAX_PLANNER_CANDIDATES} (lon, lat) points, got {lon.size} lons and {lat.size} lats"
        )
        raise InvalidParameterError(
            msg, message_zh=f"候选点须为 1–{MAX_PLANNER_CANDIDATES} 个经纬度点", code="invalid_candidates"
        )
    if model.city is not None:
        for x, y in zip(lon, lat, strict=True):
            model.city.check_point(float(x), float(y))
    if labels is not None and len(labels) != lon.size:
        msg = f"{len(labels)} labels given for {lon.size} candidates"
        raise InvalidParameterError(msg, message_zh="候选点名称数量与候选点数量不一致", code="invalid_candidates")
    names = np.array(list(labels) if labels is not None else [f"#{i + 1}" for i in range(lon.size)], dtype=object)
    return lon, lat, names, int(lon.size)


def _prune(
    model: CoverageModel,
    mode: str,
    minutes: float,
    demand: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    max_candidates: int,
) -> np.ndarray:
    """Candidates within straight-line reach of some uncovered resident, best ``max_candidates`` by potential."""
    if demand.size == 0 or lon.size == 0:
        return np.zeros(0, dtype=np.int64)
    radius = minutes * 60.0 * _fastest_mps(model, mode)
    clon, clat = model.cell_lonlat
    dx, dy = project(clon[demand], clat[demand], model.engine.crs)
    px, py = project(lon, lat, model.engine.crs)
    rec = cKDTree(np.column_stack([px, py])).sparse_distance_matrix(
        cKDTree(np.column_stack([dx, dy])), max_distance=radius, output_type="ndarray"
    )
    potential = np.bincount(rec["i"], weights=model.population[demand][rec["j"]], minlength=lon.size)
    alive = np.flatnonzero(potential > 0)
    if alive.size > max_candidates:
        alive = alive[np.argsort(-potential[alive], kind="stable")[:max_candidates]]
        alive.sort()
    return alive


def _marginal_order(cover: CoverMatrix, weights: np.ndarray, chosen: Sequence[int]) -> tuple[list[int], list[float]]:
    """Order ``chosen`` greedily by marginal gain (the order a planner would build them in)."""
    if not chosen:
        return [], []
    sub = sparse.csr_matrix(cover)[:, list(chosen)]
    res = mclp_greedy(sub, weights, len(chosen))
    order = [int(chosen[j]) for j in res.chosen]
    gains = list(res.gains)
    for j in chosen:  # sites adding nothing (ties at zero) still listed, last
        if int(j) not in order:
            order.append(int(j))
            gains.append(0.0)
    return order, gains


# ---------------------------------------------------------------------------------------------- what-if
@dataclass(frozen=True)
class WhatIf:
    """Coverage before and after closing ``closed`` resources and adding ``added`` points."""

    category: str
    mode: str
    minutes: float
    estimate: bool
    before: Coverage
    after: Coverage
    closed: list[int]
    added: list[dict[str, Any]]

    @property
    def delta(self) -> int:
        """Change in covered population (negative: closures lose more than additions gain)."""
        return int(self.after.total["covered"] - self.before.total["covered"])

    def district_changes(self) -> pd.DataFrame:
        """Per district: population, covered before and after, and the change."""
        b = self.before.districts.set_index("adcode")
        a = self.after.districts.set_index("adcode")
        out = b[["name", "population"]].copy()
        out["covered_before"] = b["covered"]
        out["covered_after"] = a["covered"]
        out["change"] = out["covered_after"] - out["covered_before"]
        out["share_before"] = b["share"]
        out["share_after"] = a["share"]
        return out.reset_index()


def what_if(
    model: CoverageModel,
    category: str,
    *,
    mode: str,
    minutes: float,
    add: tuple[Sequence[float], Sequence[float]] | None = None,
    close: Sequence[int] = (),
) -> WhatIf:
    """Coverage change from closing resources and/or adding new sites.

    Parameters
    ----------
    model
        The city's coverage model.
    category
        Category key (or ``"all"``); closed resources must belong to it.
    mode
        Travel mode.
    minutes
        Coverage threshold.
    add
        ``(lons, lats)`` of new sites (WGS84, inside the service area).
    close
        Ids of resources to close.

    Raises
    ------
    NotFoundError
        A closed id is not a resource of the city.
    InvalidParameterError
        A closed resource is not of ``category`` (code ``not_in_category``), or nothing to change.
    """
    cat = parse_category_or_all(category)
    check_mode(mode)
    limit = check_minutes(minutes)
    close_ids = [int(i) for i in close]
    add_lon = np.asarray(add[0] if add else [], dtype=np.float64).ravel()
    add_lat = np.asarray(add[1] if add else [], dtype=np.float64).ravel()
    if add_lon.size != add_lat.size:
        msg = "added sites need as many latitudes as longitudes"
        raise InvalidParameterError(msg, message_zh="新增站点的经度与纬度数量不一致", code="invalid_candidates")
    if not close_ids and add_lon.size == 0:
        msg = "nothing to change: give sites to add and/or resource ids to close"
        raise InvalidParameterError(msg, message_zh="请指定要新增的站点或要关闭的机构", code="empty_what_if")
    if add_lon.size > MAX_PLANNER_CANDIDATES:
        msg = f"at most {MAX_PLANNER_CANDIDATES} sites can be added at once"
        raise InvalidParameterError(msg, message_zh=f"一次最多新增 {MAX_PLANNER_CANDIDATES} 个站点")
    res = model.resources
    pos = {int(r): i for i, r in enumerate(res.ids)}
    mask = res.mask(cat).copy()
    for rid in close_ids:
        if rid not in pos:
            msg = f"resource {rid} does not exist in this city"
            raise NotFoundError(msg, message_zh=f"本市没有编号为 {rid} 的机构", details={"resource_id": rid})
        if cat != ALL_CATEGORIES and res.categories[pos[rid]] != cat:
            msg = (
                f"resource {rid} is a {res.categories[pos[rid]]}, not a {cat}: closing it does not change this coverage"
            )
            raise InvalidParameterError(
                msg,
                message_zh=f"机构 {rid} 不属于所选类别，关闭它不影响该类别的覆盖",
                code="not_in_category",
                details={"resource_id": rid, "category": str(res.categories[pos[rid]])},
            )
        mask[pos[rid]] = False
    if model.city is not None:
        for x, y in zip(add_lon, add_lat, strict=True):
            model.city.check_point(float(x), float(y))
    before = model.coverage(cat, mode=mode, minutes=limit)
    seconds = model.seconds_for_mask(mask, mode=mode) if close_ids else before.seconds.copy()
    added: list[dict[str, Any]] = []
    if add_lon.size:
        pairs = model.seconds_to_points(add_lon, add_lat, mode=mode, limit_s=limit * 60.0)
        covered_without = seconds <= limit * 60.0
        for j in range(add_lon.size):
            cells = pairs.cell[pairs.point == j]
            alone = float(model.population[cells[~covered_without[cells]]].sum())
            added.append(
                {
                    "lon": float(add_lon[j]),
                    "lat": float(add_lat[j]),
                    "off_network": bool(pairs.off_network[j]),
                    "newly_covered_alone": int(round(alone)),
                }
            )
        seconds = np.minimum(seconds, pairs.min_seconds())
    after = model.coverage_of_seconds(seconds, category=cat, mode=mode, minutes=limit)
    return WhatIf(cat, mode, limit, model.estimate(mode), before, after, close_ids, added)


__all__ = ["Site", "Suggestion", "WhatIf", "suggest_sites", "what_if"]
