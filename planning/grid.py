"""The population surface as planning cells: the city's H3 population grid, each cell's centre, and how
cells sum into districts and towns.

The grid itself comes from :func:`geo.population.population_grid` (census totals spread over a modelled
or imported surface); :func:`city_grid` caches it per city, resolution and imported surface, so every
coverage model of a city shares one frame. :class:`AreaGroups` holds the sparse district × cell and
town × cell matrices that turn per-cell figures into per-area sums with one product.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
from scipy import sparse

from geo.errors import InvalidParameterError
from geo.population import default_resolution, population_grid

if TYPE_CHECKING:
    from geo.cities import CityPack

_GRID_CACHE: dict[tuple[str, str, int, str], gpd.GeoDataFrame] = {}
_GRID_LOCK = threading.Lock()
_GRID_BUILDING: dict[tuple[str, str, int, str], threading.Lock] = {}


def city_grid(city: CityPack, *, resolution: int | None = None) -> gpd.GeoDataFrame:
    """The city's population grid (:func:`geo.population.population_grid`), cached per city and resolution.

    ``resolution`` may be one coarser to one finer than :func:`geo.population.default_resolution`, within 6–10 (finer
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
        if key in _GRID_CACHE:
            return _GRID_CACHE[key]
        building = _GRID_BUILDING.setdefault(key, threading.Lock())
    # one build per grid; a request for another city's grid (cached or not) does not wait for this one
    with building:
        with _GRID_LOCK:
            if key in _GRID_CACHE:
                return _GRID_CACHE[key]
        grid = population_grid(city, resolution=res)
        with _GRID_LOCK:
            _GRID_CACHE[key] = grid
            _GRID_BUILDING.pop(key, None)
        return grid


def cell_centres(grid: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 centres: the H3 cell centre when ``h3`` holds valid ids, else the geometry's centroid."""
    if "h3" in grid.columns and len(grid) and all(h3.is_valid_cell(str(c)) for c in grid["h3"]):
        ll = np.array([h3.cell_to_latlng(str(c)) for c in grid["h3"]], dtype=np.float64).reshape(-1, 2)
        return ll[:, 1].copy(), ll[:, 0].copy()
    geo = grid.geometry
    if geo.crs is not None and not geo.crs.equals("EPSG:4326"):
        geo = geo.to_crs("EPSG:4326")
    pts = geo.representative_point() if (geo.geom_type != "Point").any() else geo
    return pts.x.to_numpy(np.float64), pts.y.to_numpy(np.float64)


@dataclass(frozen=True)
class AreaGroups:
    """How the cells of a grid sum into districts and towns.

    Attributes
    ----------
    district, town
        Sparse 0/1 matrices, groups × cells: ``district @ x`` sums a per-cell array ``x`` per district.
    district_meta
        One row per district (row order of ``district``): ``adcode, name``.
    town_meta
        One row per town (row order of ``town``): ``district, name, approximate, district_adcode``
        (``approximate``: the town's area is a Voronoi cell of its seat, not a surveyed boundary).
    """

    district: sparse.csr_matrix
    town: sparse.csr_matrix
    district_meta: pd.DataFrame
    town_meta: pd.DataFrame

    @classmethod
    def of(cls, grid: gpd.GeoDataFrame, *, city: CityPack | None = None) -> AreaGroups:
        """Group the cells of ``grid`` by ``district_adcode`` and by (``district_adcode``, ``town``).

        ``city`` gives each town its ``approximate`` flag (towns of a city without one are approximate).
        """
        d_codes, d_keys = pd.factorize(grid["district_adcode"].astype(str), sort=True)
        town_key = grid["district_adcode"].astype(str) + "\x1f" + grid["town"].astype(str)
        t_codes, t_keys = pd.factorize(town_key, sort=True)
        names = (
            grid.drop_duplicates("district_adcode")
            .assign(district_adcode=lambda f: f["district_adcode"].astype(str))
            .set_index("district_adcode")["district"]
        )
        d_list = list(d_keys)
        district_meta = pd.DataFrame({"adcode": d_list, "name": [str(names.get(k, k)) for k in d_list]})
        pairs = [str(k).split("\x1f", 1) for k in t_keys]
        approx = _approximate_towns(city) if city is not None else {}
        d_names = dict(zip(district_meta["adcode"], district_meta["name"], strict=True))
        town_meta = pd.DataFrame(
            {
                "district": [d_names.get(a, a) for a, _ in pairs],
                "name": [t for _, t in pairs],
                "approximate": [bool(approx.get((a, t), True)) for a, t in pairs],
                "district_adcode": [a for a, _ in pairs],
            }
        )
        return cls(
            district=_group_matrix(d_codes, len(d_keys)),
            town=_group_matrix(t_codes, len(t_keys)),
            district_meta=district_meta,
            town_meta=town_meta,
        )


def _group_matrix(codes: np.ndarray, n_groups: int) -> sparse.csr_matrix:
    n = codes.size
    return sparse.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(n_groups, n))


def _approximate_towns(city: CityPack) -> dict[tuple[str, str], bool]:
    from geo.boundaries import towns

    t = towns(city)
    return {
        (str(a), str(n)): bool(x)
        for a, n, x in zip(t["district_adcode"], t["name_zh"], t["location_approximate"], strict=True)
    }


__all__ = ["AreaGroups", "cell_centres", "city_grid"]
