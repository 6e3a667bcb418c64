"""Start-up warm-up (``SKILLCIRCLE_WARM_UP``): a server process builds the named cities' coverage models
as it starts, so the first planner answer does not; ``/healthz`` shows its progress, ``/metrics`` the
models built."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.services.coverage import clear_cache
from api.state import reset_runtimes
from api.warmup import warm_up_cities
from geo.config import get_settings
from tests._province import PROVINCE, province_members

COVERAGE = {"city": "demo", "category": "training", "mode": "walk", "minutes": 15}


def _models_built(client: TestClient, city: str) -> float:
    text = client.get("/metrics").text
    found = re.search(rf'^skillcircle_coverage_models_built_total\{{city="{city}"\}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def _fresh_client() -> TestClient:
    clear_cache()  # no model left from an earlier test in this process
    reset_runtimes()
    return TestClient(create_app())


def test_warm_up_builds_the_models_before_the_first_request(demo_sample, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "warm_up", ["demo", "no-such-place"])
    with _fresh_client() as client:
        client.app.state.warm_up.join(timeout=600)
        warm = client.get("/healthz").json()["warm_up"]
        assert warm["status"] == "done" and warm["cities"] == ["demo"] and warm["unknown"] == ["no-such-place"]
        assert warm["seconds"] >= 0
        built = _models_built(client, "demo")
        assert built >= 1
        first = client.get("/api/v1/coverage", params=COVERAGE)
        assert first.status_code == 200 and first.json()["city"] == "demo"
        assert _models_built(client, "demo") == built  # answered from the warm model: nothing built


def test_without_warm_up_the_first_request_builds_its_model(demo_sample, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "warm_up", [])
    with _fresh_client() as client:
        assert client.get("/healthz").json()["warm_up"] == {"status": "off", "cities": [], "unknown": []}
        built = _models_built(client, "demo")
        assert client.get("/api/v1/coverage", params=COVERAGE).status_code == 200
        assert _models_built(client, "demo") == built + 1
        again = client.get("/api/v1/coverage", params=COVERAGE | {"minutes": 20})
        assert again.status_code == 200 and _models_built(client, "demo") == built + 1  # then cached


def test_a_province_stands_for_its_cities_with_a_pack_once_each() -> None:
    members = province_members()
    cities, unknown = warm_up_cities(["jiaxing", PROVINCE, "demo", "jiaxing", "wenzhou", "上海"])
    assert cities == ["jiaxing", *[k for k in members["loaded"] if k != "jiaxing"], "demo"]
    assert "wenzhou" in members["missing"] and "wenzhou" not in cities
    assert unknown == ["wenzhou", "上海"]  # neither a city pack nor a province pack
