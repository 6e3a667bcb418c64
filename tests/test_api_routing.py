"""``/nearby`` and ``/isochrones`` over HTTP: real routing on the demo city, flagged estimates for Jiaxing."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import Point, shape

from geo.cities import load_city
from geo.coords import from_wgs84

DEMO = load_city("demo")


@pytest.fixture(scope="module")
def routed(client, demo_network):
    """The client once the demo network is built."""
    return client


def _error(resp, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code


def test_nearby_demo_is_routed_sorted_and_matches_a_fresh_search(routed) -> None:
    lat, lon = DEMO.center
    body = routed.get(
        "/api/v1/nearby", params={"city": "demo", "lat": lat, "lon": lon, "mode": "walk", "minutes": 30}
    ).json()
    assert body["estimate"] is False and body["sample"] is True
    assert "sample" in body["notice"] and "estimate" not in body["notice"]
    minutes = [i["minutes"] for i in body["items"]]
    assert minutes == sorted(minutes) and body["count"] > 0 and max(minutes) <= 30
    from api.state import get_runtime

    rt = get_runtime("demo")
    fresh = rt.engine.nearby_fresh(lon, lat, mode="walk", minutes=30)
    assert [h.resource_id for h in fresh][:5] == [i["resource"]["id"] for i in body["items"]][:5]
    np.testing.assert_allclose([h.seconds / 60 for h in fresh][: len(minutes)], minutes, atol=0.051)


def test_nearby_filters_by_category_and_skill(routed) -> None:
    lat, lon = DEMO.center
    base = {"city": "demo", "lat": lat, "lon": lon, "mode": "bicycle", "minutes": 60}
    studios = routed.get("/api/v1/nearby", params={**base, "category": "studio"}).json()
    assert studios["count"] > 0 and {i["resource"]["category"] for i in studios["items"]} == {"studio"}
    skill = studios["items"][0]["resource"]["skills"][0]["name"]
    by_skill = routed.get("/api/v1/nearby", params={**base, "skill": skill}).json()
    assert all(skill in [s["name"] for s in i["resource"]["skills"]] for i in by_skill["items"])
    _error(routed.get("/api/v1/nearby", params={**base, "skill": "驯龙师"}), 422, "unknown_skill")


def test_nearby_gcj02_in_and_out(routed) -> None:
    lat, lon = 30.754, 120.759
    glon, glat = (float(v) for v in from_wgs84(lon, lat, crs="gcj02"))
    wgs = routed.get("/api/v1/nearby", params={"lat": lat, "lon": lon, "minutes": 30}).json()
    gcj = routed.get("/api/v1/nearby", params={"lat": glat, "lon": glon, "minutes": 30, "crs": "gcj02"}).json()

    def ranked(body: dict) -> list[tuple[float, int]]:
        return sorted((i["minutes"], i["resource"]["id"]) for i in body["items"])

    assert ranked(wgs) == ranked(gcj) and wgs["count"] > 0
    by_id = {i["resource"]["id"]: i["resource"] for i in gcj["items"]}
    first_w = wgs["items"][0]["resource"]
    first_g = by_id[first_w["id"]]
    exp = from_wgs84(first_w["lon"], first_w["lat"], crs="gcj02")
    assert abs(first_g["lon"] - float(exp[0])) < 1e-6


def test_jiaxing_without_network_is_a_flagged_estimate(routed) -> None:
    body = routed.get("/api/v1/nearby", params={"lat": 30.754, "lon": 120.759, "mode": "ebike"}).json()
    assert body["estimate"] is True and all(i["estimate"] for i in body["items"])
    assert "直线" in body["notice"]["estimate"]["zh"]
    iso = routed.get("/api/v1/isochrones", params={"lat": 30.754, "lon": 120.759, "minutes": "10,30"}).json()
    assert iso["estimate"] is True and iso["notice"]["en"].startswith("Estimate")


def test_isochrones_nested_and_resource_circles(routed) -> None:
    lat, lon = DEMO.center
    fc = routed.get(
        "/api/v1/isochrones", params={"city": "demo", "lat": lat, "lon": lon, "mode": "walk", "minutes": "5,10"}
    ).json()
    assert fc["type"] == "FeatureCollection" and fc["estimate"] is False
    bands = {f["properties"]["minutes"]: shape(f["geometry"]) for f in fc["features"]}
    assert set(bands) == {5, 10}
    assert bands[10].buffer(1e-6).contains(bands[5]) and bands[10].area > bands[5].area
    assert bands[5].contains(Point(lon, lat)) or bands[5].distance(Point(lon, lat)) < 5e-4
    rid = routed.get("/api/v1/resources", params={"city": "demo", "page_size": 1}).json()["items"][0]["id"]
    circle = routed.get(
        f"/api/v1/resources/{rid}/isochrones", params={"city": "demo", "mode": "walk", "minutes": "10"}
    ).json()
    assert circle["direction"] == "to" and circle["resource"]["id"] == rid and circle["features"]


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"lat": 95, "lon": 120}, 422, "invalid_parameter"),
        ({"lat": 39.9, "lon": 116.4}, 422, "outside_service_area"),
        ({"lat": 30.45, "lon": 121.0}, 422, "outside_service_area"),  # Hangzhou Bay: in the box, in no district
        ({"lat": 30.30, "lon": 120.80}, 422, "in_water"),  # Qiantang estuary: inside 海宁市's polygon, in water
        ({"lat": 30.75, "lon": 120.76, "mode": "rocket"}, 422, "invalid_parameter"),
        ({"lat": 30.75, "lon": 120.76, "minutes": 0}, 422, "invalid_parameter"),
        ({"lat": 30.75, "lon": 120.76, "minutes": 61}, 422, "invalid_parameter"),
        ({"lat": 30.75, "lon": 120.76, "category": "夜市"}, 422, "unknown_category"),
        ({"lat": 30.75, "lon": 120.76, "crs": "mars"}, 422, "invalid_parameter"),
        ({"lat": "north", "lon": 120.76}, 422, "invalid_parameter"),
    ],
)
def test_nearby_bad_input(routed, params: dict, status: int, code: str) -> None:
    _error(routed.get("/api/v1/nearby", params=params), status, code)


def test_water_points_are_refused_everywhere_a_point_is_taken(routed) -> None:
    """The estuary point lies inside a district polygon (an independent point-in-polygon check says so),
    yet every endpoint that takes a point refuses it with in_water and both messages."""
    from shapely.geometry import Point

    from geo.boundaries import districts
    from geo.cities import load_city

    frame = districts(load_city("jiaxing"))
    assert any(g.contains(Point(120.80, 30.30)) for g in frame.geometry)
    water = {"lat": 30.30, "lon": 120.80}
    for path in ("/api/v1/nearby", "/api/v1/isochrones"):
        resp = routed.get(path, params=water)
        _error(resp, 422, "in_water")
        body = resp.json()
        assert "水域" in body["error"]["message_zh"] and "water" in body["error"]["message_en"]


def test_isochrones_bad_minutes(routed) -> None:
    _error(
        routed.get("/api/v1/isochrones", params={"lat": 30.75, "lon": 120.76, "minutes": "10,99"}),
        422,
        "invalid_minutes",
    )
    _error(
        routed.get("/api/v1/isochrones", params={"lat": 30.75, "lon": 120.76, "minutes": "a"}), 422, "invalid_minutes"
    )


@pytest.mark.parametrize(
    ("city", "lat", "lon", "mode", "minutes"),
    [("jiaxing", 30.754, 120.759, "ebike", "10,30"), ("demo", DEMO.center[0], DEMO.center[1], "walk", "5,10")],
)
def test_isochrones_carry_population_per_band(
    routed, city: str, lat: float, lon: float, mode: str, minutes: str
) -> None:
    """``total_pop`` per band (openrouteservice's name), checked against a brute-force reference: it lies
    between the people of the grid cells wholly inside the band and those of every cell it touches,
    grows with the band, and the answer names its population surface."""
    from geo.cities import load_city
    from planning.grid import city_grid

    params = {"city": city, "lat": lat, "lon": lon, "mode": mode, "minutes": minutes}
    fc = routed.get("/api/v1/isochrones", params=params).json()
    assert fc["population_surface"]["kind"] == "model" and "model" in fc["population_surface"]["en"]
    grid = city_grid(load_city(city))
    pops = []
    for feat in sorted(fc["features"], key=lambda f: f["properties"]["minutes"]):
        band = shape(feat["geometry"])
        within = sum(int(p) for p, g in zip(grid["population"], grid.geometry, strict=True) if band.contains(g))
        touched = sum(int(p) for p, g in zip(grid["population"], grid.geometry, strict=True) if band.intersects(g))
        total = feat["properties"]["total_pop"]
        assert within <= total <= touched
        pops.append(total)
    assert pops == sorted(pops) and pops[-1] > 0
    rid = routed.get("/api/v1/resources", params={"city": city, "page_size": 1}).json()["items"][0]["id"]
    circle = routed.get(f"/api/v1/resources/{rid}/isochrones", params={"city": city, "mode": mode, "minutes": "10"})
    body = circle.json()
    assert body["population_surface"]["kind"] == "model"
    assert all(isinstance(f["properties"]["total_pop"], int) for f in body["features"])
