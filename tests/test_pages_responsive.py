"""Every map page at phone size (360 × 740) and desktop size (1366 × 768), in Chinese and English.

For each page: a screenshot in test-artifacts/, no horizontal scroll, every tap target at least 44 × 44 px
on the phone (WCAG 2.5.5), the page's language in its text (English pages: no Chinese outside the
institutions' own names), the sample/estimate notices visible, and 0 axe-core violations. The embed is
also checked at 320, 360 and 600 px inside a portal's iframe: notices wrap and stay visible, controls
never overlap the map's own controls. One browser and one live server serve the whole module.
"""

from __future__ import annotations

import re

import pytest

from tests._maps_browser import (  # noqa: F401 - fixtures
    DESKTOP,
    PHONE,
    axe_violations,
    browser,
    horizontal_overflow,
    live_server,
    open_page,
    recording_context,
    small_targets,
    visible_text,
)

pytestmark = pytest.mark.browser

_HAN = re.compile(r"[\u3400-\u9fff]")
SIZES = {"360": PHONE, "1366": DESKTOP}
MAP_PAGES = {
    "map-jiaxing": "/map?city=jiaxing&basemap=none",
    "map-demo": "/map?city=demo&basemap=none",
    "province": "/map?city=zhejiang&basemap=none",
    "coverage": "/map/coverage?city=demo&basemap=none",
    "embed": "/embed?city=jiaxing&basemap=none",
    "snippet": "/embed/snippet?city=jiaxing",
    "embed-province": "/embed?city=zhejiang&basemap=none",
    "snippet-province": "/embed/snippet?city=zhejiang",
}
PLAIN_PAGES = {"home": ("/", 200), "error": ("/map?city=atlantis", 404)}


def _check_language(text: str, lang: str) -> None:
    if lang == "en":
        leftover = _HAN.findall(text.replace("中文", ""))
        assert not leftover, re.findall(r"[\u3400-\u9fff]+", text)[:10]
    else:
        assert len(_HAN.findall(text)) > 10


def _check_common(page, *, size: str, lang: str, artifacts, name: str) -> None:
    assert page.evaluate("document.documentElement.lang") == ("en" if lang == "en" else "zh-CN")
    assert horizontal_overflow(page) <= 0, f"{name} scrolls sideways at {size} px"
    if size == "360":
        small = small_targets(page)
        assert small == [], small[:8]
    _check_language(visible_text(page), lang)
    violations = axe_violations(page)
    assert violations == [], violations
    page.screenshot(path=str(artifacts / f"page-{name}-{size}-{lang}.png"))


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("name", list(MAP_PAGES))
def test_map_pages_fit_phone_and_desktop(browser, live_server, artifacts, name, size, lang):  # noqa: F811
    url = f"{live_server.url}{MAP_PAGES[name]}"
    page, rec = open_page(browser, url, viewport=SIZES[size], locale="en-US" if lang == "en" else "zh-CN")
    if not name.startswith("snippet"):
        notes = page.locator("#sc-banner, #sc-notes").first
        assert notes.is_visible()
        sample = page.locator("#sc-banner .sc-banner-sample, #sc-notes [data-kind='sample']").first
        assert sample.is_visible() and sample.inner_text().strip()
        # controls are above the map, never on top of it
        bar = page.locator("#sc-toolbar, #sc-embed-bar").first.bounding_box()
        mapbox = page.locator("#sc-map-wrap").bounding_box()
        assert bar["y"] + bar["height"] <= mapbox["y"] + 1
        assert mapbox["height"] >= (300 if size == "360" and not name.startswith("embed") else 200)
    if size == "360" and name in ("map-jiaxing", "map-demo", "coverage", "province"):
        header = page.locator(".sc-header").bounding_box()
        assert header["height"] <= 64, header
        legend = page.locator("#sc-legend")
        assert legend.get_attribute("class").count("sc-folded") == 1  # folded: one button
        legend.locator(".sc-toggle").click()
        assert "sc-folded" not in legend.get_attribute("class") and legend.locator("li").first.is_visible()
        legend.locator(".sc-toggle").click()
    _check_common(page, size=size, lang=lang, artifacts=artifacts, name=name)
    if not name.startswith(
        "snippet"
    ):  # the snippet's preview shows the deployment's default basemap (tiles from abroad)
        rec.assert_local_only()
    page.context.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("name", list(PLAIN_PAGES))
