"""Capacity-aware access: two-step floating catchment (2SFCA, Luo & Wang 2003) with seats as supply.

Step 1 gives each resource ``R_j = S_j / Σ_{i: t_ij ≤ T} P_i`` (seats per resident of its
catchment); step 2 gives each cell ``A_i = Σ_{j: t_ij ≤ T} R_j``. Both steps are one sparse
matrix–vector product over the cell × resource catchment matrix. ``Σ_i P_i A_i`` equals the seats of
every resource whose catchment holds anyone, which the tests check. Cells reached by some resource but
with ``A_i`` well below the city's seats-per-resident ratio are *crowded*: covered on a map, yet
competing with many people for few seats.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import sparse

from geo.errors import InvalidParameterError
from planning.params import check_minutes, parse_category_or_all

if TYPE_CHECKING:
    from planning.coverage import CoverageModel

#: A covered cell whose 2SFCA access is below this fraction of the city-wide seats per resident is crowded.
CROWDED_FRACTION = 0.5


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


def two_step_fca(
    catchment: sparse.csr_matrix | sparse.csc_matrix | sparse.coo_matrix, population: np.ndarray, supply: np.ndarray
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


def catchment_access(
    model: CoverageModel, category: str, *, mode: str, minutes: float, supply: str = "seats"
) -> Access:
    """Two-step floating catchment access of ``category`` over ``model``'s cells (see the module docstring).

    Parameters
    ----------
    model
        The city's coverage model (cells, resources, engine).
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
    seats_all = model.resources.supply(supply)
    in_cat = model.resources.mask(cat)
    missing = int((in_cat & ~np.isfinite(seats_all)).sum())
    use = np.flatnonzero(in_cat & np.isfinite(seats_all) & (seats_all > 0))
    pairs = model.seconds_to_points(model.resources.lons[use], model.resources.lats[use], mode=mode, limit_s=limit * 60)
    pop = model.population
    cell_access, ratio, catchment = two_step_fca(pairs.matrix(), pop, seats_all[use])
    total_pop = float(pop.sum())
    city_ratio = float(seats_all[use].sum() / total_pop) if total_pop > 0 else 0.0
    reached = np.zeros(model.n_cells, dtype=bool)
    reached[pairs.cell] = True
    crowded = reached & (cell_access < CROWDED_FRACTION * city_ratio)
    areas = model.areas
    return Access(
        category=cat,
        mode=mode,
        minutes=limit,
        supply=supply,
        estimate=model.estimate(mode),
        cell_access=cell_access,
        covered=reached,
        crowded=crowded,
        resource_ids=model.resources.ids[use],
        resource_seats=seats_all[use],
        resource_catchment=catchment,
        resource_ratio=ratio,
        city_ratio=city_ratio,
        missing_supply=missing,
        districts=_access_groups(areas.district, areas.district_meta, pop, cell_access, reached, crowded),
        towns=_access_groups(areas.town, areas.town_meta, pop, cell_access, reached, crowded),
    )


def _access_groups(
    group: sparse.csr_matrix,
    meta: pd.DataFrame,
    pop: np.ndarray,
    access: np.ndarray,
    reached: np.ndarray,
    crowded: np.ndarray,
) -> pd.DataFrame:
    g_pop = group @ pop
    seats = group @ (pop * access)  # seats "held" by the group's residents
    out = meta.copy()
    out["population"] = np.rint(g_pop).astype(np.int64)
    out["seats_per_1000"] = np.where(g_pop > 0, 1000.0 * seats / np.maximum(g_pop, 1e-12), 0.0).round(3)
    out["no_access"] = np.rint(group @ (pop * ~reached)).astype(np.int64)
    out["crowded"] = np.rint(group @ (pop * crowded)).astype(np.int64)
    return out


__all__ = ["CROWDED_FRACTION", "Access", "catchment_access", "two_step_fca"]
