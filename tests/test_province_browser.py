"""The province view in Debian's headless chromium, at phone (360 × 740) and desktop (1366 × 768) size.

``/map?city=zhejiang``: every city drawn (outline and label, districts, grey outlines for the cities
without a pack), the markers of every city with a pack, the city table readable without sideways
scrolling. ``/map/coverage?city=zhejiang``: one choropleth polygon per district row of the province
answer, and every number on the page equal to the sum of the per-city ``/api/v1/plan/table`` answers
fetched over HTTP. On every page: no horizontal overflow, 44 px tap targets on the phone, no axe-core
violation, no console error, nothing loaded from another host. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import re

import httpx
import pytest

from geo.boundaries import districts
from geo.cities import load_city
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
    wait_idle,
)
from tests._province import province_members, resource_total
from tests._servers import PATIENCE_S

pytestmark = pytest.mark.browser

SIZES = {"360": PHONE, "1366": DESKTOP}
VIEW = {"category": "evaluation", "mode": "ebike", "minutes": 30}


@pytest.fixture(scope="module")
def members() -> dict[str, object]:
    return province_members()


# a table is readable when nothing in it is clipped or needs sideways scrolling, and its text is ≥ 12 px
_TABLE_CHECK = """(id) => {
  const table = document.getElementById(id);
  const wrap = table.closest('.sc-table-wrap');
  const sizes = [...table.querySelectorAll('th, td')].map(c => parseFloat(getComputedStyle(c).fontSize));
  const r = table.getBoundingClientRect();
  return {rows: table.tBodies[0].rows.length, overflow: wrap.scrollWidth - wrap.clientWidth,
          right: r.right, width: window.innerWidth, minFont: Math.min(...sizes)};
}"""


def _check_readable(page: object, table_id: str, rows: int) -> None:
    got = page.evaluate(_TABLE_CHECK, table_id)
    assert got["rows"] == rows, got
    assert got["overflow"] <= 1 and got["right"] <= got["width"] + 0.5, got
    assert got["minFont"] >= 12, got


def _check_page(page: object, rec: object, size: str, lang: str) -> None:
    assert page.evaluate("document.documentElement.lang") == ("en" if lang == "en" else "zh-CN")
    text = visible_text(page)
    if lang == "en":  # no Chinese outside the names marked translate="no" (and the language switch)
        assert not re.findall(r"[\u3400-\u9fff]+", text.replace("中文", ""))
    else:
        assert len(re.findall(r"[\u3400-\u9fff]", text)) > 50
    assert horizontal_overflow(page) <= 0
    if size == "360":
        assert small_targets(page) == []
    assert axe_violations(page) == []
    assert not rec.console_errors, rec.console_errors
    rec.assert_local_only()


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("size", list(SIZES))
def test_province_map_draws_every_city(browser, live_server, artifacts, members, size, lang):  # noqa: F811
    url = f"{live_server.url}/map?city=zhejiang&basemap=none&lang={lang}"
    page, rec = open_page(browser, url, viewport=SIZES[size], locale="en-US" if lang == "en" else "zh-CN")
    loaded, missing = members["loaded"], members["missing"]
    assert page.evaluate("document.documentElement.lang") == ("en" if lang == "en" else "zh-CN")
    # every city: an outline per city with a pack, a grey outline per city without, each labelled
    assert page.locator("path.sc-city-outline").count() == len(loaded)
    assert page.locator("path.sc-missing-city").count() == len(missing)
    assert page.locator(".sc-city-label").count() == len(loaded) + len(missing)
    n_districts = sum(len(districts(load_city(k))) for k in loaded)
    assert page.evaluate("() => SkillCircle.state.districts.getLayers().length") == n_districts
    # the resource markers of every city with a pack, in their category layers
    shown = page.evaluate("() => Object.values(SkillCircle.state.groups).reduce((n, g) => n + g.getLayers().length, 0)")
    assert shown == resource_total(loaded) > 0
    # the city table: every city with a pack, readable at this width
    _check_readable(page, "sc-city-table", len(loaded))
    estimate = page.eval_on_selector_all("#sc-city-table tbody tr", "els => els.map(e => e.dataset.estimate)")
    assert estimate == ["1"] * len(loaded)  # offline: no Zhejiang city has a road network
    page.screenshot(path=str(artifacts / f"page-province-{size}-{lang}.png"))
    assert page.locator("#sc-missing li").count() == len(missing)
    if missing:
        first = page.locator("#sc-missing li").first
        first.scroll_into_view_if_needed()
        assert first.locator(".sc-missing-reason").is_visible()
        page.screenshot(path=str(artifacts / f"page-province-{size}-{lang}-missing.png"))
    _check_page(page, rec, size, lang)
    # "go to city" frames that city
    page.select_option("#sc-province-jump", "jiaxing")
    center = page.evaluate("() => { const c = SkillCircle.state.map.getCenter(); return [c.lat, c.lng]; }")
    jx = load_city("jiaxing").bbox
    assert jx[1] <= center[0] <= jx[3] and jx[0] <= center[1] <= jx[2]
    page.context.close()


def test_a_served_citys_marker_opens_its_card(browser, live_server, artifacts):  # noqa: F811
    page, rec = open_page(browser, f"{live_server.url}/map?city=zhejiang&basemap=none", viewport=DESKTOP)
    rid = page.evaluate(
        """() => {
          const r = SkillCircle.config.resources.find(r => r.city === 'jiaxing');
          const s = SkillCircle.state;
          s.map.setView(s.markers[r.id].getLatLng(), s.map.getMaxZoom() - 1, {animate: false});
          return r.id;
        }"""
    )
    marker = page.locator(f".leaflet-marker-pane .sc-marker[data-id='{rid}']")
    marker.wait_for(state="visible")
    marker.click()
    page.wait_for_selector("#sc-card:not([hidden]) .sc-card-name")
    page.wait_for_function("() => SkillCircle.state.pending === 0")
    assert page.locator("#sc-card").get_attribute("data-id") == str(rid)
    assert any("/resources/" in u and "city=jiaxing" in u for u in rec.requests)
    assert not rec.console_errors, rec.console_errors
    page.context.close()


def _city_tables(base: str, keys: list[str]) -> dict[str, dict]:
    """Each city's own /api/v1/plan/table answer (total and district), fetched over HTTP."""
    out = {}
    params = {"categories": VIEW["category"], "modes": VIEW["mode"], "thresholds": VIEW["minutes"]}
    with httpx.Client(base_url=base, timeout=PATIENCE_S) as http:
        for key in keys:
            total = http.get("/api/v1/plan/table", params={**params, "city": key, "level": "total"})
            per_district = http.get("/api/v1/plan/table", params={**params, "city": key, "level": "district"})
            assert total.status_code == 200 and per_district.status_code == 200, (key, total.text[:300])
            out[key] = {"total": total.json(), "district": per_district.json()}
    return out


