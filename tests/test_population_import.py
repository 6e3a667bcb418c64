"""``skillcircle population import``: GeoTIFF and town census CSV rescaled to census totals; bad input: nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from typer.testing import CliRunner

from api.cli import app
from geo.boundaries import districts, towns
from geo.cities import load_city
from geo.population import population_grid
from geo.population_import import remove_imported

HOT = (121.02, 30.70)  # a made-up hot spot in 平湖市, far from the model's densest cells


@pytest.fixture
def city():
    pack = load_city("jiaxing")
    remove_imported(pack)
    yield pack
    remove_imported(pack)  # the rest of the session uses the model


def _tif(
    path: Path, *, crs: str | None = "EPSG:4326", origin=(120.25, 31.05), step=0.01, fill=100.0, hot=HOT, extra=None
):
    width, height = 110, 87
    data = np.full((height, width), fill, dtype="float32")
    col, row = int((hot[0] - origin[0]) / step), int((origin[1] - hot[1]) / step)
    data[row, col] = 500_000.0
    if extra is not None:
        extra(data)
    kw = {"crs": crs} if crs else {}
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=1,
        dtype="float32",
        transform=from_origin(origin[0], origin[1], step, step),
        nodata=-9999.0,
        **kw,
    ) as dst:
        dst.write(data, 1)
    return path


def _run(*args: str):
    return CliRunner().invoke(app, ["population", *args])


def test_geotiff_import_rescales_to_census_and_is_named(city, tmp_path: Path) -> None:
    tif = _tif(tmp_path / "worldpop.tif")
    result = _run("import", "jiaxing", str(tif))
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert record["kind"] == "raster" and record["file"] == "worldpop.tif" and len(record["sha256"]) == 64
    grid = population_grid(city, resolution=8)
    assert grid.attrs["surface"] == "imported" and "worldpop.tif" in grid.attrs["proxy"]
    census = districts(city).set_index("name_zh")["population"].to_dict()
    assert grid.groupby("district")["population"].sum().to_dict() == census
    top = grid.loc[grid["population"].idxmax()].geometry.centroid
    assert abs(top.x - HOT[0]) < 0.02 and abs(top.y - HOT[1]) < 0.02  # the raster, not the model, decides
    status = json.loads(_run("status", "jiaxing").output)
    assert status["surface"] == "imported" and status["file"] == "worldpop.tif"
    # coverage answers name the imported surface
    from planning.grid import city_grid

    assert city_grid(city).attrs["surface"] == "imported"
    assert "cleared" not in _run("clear", "jiaxing").output
    assert population_grid(city, resolution=8).attrs["surface"] == "model"


def test_town_census_csv_import(city, tmp_path: Path) -> None:
    seats = towns(city)
    rows = ["town,population"] + [f"{n},{100000 if n == '乍浦镇' else 1000}" for n in seats["name_zh"]]
    path = tmp_path / "towns.csv"
    path.write_text("\n".join(rows), encoding="utf-8")
    result = _run("import", "jiaxing", str(path))
    assert result.exit_code == 0, result.output
    grid = population_grid(city, resolution=8)
    census = districts(city).set_index("name_zh")["population"].to_dict()
    assert grid.groupby("district")["population"].sum().to_dict() == census
    pinghu = grid[grid["district"] == "平湖市"]
    share = pinghu.loc[pinghu["town"] == "乍浦镇", "population"].sum() / census["平湖市"]
    assert share == pytest.approx(
        100000 / (100000 + 1000 * (int((seats["district"] == "平湖市").sum()) - 1)), abs=0.03
    )  # town areas differ a little between grid resolutions


@pytest.mark.parametrize(
    ("make", "text"),
    [
        (lambda p: _tif(p / "a.tif", crs=None), "no coordinate reference system"),
        (lambda p: _tif(p / "b.tif", crs="EPSG:3857"), "does not overlap"),  # degrees labelled as metres
        (lambda p: _tif(p / "c.tif", origin=(116.0, 40.3), hot=(116.4, 39.9)), "does not overlap"),  # Beijing
        (lambda p: _tif(p / "d.tif", extra=lambda a: a.__setitem__((5, 5), -3.0)), "negative"),
        (lambda p: _tif(p / "e.tif", fill=0.0, hot=(121.02, 30.70)), "does not cover the districts"),
        (
            lambda p: (p / "f.csv").write_text("town,population\n火星镇,100\n", encoding="utf-8") and p / "f.csv",
            "unknown town",
        ),
        (
            lambda p: (p / "g.csv").write_text("town,population\n乍浦镇,-5\n", encoding="utf-8") and p / "g.csv",
            "not a number",
        ),
        (lambda p: (p / "h.txt").write_text("x", encoding="utf-8") and p / "h.txt", "expected a GeoTIFF"),
    ],
)
def test_bad_input_is_a_clear_cli_error_and_writes_nothing(city, tmp_path: Path, make, text: str) -> None:
    path = make(tmp_path)
    result = _run("import", "jiaxing", str(path))
    assert result.exit_code == 2
    assert text in result.output and "population_import_invalid" in result.output
    assert not (city.var_dir / "population" / "imported.json").exists()
    assert not (city.var_dir / "population" / "imported.csv").exists()
