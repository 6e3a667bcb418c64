"""Population surface: district totals preserved, proxies, user points, and district/town geography."""

from __future__ import annotations

from pathlib import Path

import h3
import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon

from geo.boundaries import district_of, districts, town_areas, towns
from geo.cities import load_city
from geo.errors import InvalidParameterError
from geo.population import _cell_polygons, largest_remainder, population_from_points, population_grid


def test_jiaxing_districts_and_census_total() -> None:
    d = districts(load_city("jiaxing"))
    assert set(d["name_zh"]) == {"南湖区", "秀洲区", "嘉善县", "海盐县", "海宁市", "平湖市", "桐乡市"}
    assert d["population"].sum() == 5_400_868  # 嘉兴市第七次全国人口普查主要数据公报
    assert d.set_index("name_zh").loc["海宁市", "population"] == 1_076_199
    assert d["population_source"].str.len().min() > 20
    assert d.crs.to_epsg() == 4326


def test_towns_inside_their_district_and_voronoi_areas() -> None:
    city = load_city("jiaxing")
    t = towns(city)
    assert 70 <= len(t) <= 75 and t["code"].is_unique
    assert list(district_of(t.geometry.x, t.geometry.y, city)) == list(t["district_adcode"])
    areas = town_areas(city).to_crs(32651).area.sum()
    total = districts(city).to_crs(32651).area.sum()
    assert areas == pytest.approx(total, rel=1e-4)


def test_district_of_outside_is_none() -> None:
    out = district_of(np.array([0.0, 120.76]), np.array([0.0, 30.75]), load_city("jiaxing"))
    assert out[0] is None and out[1] == "330402"


@pytest.mark.parametrize("key", ["jiaxing", "demo"])
def test_grid_preserves_district_totals(key: str) -> None:
    city = load_city(key)
    grid = population_grid(city, resolution=8 if key == "jiaxing" else 10)
    want = districts(city).set_index("adcode")["population"]
    got = grid.groupby("district_adcode")["population"].sum()
    assert got.to_dict() == want.to_dict()
    assert grid["h3"].is_unique and (grid["population"] >= 0).all()
    assert (grid["town"] != "").all()


def test_custom_weights_and_zero_weights() -> None:
    city = load_city("demo")
    east = population_grid(city, resolution=10, weights=lambda lon, lat: (lon > 24.94).astype(float))
    want = districts(city).set_index("adcode")["population"]
    assert east.groupby("district_adcode")["population"].sum().to_dict() == want.to_dict()
    # zone A is wholly west of 24.94: all-zero weights fall back to uniform, total still kept
    assert east.loc[east["district_adcode"] == "DEMO-A", "population"].sum() == want["DEMO-A"]
    b = east[east["district_adcode"] == "DEMO-B"]
    west = np.array([h3.cell_to_latlng(c)[1] < 24.94 for c in b["h3"]])
    assert b.loc[west, "population"].sum() == 0
    with pytest.raises(InvalidParameterError):
        population_grid(city, resolution=10, weights=[1.0, 2.0])


def test_largest_remainder_exact() -> None:
    parts = largest_remainder(10, [1, 1, 1])
    assert parts.sum() == 10 and sorted(parts) == [3, 3, 4]
    assert largest_remainder(7, [0, 0]).sum() == 7


def test_population_from_points(tmp_path: Path) -> None:
    csv = tmp_path / "pts.csv"
    csv.write_text("lon,lat,count\n120.76,30.75,100\n120.7601,30.7501,50\n0,0,999\n", encoding="utf-8")
    grid = population_from_points(csv, load_city("jiaxing"))
    assert grid["population"].sum() == 150
    assert set(grid["district_adcode"]) == {"330402"}


def test_too_coarse_resolution_is_an_error_not_a_lost_district() -> None:
    demo = load_city("demo")
    with pytest.raises(InvalidParameterError) as exc:
        population_grid(demo, resolution=8)  # demo zones are smaller than a resolution-8 cell
    assert exc.value.code == "resolution_too_coarse"
    fine = population_grid(demo, resolution=9)
    assert fine.groupby("district")["population"].sum().to_dict() == {
        "演示区A": 12000,
        "演示区B": 15000,
        "演示区C": 9000,
        "演示区D": 8000,
    }


def test_cell_hexagons_equal_a_polygon_built_per_cell() -> None:
    """The grid's hexagons, built in one shapely call, are exactly h3's boundary of each cell (lon/lat):
    Jiaxing's grid, the 12 pentagons and cells crossing an icosahedron edge (7 vertices)."""
    grid = population_grid(load_city("jiaxing"), resolution=8)
    edge = ["83006dfffffffff", "830136fffffffff", "83014dfffffffff"]
    cells = [*grid["h3"].tolist()[:500], *h3.get_pentagons(8), *edge]
    built = _cell_polygons(cells)
    reference = [Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in cells]
    assert [len(h3.cell_to_boundary(c)) for c in edge] == [7, 7, 7]
    assert [b.wkb for b in built] == [r.wkb for r in reference]
    assert all(shapely.equals_exact(grid.geometry.to_numpy()[:500], np.array(reference[:500], dtype=object), 0.0))
    assert len(_cell_polygons([])) == 0
