"""``/api/v1/resources`` located-in filters (bbox, in_district, in_town) on the embedded SQLite path, by
HTTP; the PostGIS path gives the same answers (tests/test_postgis.py)."""

from __future__ import annotations

import shapely

from geo.boundaries import town_areas
from geo.cities import load_city


def _all(client, **params) -> dict:  # the TestClient
    return client.get("/api/v1/resources", params={"city": "jiaxing", "page_size": 500, **params}).json()


def test_located_in_filters(client) -> None:
    for district in ("南湖区", "330402", "桐乡市"):
        located = _all(client, in_district=district)
        assert located["total"] > 0
    # the sample's declared district is its polygon's: both filters agree
    assert _all(client, in_district="南湖区")["total"] == _all(client, district="南湖区")["total"]
    # a town's answer: exactly the resources whose points lie in its approximate area
    city = load_city("jiaxing")
    area = town_areas(city).set_index("name_zh").geometry["王店镇"]
    every = _all(client)["items"]
    expected = {r["id"] for r in every if shapely.intersects_xy(area, r["lon"], r["lat"])}
    got = {r["id"] for r in _all(client, in_town="王店镇")["items"]}
    assert got == expected and got
    boxed = _all(client, bbox="120.70,30.70,120.80,30.80")
    assert {r["id"] for r in boxed["items"]} == {
        r["id"] for r in every if 120.70 <= r["lon"] <= 120.80 and 30.70 <= r["lat"] <= 30.80
    }
    both = _all(client, bbox="120.70,30.70,120.80,30.80", in_district="南湖区")
    assert 0 < both["total"] <= boxed["total"]


def test_located_in_filters_reject_bad_input(client) -> None:
    for params, code in (
        ({"in_district": "朝阳区"}, "unknown_district"),
        ({"in_town": "不存在街道"}, "unknown_town"),
        ({"bbox": "121,31,120,30"}, "invalid_bbox"),
        ({"bbox": "1,2,3"}, "invalid_bbox"),
        ({"bbox": "100,20,130,40"}, "invalid_bbox"),
        ({"bbox": "nan,30,121,31"}, "invalid_bbox"),
    ):
        answer = client.get("/api/v1/resources", params={"city": "jiaxing", **params})
        assert answer.status_code == 422, params
        body = answer.json()["error"]
        assert body["code"] == code and body["message_zh"] and body["message_en"]
