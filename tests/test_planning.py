"""Site suggestion (greedy vs exact vs brute force), what-if, and ``/api/v1/plan/…`` over HTTP."""

from __future__ import annotations

import io
import itertools
import math

import h3
import numpy as np
import pytest
from _coverage_cases import line_cells, line_model
from scipy import sparse

from geo.errors import InvalidParameterError, NotFoundError
from planning.mclp import GREEDY_GUARANTEE, mclp_exact, mclp_greedy
from planning.sites import suggest_sites, what_if


def _brute(cover: sparse.csr_matrix, w: np.ndarray, k: int) -> float:
    dense = cover.toarray() > 0
    best = 0.0
    for combo in itertools.combinations(range(dense.shape[1]), min(k, dense.shape[1])):
        best = max(best, float(w[dense[:, list(combo)].any(axis=1)].sum()))
    return best


# ---------------------------------------------------------------------------------------------- solvers


def test_greedy_and_exact_agree_on_a_hand_built_instance() -> None:
    # rows (demand) × columns (candidates); weights chosen so the optimum is unique: {0, 2}
    cover = sparse.csr_matrix(
        np.array(
            [
                [1, 0, 0, 0],
                [1, 1, 0, 0],
                [1, 0, 0, 0],
                [0, 1, 1, 0],
                [0, 0, 1, 1],
                [0, 0, 1, 0],
            ]
        )
    )
    w = np.array([50, 20, 40, 10, 30, 25])
    g = mclp_greedy(cover, w, 2)
    e = mclp_exact(cover, w, 2)
    assert g.chosen == [0, 2] and g.gains == [110, 65] and g.value == 175
    assert e.chosen == [0, 2] and e.value == 175 and e.optimal
    assert g.upper_bound >= e.value


def test_exact_beats_greedy_where_greedy_is_known_to_fail() -> None:
    # the classic trap: a big middle set (greedy's first pick) vs two halves that cover everything
    cover = sparse.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [1, 0, 1], [1, 0, 1], [0, 1, 0], [0, 0, 1]]))
    w = np.array([10, 10, 10, 10, 9, 9])
    g = mclp_greedy(cover, w, 2)
    e = mclp_exact(cover, w, 2)
    assert g.chosen[0] == 0 and g.value == 49
    assert sorted(e.chosen) == [1, 2] and e.value == 58
    assert g.value >= GREEDY_GUARANTEE * e.value and g.upper_bound >= e.value