def test_home_and_error_pages_fit(browser, live_server, artifacts, name, size, lang):  # noqa: F811
    path, status = PLAIN_PAGES[name]
    ctx, _rec = recording_context(browser, viewport=SIZES[size], locale="en-US" if lang == "en" else "zh-CN")
    page = ctx.new_page()
    resp = page.goto(f"{live_server.url}{path}")
    assert resp.status == status
    _check_common(page, size=size, lang=lang, artifacts=artifacts, name=name)
    ctx.close()


def test_phone_map_card_is_a_bottom_sheet(browser, live_server, artifacts):  # noqa: F811
    page, _rec = open_page(browser, f"{live_server.url}/map?city=demo&basemap=none", viewport=PHONE)
    # a tap on the map where no marker is (the map's own click event at its centre)
    page.evaluate("() => { const m = SkillCircle.state.map; m.fire('click', {latlng: m.getCenter()}); }")
    page.wait_for_selector("#sc-sheet.sc-sheet-open :is(#sc-card, #sc-reach):not([hidden])")
    page.wait_for_function("() => SkillCircle.state.pending === 0")
    sheet = page.locator("#sc-sheet").bounding_box()
    assert sheet["y"] + sheet["height"] == pytest.approx(PHONE[1], abs=2)  # stuck to the bottom
    assert sheet["height"] <= 0.56 * PHONE[1]
    assert small_targets(page) == []
    page.screenshot(path=str(artifacts / "page-map-demo-360-sheet.png"))
    page.locator("#sc-panel-close").click()
    assert not page.locator("#sc-sheet").evaluate("n => n.classList.contains('sc-sheet-open')")
    page.context.close()


@pytest.mark.parametrize("width", [320, 360, 600])
def test_embed_in_a_narrow_portal_column_keeps_its_notices(browser, live_server, artifacts, width):  # noqa: F811
    src = "/embed?city=jiaxing&basemap=none&lang=zh"
    ctx, _rec = recording_context(browser, viewport=(width, 700))
    page = ctx.new_page()
    page.goto(f"{live_server.url}/__test__/portal?src={src}")
    frame_el = page.locator("#f")
    frame_el.evaluate(f"f => {{ f.width = {width - 20}; f.height = 480; }}")
    frame = frame_el.element_handle().content_frame()
    frame.wait_for_function("() => window.SkillCircle && SkillCircle.state.ready && SkillCircle.state.pending === 0")
    inner = frame.evaluate("() => [window.innerWidth, window.innerHeight]")
    assert inner[0] == width - 20
    assert frame.evaluate("() => document.documentElement.scrollWidth") <= inner[0]
    boxes = frame.evaluate(
        """() => {
          const box = (n) => { const r = n.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
          return {
            notes: [...document.querySelectorAll('#sc-notes .sc-note, #sc-notes a')].map(box),
            bar: box(document.getElementById('sc-embed-bar')),
            controls: [...document.querySelectorAll('.leaflet-control-container .leaflet-control')].map(box),
          };
        }"""
    )
    assert len(boxes["notes"]) >= 2  # the sample notice and the "open the full map" link at least
    for left, top, right, bottom in boxes["notes"]:
        assert right > left and left >= 0 and right <= inner[0] + 0.5 and top >= 0 and bottom <= inner[1] + 0.5
    for _left, top, _right, bottom in boxes["controls"]:
        if bottom > top:
            assert top >= boxes["bar"][3] - 0.5, "a map control overlaps the embed's controls"
    page.screenshot(path=str(artifacts / f"page-embed-portal-{width}.png"))
    ctx.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_tile_failure_is_one_line_and_the_map_keeps_working(browser, live_server, artifacts, lang):  # noqa: F811
    """OpenStreetMap tiles are unreachable here (the test aborts every foreign request): the page says so."""
    url = f"{live_server.url}/map?city=demo&basemap=osm&lang={lang}"
    page, rec = open_page(browser, url, viewport=PHONE)
    page.wait_for_selector("#sc-tile-notice:not([hidden])", timeout=15000)
    notice = page.locator("#sc-tile-notice")
    text = notice.inner_text()
    assert ("failed to load" in text) if lang == "en" else ("加载失败" in text)
    assert "OpenStreetMap" in text and text.count("\n") == 0
    assert rec.external and all("tile.openstreetmap.org" in u for u in rec.external)
    attribution = page.locator(".leaflet-control-attribution")
    assert "OpenStreetMap" in attribution.inner_text() and "Leaflet" in attribution.inner_text()
    assert attribution.locator("svg, img").count() == 0  # no flag in the prefix
    # the rest of the page works: what is reachable from a tapped point
    page.evaluate("() => { const m = SkillCircle.state.map; m.fire('click', {latlng: m.getCenter()}); }")
    page.wait_for_selector("#sc-reach:not([hidden]) li", timeout=15000)
    assert axe_violations(page) == []
    page.screenshot(path=str(artifacts / f"page-map-tiles-failed-{lang}.png"))
    page.context.close()


