"""The province embed over HTTP: ``/embed?city=zhejiang`` and ``/embed/snippet?city=zhejiang``.

As a portal uses them: the embed answers 200 with the CSP ``frame-ancestors`` of every embed (``'self'``
plus the configured portal origins, malformed ones dropped), names every member city, lists the
cities without a pack with their reason below the map, carries the sample and estimate notices and the
"open the full map" link, and has no page chrome. The snippet page offers the province in its city
choice. Bad parameters get the map pages' stable 4xx codes, as the ``map_error`` page for browsers.
"""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from geo.config import get_settings
from tests._province import PROVINCE, page_config, province_members

ORIGINS = ["https://zwfw.zj.example.gov.cn", "https://*.portal.example.cn", "bad origin; script-src *"]


@pytest.fixture(scope="module")
def members() -> dict[str, object]:
    return province_members()


def _foot(html: str) -> str:
    return html.split('<footer class="sc-embed-foot" id="sc-notes">')[1].split("</footer>")[0]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_province_embed_is_the_province_map_without_chrome(client, members, monkeypatch, lang):
    monkeypatch.setattr(get_settings(), "embed_origins", ORIGINS)
    r = client.get(f"/embed?city={PROVINCE}&basemap=none&lang={lang}")
    assert r.status_code == 200, r.text[:500]
    csp = r.headers["content-security-policy"]
    ancestors = re.search(r"frame-ancestors ([^;]+)", csp).group(1).split()
    assert ancestors == ["'self'", ORIGINS[0], ORIGINS[1]]  # the malformed origin is dropped
    assert "default-src 'self'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    html = r.text
    assert (f'<html lang="{"en" if lang == "en" else "zh-CN"}">') in html
    assert 'class="sc-header"' not in html and 'class="sc-nav"' not in html  # no page chrome
    assert "sc-page-province-embed sc-page-embed" in html and "/static/province.js?v=" in html
    pack = members["pack"]
    names = {m.key: m.name_zh for m in pack.cities}
    config = page_config(html)
    if lang == "en":
        names = {c["key"]: c["name"] for c in config["province"]["cities"] + config["province"]["missing"]}
        assert "Jiaxing" in names.values() and "Wenzhou" in names.values()
    jump = html.split('id="sc-province-jump"')[1].split("</select>")[0]
    for key, name in names.items():  # every one of the 11 cities is named, and offered in "go to city"
        assert f'<option value="{key}">{name}' in jump, (key, name)
    assert config["page"] == "province-embed" and config["embed"] is True
    assert config["province"]["key"] == PROVINCE and config["lang"] == lang
    # every district and outline of the cities with a pack; the others grey, with their reason
    assert [f["properties"]["city"] for f in config["layers"]["cities"]["features"]] == members["loaded"]
    assert {f["properties"]["city"] for f in config["layers"]["missing"]["features"]} == set(members["missing"])
    assert all(f["properties"]["reason"] for f in config["layers"]["missing"]["features"])
    foot = _foot(html)
    kinds = re.findall(r'data-kind="([a-z]+)"', foot)
    assert kinds[:2] == ["sample", "estimate"], kinds
    assert kinds.count("missing") == len(members["missing"])
    for key in members["missing"]:
        note = foot.split(f'data-city="{key}">')[1].split("</span>")[0]
        assert names[key] in unescape(note) and ("no pack yet" if lang == "en" else "尚无数据包") in note
    # the full map, same view, in a new window
    link = re.search(r'<a class="sc-full-link" href="([^"]+)" target="_blank" rel="noopener">', foot).group(1)
    assert parse_qs(urlsplit(unescape(link)).query) == {
        "city": [PROVINCE],
        "lang": [lang],
        "basemap": ["none"],
        "mode": ["ebike"],
    }
    assert urlsplit(unescape(link)).path == "/map"


