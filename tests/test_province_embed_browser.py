"""The province embed in Debian's headless chromium, as a provincial portal shows it.

A portal page of another origin (the live server's second port, on the embed allow-list) frames
``/embed?city=zhejiang`` in a column 320, 360 or 600 px wide. Inside the frame: every district of the
cities with a pack drawn, each city's outline, the cities without a pack grey (a tap says why), the
resources of every city in the marker cluster, the notices and the "open the full map" link inside the
frame's width, no horizontal overflow, 44 px tap targets, no axe-core violation, no console error,
nothing from another host. The snippet page writes an ``<iframe>`` for the province whose preview
loads. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from geo.boundaries import districts
from geo.cities import load_city
from geo.config import get_settings
from geo.provinces import load_province
from tests._maps_browser import (  # noqa: F401 - fixtures
    PHONE,
    axe_violations,
    browser,
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


@pytest.fixture(scope="module")
def members() -> dict[str, object]:
    found = province_members()
    loaded = found["loaded"]
    return {
        **found,
        "districts": sum(len(districts(load_city(k))) for k in loaded),
        "resources": resource_total(loaded),
    }


_READY = "() => window.SkillCircle && SkillCircle.state.ready && SkillCircle.state.pending === 0"

_FITS = """() => {
  const s = SkillCircle.state;
  const b = L.featureGroup([s.outlines, s.missing]).getBounds();
  return s.map.getSize().x === window.innerWidth && s.map.getZoom() === s.map.getBoundsZoom(b)
    && s.map.getBounds().contains(b);
}"""

_LAYOUT = """() => {
  const box = (n) => { const r = n.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const s = SkillCircle.state;
  return {
    inner: [window.innerWidth, window.innerHeight],
    scroll: Math.max(document.documentElement.scrollWidth, document.body.scrollWidth),
    notes: [...document.querySelectorAll('#sc-notes .sc-note, #sc-notes a')].map(box),
    kinds: [...document.querySelectorAll('#sc-notes .sc-note')].map(n => n.dataset.kind),
    bar: box(document.getElementById('sc-embed-bar')),
    map: box(document.getElementById('sc-map-wrap')),
    controls: [...document.querySelectorAll('.leaflet-control-container .leaflet-control')].map(box),
    districts: s.districts.getLayers().length,
    districtPaths: document.querySelectorAll('.leaflet-overlay-pane path').length,
    outlines: document.querySelectorAll('path.sc-city-outline').length,
    grey: document.querySelectorAll('path.sc-missing-city').length,
    clustered: s.cluster.getLayers().length,
    page: SkillCircle.config.page,
    lang: document.documentElement.lang,
  };
}"""


@pytest.mark.parametrize(("width", "lang"), [(320, "zh"), (360, "zh"), (600, "zh"), (360, "en")])
def test_province_embed_in_a_portal_column(browser, live_server, artifacts, members, monkeypatch, width, lang):  # noqa: F811
    monkeypatch.setattr(get_settings(), "embed_origins", [live_server.other_url])
    src = f"{live_server.url}/embed?city=zhejiang&basemap=none" + ("&lang=en" if lang == "en" else "")
    ctx, rec = recording_context(browser, viewport=(width, 700), locale="en-US" if lang == "en" else "zh-CN")
    page = ctx.new_page()
    # the portal is another origin: only the configured frame-ancestors let chromium show the embed
    portal = f"{live_server.other_url}/__test__/portal?src={quote(src)}"
    assert page.goto(portal, timeout=PATIENCE_S * 1000).status == 200  # the first province page is slow
    page.locator("#f").evaluate(f"f => {{ f.width = {width - 20}; f.height = 520; }}")
    frame = page.locator("#f").element_handle().content_frame()
    assert frame is not None and frame.url.startswith(f"{live_server.url}/embed"), frame and frame.url
    frame.wait_for_function(_READY, timeout=PATIENCE_S * 1000)
    # resized after it loaded, the embed frames the whole province again at the largest zoom that fits
    frame.wait_for_function(_FITS, timeout=5000)
    got = frame.evaluate(_LAYOUT)
    inner_w, inner_h = got["inner"]
    assert inner_w == width - 20 and got["page"] == "province-embed"
    assert got["lang"] == ("en" if lang == "en" else "zh-CN")
    # no horizontal overflow inside the frame, and the frame itself fits the portal's column
    assert got["scroll"] <= inner_w, got["scroll"]
    assert page.locator("#f").bounding_box()["x"] + page.locator("#f").bounding_box()["width"] <= width
    # every city drawn: the districts of the cities with a pack, their outlines, the others grey
    assert got["districts"] == members["districts"] > 0
    assert got["districtPaths"] >= members["districts"] + len(members["loaded"]) + len(members["missing"])
    assert got["outlines"] == len(members["loaded"]) and got["grey"] == len(members["missing"])
    assert got["clustered"] == members["resources"] > 0  # every city's resources, in the cluster
    # the notices and the full-map link below the map, wrapped inside the frame, never over the map
    assert got["kinds"][:2] == ["sample", "estimate"] and got["kinds"].count("missing") == len(members["missing"])
    for left, top, right, bottom in got["notes"]:
        assert right > left and left >= 0 and right <= inner_w + 0.5 and top >= got["map"][3] - 0.5, got["notes"]
        assert bottom <= inner_h + 0.5, (bottom, inner_h)
    assert got["map"][3] - got["map"][1] >= 140
    for _left, top, _right, bottom in got["controls"]:
        if bottom > top:
            assert top >= got["bar"][3] - 0.5, "a map control overlaps the embed's controls"
    assert small_targets(frame) == []
    text = visible_text(frame)
    if lang == "en":
        assert not re.findall(r"[\u3400-\u9fff]+", text), re.findall(r"[\u3400-\u9fff]+", text)[:5]
    else:
        assert len(re.findall(r"[\u3400-\u9fff]", text)) > 50
    assert axe_violations(frame) == []
    page.locator("#f").screenshot(path=str(artifacts / f"page-province-embed-portal-{width}-{lang}.png"))
    # a tap on a grey city says why it has no pack, in the panel floating on the map; closing hides it
    if members["missing"]:
        frame.evaluate("() => { SkillCircle.state.missing.getLayers()[0].fire('click'); }")
        status = frame.locator("#sc-panel:not([hidden]) #sc-status")
        status.wait_for(state="visible")
        assert ("no pack yet" if lang == "en" else "尚无数据包") in status.inner_text()
        page.locator("#f").screenshot(path=str(artifacts / f"page-province-embed-portal-{width}-{lang}-missing.png"))
        frame.locator("#sc-panel-close").click()
        assert frame.locator("#sc-panel").get_attribute("hidden") is not None
    # "go to city" frames that city
    frame.select_option("#sc-province-jump", "jiaxing")
    center = frame.evaluate("() => { const c = SkillCircle.state.map.getCenter(); return [c.lat, c.lng]; }")
    jx = load_city("jiaxing").bbox
    assert jx[1] <= center[0] <= jx[3] and jx[0] <= center[1] <= jx[2]
    assert not rec.console_errors, rec.console_errors
    rec.assert_local_only()
    ctx.close()


def test_snippet_writes_a_working_iframe_for_the_province(browser, live_server, artifacts, members, monkeypatch):  # noqa: F811
    monkeypatch.setattr(get_settings(), "basemap", "none")  # the preview starts on the deployment's basemap
    page, rec = open_page(browser, f"{live_server.url}/embed/snippet?city=jiaxing", viewport=(1366, 900))
    page.wait_for_function(
        "() => +document.querySelector('select[name=skill]').dataset.loaded > 0", timeout=PATIENCE_S * 1000
    )
    page.select_option("select[name=city]", "zhejiang")
    page.select_option("select[name=lang]", "en")
    page.fill("input[name=height]", "520")
    page.wait_for_function(
        # the form updates 300 ms after the last edit (the height): a slow machine can show the city and
        # language a round before the height
        "() => ['city=zhejiang', 'lang=en'].every(p => SkillCircle.state.snippet.src.includes(p))"
        " && SkillCircle.state.snippet.code.includes('height=\"520\"')",
        timeout=PATIENCE_S * 1000,
    )
    assert page.locator("select[name=skill]").is_disabled()  # a province embed has no skill filter
    pack = load_province("zhejiang")
    assert page.get_attribute("input[name=center]", "placeholder") == f"{pack.center[0]},{pack.center[1]}"
    code = page.input_value("#sc-snippet-code")
    src = re.search(r'<iframe src="([^"]+)"', code).group(1).replace("&amp;", "&")
    assert src.startswith(get_settings().base_url.rstrip("/") + "/embed?")
    assert parse_qs(urlsplit(src).query) == {"city": ["zhejiang"], "mode": ["ebike"], "lang": ["en"]}
    assert 'height="520"' in code and 'title="30-minute' in code
    # the preview (same origin) is that province embed, loaded and drawn
    page.wait_for_function(
        """() => {
          const w = document.querySelector('#sc-preview').contentWindow;
          return w.location.href.includes('city=zhejiang') && w.SkillCircle && w.SkillCircle.state.ready
            && w.SkillCircle.state.pending === 0;
        }""",
        timeout=PATIENCE_S * 1000,
    )
    preview = page.frame_locator("#sc-preview")
    frame = page.locator("#sc-preview").element_handle().content_frame()
    assert frame.evaluate("() => SkillCircle.config.page") == "province-embed"
    assert frame.evaluate("() => SkillCircle.config.lang") == "en"
    assert frame.evaluate("() => SkillCircle.state.districts.getLayers().length") == members["districts"]
    assert preview.locator("path.sc-city-outline").count() == len(members["loaded"])
    assert preview.locator(".sc-full-link").count() == 1
    page.screenshot(path=str(artifacts / "page-snippet-province.png"))
    # back to a city: its skills again
    page.select_option("select[name=city]", "jiaxing")
    page.wait_for_function("() => SkillCircle.state.snippet.src.includes('city=jiaxing')", timeout=PATIENCE_S * 1000)
    page.wait_for_function(
        "() => +document.querySelector('select[name=skill]').dataset.loaded > 0", timeout=PATIENCE_S * 1000
    )
    assert not page.locator("select[name=skill]").is_disabled()
    assert not rec.console_errors, rec.console_errors
    rec.assert_local_only()
    page.context.close()


def test_province_snippet_page_opens_on_the_province(browser, live_server, monkeypatch):  # noqa: F811
    monkeypatch.setattr(get_settings(), "basemap", "none")
    page, rec = open_page(browser, f"{live_server.url}/embed/snippet?city=zhejiang", viewport=PHONE)
    page.wait_for_function("() => SkillCircle.state.snippet && SkillCircle.state.snippet.src.includes('city=zhejiang')")
    assert page.input_value("select[name=city]") == "zhejiang"
    page.locator("#sc-preview").scroll_into_view_if_needed()  # the preview loads lazily, below the form
    page.wait_for_function(
        """() => { const w = document.querySelector('#sc-preview').contentWindow;
                   return w.SkillCircle && w.SkillCircle.state.ready && w.SkillCircle.state.pending === 0; }""",
        timeout=PATIENCE_S * 1000,
    )
    frame = page.locator("#sc-preview").element_handle().content_frame()
    assert frame.evaluate("() => SkillCircle.config.page") == "province-embed"
    assert small_targets(page) == [] and axe_violations(page) == []
    assert not rec.console_errors, rec.console_errors
    page.context.close()