@pytest.mark.parametrize(
    ("city", "view"), [("jiaxing", ("evaluation", "ebike", "30")), ("demo", ("evaluation", "walk", "15"))]
)
def test_coverage_opens_on_a_view_with_gaps_under_500_kb(browser, live_server, artifacts, city, view):  # noqa: F811
    """No choice in the URL: the page redirects to the city pack's gap view; its data arrive gzipped."""
    sizes: dict[str, int] = {}
    ctx, _rec = recording_context(browser, viewport=DESKTOP)
    page = ctx.new_page()
    page.on("requestfinished", lambda req: sizes.__setitem__(req.url, req.sizes()["responseBodySize"]))
    page.goto(f"{live_server.url}/map/coverage?city={city}&basemap=none")
    page.wait_for_function("() => window.SkillCircle && SkillCircle.state.ready && SkillCircle.state.pending === 0")
    query = dict(p.split("=", 1) for p in page.url.split("?", 1)[1].split("&"))
    assert (query["category"], query["mode"], query["minutes"]) == view
    page.wait_for_function("() => document.body.dataset.gaps !== undefined", timeout=30000)
    assert int(page.evaluate("document.body.dataset.gaps")) > 0
    assert int(page.locator("#sc-coverage-summary").get_attribute("data-uncovered")) > 0
    data = [u for u in sizes if "/api/v1/coverage" in u]
    assert data and all(sizes[u] <= 500_000 for u in data), {u: sizes[u] for u in data}
    total = sum(v for u, v in sizes.items() if "/static/" not in u)
    assert total <= 500_000, total  # the page and its data; the cached static scripts aside
    page.screenshot(path=str(artifacts / f"page-coverage-default-{city}.png"))
    ctx.close()


def test_snippet_preview_is_the_real_size_on_a_phone(browser, live_server, artifacts):  # noqa: F811
    page, _rec = open_page(browser, f"{live_server.url}/embed/snippet?city=jiaxing", viewport=PHONE)
    page.fill("input[name=width]", "800")
    page.fill("input[name=height]", "450")
    page.wait_for_function(  # the form updates 300 ms after the last edit: wait for both
        "() => { const s = document.getElementById('sc-preview').style;"
        " return s.width === '800px' && s.height === '450px'; }"
    )
    box = page.evaluate(
        "() => { const r = document.getElementById('sc-preview').getBoundingClientRect(); return [r.width, r.height]; }"
    )
    assert box == [800, 450]  # not squeezed into the 360 px column: its box scrolls instead
    assert "800" in page.inner_text("#sc-preview-size") and horizontal_overflow(page) <= 0
    assert 'width="800"' in page.input_value("#sc-snippet-code")
    page.screenshot(path=str(artifacts / "page-snippet-360-real-size.png"))
    page.context.close()
