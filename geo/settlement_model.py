"""The model population surface: where, inside each district, its census residents are assumed to live.

Inputs are real and named: the pack's ``settlements.csv`` (GeoNames populated places inside the
districts and on land, CC-BY 4.0, written by ``skillcircle towns match``) and the parameters of the
``[population]`` section of ``city.toml``. Nothing is drawn from invented points (the approximate
town points are NOT inputs).

For each district with census total ``P`` and land cells ``i`` (area ``a_i``, centre ``x_i``):

* every GeoNames place ``s`` (of any district: a city's core spills over a district border) holds
  ``m_s`` people — its GeoNames population, or ``settlement_population`` where GeoNames gives none —
  spread as a Gaussian of width
  ``σ_s = sigma_km · (m_s / settlement_population)^(1/3)`` (urban area growing as population^(2/3),
  so a large city is both wider and denser than a town: Jiaxing, 1.18 million in GeoNames, gets
  σ ≈ 3.1 km; a town of 20,000 gets 0.8 km). Its people in cell ``i``:
  ``k_i = Σ_s m_s · a_i · exp(-d(x_i, s)² / (2 σ_s²)) / (2π σ_s²)``;
* the rest ``R = P − Σ_i k_i`` lives evenly on the district's land cells (villages); when ``R`` would
  fall below ``min_rural_share · P`` the places' people are scaled down so that it does not.

Cell people ``k_i · f + R / n`` are then rounded by :func:`geo.population.largest_remainder`, so
each district's census total is exact. The result is a model: its densest cells are the urban cores
because the large GeoNames places are there, not because anyone counted.
"""

from __future__ import annotations

import logging

import h3
import numpy as np
import pandas as pd

from geo.cities import CityPack

log = logging.getLogger(__name__)
SIGMA_EXPONENT = 1.0 / 3.0


def read_settlements(city: CityPack) -> pd.DataFrame:
    """The pack's ``settlements.csv`` (name, lon, lat, population, district_adcode, …); empty if none."""
    path = city.folder / "settlements.csv"
    if not path.is_file():
        return pd.DataFrame(columns=["name", "lon", "lat", "population", "district_adcode"])
    frame = pd.read_csv(path, dtype={"district_adcode": str}, encoding="utf-8")
    frame["population"] = pd.to_numeric(frame["population"], errors="coerce").fillna(0).clip(lower=0)
    return frame


def uses_settlements(city: CityPack) -> bool:
    """True when the city's model surface is built from GeoNames settlements (else uniform, illustrative)."""
    return city.population.model == "settlements" and not read_settlements(city).empty


def model_weights(city: CityPack, frame: pd.DataFrame) -> np.ndarray:
    """People per cell by the model (before rounding) for a grid frame.

    ``frame`` needs columns ``h3, lon, lat, district_adcode, district_population`` (one row per land
    cell). A uniform model (the demo's illustrative zones) gives every cell the same weight.
    """
    if not uses_settlements(city):
        return np.ones(len(frame))
    cfg = city.population
    places = read_settlements(city)
    mass = np.where(places["population"] > 0, places["population"], cfg.settlement_population).astype(float)
    sigma = cfg.sigma_km * (mass / max(cfg.settlement_population, 1.0)) ** SIGMA_EXPONENT
    lon, lat = frame["lon"].to_numpy(float), frame["lat"].to_numpy(float)
    area = np.array([h3.cell_area(c, unit="km^2") for c in frame["h3"]])
    coslat = np.cos(np.radians(float(np.mean(lat)) if len(lat) else 30.0))
    kernel = np.zeros(len(frame))
    for x, y, m, s in zip(places["lon"], places["lat"], mass, sigma, strict=True):
        d2 = ((lon - x) * 111.32 * coslat) ** 2 + ((lat - y) * 110.57) ** 2
        kernel += m * area * np.exp(-d2 / (2 * s * s)) / (2 * np.pi * s * s)
    out = np.zeros(len(frame))
    for _adcode, idx in frame.groupby("district_adcode", sort=False).indices.items():
        total = float(frame["district_population"].iloc[idx[0]])
        part = kernel[idx]
        placed = part.sum()
        cap = (1.0 - cfg.min_rural_share) * total
        if placed > cap > 0:
            part = part * (cap / placed)
            placed = cap
        out[idx] = part + max(total - placed, 0.0) / len(idx)
    return out


def describe(city: CityPack) -> str:
    """One line naming the model and its parameters (for notices, exports and pages)."""
    cfg = city.population
    if not uses_settlements(city):
        return "uniform within each zone (illustrative)"
    return (
        "2020 census district totals spread by GeoNames settlements (CC-BY 4.0) with Gaussian distance "
        f"decay (σ {cfg.sigma_km:g} km × (population/{cfg.settlement_population:g})^(1/3); places without a GeoNames "
        f"figure {cfg.settlement_population:g}; at least {cfg.min_rural_share:.0%} evenly on land as rural)"
    )