@pytest.mark.parametrize("seed", range(12))
def test_solvers_against_brute_force_on_random_small_instances(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows, cols = int(rng.integers(8, 30)), int(rng.integers(4, 10))
    cover = sparse.csr_matrix(rng.random((rows, cols)) < 0.25)
    w = rng.integers(0, 100, rows).astype(float)
    for k in (1, 2, 3):
        best = _brute(cover, w, k)
        g = mclp_greedy(cover, w, k)
        e = mclp_exact(cover, w, k)
        assert e.value == pytest.approx(best) and e.optimal
        assert g.value <= best + 1e-9 and g.value >= GREEDY_GUARANTEE * best - 1e-9
        assert g.upper_bound >= best - 1e-9  # the online bound is a valid certificate
        assert sum(g.gains) == pytest.approx(g.value)
        if k == 1:
            assert g.value == pytest.approx(best)  # greedy is optimal for a single site


def test_solver_input_errors() -> None:
    cover = sparse.csr_matrix(np.eye(3))
    with pytest.raises(InvalidParameterError) as err:
        mclp_greedy(cover, np.ones(3), 0)
    assert err.value.code == "invalid_k"
    with pytest.raises(InvalidParameterError):
        mclp_greedy(cover, np.ones(4), 1)
    with pytest.raises(InvalidParameterError) as err:
        mclp_exact(cover, np.ones(3), 11)
    assert err.value.code == "invalid_k"
    big = sparse.random(10, 2500, density=0.5, format="csr", random_state=1)
    with pytest.raises(InvalidParameterError) as err:
        mclp_exact(big, np.ones(10), 2)
    assert err.value.code == "too_large_for_exact"


# ---------------------------------------------------------------------------------------------- on the line


def test_suggest_on_the_line_by_hand() -> None:
    model = line_model()  # one resource at cell 0: within 10 walking minutes cells 0-2 (600 people)
    s = suggest_sites(model, "training", mode="walk", minutes=10, k=1, method="both")
    # uncovered: cell 3 (400), cell 4 (500), cell 5 (50, off the network: nobody reaches it)
    assert s.uncovered_population == 950
    assert s.greedy.value == 900 and s.exact.value == 900 and s.exact.optimal
    assert s.newly_covered == 900 and s.after.total["covered"] == 1500
    assert s.sites[0].label in (line_cells()[3], line_cells()[4]) and s.sites[0].gain == 900
    assert s.candidates_off_network == 1
    after = s.after.districts.set_index("adcode")
    assert after.loc["B", "covered"] == 900 and after.loc["B", "uncovered"] == 50
    # a planner's own candidates: cell 0 adds nothing; cell 2 reaches cells 3 and 4 in 4 and 8 + 1 minutes
    ll = [h3.cell_to_latlng(line_cells()[i]) for i in (0, 2)]
    mine = suggest_sites(
        model,
        "training",
        mode="walk",
        minutes=10,
        k=1,
        candidates=([p[1] for p in ll], [p[0] for p in ll]),
        labels=["old site", "school"],
    )
    assert [x.label for x in mine.sites] == ["school"] and mine.newly_covered == 900


def test_what_if_close_and_add_on_the_line() -> None:
    model = line_model([(1, 0, "training", 30.0), (2, 3, "studio", 10.0)])
    cells = line_cells()
    closed = what_if(model, "training", mode="walk", minutes=10, close=[1])
    assert closed.before.total["covered"] == 600 and closed.after.total["covered"] == 0 and closed.delta == -600
    lat3, lon3 = h3.cell_to_latlng(cells[3])
    added = what_if(model, "training", mode="walk", minutes=10, add=([lon3], [lat3]))
    assert added.delta == 900 and added.added[0]["newly_covered_alone"] == 900
    lat0, lon0 = h3.cell_to_latlng(cells[0])
    moved_back = what_if(model, "training", mode="walk", minutes=10, close=[1], add=([lon0], [lat0]))
    assert moved_back.delta == 0
    changes = added.district_changes().set_index("adcode")
    assert changes.loc["B", "change"] == 900 and changes.loc["A", "change"] == 0
    with pytest.raises(NotFoundError):
        what_if(model, "training", mode="walk", minutes=10, close=[99])
    with pytest.raises(InvalidParameterError) as err:
        what_if(model, "training", mode="walk", minutes=10, close=[2])
    assert err.value.code == "not_in_category"
    with pytest.raises(InvalidParameterError) as err:
        what_if(model, "training", mode="walk", minutes=10)
    assert err.value.code == "empty_what_if"


# ---------------------------------------------------------------------------------------------- HTTP


@pytest.fixture(scope="module")
def http(client, demo_network):
    return client


def _error(resp, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()["error"]
    assert body["code"] == code and body["message_zh"] and body["message_en"]


def test_api_plan_table(http) -> None:
    body = http.get("/api/v1/plan/table", params={"city": "jiaxing"}).json()
    assert (
        body["estimate"] is True
        and body["sample"] is True
        and set(body["estimate_modes"])
        == {
            "walk",
            "bicycle",
            "ebike",
            "car",
        }
    )
    assert len(body["rows"]) == 6 * 4 * 4
    for row in body["rows"]:
        assert row["covered"] + row["uncovered"] == row["population"] == 5_400_868
    one = http.get(
        "/api/v1/coverage", params={"city": "jiaxing", "category": "studio", "mode": "car", "minutes": 20}
    ).json()
    row = next(r for r in body["rows"] if (r["category"], r["mode"], r["minutes"]) == ("studio", "car", 20))
    assert row["covered"] == one["total"]["covered"]
    towns = http.get(
        "/api/v1/plan/table",
        params={"city": "demo", "level": "town", "categories": "training", "modes": "walk", "thresholds": "10,30"},
    ).json()
    assert towns["estimate"] is False and len(towns["rows"]) == 2 * 4
    _error(http.get("/api/v1/plan/table", params={"modes": "plane"}), 422, "invalid_modes")
    _error(http.get("/api/v1/plan/table", params={"thresholds": "0,500"}), 422, "invalid_minutes")
    _error(http.get("/api/v1/plan/table", params={"categories": "bakery"}), 422, "unknown_category")


def test_api_plan_suggest_greedy_and_exact(http, admin_token) -> None:
    body = {"category": "evaluation", "mode": "ebike", "minutes": 15, "k": 3, "method": "both"}
    # an exact solve is costly work: a plan:heavy token is needed (admin holds every scope)
    _error(http.post("/api/v1/plan/suggest", params={"city": "jiaxing"}, json=body), 401, "token_required")
    auth = {"Authorization": f"Bearer {admin_token}"}
    resp = http.post("/api/v1/plan/suggest", params={"city": "jiaxing"}, json=body, headers=auth)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["estimate"] is True and "estimate" in out["notice"] and out["sample"] is True
    assert out["exact"]["optimal"] is True and out["exact"]["covered"] >= out["greedy"]["covered"]
    assert out["greedy"]["covered"] >= math.floor(GREEDY_GUARANTEE * out["exact"]["covered"])
    assert out["greedy"]["upper_bound"] >= out["exact"]["covered"]
    assert out["newly_covered"] == out["exact"]["covered"] == sum(s["newly_covered"] for s in out["sites"])
    assert out["after"]["total"]["covered"] == out["before"]["total"]["covered"] + out["newly_covered"]
    assert len(out["sites"]) == 3 and all(s["district"] for s in out["sites"])
    # greedy gains never increase (submodularity)
    gains = [s["newly_covered"] for s in out["sites"]]
    assert gains == sorted(gains, reverse=True)
    demo = http.post(
        "/api/v1/plan/suggest",
        params={"city": "demo"},
        json={
            "category": "studio",
            "mode": "walk",
            "minutes": 4,  # the demo's 10 studios leave gaps at 4 minutes (at 10 they reach every cell)
            "k": 1,
            "candidates": [{"lat": 60.1700, "lon": 24.9400, "label": "library"}, {"lat": 60.1760, "lon": 24.9500}],
        },
    ).json()
    assert demo["estimate"] is False and demo["candidates"]["total"] == 2, demo
    assert demo["sites"], demo
    assert demo["sites"][0]["label"] in ("library", "#2")


def test_api_plan_suggest_bad_input(http, admin_token) -> None:
    url, city = "/api/v1/plan/suggest", {"city": "jiaxing"}
    base = {"category": "evaluation", "mode": "ebike", "minutes": 15}
    _error(http.post(url, params=city, json={**base, "k": 0}), 422, "invalid_parameter")
    auth = {"Authorization": f"Bearer {admin_token}"}
    _error(http.post(url, params=city, json={**base, "k": 20, "method": "exact"}, headers=auth), 422, "invalid_k")
    _error(http.post(url, params=city, json={**base, "method": "magic"}), 422, "invalid_parameter")
    _error(http.post(url, params=city, json={**base, "category": "bakery"}), 422, "unknown_category")
    far = {**base, "candidates": [{"lat": 39.9, "lon": 116.4}]}
    _error(http.post(url, params=city, json=far), 422, "outside_service_area")
    _error(
        http.post(url, params=city, content=b"not json", headers={"content-type": "application/json"}),
        422,
        "invalid_parameter",
    )


def test_api_plan_whatif(http) -> None:
    from sqlalchemy import select

    from geo.db import session_scope
    from geo.models import Resource

    with session_scope() as s:
        rid = s.scalar(select(Resource.id).where(Resource.city == "jiaxing", Resource.category == "base").limit(1))
        other = s.scalar(select(Resource.id).where(Resource.city == "jiaxing", Resource.category == "studio").limit(1))
    url = "/api/v1/plan/whatif"
    body = {"category": "base", "mode": "car", "minutes": 20, "close": [rid]}
    out = http.post(url, params={"city": "jiaxing"}, json=body).json()
    assert out["change"] <= 0 and out["after"]["covered"] == out["before"]["covered"] + out["change"]
    assert sum(d["change"] for d in out["districts"]) == out["change"] and out["estimate"] is True
    add = http.post(
        url, params={"city": "jiaxing"}, json={**body, "close": [], "add": [{"lat": 30.52, "lon": 120.93}]}
    ).json()
    assert add["change"] == add["added"][0]["newly_covered_alone"] >= 0
    _error(http.post(url, params={"city": "jiaxing"}, json={**body, "close": [2**30]}), 404, "not_found")
    _error(http.post(url, params={"city": "jiaxing"}, json={**body, "close": [other]}), 422, "not_in_category")
    _error(http.post(url, params={"city": "jiaxing"}, json={**body, "close": []}), 422, "empty_what_if")


def test_api_plan_access_2sfca(http) -> None:
    out = http.get(
        "/api/v1/plan/access", params={"city": "jiaxing", "category": "training", "mode": "ebike", "minutes": 15}
    ).json()
    assert out["estimate"] is True and out["missing_supply"] == 0
    seats_out = sum(d["seats_per_1000"] * d["population"] / 1000 for d in out["districts"])
    seats_in = sum(r["seats"] for r in out["resources"] if r["catchment_population"] > 0)
    assert seats_out == pytest.approx(seats_in, rel=1e-3)  # every seat shared out exactly once
    assert all(d["crowded"] + d["no_access"] <= d["population"] for d in out["districts"])
    classes = http.get(
        "/api/v1/plan/access",
        params={"city": "demo", "category": "all", "mode": "walk", "minutes": 10, "supply": "classes", "grid": 1},
    ).json()
    assert classes["estimate"] is False and len(classes["grid"]["features"]) > 100
    _error(http.get("/api/v1/plan/access", params={"supply": "beds"}), 422, "invalid_parameter")


def test_api_plan_exports(http, tmp_path) -> None:
    import pandas as pd
    import pyogrio
    from openpyxl import load_workbook
    from PIL import Image

    params = {"city": "demo", "category": "training", "mode": "walk", "minutes": 15}
    got = {}
    for fmt in ("gpkg", "geojson", "isochrones.geojson", "districts.csv", "towns.csv", "xlsx", "png", "pdf"):
        resp = http.get("/api/v1/plan/export", params={**params, "format": fmt})
        assert resp.status_code == 200, (fmt, resp.text[:300])
        assert resp.headers["x-skillcircle-sample"] == "true" and resp.headers["x-skillcircle-estimate"] == "false"
        assert f".{fmt}" in resp.headers["content-disposition"]
        got[fmt] = resp.content
    (tmp_path / "c.gpkg").write_bytes(got["gpkg"])
    assert {"grid", "coverage_bands", "isochrones", "districts", "towns"} <= {
        name for name, _ in pyogrio.list_layers(tmp_path / "c.gpkg")
    }
    import json

    fc = json.loads(got["geojson"])
    assert fc["type"] == "FeatureCollection" and {"minutes", "covered_15", "population"} <= set(
        fc["features"][0]["properties"]
    )
    districts = pd.read_csv(io.BytesIO(got["districts.csv"]), encoding="utf-8-sig")
    assert set(districts["mode"]) == {"walk", "bicycle", "ebike", "car"}
    assert load_workbook(io.BytesIO(got["xlsx"]), read_only=True).sheetnames[0] == "说明 notes"
    with Image.open(io.BytesIO(got["png"])) as img:
        assert img.format == "PNG" and img.size[0] > 1000
    assert got["pdf"].startswith(b"%PDF")
    jx = http.get("/api/v1/plan/export", params={"city": "jiaxing", "format": "districts.csv", "category": "base"})
    assert jx.headers["x-skillcircle-estimate"] == "true"
    # the flags travel inside the files, not only in the headers
    jx_rows = pd.read_csv(io.BytesIO(jx.content), encoding="utf-8-sig")
    assert jx_rows["sample"].all() and jx_rows["estimate"].all()
    assert (
        set(jx_rows["population_surface"]) == {"model"} and jx_rows["population_source"].str.contains("GeoNames").all()
    )
    for feat in fc["features"][:5] + json.loads(got["isochrones.geojson"])["features"][:5]:
        props = feat["properties"]
        assert props["sample"] is True and props["population_surface"] == "model" and "estimate" in props
    towns_csv = pd.read_csv(io.BytesIO(got["towns.csv"]), encoding="utf-8-sig")
    assert {"sample", "estimate", "population_surface", "approximate"} <= set(towns_csv.columns)
    _error(http.get("/api/v1/plan/export", params={**params, "format": "docx"}), 422, "invalid_format")


# ---------------------------------------------------------------------------------------------- CLI


def test_cli_plan_commands(jiaxing_sample, demo_sample, demo_network, tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from api.cli import app

    runner = CliRunner()
    help_text = runner.invoke(app, ["plan", "--help"]).output
    assert all(cmd in help_text for cmd in ("coverage", "suggest", "whatif", "access", "export"))
    for cmd in ("coverage", "suggest", "whatif", "access", "export"):
        assert runner.invoke(app, ["plan", cmd, "--help"]).exit_code == 0
    out = runner.invoke(
        app, ["plan", "coverage", "demo", "-c", "training", "-m", "walk", "-t", "10", "-t", "30", "--json"]
    )
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout.strip().splitlines()[-1])
    assert [(r["minutes"], r["estimate"]) for r in rows] == [(10, False), (30, False)]
    cands = tmp_path / "candidates.csv"
    cands.write_text("lon,lat,label\n120.93,30.52,site A\n120.70,30.80,site B\n", encoding="utf-8")
    out = runner.invoke(
        app,
        ["plan", "suggest", "jiaxing", "-c", "base", "-m", "car", "-t", "15", "-k", "1", "--candidates", str(cands)],
    )
    assert out.exit_code == 0, out.output
    assert "site " in out.stdout and "greedy:" in out.stdout
    assert "[estimate]" in out.output and "[sample]" in out.output  # the caveats are printed (stderr)
    out = runner.invoke(
        app, ["plan", "whatif", "jiaxing", "-c", "base", "-m", "car", "--add", "30.52,120.93", "--json"]
    )
    assert out.exit_code == 0, out.output
    change = json.loads(out.stdout.strip().splitlines()[-1])
    assert change["after"]["covered"] - change["before"]["covered"] == change["change"] >= 0
    out = runner.invoke(app, ["plan", "access", "demo", "-c", "all", "-m", "walk", "-t", "10"])
    assert out.exit_code == 0 and "seats per 1,000 residents" in out.stdout
    out = runner.invoke(
        app,
        [
            "plan",
            "export",
            "demo",
            "-o",
            str(tmp_path / "out"),
            "-c",
            "studio",
            "-m",
            "walk",
            "-f",
            "xlsx",
            "-f",
            "png",
        ],
    )
    assert out.exit_code == 0, out.output
    assert sorted(p.suffix for p in (tmp_path / "out").iterdir()) == [".png", ".xlsx"]
    bad = runner.invoke(app, ["plan", "suggest", "jiaxing", "-c", "bakery"])
    assert bad.exit_code == 2 and "unknown_category" in bad.output
    bad = runner.invoke(app, ["plan", "whatif", "jiaxing", "-c", "base", "--add", "nonsense"])
    assert bad.exit_code != 0
