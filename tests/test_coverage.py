"""Coverage numbers on hand-built cases, the one-pass method against the per-resource union, 2SFCA by hand,
exports, and ``/api/v1/coverage`` over HTTP (incl. bad input)."""

from __future__ import annotations

import h3
import numpy as np
import pytest
from _coverage_cases import DETOUR, POP, SPEEDS, line_cells, line_model
from pyproj import Geod
from scipy import sparse

from geo.errors import InvalidParameterError, UnknownCategoryError, UnknownModeError
from planning.access import two_step_fca
from planning.coverage import CoverageModel, CoverageTable
from planning.params import check_minutes

# ---------------------------------------------------------------------------------------------- by hand


def test_line_case_walk_coverage_by_hand() -> None:
    model = line_model()
    secs = model.cell_seconds("training", mode="walk")
    # 4-minute hops; cell 4's node is 60 m (60 s at 1 m/s) from its centre; cell 5 is off the network
    np.testing.assert_allclose(secs[:5], [0, 240, 480, 720, 960 + 60], atol=0.01)
    assert np.isinf(secs[5])
    want = {10: (600, 600, 0), 15: (1000, 600, 400), 20: (1500, 600, 900), 30: (1500, 600, 900)}
    for minutes, (total, dist_a, dist_b) in want.items():
        cov = model.coverage("training", mode="walk", minutes=minutes)
        assert cov.estimate is False
        assert cov.total == {"population": 1550, "covered": total, "share": round(total / 1550, 4)}
        d = cov.districts.set_index("adcode")
        assert d.loc["A", "covered"] == dist_a and d.loc["B", "covered"] == dist_b
        assert d.loc["B", "uncovered"] == 950 - dist_b and d.loc["A", "population"] == 600
        t = cov.towns.set_index("name")
        assert t["population"].to_dict() == {"a1": 300, "a2": 300, "b1": 950}
        assert t["covered"].sum() == total == d["covered"].sum()
    assert list(model.coverage("training", mode="walk", minutes=10).covered) == [True] * 3 + [False] * 3


def test_line_case_estimate_mode_is_straight_line_times_detour() -> None:
    model = line_model()
    assert model.estimate("bicycle") and not model.estimate("walk")
    secs = model.cell_seconds("training", mode="bicycle")
    geod = Geod(ellps="WGS84")
    ll = np.array([h3.cell_to_latlng(c) for c in line_cells()])
    _, _, dist = geod.inv(np.full(6, ll[0, 1]), np.full(6, ll[0, 0]), ll[:, 1], ll[:, 0])
    np.testing.assert_allclose(secs, dist * DETOUR / SPEEDS["bicycle"], rtol=2e-3)
    cov = model.coverage("training", mode="bicycle", minutes=15)
    assert cov.estimate is True
    assert cov.total["covered"] == int(POP[secs <= 900].sum())


def test_no_resource_of_a_category_covers_nobody_and_all_means_any() -> None:
    model = line_model([(1, 0, "training", 30.0), (2, 4, "studio", 10.0)])
    assert model.coverage("college", mode="walk", minutes=30).total["covered"] == 0
    assert model.coverage("college", mode="car", minutes=30).total["covered"] == 0
    any_secs = model.cell_seconds("all", mode="walk")
    both = np.minimum(model.cell_seconds("training", mode="walk"), model.cell_seconds("studio", mode="walk"))
    np.testing.assert_allclose(any_secs, both, atol=0.01)  # the engine prices a zero walk at 1 ms


