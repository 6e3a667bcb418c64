"""技能码: registry rules, the admin and public API, scan analytics, QR images and posters (decoded back
to their URL with zxing-cpp, a real QR decoder), zip export, and the ``skillcircle codes`` CLI.

The SVG is checked by rendering it with CairoSVG (a real SVG renderer) and decoding the raster; when
CairoSVG or its libcairo is missing the SVG is parsed as XML and that check is skipped with a reason.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from urllib.parse import parse_qs, unquote, urlparse
from xml.etree import ElementTree

import numpy as np
import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import inspect, select

from geo.clock import city_today

BASE = "http://testserver"


def _decode(png: bytes) -> list:
    img = Image.open(io.BytesIO(png)).convert("L")
    return zxingcpp.read_barcodes(img)


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _create(client, token: str, **body) -> dict:
    r = client.post("/api/v1/admin/skill-codes", json=body, headers=_auth(token))
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture(scope="module")
def city_codes(client, admin_token) -> dict[str, dict]:
    """One code of each kind in Jiaxing (estimate mode) and in the demo city."""
    jx_resource = client.get("/api/v1/resources", params={"city": "jiaxing", "category": "training"}).json()
    res = jx_resource["items"][0]
    skill = client.get("/api/v1/skills", params={"city": "jiaxing"}).json()[0]["name"]
    return {
        "place": _create(client, admin_token, city="jiaxing", target_type="place", district="南湖区", town="建设街道"),
        "resource": _create(client, admin_token, city="jiaxing", target_type="resource", resource_id=res["id"]),
        "skill": _create(client, admin_token, city="jiaxing", target_type="skill", skill=skill),
        "city": _create(client, admin_token, city="jiaxing", target_type="city"),
        "other_district": _create(client, admin_token, city="jiaxing", target_type="place", district="海宁市"),
    }


# ---------------------------------------------------------------------------------------------- registry
def test_codes_are_random_short_crockford_ids() -> None:
    from geo.skillcodes import ALPHABET, format_code, new_code, normalize_code

    codes = [new_code() for _ in range(2000)]
    assert len(set(codes)) == len(codes)
    assert all(len(c) == 8 and set(c) <= set(ALPHABET) for c in codes)
    # no sequence: consecutive codes share no common prefix structure beyond chance
    ints = np.array([int("".join(str(ALPHABET.index(ch)).zfill(2) for ch in c)) for c in codes[:200]])
    assert len(np.unique(np.diff(ints))) > 190
    # every symbol is used roughly uniformly (8 × 2000 draws over 32 symbols ≈ 500 each)
    counts = np.array([sum(c.count(s) for c in codes) for s in ALPHABET])
    assert counts.min() > 350 and counts.max() < 650
    code = codes[0]
    assert normalize_code(format_code(code).lower()) == code
    assert normalize_code("oiL0-1111") == "01101111"
    assert normalize_code("short") is None and normalize_code("../etc/passwd") is None


def test_place_codes_get_a_point_and_district(database, jiaxing_sample) -> None:
    from geo.boundaries import towns
    from geo.cities import load_city
    from geo.coords import from_wgs84
    from geo.db import session_scope
    from geo.skillcodes import Target, create_code

    city = load_city("jiaxing")
    t = towns(city)
    town = t[t["name_zh"] == "建设街道"].iloc[0]
    with session_scope() as s:
        by_town = create_code(s, city, Target(target_type="place", town="建设街道"), actor="test")
        assert (by_town.district, by_town.town) == ("南湖区", "建设街道")
        assert (by_town.lon, by_town.lat) == pytest.approx((town.geometry.x, town.geometry.y), abs=1e-6)
        assert by_town.title == "建设街道 附近的培训和评价"
        # a factory gate given in Amap (GCJ-02) coordinates is stored in WGS84
        glon, glat = from_wgs84(120.7555, 30.7466, crs="gcj02")
        gate = create_code(
            s,
            city,
            Target(target_type="place", place_name="某工业园区东门", lon=glon, lat=glat, crs="gcj02"),
            actor="test",
        )
        assert (gate.lon, gate.lat) == pytest.approx((120.7555, 30.7466), abs=1e-6)
        assert gate.district is not None and gate.place_name == "某工业园区东门"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"target_type": "place"}, "invalid_skill_code_target"),
        ({"target_type": "place", "district": "朝阳区"}, "unknown_district"),
        ({"target_type": "place", "town": "不存在街道"}, "unknown_town"),
        ({"target_type": "place", "place_name": "x", "lon": 116.4, "lat": 39.9}, "outside_service_area"),
        ({"target_type": "place", "place_name": "x", "lon": 120.7}, "invalid_coordinates"),
        ({"target_type": "skill", "skill": "火箭发射工"}, "unknown_skill"),
        ({"target_type": "resource"}, "invalid_skill_code_target"),
        ({"target_type": "resource", "resource_id": 2_000_000_000}, "not_found"),
        ({"target_type": "galaxy"}, "invalid_parameter"),
        ({"target_type": "city", "city": "atlantis"}, "unknown_city"),
        ({"target_type": "city", "unknown_field": 1}, "invalid_parameter"),
    ],
)
def test_bad_targets_are_clear_4xx(client, admin_token, body, code) -> None:
    r = client.post("/api/v1/admin/skill-codes", json={"city": "jiaxing", **body}, headers=_auth(admin_token))
    assert 400 <= r.status_code < 500, r.text
    err = r.json()["error"]
    assert err["code"] == code
    assert err["message_zh"] and err["message_en"]
    assert re.search(r"[\u4e00-\u9fff]", err["message_zh"])


def test_admin_api_needs_codes_scope(client, database) -> None:
    from geo.db import session_scope
    from geo.tokens import create_token

    with session_scope() as s:
        writer = create_token(s, name="resources-only", scopes=["resources:write"])
        coder = create_token(s, name="codes-writer", scopes=["codes:write"])
    assert client.get("/api/v1/admin/skill-codes").status_code == 401
    assert client.get("/api/v1/admin/skill-codes", headers=_auth(writer)).json()["error"]["code"] == "forbidden"
    made = _create(client, coder, city="jiaxing", target_type="city", title="全市技能码（测试）")
    assert made["title"] == "全市技能码（测试）"


# ---------------------------------------------------------------------------------------------- admin API
def test_create_list_patch_disable_enable_and_audit(client, admin_token, city_codes) -> None:
    code = city_codes["place"]["code"]
    assert city_codes["place"]["url"] == f"{BASE}/s/{code}"
    listed = client.get("/api/v1/admin/skill-codes", params={"city": "jiaxing"}, headers=_auth(admin_token)).json()
    assert {c["code"] for c in city_codes.values()} <= {c["code"] for c in listed}
    assert all(not c["broken"] for c in listed if c["code"] in {x["code"] for x in city_codes.values()})
    by_district = client.get(
        "/api/v1/admin/skill-codes", params={"city": "jiaxing", "district": "海宁市"}, headers=_auth(admin_token)
    ).json()
    assert city_codes["other_district"]["code"] in {c["code"] for c in by_district}
    assert code not in {c["code"] for c in by_district}

    r = client.patch(
        f"/api/v1/admin/skill-codes/{code}", json={"title": "建设街道 家门口的培训"}, headers=_auth(admin_token)
    )
    assert r.status_code == 200 and r.json()["title"] == "建设街道 家门口的培训"
    r = client.post(f"/api/v1/admin/skill-codes/{code.lower()}/disable", headers=_auth(admin_token))
    assert r.status_code == 200 and r.json()["enabled"] is False

    page = client.get(f"/s/{code}")
    assert page.status_code == 410
    assert "已停用" in page.text and 'href="/map' in page.text
    api = client.get(f"/api/v1/skill-codes/{code}")
    assert api.status_code == 410 and api.json()["error"]["code"] == "skill_code_disabled"
    assert client.get(f"/api/v1/skill-codes/{code}/qr.png").status_code == 410

    r = client.patch(f"/api/v1/admin/skill-codes/{code}", json={"enabled": True}, headers=_auth(admin_token))
    assert r.json()["enabled"] is True
    assert client.get(f"/s/{code}").status_code == 200

    entries = client.get(
        "/api/v1/admin/audit", headers=_auth(admin_token), params={"entity": "skill_code", "limit": 1000}
    ).json()
    actions = [e["action"] for e in entries if e["entity"] == "skill_code" and e["entity_id"] == code]
    assert {"create", "update", "disable", "enable"} <= set(actions)


def test_unknown_code_friendly_404_page_and_json(client) -> None:
    page = client.get("/s/ZZZZ9999")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "没有找到这个技能码" in page.text and 'href="/map' in page.text
    for bad in ("nonsense-code-that-is-long", "%3Cscript%3E"):
        r = client.get(f"/s/{bad}")
        assert r.status_code == 404 and "<script>" not in r.text
    api = client.get("/api/v1/skill-codes/ZZZZ9999")
    assert api.status_code == 404 and api.json()["error"]["code"] == "skill_code_not_found"


def test_bad_query_values_are_4xx(client, city_codes) -> None:
    code = city_codes["place"]["code"]
    page = client.get(f"/s/{code}", params={"mode": "rocket"})
    assert page.status_code == 422 and "出行方式" in page.text
    assert client.get(f"/api/v1/skill-codes/{code}", params={"mode": "rocket"}).status_code == 422
    r = client.get(f"/api/v1/skill-codes/{code}", params={"lat": 30.75})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_coordinates"
    r = client.get(f"/api/v1/skill-codes/{code}", params={"lat": 39.9, "lon": 116.4})
    assert r.status_code == 422 and r.json()["error"]["code"] == "outside_service_area"
    assert client.get(f"/s/{code}/live", params={"lat": 95, "lon": 120}).status_code == 422
    assert client.get(f"/api/v1/skill-codes/{code}/qr.png", params={"scale": 0}).status_code == 422


# ---------------------------------------------------------------------------------------------- the answer
def test_jiaxing_answer_is_an_estimate_with_notices_and_converted_map_links(client, city_codes) -> None:
    from api.skillcode_answer import NEAREST_LIMIT
    from geo.coords import from_wgs84

    code = city_codes["place"]["code"]
    a = client.get(f"/api/v1/skill-codes/{code}").json()
    assert a["estimate"] is True and a["sample"] is True
    assert set(a["notice"]) == {"sample", "estimate"}
    assert a["origin"]["source"] == "code" and a["target"]["type"] == "place"
    minutes = [p["minutes"] for p in a["nearest"]]
    assert minutes == sorted(minutes) and len(minutes) == NEAREST_LIMIT
    assert all(p["estimate"] for p in a["nearest"])
    assert [m["key"] for m in a["modes"]] == ["ebike", "walk", "bicycle", "car"]
    today = city_today("jiaxing").isoformat()  # the city's date, not the server's
    assert a["classes"] and all(c["seats_left"] > 0 and c["start_date"] >= today for c in a["classes"])
    assert all(e["seats_left"] > 0 and e["date"] >= today for e in a["evaluations"])
    for c in a["classes"]:
        assert ("晚间班" in c["marks"]) == (c["schedule"] == "evening")
        assert ("周末班" in c["marks"]) == (c["schedule"] == "weekend")
    assert a["signup"]["steps"] and a["signup"]["phone"]

    p = a["nearest"][0]
    lon, lat = p["resource"]["lon"], p["resource"]["lat"]
    glon, glat = from_wgs84(lon, lat, crs="gcj02")
    blon, blat = from_wgs84(lon, lat, crs="bd09")
    assert abs(glon - lon) > 1e-3  # in China the shift is real (hundreds of metres)
    amap = urlparse(p["navigate"]["amap"])
    assert amap.netloc == "uri.amap.com" and amap.path == "/marker"
    q = parse_qs(amap.query)
    alon, alat = map(float, q["position"][0].split(","))
    assert (alon, alat) == pytest.approx((glon, glat), abs=2e-6)
    assert q["name"] == [p["resource"]["name"]]
    baidu = urlparse(p["navigate"]["baidu"])
    q = parse_qs(baidu.query)
    assert baidu.netloc == "api.map.baidu.com" and q["coord_type"] == ["bd09ll"] and q["output"] == ["html"]
    blat_, blon_ = map(float, q["location"][0].split(","))
    assert (blon_, blat_) == pytest.approx((blon, blat), abs=2e-6)
    tencent = urlparse(p["navigate"]["tencent"])
    q = parse_qs(tencent.query)
    assert tencent.netloc == "apis.map.qq.com" and tencent.path == "/uri/v1/marker" and q["referer"]
    m = re.match(r"coord:([\d.]+),([\d.]+);title:(.*)", q["marker"][0])
    assert (float(m.group(2)), float(m.group(1))) == pytest.approx((glon, glat), abs=2e-6)
    assert unquote(m.group(3)).strip()


def test_mode_switch_and_phone_location_change_the_answer(client, city_codes) -> None:
    code = city_codes["place"]["code"]
    ebike = client.get(f"/api/v1/skill-codes/{code}").json()
    walk = client.get(f"/api/v1/skill-codes/{code}", params={"mode": "walk"}).json()
    assert walk["mode"] == "walk" and walk["mode_label"] == "步行"
    first = ebike["nearest"][0]["resource"]["id"]
    walk_times = {p["resource"]["id"]: p["minutes"] for p in walk["nearest"]}
    assert walk_times[first] > ebike["nearest"][0]["minutes"] * 3  # 4.5 vs 17 km/h
    phone = client.get(f"/api/v1/skill-codes/{code}", params={"lat": 30.52, "lon": 120.68}).json()
    assert phone["origin"]["source"] == "phone"
    assert phone["nearest"][0]["resource"]["id"] != first


def test_resource_skill_and_city_targets(client, city_codes) -> None:
    r = city_codes["resource"]
    a = client.get(f"/api/v1/skill-codes/{r['code']}").json()
    assert a["target_resource"]["resource"]["id"] == r["resource_id"]
    assert a["target_resource"]["minutes"] == pytest.approx(0, abs=0.1)
    assert all(p["resource"]["id"] != r["resource_id"] for p in a["nearest"])
    assert all(c["resource_id"] == r["resource_id"] for c in a["classes"])
    assert a["signup"]["resource_id"] == r["resource_id"]

    s = city_codes["skill"]
    a = client.get(f"/api/v1/skill-codes/{s['code']}").json()
    assert a["origin"]["source"] == "city_centre"
    assert a["nearest"] and all(s["skill"] in {k["name"] for k in p["resource"]["skills"]} for p in a["nearest"])
    assert all(c["skill"] == s["skill"] for c in a["classes"])

    c = city_codes["city"]
    page = client.get(f"/s/{c['code']}")
    assert page.status_code == 200 and "嘉兴" in page.text


def test_landing_page_html_is_small_chinese_and_self_hosted(client, city_codes) -> None:
    code = city_codes["place"]["code"]
    page = client.get(f"/s/{code}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<html lang="zh-CN">' in html and 'name="viewport"' in html
    for needle in ('id="nearest"', 'id="classes"', 'id="evaluations"', 'id="signup"', "怎么报名", "电动车"):
        assert needle in html
    assert 'id="estimate-notice"' in html and 'id="sample-notice"' in html
    srcs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', html)  # no CDN
    assets = [s for s in srcs if s.startswith("/static/")]
    assert len(assets) == 2
    total = len(page.content) + sum(len(client.get(s).content) for s in assets)
    assert total < 60_000, total
    mode_links = re.findall(r'data-mode="(\w+)" class="mode', html)
    assert mode_links == ["ebike", "walk", "bicycle", "car"]


def test_deleted_resource_makes_the_code_broken_and_retarget_repairs_it(client, admin_token) -> None:
    body = {
        "external_id": "SAMPLE-TEST-SKILLCODE-1",
        "name": "【示例】技能码测试培训点（样例数据）",
        "category": "training",
        "lon": 120.76,
        "lat": 30.75,
        "skills": [{"name": "电工"}],
        "is_sample": True,
    }
    r = client.post("/api/v1/admin/resources", params={"city": "jiaxing"}, json=body, headers=_auth(admin_token))
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    made = _create(client, admin_token, city="jiaxing", target_type="resource", resource_id=rid)
    code = made["code"]
    assert made["broken"] is False and made["title"] == body["name"]
    r = client.delete(f"/api/v1/admin/resources/{rid}", params={"city": "jiaxing"}, headers=_auth(admin_token))
    assert r.status_code == 204

    got = client.get(f"/api/v1/admin/skill-codes/{code}", headers=_auth(admin_token)).json()
    assert got["broken"] is True and got["broken_reason"] == "resource_deleted" and got["resource_id"] is None
    broken = client.get("/api/v1/admin/skill-codes", params={"broken": True}, headers=_auth(admin_token)).json()
    assert code in {c["code"] for c in broken}
    page = client.get(f"/s/{code}")
    assert page.status_code == 200 and 'id="broken"' in page.text and "已从名录中移除" in page.text
    a = client.get(f"/api/v1/skill-codes/{code}").json()
    assert a["target"]["broken"] is True and a["nearest"] and a["origin"]["source"] == "code"
    assert a["origin"]["lon"] == pytest.approx(120.76)

    r = client.put(
        f"/api/v1/admin/skill-codes/{code}/target",
        json={"target_type": "place", "district": "南湖区", "place_name": "原培训点门口"},
        headers=_auth(admin_token),
    )
    assert r.status_code == 200, r.text
    assert r.json()["broken"] is False and r.json()["code"] == code and r.json()["target_type"] == "place"


def test_scans_are_counted_per_day_and_coarse_cell_without_personal_data(client, admin_token, city_codes) -> None:
    import h3

    from geo.models import ScanCount

    code = city_codes["other_district"]["code"]
    for _ in range(3):
        assert client.get(f"/s/{code}").status_code == 200
    assert client.get(f"/s/{code}", params={"mode": "walk"}).status_code == 200  # no-JS mode switch: not a scan
    lat, lon = 30.5101, 120.6812
    r = client.get(f"/s/{code}/live", params={"lat": lat, "lon": lon, "located": "true", "mode": "walk"})
    assert r.status_code == 200 and 'data-origin="phone"' in r.text
    client.get(f"/s/{code}/live", params={"lat": lat, "lon": lon, "mode": "car"})  # a mode switch: not a scan
    rep = client.get("/api/v1/admin/skill-codes/scans", params={"code": code}, headers=_auth(admin_token)).json()
    cell = h3.latlng_to_cell(lat, lon, 7)
    assert rep["total"] == 3 and rep["located"] == 1
    assert {(x["cell"], x["count"]) for x in rep["rows"]} == {("", 2), (cell, 1)}
    assert rep["cells"][0]["cell"] == cell and h3.get_resolution(cell) == 7
    clat, clon = h3.cell_to_latlng(cell)
    assert (rep["cells"][0]["lat"], rep["cells"][0]["lon"]) == pytest.approx((clat, clon), abs=1e-4)
    listed = client.get("/api/v1/admin/skill-codes", params={"city": "jiaxing"}, headers=_auth(admin_token)).json()
    assert next(c for c in listed if c["code"] == code)["scans"] == 3
    # the table can hold nothing personal: only the code, the day, the coarse cell and a count
    assert {c.key for c in inspect(ScanCount).columns} == {"id", "code", "day", "cell", "count"}
    r = client.get(
        "/api/v1/admin/skill-codes/scans",
        params={"since": "2026-02-01", "until": "2026-01-01"},
        headers=_auth(admin_token),
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "bad_date_range"


def _scans_metric(client) -> dict[str, float]:
    """``skillcircle_skill_code_scans_total`` per city, read from /metrics with Prometheus' own parser."""
    from prometheus_client.parser import text_string_to_metric_families

    r = client.get("/metrics")
    assert r.status_code == 200
    return {
        s.labels["city"]: s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
        if s.name == "skillcircle_skill_code_scans_total"
    }