def test_province_embed_keeps_the_view_and_the_category(client, members):
    from sqlalchemy import func, select

    from geo.db import session_scope
    from geo.models import Resource

    r = client.get(f"/embed?city={PROVINCE}&basemap=none&category=training&center=30.75,120.76&zoom=9")
    assert r.status_code == 200
    config = page_config(r.text)
    assert config["fit"] is False
    with session_scope() as s:
        expected = s.scalar(
            select(func.count(Resource.id)).where(Resource.city.in_(members["loaded"]), Resource.category == "training")
        )
    assert len(config["resources"]) == expected > 0
    assert {item["category"] for item in config["resources"]} == {"training"}
    assert list(config["categories"]) == ["training"]
    link = unescape(re.search(r'class="sc-full-link" href="([^"]+)"', r.text).group(1))
    query = parse_qs(urlsplit(link).query)
    assert query["category"] == ["training"] and query["center"] == ["30.75,120.76"] and query["zoom"] == ["9"]
    # the full map it opens honours the same choice
    full = page_config(client.get(link).text)
    assert full["page"] == "province" and len(full["resources"]) == expected


def test_snippet_page_offers_the_province(client, members):
    r = client.get(f"/embed/snippet?city={PROVINCE}")
    assert r.status_code == 200, r.text[:300]
    html = r.text
    select_ = html.split('<select name="city">')[1].split("</select>")[0]
    pack = members["pack"]
    assert re.search(rf'<option value="{PROVINCE}" data-province="1"[^>]* selected>{pack.name_zh}</option>', select_)
    assert '<option value="jiaxing"' in select_ and "<optgroup" in select_
    assert re.search(r'<select name="skill" disabled>', html)  # a province embed has no skill filter
    center = f"{pack.center[0]},{pack.center[1]}"
    assert f'placeholder="{center}"' in html and f'placeholder="{pack.zoom}"' in html
    assert page_config(html)["city"] == PROVINCE
    # a city's snippet page offers the province too, and keeps its own choice
    city = client.get("/embed/snippet?city=jiaxing").text
    assert re.search(r'<option value="jiaxing"[^>]* selected>', city)
    assert f'<option value="{PROVINCE}" data-province="1"' in city and '<select name="skill" >' in city
    # the province pages link their snippet page, and so does the home page
    assert f"/embed/snippet?city={PROVINCE}&amp;lang=zh" in client.get(f"/map?city={PROVINCE}&basemap=none").text
    assert f"/embed/snippet?city={PROVINCE}&amp;lang=zh" in client.get("/?lang=zh").text


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("/embed?city=zhejiang&lang=fr", 422, "invalid_lang"),
        ("/embed?city=zhejiang&basemap=google", 422, "unknown_basemap"),
        ("/embed?city=zhejiang&zoom=25", 422, "invalid_zoom"),
        ("/embed?city=zhejiang&zoom=x", 422, "invalid_zoom"),
        ("/embed?city=zhejiang&center=abc", 422, "invalid_center"),
        ("/embed?city=zhejiang&center=39.9,116.4", 422, "outside_service_area"),
        ("/embed?city=zhejiang&center=95,120", 422, "invalid_coordinates"),
        ("/embed?city=zhejiang&mode=plane", 422, "unknown_mode"),
        ("/embed?city=zhejiang&category=bakery", 422, "unknown_category"),
        ("/embed?city=zhejiang-province", 404, "unknown_city"),
        ("/embed?city=zhejiang&basemap=" + "x" * 300, 422, "invalid_parameter"),
        ("/embed/snippet?city=zhejiang&lang=fr", 422, "invalid_lang"),
        ("/embed/snippet?city=zhejiang&mode=plane", 422, "unknown_mode"),
    ],
)
def test_bad_province_embed_parameters_are_clear_4xx(client, query, status, code):
    r = client.get(query)
    assert r.status_code == status, r.text
    body = r.json()["error"]
    assert body["code"] == code and body["message_zh"] and body["message_en"]
    html = client.get(query, headers={"Accept": "text/html"})
    assert html.status_code == status
    assert f'data-error-code="{code}"' in html.text and body["message_zh"][:10] in html.text
    # the error page of an embed is framed by this site only, like a city embed's
    assert "frame-ancestors 'self'" in html.headers["content-security-policy"]
