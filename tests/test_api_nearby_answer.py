"""The answer ``/nearby`` writes itself (orjson around records serialised once): exactly the documented
schema, its ``view=compact`` form, and the per-request metrics and headers kept by the pure ASGI middleware."""

from __future__ import annotations

import gzip

import pytest

from api.schemas import NearbyResponse, ResourceBrief, ResourceOut
from geo.cities import load_city

DEMO = load_city("demo")
BRIEF_KEYS = set(ResourceBrief.model_fields)


@pytest.fixture(scope="module")
def routed(client, demo_network):
    """The client once the demo network is built."""
    return client


def _nearby(client, **params):
    lat, lon = DEMO.center
    resp = client.get("/api/v1/nearby", params={"city": "demo", "lat": lat, "lon": lon, "minutes": 20, **params})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    return resp


@pytest.mark.parametrize("params", [{}, {"crs": "gcj02", "lang": "en", "mode": "bicycle"}, {"mode": "car"}])
def test_full_answer_is_exactly_the_schema(routed, params: dict) -> None:
    body = _nearby(routed, **params).json()
    assert body["count"] == len(body["items"]) > 0
    # the body pydantic would have written for the same data: parsing it and writing it back changes nothing
    assert NearbyResponse.model_validate(body).model_dump(mode="json") == body
    for item in body["items"]:
        assert set(item["resource"]) == set(ResourceOut.model_fields)
        assert isinstance(item["distance_m"], float) and isinstance(item["minutes"], float)
    assert body["sample"] is True and body["notice"]["sample"]["en"].startswith("Sample data")
    assert body["origin"]["crs"] == params.get("crs", "wgs84")


def test_compact_view_lists_the_same_places_in_brief(routed) -> None:
    full = _nearby(routed, mode="walk", crs="bd09")
    compact = _nearby(routed, mode="walk", crs="bd09", view="compact")
    full_body, compact_body = full.json(), compact.json()
    assert NearbyResponse.model_validate(compact_body).model_dump(mode="json") == compact_body
    assert [(i["minutes"], i["resource"]["id"]) for i in compact_body["items"]] == [
        (i["minutes"], i["resource"]["id"]) for i in full_body["items"]
    ]
    for brief, whole in zip(compact_body["items"], full_body["items"], strict=True):
        assert set(brief["resource"]) == BRIEF_KEYS
        assert brief["resource"] == {k: whole["resource"][k] for k in BRIEF_KEYS}  # bd09 points too
    assert len(compact.content) < 0.5 * len(full.content)
    assert {k: v for k, v in compact_body.items() if k != "items"} == {
        k: v for k, v in full_body.items() if k != "items"
    }


def test_view_is_documented_and_checked(routed) -> None:
    spec = routed.get("/api/v1/openapi.json").json()
    params = {p["name"]: p for p in spec["paths"]["/api/v1/nearby"]["get"]["parameters"]}
    assert params["view"]["schema"]["enum"] == ["full", "compact"]
    assert "compact" in params["view"]["description"]
    lat, lon = DEMO.center
    resp = routed.get("/api/v1/nearby", params={"city": "demo", "lat": lat, "lon": lon, "view": "tiny"})
    assert resp.status_code == 422
    error = resp.json()["error"]
    assert error["code"] == "invalid_parameter" and "view" in error["message_en"] and error["message_zh"]


def test_large_answers_are_gzipped_for_clients_that_accept_it(routed) -> None:
    plain = _nearby(routed, mode="ebike")
    lat, lon = DEMO.center
    params = {"city": "demo", "lat": lat, "lon": lon, "minutes": 20, "mode": "ebike"}
    with routed.stream("GET", "/api/v1/nearby", params=params, headers={"Accept-Encoding": "gzip"}) as resp:
        raw = b"".join(resp.iter_raw())
        assert resp.headers["content-encoding"] == "gzip"
    assert len(raw) < len(plain.content) / 3
    assert gzip.decompress(raw) == plain.content


def test_headers_and_metrics_on_every_answer(routed) -> None:
    resp = _nearby(routed)
    assert resp.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert "nonce-" not in resp.headers["content-security-policy"]
    routed.get("/api/v1/no-such-endpoint")
    metrics = routed.get("/metrics").text
    assert 'route="/api/v1/nearby",status="200"' in metrics
    assert 'route="unmatched",status="404"' in metrics
    assert 'skillcircle_http_request_seconds_count{route="/api/v1/nearby"}' in metrics