def test_table_matches_single_coverage_and_is_monotone() -> None:
    model = line_model([(1, 0, "training", 30.0), (2, 3, "evaluation", 20.0)])
    tab = model.table(categories=["training", "evaluation"])
    assert len(tab.totals) == 2 * 4 * 4
    for row in tab.totals.itertuples():
        cov = model.coverage(row.category, mode=row.mode, minutes=row.minutes)
        assert (row.population, row.covered, row.share) == (1550, cov.total["covered"], cov.total["share"])
        assert row.estimate == (row.mode != "walk")
    by = tab.totals.set_index(["category", "mode", "minutes"])["covered"].sort_index()
    for cat in ("training", "evaluation"):
        for mode in ("walk", "bicycle", "ebike", "car"):
            assert list(by.loc[(cat, mode)]) == sorted(by.loc[(cat, mode)])
    d = tab.districts.groupby(["category", "mode", "minutes"])["covered"].sum()
    assert (d == by.reindex(d.index)).all()


def test_two_step_fca_by_hand_on_a_matrix() -> None:
    # cells of 100, 200, 300 residents; A (30 seats) reaches cells 0-1, B (60 seats) reaches cells 1-2
    w = sparse.csr_matrix(np.array([[1, 0], [1, 1], [0, 1]]))
    access, ratio, catch = two_step_fca(w, np.array([100, 200, 300]), np.array([30.0, 60.0]))
    np.testing.assert_allclose(catch, [300, 500])
    np.testing.assert_allclose(ratio, [0.1, 0.12])
    np.testing.assert_allclose(access, [0.1, 0.22, 0.12])
    # Σ P_i A_i = Σ S_j (every seat is shared out exactly once)
    assert access @ np.array([100, 200, 300]) == pytest.approx(90.0)
    # a resource nobody reaches hands out nothing
    access, ratio, _ = two_step_fca(sparse.csr_matrix((3, 1)), np.ones(3), np.array([50.0]))
    assert ratio[0] == 0 and not access.any()


def test_two_step_fca_on_the_line_by_hand() -> None:
    # A at cell 0 (30 seats) reaches cells 0-2 (600 people) within 10 min; B at cell 3 (140 seats)
    # reaches cells 1-4 (1400 people): R_A = 0.05, R_B = 0.1
    model = line_model([(1, 0, "training", 30.0), (2, 3, "training", 140.0)])
    acc = model.two_step_fca("training", mode="walk", minutes=10)
    np.testing.assert_allclose(acc.resource_catchment, [600, 1400])
    np.testing.assert_allclose(acc.resource_ratio, [0.05, 0.1])
    np.testing.assert_allclose(acc.cell_access, [0.05, 0.15, 0.15, 0.1, 0.1, 0.0])
    assert (POP * acc.cell_access).sum() == pytest.approx(170.0)
    assert acc.city_ratio == pytest.approx(170 / 1550)
    # crowded: reached but under half the city ratio (0.0548): cell 0 only
    assert list(acc.crowded) == [True, False, False, False, False, False]
    d = acc.districts.set_index("adcode")
    assert d.loc["A", "crowded"] == 100 and d.loc["B", "no_access"] == 50
    assert d.loc["A", "seats_per_1000"] == pytest.approx(1000 * (5 + 30 + 45) / 600, abs=1e-3)
    with pytest.raises(InvalidParameterError) as err:
        model.two_step_fca("training", mode="walk", minutes=10, supply="beds")
    assert err.value.code == "invalid_supply"


def test_bad_inputs_raise_clear_errors() -> None:
    model = line_model()
    with pytest.raises(UnknownCategoryError):
        model.coverage("bakery", mode="walk", minutes=10)
    with pytest.raises(UnknownModeError):
        model.coverage("training", mode="plane", minutes=10)
    for bad in (0, -5, 500, "ten", float("nan")):
        with pytest.raises(InvalidParameterError) as err:
            check_minutes(bad)
        assert err.value.code == "invalid_minutes"
    engine = model.engine
    engine.set_resources([1, 2], [120.7, 120.71], [30.7, 30.7])
    with pytest.raises(InvalidParameterError) as err:
        CoverageModel(engine=engine, grid=model.grid, resources=model.resources)
    assert err.value.code == "stale_resources"


# ---------------------------------------------------------------------------------------------- real network


