"""Hand-built coverage cases whose numbers are known by hand (shared by test_coverage and test_planning).

The "line" case: six H3 cells (resolution 8) near Jiaxing; graph nodes sit exactly on the centres of the
first five, joined in a row by two-way edges of 240 m walked at 1 m/s (4 minutes per hop); the node of
cell 4 is moved 60 m north of its centre (a 60 s access walk); cell 5 lies ~10 km away, off the network.

    cell        0     1     2     3     4      5 (off network)
    population  100   200   300   400   500    50
    district    A     A     A     B     B      B
    town        a1    a1    a2    b1    b1     b1

With one resource (seats 30) at cell 0, walking minutes to it are 0, 4, 8, 12, 16 + 1 and unreachable.
"""

from __future__ import annotations

import geopandas as gpd
import h3
import numpy as np
from shapely.geometry import Polygon

from isochrones.engine import CityEngine
from isochrones.graph import compile_arrays, project, unproject, utm_crs
from planning.coverage import CoverageModel
from planning.resources import ResourceSet

HOP_M = 240.0
SPEEDS = {"walk": 1.0, "bicycle": 5.0, "ebike": 5.0, "car": 10.0}
DETOUR = 1.5
POP = np.array([100, 200, 300, 400, 500, 50])
DISTRICT = ["A", "A", "A", "B", "B", "B"]
TOWN = ["a1", "a1", "a2", "b1", "b1", "b1"]


def line_cells() -> list[str]:
    """Six distinct resolution-8 cells: five about 1 km apart along a parallel, one ~10 km further east."""
    lons = [120.70 + 0.01 * i for i in range(5)] + [120.85]
    cells = [h3.latlng_to_cell(30.70, lon, 8) for lon in lons]
    assert len(set(cells)) == 6
    return cells


def line_grid() -> gpd.GeoDataFrame:
    """The population grid of the line case (columns as :func:`geo.population.population_grid`)."""
    cells = line_cells()
    geoms = [Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in cells]
    grid = gpd.GeoDataFrame(
        {
            "h3": cells,
            "district_adcode": DISTRICT,
            "district": [f"District {d}" for d in DISTRICT],
            "town": TOWN,
            "population": POP,
        },
        geometry=geoms,
        crs="EPSG:4326",
    )
    grid.attrs.update(resolution=8, proxy="hand-built")
    return grid


def line_engine() -> CityEngine:
    """The walk-only engine of the line case (other modes are straight-line estimates)."""
    ll = np.array([h3.cell_to_latlng(c) for c in line_cells()[:5]])
    lon, lat = ll[:, 1].copy(), ll[:, 0].copy()
    crs = utm_crs(float(lon.mean()), float(lat.mean()))
    x, y = project(lon[4:5], lat[4:5], crs)
    lon[4], lat[4] = (float(v[0]) for v in unproject(x, y + 60.0, crs))
    u = np.array([0, 1, 1, 2, 2, 3, 3, 4])
    v = np.array([1, 0, 2, 1, 3, 2, 4, 3])
    graph = compile_arrays(
        mode="walk",
        lon=lon,
        lat=lat,
        u=u,
        v=v,
        length_m=np.full(8, HOP_M),
        speed_mps=np.full(8, SPEEDS["walk"]),
        crs=crs,
    )
    return CityEngine({"walk": graph}, speeds_mps=SPEEDS, max_snap_m=500.0, detour_factor=DETOUR)


def line_model(resources: list[tuple[int, int, str, float]] | None = None) -> CoverageModel:
    """A model of the line case with resources ``(id, cell index, category, seats)`` at cell centres.

    Default: one training resource (id 1, 30 seats) at cell 0.
    """
    resources = resources or [(1, 0, "training", 30.0)]
    cells = line_cells()
    ll = np.array([h3.cell_to_latlng(cells[i]) for _, i, _, _ in resources]).reshape(-1, 2)
    rs = ResourceSet.of(
        [r[0] for r in resources],
        ll[:, 1],
        ll[:, 0],
        [r[2] for r in resources],
        seats=[r[3] for r in resources],
        any_sample=False,
    )
    engine = line_engine()
    engine.set_resources(rs.ids, rs.lons, rs.lats)
    return CoverageModel(engine=engine, grid=line_grid(), resources=rs)
