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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planning.coverage import CoverageTable

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