@pytest.fixture(scope="module")
def demo_model(demo_sample, demo_network) -> CoverageModel:
    from geo.cities import load_city

    return CoverageModel.for_city(load_city("demo"))


def test_one_pass_equals_union_of_per_resource_searches_on_demo(demo_model: CoverageModel) -> None:
    model = demo_model
    assert model.engine.modes_loaded == ["walk", "bicycle", "ebike", "car"]
    for cat, mode in (("studio", "walk"), ("training", "car"), ("evaluation", "bicycle")):
        one = model.cell_seconds(cat, mode=mode)
        idx = np.flatnonzero(model.resources.mask(cat))
        assert idx.size > 0
        per = model.seconds_to_points(model.resources.lons[idx], model.resources.lats[idx], mode=mode, limit_s=3600)
        union = per.min_seconds()
        inside = one <= 3600
        assert inside.sum() > 0.5 * model.n_cells
        np.testing.assert_allclose(union[inside], one[inside], atol=1e-6)
        assert np.isinf(union[~inside]).all()
        # the bounded pass the table uses gives the same times up to its limit
        bounded = model.seconds_for_mask(model.resources.mask(cat), mode=mode, limit_s=600)
        near = one <= 600
        np.testing.assert_allclose(bounded[near], one[near], atol=1e-9)
        assert (bounded[~near] > 600).all()


@pytest.mark.parametrize("mode", ["bicycle", "ebike"])
def test_demo_directed_coverage_does_not_plateau(demo_model: CoverageModel, mode: str) -> None:
    # cells snapped into one-way dead ends once reached nothing: coverage stuck at 89.6% at every threshold
    model = demo_model
    graph = model.engine.graphs[mode]
    snap = model._snap(mode)
    on = snap.node >= 0
    assert graph.snap_ok[snap.node[on]].all()  # every cell joins the largest strongly connected component
    shares = [model.coverage("all", mode=mode, minutes=m).total["share"] for m in (15, 30, 60)]
    assert shares == sorted(shares)
    assert shares[-1] >= 0.99
    reachable = np.isfinite(model.cell_seconds("all", mode=mode))
    assert model.population[on & ~reachable].sum() == 0  # no cell on the network is stranded


def test_demo_totals_preserved(demo_model: CoverageModel) -> None:
    from geo.boundaries import districts

    cov = demo_model.coverage("all", mode="walk", minutes=15)
    want = districts(demo_model.city).set_index("adcode")["population"]
    assert cov.districts.set_index("adcode")["population"].to_dict() == want.to_dict()
    assert cov.towns["population"].sum() == want.sum() == cov.total["population"]
    assert cov.estimate is False


def test_exports_files_and_summary_figure(demo_model: CoverageModel, tmp_path, artifacts) -> None:
    import pyogrio
    from openpyxl import load_workbook
    from PIL import Image

    from planning import exports, figures, tables

    gpkg = tables.write_geopackage(tmp_path / "c.gpkg", demo_model, "training", mode="walk", minutes=10)
    layers = dict(pyogrio.list_layers(gpkg))
    assert {"grid", "coverage_bands", "isochrones", "districts", "towns", "notes"} <= set(layers)
    grid = pyogrio.read_dataframe(gpkg, layer="grid")
    assert len(grid) == demo_model.n_cells and grid["population"].sum() == demo_model.population.sum()
    bands = pyogrio.read_dataframe(gpkg, layer="coverage_bands")
    cov10 = demo_model.coverage("training", mode="walk", minutes=10)
    assert bands.set_index("minutes").loc[10, "covered"] == cov10.total["covered"]
    iso = pyogrio.read_dataframe(gpkg, layer="isochrones")
    assert set(iso["minutes"]) == {10, 15, 20, 30} and not iso["estimate"].any()
    paths = tables.write_tables(tmp_path, demo_model, categories=["training"])
    wb = load_workbook(paths["xlsx"], read_only=True)
    assert wb.sheetnames == ["说明 notes", "总计 totals", "区县 districts", "乡镇街道 towns"]
    notes = " ".join(str(c.value) for row in wb["说明 notes"].iter_rows() for c in row)
    assert "示例数据" in notes and "非普查" in notes  # the demo zones carry illustrative numbers
    import pandas as pd

    towns = pd.read_csv(paths["towns.csv"], encoding="utf-8-sig")
    assert len(towns) == 4 * 4 * towns["name"].nunique()
    assert figures.cjk_font() is not None, "install fonts-noto-cjk (scripts/system-deps.sh)"
    fig = figures.summary_figure(demo_model, "training", mode="walk", minutes=15)
    png = artifacts / "coverage-summary-demo-training.png"
    fig.savefig(png, dpi=80)
    with Image.open(png) as img:
        assert img.size[0] > 800 and img.size[1] > 500
    pdf = exports.export_bytes("pdf", demo_model, "training", mode="walk", minutes=15, workdir=tmp_path / "w")
    assert pdf.startswith(b"%PDF")


