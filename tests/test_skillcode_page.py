"""The 技能码 landing page in a real browser: Debian's headless chromium driven by Playwright, against a
live uvicorn server on 127.0.0.1, at phone size (390 × 844) with a mocked geolocation.

The demo city routes on its real (Helsinki OSM) network; Jiaxing has no network offline, so its page must
show the straight-line estimate notice. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests._maps_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    axe_violations,
    horizontal_overflow,
    small_targets,
    visible_text,
)
from tests._maps_browser import (
    PHONE as PHONE_360,
)
from tests._servers import PATIENCE_S

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DEMO_PHONE = {"latitude": 60.1685, "longitude": 24.9405}  # a worker in central Helsinki (the demo network)
JIAXING_PHONE = {"latitude": 30.7530, "longitude": 120.7580}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def live_server(client, demo_network) -> Iterator[str]:
    """uvicorn serving the app (both samples, the demo network) in a thread on a free local port."""
    import uvicorn

    from api.main import create_app
    from api.state import get_runtime, reset_runtimes

    if get_runtime("demo").engine.estimate:  # loaded before the network was built: reload
        reset_runtimes()
    assert not get_runtime("demo").engine.estimate
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + PATIENCE_S
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium (never a Playwright-downloaded browser)."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: run `bash scripts/system-deps.sh`"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def codes(database, demo_sample, jiaxing_sample) -> dict[str, str]:
    """A place code posted in the demo city (示例街区B, town code DEMO-B-01) and one in Jiaxing (建设街道)."""
    from geo.cities import load_city
    from geo.db import session_scope
    from geo.skillcodes import Target, create_code

    with session_scope() as s:
        demo = create_code(s, load_city("demo"), Target(target_type="place", town="DEMO-B-01"), actor="test-browser")
        jx = create_code(s, load_city("jiaxing"), Target(target_type="place", town="建设街道"), actor="test-browser")
        return {"demo": demo.code, "jiaxing": jx.code}


def _context(browser, geolocation: dict | None, *, allow: bool, viewport: dict | None = None, locale: str = "zh-CN"):
    return browser.new_context(
        viewport=viewport or PHONE,
        device_scale_factor=2,
        is_mobile=viewport is None or viewport["width"] < 800,
        has_touch=True,
        locale=locale,
        geolocation=geolocation,
        permissions=["geolocation"] if allow else [],
    )


def _shown(page) -> list[tuple[int, str]]:
    """(resource id, shown travel time text) of every item of the nearest list."""
    items = page.locator("#nearest li[data-resource-id]")
    return [
        (int(items.nth(i).get_attribute("data-resource-id")), items.nth(i).locator(".t").inner_text())
        for i in range(items.count())
    ]


def _api(base: str, code: str, **params) -> dict:
    r = httpx.get(f"{base}/api/v1/skill-codes/{code}", params=params, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_phone_location_nearest_mode_switch_and_signup(browser, live_server, codes, artifacts) -> None:
    from sqlalchemy import select

    from geo.db import session_scope
    from geo.models import ScanCount
    from geo.skillcodes import scan_cell

    code = codes["demo"]
    ctx = _context(browser, DEMO_PHONE, allow=True)
    page = ctx.new_page()
    page.goto(f"{live_server}/s/{code}")
    page.wait_for_selector('#live .live[data-origin="phone"][data-mode="ebike"]', timeout=20_000)
    assert "您当前的位置" in page.locator("#locstatus").inner_text()

    lat, lon = DEMO_PHONE["latitude"], DEMO_PHONE["longitude"]
    ebike = _api(live_server, code, lat=lat, lon=lon, mode="ebike")
    assert ebike["estimate"] is False and ebike["origin"]["source"] == "phone"
    shown = _shown(page)
    assert shown, "no nearest resources shown"
    assert shown[0][0] == ebike["nearest"][0]["resource"]["id"]
    assert [i for i, _ in shown] == [p["resource"]["id"] for p in ebike["nearest"]]
    first = page.locator("#nearest li[data-resource-id]").first
    assert first.locator(".name").inner_text() == ebike["nearest"][0]["resource"]["name"]
    assert first.locator("a", has_text="高德").get_attribute("href") == ebike["nearest"][0]["navigate"]["amap"]
    assert page.locator("#sample-notice").is_visible()
    assert page.locator("#estimate-notice").count() == 0  # the demo city routes on real roads
    page.screenshot(path=str(artifacts / "skillcode-demo-phone-ebike.png"), full_page=True)

    # the worker's location went into today's scan count as a coarse cell, never as a point
    with session_scope() as s:
        cells = set(s.scalars(select(ScanCount.cell).where(ScanCount.code == code, ScanCount.count > 0)))
    assert scan_cell(lon, lat) in cells

    # mode switch: 步行 re-ranks by walking time, exactly as the API answers
    assert page.locator(".modes a").all_inner_texts() == ["电动车", "步行", "自行车", "驾车"]
    page.locator('.modes a[data-mode="walk"]').click()
    page.wait_for_selector('#live .live[data-origin="phone"][data-mode="walk"]', timeout=20_000)
    walk = _api(live_server, code, lat=lat, lon=lon, mode="walk")
    walked = _shown(page)
    assert [i for i, _ in walked] == [p["resource"]["id"] for p in walk["nearest"]]
    assert walked != shown
    assert f"{walk['nearest'][0]['minutes']:.0f}分钟" in walked[0][1] or walked[0][1] == "不到1分钟"
    assert page.locator(".modes a.on").inner_text() == "步行"
    page.screenshot(path=str(artifacts / "skillcode-demo-phone-walk.png"), full_page=True)

    # the city map opens on what is within reach from the phone, in the same mode, as this page listed
    href = page.locator("#map-link").get_attribute("href")
    query = parse_qs(urlsplit(href).query)
    assert query["mode"] == ["walk"] and "center" not in query and "zoom" not in query
    assert tuple(map(float, query["origin"][0].split(","))) == pytest.approx((lat, lon), abs=1e-5)
    map_page = ctx.new_page()
    asked: list[str] = []
    map_page.on("request", lambda r: asked.append(r.url) if "/api/v1/nearby" in r.url else None)
    map_page.goto(f"{live_server}{href}&basemap=none")
    map_page.wait_for_selector("#sc-reach:not([hidden])", timeout=20_000)
    map_page.wait_for_function("() => SkillCircle.state.pending === 0", timeout=20_000)
    nearby = parse_qs(urlsplit(asked[-1]).query)
    assert (float(nearby["lat"][0]), float(nearby["lon"][0])) == pytest.approx((lat, lon), abs=1e-5)
    assert nearby["mode"] == ["walk"] and int(map_page.get_attribute("#sc-reach", "data-count")) > 0
    map_page.close()

    # how to sign up: steps, phone and the place it is for
    signup = page.locator("#signup")
    assert signup.is_visible() and "怎么报名" in signup.inner_text()
    assert signup.locator(".steps li").count() == len(walk["signup"]["steps"]) > 0
    assert signup.locator('a[href^="tel:"]').count() == 1
    assert walk["signup"]["resource_name"] in signup.inner_text()
    assert page.locator("#classes li.class").count() == len(walk["classes"])

    # 适老化: the large-text mode enlarges the text and is remembered
    size = page.evaluate("getComputedStyle(document.querySelector('#nearest .name')).fontSize")
    page.locator("#bigtext").click()
    bigger = page.evaluate("getComputedStyle(document.querySelector('#nearest .name')).fontSize")
    assert float(bigger.removesuffix("px")) >= 1.25 * float(size.removesuffix("px"))
    page.reload()
    page.wait_for_selector('#live .live[data-origin="phone"]', timeout=20_000)
    assert page.evaluate("document.documentElement.classList.contains('big')")
    page.screenshot(path=str(artifacts / "skillcode-demo-phone-bigtext.png"), full_page=False)
    ctx.close()


def test_refused_location_falls_back_to_the_codes_place(browser, live_server, codes, artifacts) -> None:
    code = codes["demo"]
    ctx = _context(browser, DEMO_PHONE, allow=False)
    page = ctx.new_page()
    page.goto(f"{live_server}/s/{code}")
    page.wait_for_selector('body[data-geo="refused"]', timeout=20_000)
    assert "未获得定位权限" in page.locator("#locstatus").inner_text()
    assert page.locator("#live .live").get_attribute("data-origin") == "code"
    here = _api(live_server, code, mode="ebike")
    assert here["origin"]["source"] == "code"
    shown = _shown(page)
    assert shown and shown[0][0] == here["nearest"][0]["resource"]["id"]
    assert [i for i, _ in shown] == [p["resource"]["id"] for p in here["nearest"]]
    page.screenshot(path=str(artifacts / "skillcode-demo-refused.png"), full_page=True)
    ctx.close()


def test_jiaxing_page_says_times_are_estimates(browser, live_server, codes, artifacts) -> None:
    code = codes["jiaxing"]
    ctx = _context(browser, JIAXING_PHONE, allow=True)
    page = ctx.new_page()
    page.goto(f"{live_server}/s/{code}")
    page.wait_for_selector('#live .live[data-origin="phone"]', timeout=20_000)
    assert page.locator("#estimate-notice").is_visible() and "估算" in page.locator("#estimate-notice").inner_text()
    assert page.locator("#sample-notice").is_visible()
    a = _api(live_server, code, lat=JIAXING_PHONE["latitude"], lon=JIAXING_PHONE["longitude"])
    assert a["estimate"] is True
    shown = _shown(page)
    assert shown[0][0] == a["nearest"][0]["resource"]["id"] and shown[0][1].startswith("约")
    page.screenshot(path=str(artifacts / "skillcode-jiaxing-estimate.png"), full_page=True)
    ctx.close()


def test_unknown_code_page_in_the_browser(browser, live_server, artifacts) -> None:
    ctx = _context(browser, None, allow=False)
    page = ctx.new_page()
    resp = page.goto(f"{live_server}/s/ZZZZ9999")
    assert resp.status == 404
    assert page.locator("h1").inner_text() == "没有找到这个技能码"
    assert page.locator('a[href^="/map"]').is_visible()
    page.screenshot(path=str(artifacts / "skillcode-not-found.png"), full_page=True)
    ctx.close()


def test_phone_outside_the_city_falls_back_to_the_codes_place(browser, live_server, codes) -> None:
    code = codes["demo"]
    ctx = _context(browser, JIAXING_PHONE, allow=True)  # a worker in Jiaxing scanning a demo-city code
    page = ctx.new_page()
    page.goto(f"{live_server}/s/{code}")
    page.wait_for_function("() => document.getElementById('locstatus').textContent.includes('不在本市服务范围内')")
    page.wait_for_selector('#live .live[data-origin="code"]:not([aria-busy])', timeout=20_000)
    here = _api(live_server, code)
    assert [i for i, _ in _shown(page)] == [p["resource"]["id"] for p in here["nearest"]]
    # the map link keeps the code's own place: the phone's, refused by the city, never reaches the map
    query = parse_qs(urlsplit(page.locator("#map-link").get_attribute("href")).query)
    origin = here["origin"]
    if origin["source"] == "city_centre":
        assert "origin" not in query
    else:
        opened = tuple(map(float, query["origin"][0].split(",")))
        assert opened == pytest.approx((origin["lat"], origin["lon"]), abs=1e-5)
    ctx.close()


_HAN = "[\u3400-\u9fff]"


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("size", [PHONE_360, DESKTOP], ids=["360", "1366"])
def test_page_fits_phone_and_desktop_with_big_targets_and_no_axe_violations(
    browser, live_server, codes, artifacts, size, lang
) -> None:
    import re

    viewport = {"width": size[0], "height": size[1]}
    code = codes["jiaxing"]
    ctx = _context(browser, None, allow=False, viewport=viewport, locale="en-US" if lang == "en" else "zh-CN")
    page = ctx.new_page()
    page.goto(f"{live_server}/s/{code}")  # no ?lang=: the browser's Accept-Language decides
    page.wait_for_selector('body[data-geo="refused"]', timeout=20_000)
    assert page.evaluate("document.documentElement.lang") == ("en" if lang == "en" else "zh-CN")
    assert horizontal_overflow(page) <= 0
    assert page.locator("#sample-notice").is_visible() and page.locator("#estimate-notice").is_visible()
    text = visible_text(page)
    if lang == "en":
        assert not re.search(_HAN, text.replace("中文", "")), re.findall(f"{_HAN}+", text)[:10]
        assert "Upcoming classes" in text and "counted from where this poster hangs" in text
    else:
        assert "近期开班" in text and "本码张贴地点" in text
    # a class card opens its details: venue with travel time, seats, fee, navigation, sign-up steps
    card = page.locator("#classes li.class").first
    assert not card.locator(".detail").is_visible()
    card.locator("summary").click()
    detail = card.locator(".detail")
    assert detail.is_visible()
    assert detail.locator(".venue .t").inner_text() and detail.locator(".steps li").count() > 0
    assert detail.locator('a[href^="https://uri.amap.com"]').is_visible()
    if size == PHONE_360:
        assert small_targets(page) == []
    violations = axe_violations(page)
    assert violations == [], violations
    page.screenshot(path=str(artifacts / f"skillcode-{size[0]}-{lang}.png"), full_page=True)
    ctx.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_not_found_page_fits_a_phone_in_both_languages(browser, live_server, artifacts, lang) -> None:
    import re

    ctx = _context(browser, None, allow=False, viewport={"width": PHONE_360[0], "height": PHONE_360[1]})
    page = ctx.new_page()
    resp = page.goto(f"{live_server}/s/ZZZZ9999?lang={lang}")
    assert resp.status == 404
    assert horizontal_overflow(page) <= 0 and small_targets(page) == []
    text = visible_text(page)
    assert ("Skill code not found" in text) if lang == "en" else ("没有找到这个技能码" in text)
    if lang == "en":
        assert not re.search(_HAN, text.replace("中文", ""))
    assert axe_violations(page) == []
    page.screenshot(path=str(artifacts / f"skillcode-404-{lang}.png"), full_page=True)
    ctx.close()
