"""A GCJ-02 basemap (Amap) moves every overlay by the GCJ-02 offset, computed by geo.coords.

The same Jiaxing pages are loaded in Debian's headless chromium with ``basemap=none`` (WGS84) and
``basemap=amap`` (GCJ-02). Markers, district boundaries, a resource's isochrones, a clicked point and
the coverage cells are read back from the Leaflet objects (and one marker from the DOM) and compared:
the Amap page must hold exactly ``from_wgs84(<none page>, crs="gcj02")``, about 480 m off in Jiaxing.
Amap's tile requests are aborted (and checked to be the only requests for another host).
"""

from __future__ import annotations

import math
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from geo.coords import from_wgs84, to_wgs84
from tests._maps_browser import browser, live_server, open_page, wait_idle  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser

TOL_DEG = 2e-6  # coordinates are rounded to 6–7 decimals on the way


def _only_amap_tiles_left(rec: object) -> None:
    assert rec.external, "the Amap page should have asked for Amap tiles"
    hosts = {urlsplit(u).hostname for u in rec.external}
    assert all(h.endswith(".is.autonavi.com") for h in hosts), hosts


def _markers(page: object) -> dict[int, tuple[float, float]]:
    return {
        int(k): tuple(v)
        for k, v in page.evaluate(
            "() => Object.fromEntries(Object.entries(SkillCircle.state.markers)"
            ".map(([id, m]) => [id, [m.getLatLng().lng, m.getLatLng().lat]]))"
        ).items()
    }


def _rings(fc: dict) -> np.ndarray:
    """Every vertex of a FeatureCollection's (Multi)Polygons as an (n, 2) lon/lat array."""
    out = []
    for feat in fc["features"]:
        geom = feat["geometry"]
        polys = geom["coordinates"] if geom["type"] == "MultiPolygon" else [geom["coordinates"]]
        for poly in polys:
            for ring in poly:
                out.extend(ring)
    return np.asarray(out, dtype=float)


def _assert_shifted(wgs: np.ndarray, gcj: np.ndarray) -> None:
    """``gcj`` equals the GCJ-02 conversion of ``wgs`` and the shift is hundreds of metres."""
    assert wgs.shape == gcj.shape and len(wgs)
    lon, lat = from_wgs84(wgs[:, 0], wgs[:, 1], crs="gcj02")
    assert np.abs(gcj[:, 0] - lon).max() < TOL_DEG
    assert np.abs(gcj[:, 1] - lat).max() < TOL_DEG
    shift_m = np.hypot(
        (gcj[:, 0] - wgs[:, 0]) * 111_320 * math.cos(math.radians(30.75)), (gcj[:, 1] - wgs[:, 1]) * 110_574
    )
    assert shift_m.min() > 300 and shift_m.max() < 700


@pytest.fixture(scope="module")
def pages(browser, live_server):  # noqa: F811
    """The Jiaxing map with no tiles (WGS84) and with Amap tiles (GCJ-02)."""
    url = f"{live_server.url}/map?city=jiaxing&mode=walk&basemap="
    none, rec_none = open_page(browser, url + "none")
    amap, rec_amap = open_page(browser, url + "amap")
    rec_none.assert_local_only()
    _only_amap_tiles_left(rec_amap)
    yield {"none": (none, rec_none), "amap": (amap, rec_amap)}
    none.context.close()
    amap.context.close()


def test_markers_move_by_the_gcj02_offset(pages):
    none, _ = pages["none"]
    amap, _ = pages["amap"]
    assert none.evaluate("() => SkillCircle.config.crs") == "wgs84"
    assert amap.evaluate("() => SkillCircle.config.crs") == "gcj02"
    wgs, gcj = _markers(none), _markers(amap)
    assert wgs.keys() == gcj.keys() and len(wgs) >= 403
    ids = sorted(wgs)
    _assert_shifted(np.array([wgs[i] for i in ids]), np.array([gcj[i] for i in ids]))


def test_a_marker_element_sits_at_its_gcj02_position(pages):
    """In the DOM: the marker's icon is drawn where Leaflet projects the geo.coords GCJ-02 point."""
    none, _ = pages["none"]
    amap, _ = pages["amap"]
    rid = min(_markers(none))
    lon, lat = _markers(none)[rid]
    glon, glat = from_wgs84(lon, lat, crs="gcj02")
    amap.evaluate(f"() => {{ SkillCircle.state.map.setView([{glat}, {glon}], 17, {{animate: false}}); }}")
    icon = amap.locator(f".leaflet-marker-pane .sc-marker[data-id='{rid}']")
    icon.wait_for(state="visible")
    box = icon.bounding_box()
    origin = amap.locator("#sc-map-wrap .folium-map").bounding_box()
    expected = amap.evaluate(f"() => SkillCircle.state.map.latLngToContainerPoint([{glat}, {glon}])")
    assert abs(box["x"] + box["width"] / 2 - origin["x"] - expected["x"]) < 1.5
    assert abs(box["y"] + box["height"] / 2 - origin["y"] - expected["y"]) < 1.5
    # the WGS84 point is ~480 m away: at zoom 17 that is hundreds of pixels
    wgs_px = amap.evaluate(f"() => SkillCircle.state.map.latLngToContainerPoint([{lat}, {lon}])")
    assert math.hypot(wgs_px["x"] - expected["x"], wgs_px["y"] - expected["y"]) > 300