# ---------------------------------------------------------------------------------------------- HTTP


@pytest.fixture(scope="module")
def http(client, demo_network):
    return client


def _error(resp, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()["error"]
    assert body["code"] == code and body["message_zh"] and body["message_en"]


def test_api_coverage_jiaxing_is_flagged_estimate_and_sample(http) -> None:
    resp = http.get(
        "/api/v1/coverage",
        params={"city": "jiaxing", "category": "training", "mode": "ebike", "minutes": 15, "grid": "true"},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert list(body) == [
        "city",
        "category",
        "mode",
        "minutes",
        "estimate",
        "sample",
        "notice",
        "population_surface",
        "total",
        "districts",
        "towns",
        "grid",
    ]
    assert (body["city"], body["category"], body["mode"], body["minutes"]) == ("jiaxing", "training", "ebike", 15)
    assert body["estimate"] is True and body["sample"] is True
    assert {"sample", "estimate", "population"} <= set(body["notice"])
    assert body["population_surface"]["kind"] == "model" and "GeoNames" in body["population_surface"]["source"]
    assert "Population surface: model" in body["notice"]["population"]["en"]
    assert body["total"]["population"] == 5_400_868
    assert sum(d["population"] for d in body["districts"]) == body["total"]["population"]
    assert sum(d["covered"] for d in body["districts"]) == body["total"]["covered"]
    assert sum(t["covered"] for t in body["towns"]) == body["total"]["covered"]
    assert len(body["districts"]) == 7
    assert set(body["districts"][0]) == {"adcode", "name", "population", "covered", "uncovered", "share"}
    assert set(body["towns"][0]) == {"district", "name", "population", "covered", "uncovered", "share", "approximate"}
    # a town figure is approximate exactly when its seat is not a GeoNames match (towns.csv says which)
    from geo.boundaries import towns
    from geo.cities import load_city

    seats = towns(load_city("jiaxing"))
    flag = {
        (d, n): bool(a)
        for d, n, a in zip(seats["district"], seats["name_zh"], seats["location_approximate"], strict=True)
    }
    assert all(t["approximate"] is flag[(t["district"], t["name"])] for t in body["towns"])
    assert {t["approximate"] for t in body["towns"]} == {True, False}
    feats = body["grid"]["features"]
    assert sum(f["properties"]["population"] for f in feats) == body["total"]["population"]
    assert sum(f["properties"]["population"] for f in feats if f["properties"]["covered"]) == body["total"]["covered"]
    props = feats[0]["properties"]
    assert set(props) == {"h3", "population", "minutes", "covered", "district", "town"}
    assert all((p["minutes"] <= 15) == p["covered"] for p in (f["properties"] for f in feats) if p["minutes"])
    assert feats[0]["geometry"]["type"] == "Polygon"
    # cached: the same answer object again, and grid=false leaves the grid out
    again = http.get(
        "/api/v1/coverage", params={"city": "jiaxing", "category": "职业培训机构", "mode": "ebike", "minutes": 15}
    )
    assert again.json()["grid"] is None and again.json()["total"] == body["total"]


def test_api_coverage_demo_is_routed_and_grid_minutes_null_when_unreachable(http) -> None:
    body = http.get(
        "/api/v1/coverage", params={"city": "demo", "category": "all", "mode": "bicycle", "minutes": 10, "grid": 1}
    ).json()
    assert body["estimate"] is False and "estimate" not in body["notice"] and body["sample"] is True
    props = [f["properties"] for f in body["grid"]["features"]]
    assert all(p["covered"] is False for p in props if p["minutes"] is None)
    assert sum(p["population"] for p in props if p["covered"]) == body["total"]["covered"]
    gcj = http.get(
        "/api/v1/coverage",
        params={"city": "demo", "category": "all", "mode": "bicycle", "minutes": 10, "grid": 1, "crs": "gcj02"},
    ).json()
    # outside China GCJ-02 equals WGS84; the answer says which crs it is in
    assert gcj["grid"]["crs_name"] == "gcj02" and gcj["total"] == body["total"]


def test_api_coverage_bad_input_is_4xx(http) -> None:
    base = {"city": "jiaxing", "category": "training", "mode": "walk", "minutes": 30}
    _error(http.get("/api/v1/coverage", params={**base, "category": "bakery"}), 422, "unknown_category")
    _error(http.get("/api/v1/coverage", params={**base, "mode": "plane"}), 422, "invalid_parameter")
    _error(http.get("/api/v1/coverage", params={**base, "minutes": 0}), 422, "invalid_parameter")
    _error(http.get("/api/v1/coverage", params={**base, "minutes": "abc"}), 422, "invalid_parameter")
    _error(http.get("/api/v1/coverage", params={**base, "resolution": 12}), 422, "invalid_parameter")
    _error(http.get("/api/v1/coverage", params={**base, "resolution": 10}), 422, "invalid_resolution")  # 370k cells
    _error(http.get("/api/v1/coverage", params={**base, "city": "demo", "resolution": 8}), 422, "invalid_resolution")
    coarse = http.get("/api/v1/coverage", params={**base, "resolution": 7}).json()
    assert coarse["total"]["population"] == 5_400_868 and len(coarse["districts"]) == 7
    _error(http.get("/api/v1/coverage", params={**base, "city": "atlantis"}), 404, "unknown_city")


FORMULA_PAYLOADS = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1:A2)", "\t=1", "\r=1"]


def test_planner_csv_and_xlsx_exports_carry_no_live_formula(demo_model: CoverageModel, tmp_path) -> None:
    """A town name that starts a formula is written as text (OWASP: a leading apostrophe) in CSV and XLSX."""
    import csv

    from openpyxl import load_workbook

    from planning import tables

    tab = demo_model.table(categories=["training"], modes=["walk"], thresholds=[10])
    towns = tab.towns.copy()
    payloads = [FORMULA_PAYLOADS[i % len(FORMULA_PAYLOADS)] for i in range(len(towns))]
    towns["town"] = payloads
    evil = CoverageTable(totals=tab.totals, districts=tab.districts, towns=towns)
    paths = tables.write_tables(tmp_path, demo_model, table=evil)
    with paths["towns.csv"].open(encoding="utf-8-sig", newline="") as fh:
        written = [row["town"] for row in csv.DictReader(fh)]
    assert written == ["'" + p for p in payloads]
    wb = load_workbook(paths["xlsx"])
    sheet = wb["乡镇街道 towns"]
    header = [c.value for c in sheet[1]]
    col = header.index("town") + 1
    cells = [sheet.cell(row=r, column=col) for r in range(2, sheet.max_row + 1)]
    assert [c.value for c in cells] == ["'" + p for p in payloads]
    every = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in every if c.data_type == "f"], "a cell was written as a formula"
    # numbers stay numbers (a negative share would not be prefixed)
    assert all(isinstance(c.value, int | float) for c in sheet[2] if header[c.column - 1] == "population")
