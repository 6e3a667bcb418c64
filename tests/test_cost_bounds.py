"""Bounded public costs: the /coverage answer cache is bounded by bytes, and costly planner work (exact
solves, grids finer than the city's default) needs a ``plan:heavy`` token and stops at a time limit.
"""

from __future__ import annotations

import pytest

from geo.config import get_settings


@pytest.fixture
def http(client, demo_network):
    return client


@pytest.fixture
def settings_env(monkeypatch):
    """Change settings through the environment for one test, then restore them (and the caches)."""
    from api.services import coverage

    def apply(**values: str) -> None:
        for key, value in values.items():
            monkeypatch.setenv(f"SKILLCIRCLE_{key.upper()}", value)
        get_settings.cache_clear()
        coverage.clear_cache()

    yield apply
    monkeypatch.undo()
    get_settings.cache_clear()
    coverage.clear_cache()


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_coverage_answer_cache_is_bounded_by_bytes(http, settings_env) -> None:
    from api.services.coverage import answer_cache_usage, model_cache_usage

    settings_env(coverage_cache_mb="0.25")
    budget = answer_cache_usage()[2]
    assert budget == int(0.25 * 1024 * 1024)
    sizes = []
    for minutes in range(5, 31):
        params = {"city": "demo", "category": "training", "mode": "walk", "minutes": minutes, "grid": "true"}
        first = http.get("/api/v1/coverage", params=params)
        assert first.status_code == 200, first.text
        sizes.append(len(first.content))
        kept, used, limit = answer_cache_usage()
        assert used <= limit == budget and kept >= 1
        again = http.get("/api/v1/coverage", params=params)  # served from the cache, byte for byte
        assert again.content == first.content
    assert sum(sizes) > 2 * budget, "the test must overflow the budget to mean anything"
    kept, used, _ = answer_cache_usage()
    assert kept < len(sizes) and used <= budget
    models, weight, model_budget = model_cache_usage()
    assert models >= 1 and weight <= model_budget == budget
    # an answer larger than the whole budget is answered, never kept
    settings_env(coverage_cache_mb="0.001")
    params = {"city": "demo", "category": "all", "mode": "walk", "minutes": 10, "grid": "true"}
    big = http.get("/api/v1/coverage", params=params)
    assert big.status_code == 200 and len(big.content) > 1024 and answer_cache_usage()[:2] == (0, 0)
    assert model_cache_usage()[:2] == (0, 0)  # nor is a model that may outgrow the budget
    # the grid in another crs is converted on a copy: the cached wgs84 answer stays as it was
    settings_env(coverage_cache_mb="16")
    params = {"city": "jiaxing", "category": "studio", "mode": "car", "minutes": 10, "grid": "true"}
    wgs = http.get("/api/v1/coverage", params=params).json()
    gcj = http.get("/api/v1/coverage", params={**params, "crs": "gcj02"}).json()
    assert http.get("/api/v1/coverage", params=params).json() == wgs
    assert gcj["grid"]["features"][0]["geometry"] != wgs["grid"]["features"][0]["geometry"]


def test_fine_grid_needs_a_plan_heavy_token(http, admin_token) -> None:
    from geo.cities import load_city
    from geo.db import session_scope
    from geo.population import default_resolution
    from geo.tokens import create_token

    fine = default_resolution(load_city("jiaxing")) + 1
    params = {"city": "jiaxing", "category": "studio", "mode": "ebike", "minutes": 15, "resolution": fine}
    r = http.get("/api/v1/coverage", params=params)
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_required", r.text
    assert "plan:heavy" in r.json()["error"]["message_zh"]
    with session_scope() as s:
        codes_only = create_token(s, name="cost-codes-only", scopes=["codes:write"])
        heavy = create_token(s, name="cost-heavy", scopes=["plan:heavy"])
    r = http.get("/api/v1/coverage", params=params, headers=_auth(codes_only))
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = http.get("/api/v1/coverage", params=params, headers=_auth(heavy))
    assert r.status_code == 200, r.text
    # the default and coarser grids stay public
    assert http.get("/api/v1/coverage", params={**params, "resolution": fine - 1}).status_code == 200
    for path in ("/api/v1/plan/table", "/api/v1/plan/access"):
        r = http.get(path, params={"city": "jiaxing", "resolution": fine})
        assert r.status_code == 401 and r.json()["error"]["code"] == "token_required", (path, r.text)
    body = {"category": "studio", "mode": "ebike", "minutes": 15, "resolution": fine}
    for path in ("/api/v1/plan/suggest", "/api/v1/plan/whatif"):
        r = http.post(path, params={"city": "jiaxing"}, json=body)
        assert r.status_code == 401 and r.json()["error"]["code"] == "token_required", (path, r.text)


def test_exact_solve_needs_a_token_and_stops_at_the_time_limit(http, settings_env, monkeypatch) -> None:
    from api.routers import plan
    from geo.db import session_scope
    from geo.tokens import create_token

    body = {"category": "evaluation", "mode": "ebike", "minutes": 15, "k": 2, "method": "exact"}
    r = http.post("/api/v1/plan/suggest", params={"city": "jiaxing"}, json=body)
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_required"
    assert "exact" in r.json()["error"]["message_en"]
    r = http.post("/api/v1/plan/suggest", params={"city": "jiaxing"}, json={**body, "method": "greedy"})
    assert r.status_code == 200  # greedy stays public
    with session_scope() as s:
        heavy = create_token(s, name="cost-exact", scopes=["plan:heavy"])
    settings_env(exact_time_limit_s="3.5")
    seen = []
    real = plan.suggest_sites

    def spy(*args, **kwargs):
        seen.append(kwargs.get("time_limit"))
        return real(*args, **kwargs)

    monkeypatch.setattr(plan, "suggest_sites", spy)
    r = http.post("/api/v1/plan/suggest", params={"city": "jiaxing"}, json=body, headers=_auth(heavy))
    assert r.status_code == 200, r.text
    assert seen == [3.5] and r.json()["exact"] is not None