def test_district_boundaries_move_by_the_gcj02_offset(pages):
    none, _ = pages["none"]
    amap, _ = pages["amap"]
    wgs = _rings(none.evaluate("() => SkillCircle.state.districts.toGeoJSON()"))
    gcj = _rings(amap.evaluate("() => SkillCircle.state.districts.toGeoJSON()"))
    _assert_shifted(wgs, gcj)


def test_resource_isochrones_move_by_the_gcj02_offset(pages):
    """Clicking the same resource on both maps: the drawn circle on Amap is the GCJ-02 one."""
    none, _ = pages["none"]
    amap, rec = pages["amap"]
    rid = min(_markers(none))
    for page in (none, amap):
        page.evaluate(f"() => {{ SkillCircle.state.markers[{rid}].fire('click'); }}")  # returns nothing
        page.wait_for_function(f"() => SkillCircle.state.selected === {rid} && SkillCircle.state.lastIsochrones")
        wait_idle(page)
        assert page.locator("path.sc-iso-resource").count() == 3
    wgs = _rings(none.evaluate("() => SkillCircle.state.lastIsochrones.fc"))
    gcj = _rings(amap.evaluate("() => SkillCircle.state.lastIsochrones.fc"))
    _assert_shifted(wgs, gcj)
    asked = [u for u in rec.requests if f"/resources/{rid}/isochrones" in u][-1]
    assert parse_qs(urlsplit(asked).query)["crs"] == ["gcj02"]


def test_a_click_on_the_amap_basemap_is_read_as_gcj02(pages):
    """The clicked point goes to /nearby as GCJ-02 and the server's WGS84 origin is its inverse."""
    amap, rec = pages["amap"]
    amap.evaluate("() => { SkillCircle.state.map.setView(SkillCircle.config.resources[0], 13, {animate: false}); }")
    box = amap.locator("#sc-map-wrap").bounding_box()
    amap.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.55)
    amap.wait_for_selector("#sc-reach:not([hidden])")
    wait_idle(amap)
    asked = [u for u in rec.requests if "/api/v1/nearby" in u][-1]
    query = parse_qs(urlsplit(asked).query)
    assert query["crs"] == ["gcj02"]
    lat, lon = float(query["lat"][0]), float(query["lon"][0])
    origin = amap.evaluate("() => SkillCircle.state.originLayer.getLayers()[0].getLatLng()")
    assert abs(origin["lat"] - lat) < 1e-6 and abs(origin["lng"] - lon) < 1e-6
    wlon, wlat = to_wgs84(lon, lat, crs="gcj02")
    answer = amap.evaluate(
        f"""() => fetch('/api/v1/nearby?city=jiaxing&mode=walk&minutes=30&crs=gcj02&lat={lat}&lon={lon}')
              .then(r => r.json())"""
    )
    assert abs(answer["origin"]["wgs84"]["lat"] - wlat) < 1e-6 and abs(answer["origin"]["wgs84"]["lon"] - wlon) < 1e-6
    # the listed resources are given in GCJ-02 too: they match the markers of the Amap page
    markers = _markers(amap)
    for item in answer["items"][:5]:
        r = item["resource"]
        assert abs(markers[r["id"]][0] - r["lon"]) < TOL_DEG and abs(markers[r["id"]][1] - r["lat"]) < TOL_DEG


def test_coverage_cells_move_by_the_gcj02_offset(browser, live_server):  # noqa: F811
    url = f"{live_server.url}/map/coverage?city=jiaxing&category=college&mode=ebike&minutes=15&resolution=7&basemap="
    cells = {}
    for basemap in ("none", "amap"):
        page, rec = open_page(browser, url + basemap)
        page.wait_for_function("() => document.body.dataset.cells !== undefined")
        asked = parse_qs(urlsplit(next(u for u in rec.requests if "/api/v1/coverage" in u)).query)
        assert asked["crs"] == ["wgs84" if basemap == "none" else "gcj02"] and asked["resolution"] == ["7"]
        cells[basemap] = page.evaluate(
            "() => SkillCircle.state.cells.toGeoJSON().features.slice(0, 300).map(f => [f.properties.h3, f.geometry])"
        )
        if basemap == "none":
            rec.assert_local_only()
        else:
            _only_amap_tiles_left(rec)
        page.context.close()
    assert [h for h, _ in cells["none"]] == [h for h, _ in cells["amap"]]
    wgs = _rings({"features": [{"geometry": g} for _, g in cells["none"]]})
    gcj = _rings({"features": [{"geometry": g} for _, g in cells["amap"]]})
    _assert_shifted(wgs, gcj)