def test_scans_metric_counts_what_scan_counts_count(client, admin_token, city_codes) -> None:
    code = city_codes["place"]["code"]
    report = "/api/v1/admin/skill-codes/scans"
    before, stored = _scans_metric(client), client.get(report, params={"code": code}, headers=_auth(admin_token))
    for _ in range(2):
        assert client.get(f"/s/{code}").status_code == 200
    assert client.get(f"/s/{code}", params={"mode": "walk"}).status_code == 200  # a mode switch: not a scan
    assert client.get("/s/ZZZZZZZZ").status_code == 404  # no such code: nothing counted
    after = _scans_metric(client)
    assert after.get("jiaxing", 0) - before.get("jiaxing", 0) == 2
    assert after.get("demo", 0) == before.get("demo", 0)
    stored_now = client.get(report, params={"code": code}, headers=_auth(admin_token)).json()["total"]
    assert stored_now - stored.json()["total"] == 2  # the metric and the stored counts agree


# ---------------------------------------------------------------------------------------------- images
def test_qr_png_and_svg_decode_to_the_url(client, city_codes) -> None:
    code = city_codes["resource"]["code"]
    url = f"{BASE}/s/{code}"
    r = client.get(f"/api/v1/skill-codes/{code}/qr.png")
    assert r.headers["content-type"] == "image/png"
    (hit,) = _decode(r.content)
    assert hit.text == url and hit.format == zxingcpp.BarcodeFormat.QRCode and hit.ec_level == "Q"

    r = client.get(f"/api/v1/skill-codes/{code}/qr.svg")
    assert r.headers["content-type"].startswith("image/svg+xml")
    root = ElementTree.fromstring(r.content)
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and any(e.tag.endswith("path") for e in root.iter())
    try:
        import cairosvg

        png = cairosvg.svg2png(bytestring=r.content, scale=2)
    except (ImportError, OSError) as exc:  # libcairo missing
        pytest.skip(f"CairoSVG cannot render SVG here ({exc}); the SVG was checked as XML only")
    (hit,) = _decode(png)
    assert hit.text == url and hit.ec_level == "Q"


