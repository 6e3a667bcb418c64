"""Province tables: the coverage tables of a province's cities, side by side and summed.

A provincial planner asks one question of every city at once ("who is within 30 minutes of an
evaluation agency by e-bike, city by city and district by district?"). Each city's answer is its own
:meth:`planning.coverage.CoverageModel.table`, computed exactly as for the city alone; this module only
stacks them with a ``city`` column and sums them, so a province figure is always the sum of the city
figures a planner can check one by one:

* ``cities`` — one row per city × category × mode × threshold (the city's own totals);
* ``districts`` — one row per city × district × category × mode × threshold;
* ``totals`` — one row per category × mode × threshold: population and covered population summed over
  the cities, ``share`` recomputed from the sums (never an average of shares), ``estimate`` true where
  any city's times for that mode are straight-line estimates, and ``cities`` the number of cities summed.

Where the next ``k`` sites of the whole province would close the most gap (:func:`merge_suggestions`):
each city's model holds only its own residents, so a site in one city covers nobody in another's
model, and the greedy choice over the province's candidates is the merge of each city's own greedy
sequence (each city's gains never grow, by submodularity): the ``k`` largest gains, every city's sites
taken in its own order. The province's greedy answer is therefore each city's greedy answer, cut where
the others' gains are larger, with the same 1 − 1/e guarantee; the sum of the cities' bounds bounds the
province's optimum.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planning.coverage import CoverageTable
from planning.sites import Site, Suggestion

_KEYS = ["category", "mode", "minutes"]
_COUNTS = ["population", "covered", "uncovered", "share"]


@dataclass(frozen=True)
class ProvinceTable:
    """A province's coverage table at three levels (long format, see the module docstring)."""

    totals: pd.DataFrame  # category, mode, minutes, estimate, population, covered, uncovered, share, cities
    cities: pd.DataFrame  # city, city_name, category, mode, minutes, estimate, population, covered, ...
    districts: pd.DataFrame  # city, city_name, adcode, district, category, mode, minutes, estimate, ...
    seconds_elapsed: float = 0.0


def _share(covered: np.ndarray, population: np.ndarray) -> np.ndarray:
    return np.where(population > 0, covered / np.maximum(population, 1), 0.0).round(4)


def _stack(tables: Mapping[str, pd.DataFrame], names: Mapping[str, str]) -> pd.DataFrame:
    frames = []
    for key, frame in tables.items():
        part = frame.copy()
        part.insert(0, "city_name", names.get(key, key))
        part.insert(0, "city", key)
        frames.append(part)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["city", "city_name"])


def province_table(tables: Mapping[str, CoverageTable], *, names: Mapping[str, str] | None = None) -> ProvinceTable:
    """Stack and sum the coverage tables of a province's cities.

    Parameters
    ----------
    tables
        City key → that city's :class:`~planning.coverage.CoverageTable`, all for the same categories,
        modes and thresholds (in the order the province lists its cities).
    names
        City key → the name shown in the ``city_name`` column (default: the key).

    Returns
    -------
    ProvinceTable
        The city and district rows as each city computed them, and the province totals summed from
        the city rows.
    """
    names = names or {}
    cities = _stack({k: t.totals for k, t in tables.items()}, names)
    districts = _stack({k: t.districts for k, t in tables.items()}, names)
    if cities.empty:
        totals = pd.DataFrame(columns=[*_KEYS, "estimate", *_COUNTS, "cities"])
    else:
        grouped = cities.groupby(_KEYS, sort=False)
        totals = grouped.agg(
            estimate=("estimate", "any"),
            population=("population", "sum"),
            covered=("covered", "sum"),
            cities=("city", "nunique"),
        ).reset_index()
        totals["population"] = totals["population"].astype(np.int64)
        totals["covered"] = totals["covered"].astype(np.int64)
        totals["uncovered"] = totals["population"] - totals["covered"]
        totals["share"] = _share(totals["covered"].to_numpy(), totals["population"].to_numpy())
        totals = totals[[*_KEYS, "estimate", *_COUNTS, "cities"]]
    elapsed = float(sum(t.seconds_elapsed for t in tables.values()))
    return ProvinceTable(totals=totals, cities=cities, districts=districts, seconds_elapsed=elapsed)


@dataclass(frozen=True)
class ProvinceSite:
    """One site of the province's greedy answer: its city, its rank in the province and in its city."""

    city: str
    rank: int
    city_rank: int
    site: Site
    cumulative: int


@dataclass(frozen=True)
class ProvinceSuggestion:
    """The next ``k`` sites of a province (see :func:`merge_suggestions`), with the province's totals."""

    k: int
    sites: list[ProvinceSite]
    covered_before: int
    uncovered_before: int
    upper_bound: float

    @property
    def newly_covered(self) -> int:
        """Population the ``k`` sites newly cover (the sum of their gains, rounded once)."""
        return self.sites[-1].cumulative if self.sites else 0

    def chosen_in(self, city: str) -> int:
        """How many of the province's sites are in ``city``."""
        return sum(1 for s in self.sites if s.city == city)


def merge_suggestions(suggestions: Mapping[str, Suggestion], *, k: int) -> ProvinceSuggestion:
    """The province's greedy ``k`` sites from each city's own greedy ``k`` (see the module docstring).

    Parameters
    ----------
    suggestions
        City key → that city's greedy :class:`~planning.sites.Suggestion` for the same category, mode,
        threshold and ``k`` (in the order the province lists its cities: ties go to the earlier city).
    k
        Sites wanted for the whole province (fewer come back when fewer add anyone).
    """
    ranked = []
    for order, (city, sug) in enumerate(suggestions.items()):
        if sug.greedy is None:
            msg = f"{city}: a province merges greedy answers only"
            raise ValueError(msg)
        # the residents each site adds (unrounded: never growing along the city's list); a site adding
        # nobody is no answer to "where would a new site close the most gap"
        ranked += [(-site.gain_exact, order, site.rank, city, site) for site in sug.sites if site.gain_exact > 0]
    ranked.sort(key=lambda r: r[:3])
    sites, running = [], 0.0
    for rank, (neg, _order, city_rank, city, site) in enumerate(ranked[:k], start=1):
        running -= neg
        sites.append(ProvinceSite(city=city, rank=rank, city_rank=city_rank, site=site, cumulative=int(round(running))))
    return ProvinceSuggestion(
        k=k,
        sites=sites,
        covered_before=int(sum(s.before.total["covered"] for s in suggestions.values())),
        uncovered_before=int(sum(s.uncovered_population for s in suggestions.values())),
        upper_bound=float(sum(s.greedy.upper_bound for s in suggestions.values() if s.greedy is not None)),
    )