@pytest.mark.parametrize(("size", "lang"), [("360", "zh"), ("1366", "en")])
def test_province_gap_map_equals_the_sum_of_the_cities(browser, live_server, artifacts, members, size, lang):  # noqa: F811
    url = f"{live_server.url}/map/coverage?city=zhejiang&basemap=none&lang={lang}"  # redirects to the gap view
    context, rec = recording_context(browser, viewport=SIZES[size], locale="en-US" if lang == "en" else "zh-CN")
    page = context.new_page()
    assert page.goto(url).status == 200
    # the first province answer computes every city's coverage model: allow it the patience of a server start
    page.wait_for_function("() => document.body.dataset.choropleth !== undefined", timeout=PATIENCE_S * 1000)
    wait_idle(page)
    assert f"category={VIEW['category']}" in page.url and f"minutes={VIEW['minutes']}" in page.url
    answer = page.evaluate("() => SkillCircle.state.provinceAnswers")
    district_rows = answer["district"]["rows"]
    # one coloured polygon per district of the answer
    assert int(page.evaluate("document.body.dataset.choropleth")) == len(district_rows) > 0
    assert page.evaluate("document.body.dataset.unmatched") == "0"
    assert page.locator("path.sc-district-fill").count() == len(district_rows)
    assert page.locator("#sc-share-legend li").count() >= 7
    # every number equals the per-city answers, asked city by city over HTTP
    cities = _city_tables(live_server.url, members["loaded"])
    (row,) = {key: c["total"]["rows"] for key, c in cities.items()}["jiaxing"]
    summary = page.locator("#sc-coverage-summary")
    population = sum(c["total"]["rows"][0]["population"] for c in cities.values())
    covered = sum(c["total"]["rows"][0]["covered"] for c in cities.values())
    assert int(summary.get_attribute("data-population")) == population
    assert int(summary.get_attribute("data-covered")) == covered
    assert int(summary.get_attribute("data-uncovered")) == population - covered > 0
    shown_cities = page.eval_on_selector_all(
        "#sc-province-city-table tbody tr",
        "els => els.map(e => [e.dataset.city, +e.dataset.uncovered, e.dataset.estimate])",
    )
    expected_cities = {
        k: (c["total"]["rows"][0]["uncovered"], "1" if c["total"]["rows"][0]["estimate"] else "0")
        for k, c in cities.items()
    }
    assert {k: (u, e) for k, u, e in shown_cities} == expected_cities
    shown_districts = page.eval_on_selector_all(
        "#sc-province-district-table tbody tr",
        "els => els.map(e => [e.dataset.city, e.dataset.adcode, +e.dataset.uncovered])",
    )
    expected_districts = {(k, r["adcode"]): r["uncovered"] for k, c in cities.items() for r in c["district"]["rows"]}
    assert {(k, a): u for k, a, u in shown_districts} == expected_districts
    # the answer's notices: sample resources, straight-line estimates
    kinds = page.eval_on_selector_all("#sc-coverage-summary .sc-note", "els => els.map(e => e.dataset.kind)")
    assert "sample" in kinds and "estimate" in kinds and row["estimate"] is True
    assert page.locator("#sc-coverage-summary .sc-badge-estimate").count() == 1
    badges = page.eval_on_selector_all(
        "#sc-province-city-table tbody tr",
        "els => els.map(e => [e.dataset.city, !!e.querySelector('.sc-badge-estimate')])",
    )
    assert dict(badges) == {k: e == "1" for k, (_u, e) in expected_cities.items()}
    # a city with nothing in the registry is "nothing registered", not an ordinary 0 %: on the map and in the table
    registered = {c["key"]: c["resources"] for c in answer["city"]["cities"]}
    assert registered["jiaxing"] > 0 and any(n == 0 for n in registered.values())
    empty = page.eval_on_selector_all(
        "#sc-province-city-table tbody tr", "els => els.map(e => [e.dataset.city, e.dataset.empty])"
    )
    assert dict(empty) == {k: "1" if n == 0 else "0" for k, n in registered.items()}
    empty_districts = sum(1 for r in district_rows if registered[r["city"]] == 0)
    assert page.locator("path.sc-share-empty").count() == empty_districts > 0
    page.screenshot(path=str(artifacts / f"page-province-coverage-{size}-{lang}.png"))
    page.locator("#sc-province-district-table").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / f"page-province-coverage-{size}-{lang}-districts.png"))
    _check_readable(page, "sc-province-city-table", len(cities))
    _check_readable(page, "sc-province-district-table", len(district_rows))
    _check_page(page, rec, size, lang)
    page.context.close()