def test_poster_png_and_pdf_are_a4_and_scannable(client, city_codes, artifacts) -> None:
    code = city_codes["place"]["code"]
    r = client.get(f"/api/v1/skill-codes/{code}/poster.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    (artifacts / "skillcode-poster.png").write_bytes(r.content)
    img = Image.open(io.BytesIO(r.content))
    assert img.size == (2480, 3508)
    assert img.info["dpi"] == pytest.approx((300, 300), abs=0.5)
    hits = _decode(_png(img.resize((1240, 1754))))
    assert [h.text for h in hits] == [f"{BASE}/s/{code}"]
    pdf = client.get(f"/api/v1/skill-codes/{code}/poster.pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    box = re.search(rb"/MediaBox \[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf.content)
    assert (float(box.group(1)), float(box.group(2))) == pytest.approx((595.2, 842.0), abs=1.0)  # A4 in points


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_poster_font_draws_chinese_and_missing_font_is_a_clear_error() -> None:
    from api.qrcodes import INSTRUCTION_ZH, find_cjk_font
    from geo.errors import SkillCircleError

    font = find_cjk_font().at(64)
    # a real CJK face draws distinct glyphs, not one repeated "tofu" box
    masks = {bytes(font.getmask(ch)) for ch in INSTRUCTION_ZH if "\u4e00" <= ch <= "\u9fff"}
    assert len(masks) == len({ch for ch in INSTRUCTION_ZH if "\u4e00" <= ch <= "\u9fff"})
    with pytest.raises(SkillCircleError) as err:
        find_cjk_font(["/nonexistent/font.ttc"], use_fontconfig=False)
    assert err.value.code == "cjk_font_missing" and err.value.status == 503 and "fonts-noto-cjk" in err.value.message_zh


def test_district_zip_export(client, admin_token, city_codes) -> None:
    r = client.get(
        "/api/v1/admin/skill-codes/export.zip",
        params={"city": "jiaxing", "district": "海宁市"},
        headers=_auth(admin_token),
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    names = set(zf.namelist())
    code = city_codes["other_district"]["code"]
    assert {f"{code}/qr.svg", f"{code}/qr.png", f"{code}/poster.pdf", "codes.csv"} <= names
    assert city_codes["place"]["code"] not in {n.split("/")[0] for n in names}
    index = zf.read("codes.csv").decode("utf-8-sig").splitlines()
    assert index[0].startswith("code,printed,title") and all(",海宁市," in line for line in index[1:])
    (hit,) = _decode(zf.read(f"{code}/qr.png"))
    assert hit.text == f"{BASE}/s/{code}"
    assert zf.read(f"{code}/poster.pdf").startswith(b"%PDF")
    bad = client.get("/api/v1/admin/skill-codes/export.zip", params={"district": "朝阳区"}, headers=_auth(admin_token))
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "unknown_district"
    none = client.get(
        "/api/v1/admin/skill-codes/export.zip",
        params={"city": "demo", "district": "演示区D"},
        headers=_auth(admin_token),
    )
    assert none.status_code == 404


def test_codes_csv_neutralises_formulas(client, admin_token) -> None:
    """Titles and place names that start a formula (OWASP payloads) are text in codes.csv, not formulas."""
    import csv

    payloads = ['=HYPERLINK("http://evil.example","报名")', "+1+1", "-2+3", "@SUM(A1:A2)"]
    made = {
        _create(client, admin_token, city="jiaxing", target_type="place", district="平湖市", title=p, place_name=p)[
            "code"
        ]: p
        for p in payloads
    }
    r = client.get(
        "/api/v1/admin/skill-codes/export.zip",
        params={"city": "jiaxing", "district": "平湖市", "posters": "false"},
        headers=_auth(admin_token),
    )
    assert r.status_code == 200, r.text
    text = zipfile.ZipFile(io.BytesIO(r.content)).read("codes.csv").decode("utf-8-sig")
    rows = {row["code"]: row for row in csv.DictReader(io.StringIO(text, newline=""))}
    for code, payload in made.items():
        assert rows[code]["title"] == "'" + payload
        assert rows[code]["target"].startswith("'") or not rows[code]["target"].startswith(("=", "+", "-", "@"))
    for row in rows.values():
        assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for v in row.values())


def test_safe_cell_applies_the_owasp_rule() -> None:
    from geo.safe_cells import safe_cell, safe_row, unescape_cell

    for payload in ["=1+1", "+1", "-1", "@A1", "\t=1", "\r=1", '=HYPERLINK("http://x","y")']:
        assert safe_cell(payload) == "'" + payload
        assert unescape_cell(safe_cell(payload)) == payload
    for harmless in ["嘉兴技师学院", "1+1", " =1", "", "'quoted"]:
        assert safe_cell(harmless) == harmless and unescape_cell(harmless) == harmless
    assert safe_row([-3, 2.5, None, "-3"]) == [-3, 2.5, None, "'-3"]


# ---------------------------------------------------------------------------------------------- CLI
def test_cli_create_list_qr_poster_retarget_disable(database, jiaxing_sample, tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from api.cli import app
    from geo.db import session_scope
    from geo.models import AuditEntry

    runner = CliRunner()
    out = runner.invoke(app, ["codes", "--help"])
    assert out.exit_code == 0
    for cmd in ("create", "list", "disable", "retarget", "qr", "poster", "export"):
        assert cmd in out.output
        assert runner.invoke(app, ["codes", cmd, "--help"]).exit_code == 0
    out = runner.invoke(app, ["codes", "create", "jiaxing", "--type", "place", "--district", "秀洲区"])
    assert out.exit_code == 0, out.output
    made = json.loads(out.output.strip().splitlines()[-1])
    code = made["code"]
    assert made["district"] == "秀洲区" and made["url"].endswith(f"/s/{code}")
    out = runner.invoke(app, ["codes", "list", "--city", "jiaxing", "--district", "秀洲区"])
    assert code in out.output
    png, svg, pdf = tmp_path / "q.png", tmp_path / "q.svg", tmp_path / "p.pdf"
    assert runner.invoke(app, ["codes", "qr", code, "--out", str(png)]).exit_code == 0
    assert runner.invoke(app, ["codes", "qr", code, "--out", str(svg)]).exit_code == 0
    assert [h.text for h in _decode(png.read_bytes())] == [made["url"]]
    assert svg.read_bytes().lstrip().startswith(b"<?xml")
    assert runner.invoke(app, ["codes", "poster", code, "--out", str(pdf)]).exit_code == 0
    assert pdf.read_bytes().startswith(b"%PDF")
    out = runner.invoke(app, ["codes", "retarget", code, "--type", "skill", "--skill", "电工"])
    assert out.exit_code == 0 and json.loads(out.output.strip().splitlines()[-1])["skill"] == "电工"
    out = runner.invoke(app, ["codes", "disable", code])
    assert out.exit_code == 0 and json.loads(out.output.strip().splitlines()[-1])["enabled"] is False
    out = runner.invoke(app, ["codes", "create", "jiaxing", "--type", "place", "--district", "朝阳区"])
    assert out.exit_code == 2 and "unknown_district" in out.output
    zip_path = tmp_path / "x.zip"
    out = runner.invoke(app, ["codes", "export", "jiaxing", "--district", "秀洲区", "--out", str(zip_path), "--all"])
    assert out.exit_code == 0, out.output
    assert f"{code}/qr.svg" in zipfile.ZipFile(zip_path).namelist()
    with session_scope() as s:
        actions = s.scalars(
            select(AuditEntry.action).where(AuditEntry.entity == "skill_code", AuditEntry.entity_id == code)
        ).all()
    assert set(actions) == {"create", "retarget", "disable"}


# ------------------------------------------------------------------------------------ origin, classes, English
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _untranslated(html: str) -> list[str]:
    """Han text of an English page outside ``translate="no"`` elements (institutions' own data), script and style."""
    from html.parser import HTMLParser

    found: list[str] = []

    class _Walk(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.stack: list[tuple[str, bool]] = []

        def handle_starttag(self, tag: str, attrs: list) -> None:
            if tag in ("meta", "link", "br", "img", "input", "source"):
                return
            a = dict(attrs)
            skip = a.get("translate") == "no" or tag in ("script", "style", "title")
            self.stack.append((tag, skip))

        def handle_endtag(self, tag: str) -> None:
            while self.stack:
                if self.stack.pop()[0] == tag:
                    break

        def handle_data(self, data: str) -> None:
            if not any(skip for _, skip in self.stack) and _HAN.search(data):
                found.append(data.strip())

    _Walk().feed(html)
    return found


def test_origin_says_truthfully_where_times_are_counted_from(client, city_codes) -> None:
    place = client.get(f"/api/v1/skill-codes/{city_codes['place']['code']}").json()["origin"]
    assert place["source"] == "code" and place["prompt_location"] is False and "张贴地点" in place["statement"]
    assert "建设街道" in place["statement"]
    res = client.get(f"/api/v1/skill-codes/{city_codes['resource']['code']}", params={"lang": "en"}).json()["origin"]
    assert res["source"] == "resource" and res["statement"].startswith("Travel times are counted from")
    for kind in ("city", "skill"):
        code = city_codes[kind]["code"]
        o = client.get(f"/api/v1/skill-codes/{code}").json()["origin"]
        assert o["source"] == "city_centre" and o["prompt_location"] is True
        assert "市中心" in o["statement"] and "张贴地点" not in o["statement"]
        html = client.get(f"/s/{code}").text
        assert o["statement"] in re.sub(r"<[^>]+>", "", html) and 'data-action="locate"' in html
        assert "离这里最近" not in html and "张贴地点" not in html
        en = client.get(f"/api/v1/skill-codes/{code}", params={"lang": "en"}).json()["origin"]
        assert "centre of Jiaxing" in en["statement"]
    phone = client.get(f"/api/v1/skill-codes/{city_codes['city']['code']}", params={"lat": 30.75, "lon": 120.75})
    assert phone.json()["origin"]["source"] == "phone" and phone.json()["origin"]["prompt_location"] is False


def test_classes_in_date_order_with_venue_times_from_the_same_origin(client, city_codes) -> None:
    code = city_codes["city"]["code"]
    a = client.get(f"/api/v1/skill-codes/{code}", params={"mode": "ebike"}).json()
    starts = [(c["start_date"], c["minutes"]) for c in a["classes"]]
    assert starts and [s for s, _ in starts] == sorted(s for s, _ in starts)
    o = a["origin"]
    nearby = client.get(
        "/api/v1/nearby",
        params={"city": "jiaxing", "lat": o["lat"], "lon": o["lon"], "mode": "ebike", "minutes": 60, "limit": 200},
    ).json()
    times = {i["resource"]["id"]: i["minutes"] for i in nearby["items"]}
    listed = {p["resource"]["id"] for p in a["nearest"]}
    assert any(c["venue"]["resource"]["id"] not in listed for c in a["classes"]), "every venue was listed anyway"
    for c in a["classes"]:
        v = c["venue"]
        assert v["resource"]["id"] == c["resource_id"] and v["resource"]["name"] == c["resource_name"]
        assert v["minutes"] == pytest.approx(times[c["resource_id"]], abs=0.11)
        assert c["signup"]["resource_id"] == c["resource_id"] and v["navigate"]["amap"].startswith("https://")
    html = client.get(f"/s/{code}", params={"mode": "ebike"}).text
    ids = re.findall(r'data-class-id="(\d+)"', html)
    assert [int(i) for i in ids] == [c["id"] for c in a["classes"]]
    assert html.count("<details>") == len(a["classes"]) and html.count("<summary>") == len(a["classes"])
    first = html[html.index(f'data-class-id="{ids[0]}"') :]
    first = first[: first.index("</details>")]
    c0 = a["classes"][0]
    for needle in ("上课地点", c0["venue"]["resource"]["name"], "报名步骤", "uri.amap.com", "api.map.baidu.com"):
        assert needle in first
    for step in c0["signup"]["steps"]:
        assert step in first


def test_english_pages_with_lang_and_accept_language(client, city_codes) -> None:
    code = city_codes["place"]["code"]
    zh = client.get(f"/s/{code}")
    assert '<html lang="zh-CN">' in zh.text and "Accept-Language" in zh.headers["vary"]
    en = client.get(f"/s/{code}", params={"lang": "en"})
    assert en.status_code == 200 and '<html lang="en">' in en.text
    assert "Upcoming classes" in en.text and "How to sign up" in en.text and "E-bike" in en.text
    assert _untranslated(en.text) == [], _untranslated(en.text)[:10]
    assert _untranslated(zh.text), "the Chinese page has Chinese text"
    browser_en = client.get(f"/s/{code}", headers={"Accept-Language": "en-GB,en;q=0.9,zh-CN;q=0.5"})
    assert '<html lang="en">' in browser_en.text
    prefers_zh = client.get(f"/s/{code}", headers={"Accept-Language": "en;q=0.4, zh-CN"})
    assert '<html lang="zh-CN">' in prefers_zh.text
    forced = client.get(f"/s/{code}", params={"lang": "zh"}, headers={"Accept-Language": "en"})
    assert '<html lang="zh-CN">' in forced.text
    live = client.get(f"/s/{code}/live", params={"lang": "en", "mode": "car"}).text
    assert "Car" in live and _untranslated(live) == []
    bad = client.get(f"/s/{code}", params={"lang": "fr"}, headers={"Accept-Language": "en"})
    assert bad.status_code == 422 and '<html lang="en">' in bad.text and "invalid_lang" not in bad.text
    assert client.get(f"/api/v1/skill-codes/{code}", params={"lang": "en"}).json()["mode_label"] == "E-bike"


def test_404_and_410_pages_in_english(client, admin_token, city_codes) -> None:
    missing = client.get("/s/ZZZZ9999", params={"lang": "en"})
    assert missing.status_code == 404 and '<html lang="en">' in missing.text
    assert "Skill code not found" in missing.text and _untranslated(missing.text) == []
    assert "lang=en" in re.search(r'href="(/map[^"]*)"', missing.text).group(1)
    zh = client.get("/s/ZZZZ9999")
    assert "没有找到这个技能码" in zh.text and '<html lang="zh-CN">' in zh.text
    code = _create(client, admin_token, city="jiaxing", target_type="city")["code"]
    client.post(f"/api/v1/admin/skill-codes/{code}/disable", headers=_auth(admin_token))
    gone = client.get(f"/s/{code}", headers={"Accept-Language": "en-US"})
    assert gone.status_code == 410 and "no longer in use" in gone.text and _untranslated(gone.text) == []


# ---------------------------------------------------------------------------------------------- vector posters
def _pdf_page(data: bytes):
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(data)
    return doc, doc[0]


def test_poster_pdf_is_vector_text_and_qr_with_the_font_embedded(client, city_codes, artifacts) -> None:
    code = city_codes["place"]["code"]
    pdf = client.get(f"/api/v1/skill-codes/{code}/poster.pdf").content
    (artifacts / "skillcode-poster.pdf").write_bytes(pdf)
    doc, page = _pdf_page(pdf)
    kinds = {obj.type for obj in page.get_objects()}
    assert 3 not in kinds and kinds >= {1, 2}  # text and paths, no image (pdfium: 1 text, 2 path, 3 image)
    text = page.get_textpage().get_text_range()
    title = client.get(f"/api/v1/skill-codes/{code}").json()["title"]  # as it is now (other tests rename it)
    assert title in text.replace("\r\n", "")
    assert city_codes["place"]["printed"] in text and "微信/手机扫码" in text
    assert b"/FontFile" in pdf  # the CJK font travels with the PDF (a subset)
    # a vector render at 100 dpi (the QR's modules are paths, no embedded bitmap to fall back on)
    image = page.render(scale=100 / 72).to_pil()
    (artifacts / "skillcode-poster-pdf-render.png").write_bytes(_png(image))
    (hit,) = _decode(_png(image))
    assert hit.text == f"{BASE}/s/{code}" and hit.ec_level == "Q"
    page.close()
    doc.close()


def test_poster_degrades_on_hostile_text_instead_of_failing(client, city_codes) -> None:
    from api.qrcodes import PosterText, poster_pdf, poster_png, printable
    from geo.db import session_scope
    from geo.models import SkillCode

    hostile = "夜校\x00\x07\u202e\ue000\U0010fffd\ud7ff\u200b班\n第二行"
    assert printable(hostile) == "夜校\ufffd\ufffd\ufffd\ufffd\ufffd\ud7ff\ufffd班 第二行".replace("\ud7ff", "\ufffd")
    text = PosterText(code="K7M2Q9XA", title=hostile, subtitle=hostile * 5, city_name=hostile, sample=True)
    doc, page = _pdf_page(poster_pdf(text, base_url="https://jx.example.gov.cn"))
    drawn = page.get_textpage().get_text_range()
    assert "夜校" in drawn and "\ufffd" in drawn and "\x00" not in drawn and "\u202e" not in drawn
    (hit,) = _decode(_png(page.render(scale=100 / 72).to_pil()))
    assert hit.text == "https://jx.example.gov.cn/s/K7M2Q9XA"
    page.close()
    doc.close()
    assert poster_png(text, dpi=72).startswith(b"\x89PNG")
    # a title that got into the database some other way (the API refuses it: 422 invalid_text)
    code = city_codes["other_district"]["code"]
    with session_scope() as s:
        s.get(SkillCode, code).title = hostile
    for kind in ("poster.pdf", "poster.png"):
        r = client.get(f"/api/v1/skill-codes/{code}/{kind}")
        assert r.status_code == 200, r.text


def test_loopback_base_url_warned_at_start_and_refused_by_poster_commands(
    database, jiaxing_sample, tmp_path, monkeypatch
):
    import json

    from typer.testing import CliRunner

    from api.cli import app
    from api.qrcodes import is_loopback_url, loopback_warning
    from geo.config import get_settings

    assert (
        is_loopback_url("http://127.0.0.1:8000")
        and is_loopback_url("http://localhost/")
        and is_loopback_url("http://[::1]:8000")
    )
    assert not is_loopback_url("https://jnjy.jiaxing.gov.cn") and not is_loopback_url("http://192.168.1.20:8000")
    assert loopback_warning("http://127.0.0.1:8000", listen_host="0.0.0.0")
    assert loopback_warning("http://127.0.0.1:8000", listen_host="127.0.0.1") is None
    assert loopback_warning("https://jx.example.gov.cn", listen_host="0.0.0.0") is None

    runner = CliRunner()
    made = runner.invoke(app, ["codes", "create", "jiaxing", "--type", "city"])
    code = json.loads(made.output.strip().splitlines()[-1])["code"]
    monkeypatch.setattr(get_settings(), "base_url", "http://127.0.0.1:8000")
    for args in (
        ["poster", code, "--out", str(tmp_path / "p.pdf")],
        ["qr", code, "--out", str(tmp_path / "q.png")],
        ["export", "jiaxing", "--out", str(tmp_path / "x.zip"), "--no-posters"],
    ):
        refused = runner.invoke(app, ["codes", *args])
        assert refused.exit_code == 2 and "loopback_base_url" in refused.output, refused.output
        assert runner.invoke(app, ["codes", *args, "--allow-local"]).exit_code == 0
    assert (tmp_path / "p.pdf").read_bytes().startswith(b"%PDF")

    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: calls.append(k))
    out = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--port", "8123"])
    assert out.exit_code == 0 and calls and calls[0]["host"] == "0.0.0.0"
    assert "loopback" in out.output and "SKILLCIRCLE_BASE_URL" in out.output
    quiet = runner.invoke(app, ["serve", "--host", "127.0.0.1", "--port", "8123"])
    assert quiet.exit_code == 0 and "loopback" not in quiet.output


def test_map_link_keeps_the_codes_place_and_mode(client, city_codes) -> None:
    code = city_codes["place"]["code"]
    html = client.get(f"/s/{code}", params={"mode": "walk", "lang": "en"}).text
    href = re.search(r'id="map-link" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    q = parse_qs(urlparse(href).query)
    origin = client.get(f"/api/v1/skill-codes/{code}").json()["origin"]
    lat, lon = map(float, q["origin"][0].split(","))
    assert (lat, lon) == pytest.approx((origin["lat"], origin["lon"]), abs=1e-5)
    assert q["mode"] == ["walk"] and q["lang"] == ["en"] and q["city"] == ["jiaxing"]
    page = client.get(href, headers={"Accept": "text/html"})
    assert page.status_code == 200
    config = json.loads(re.search(r'<script id="sc-config" type="application/json">(.*?)</script>', page.text).group(1))
    assert config["mode"] == "walk" and config["fit"] is False and config["lang"] == "en"
    # the map runs "what is within reach" from the code's place (the no-tiles basemap is WGS84)
    assert config["origin"] == pytest.approx([lat, lon], abs=1e-7)
    other = re.search(r'id="sc-lang-switch" href="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    other_origin = parse_qs(urlparse(other).query)["origin"][0]
    assert tuple(map(float, other_origin.split(","))) == pytest.approx((lat, lon), abs=1e-9)
    # a city code has no place: the map opens on the whole city, in the worker's mode
    city_html = client.get(f"/s/{city_codes['city']['code']}", params={"mode": "car"}).text
    city_href = re.search(r'id="map-link" href="([^"]+)"', city_html).group(1).replace("&amp;", "&")
    assert "origin" not in parse_qs(urlparse(city_href).query) and "mode=car" in city_href
    city_page = client.get(city_href, headers={"Accept": "text/html"}).text
    assert '"origin": null' in city_page or '"origin":null' in city_page


def test_notices_say_only_what_is_true(client, city_codes) -> None:
    """Jiaxing has no road network offline: no page may claim OpenStreetMap roads there."""
    jx = client.get(f"/s/{city_codes['place']['code']}").text
    assert "估算" in jx and "路网" not in jx.replace("尚无路网", "") and "OpenStreetMap" not in jx
    page = client.get("/map", params={"city": "jiaxing", "basemap": "none"}, headers={"Accept": "text/html"}).text
    notes = page[page.index('id="sc-notes"') :]
    notes = notes[: notes.index("</section>")]
    assert "尚无路网" in page and "OpenStreetMap" not in notes and "路网来自" not in page
