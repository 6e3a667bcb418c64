"""WGS84 ⇄ GCJ-02 ⇄ BD-09 against published reference values and against fast-geocn."""

from __future__ import annotations

import math

import numpy as np
import pytest

from geo import coords
from geo.errors import CoordinateError

# googollee/eviltransform, python/test.py (TESTS): wgsLat, wgsLng, gcjLat, gcjLng
EVIL_WGS_GCJ = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # beijing
]
# hujiulong/gcoord, test/unit/crs/GCJ02.spec.js: GCJ02 (123, 45) -> WGS84 and -> BD09, to 5 decimals.
# (eviltransform's TESTS_bd pairs are not used: its bd2wgs applies the one-step GCJ inverse, and its
# expected values do not even match that to 40 m, so they cannot serve as a reference.)
GCOORD_GCJ = (123.0, 45.0)
GCOORD_GCJ_TO_WGS = (122.99395597, 44.99804071)
GCOORD_GCJ_TO_BD = (123.00636499, 45.00636899)
# wandergis/coordtransform, test/app.js: input (116.404, 39.915) and the printed results.
CT_IN = (116.404, 39.915)
CT_BD_TO_GCJ = (116.39762729119315, 39.90865673957631)
CT_GCJ_TO_BD = (116.41036949371029, 39.92133699351021)
CT_WGS_TO_GCJ = (116.41024449916938, 39.91640428150164)


def _dist_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371008.8 * math.asin(math.sqrt(a))


@pytest.mark.parametrize(("wlat", "wlon", "glat", "glon"), EVIL_WGS_GCJ)
def test_wgs_to_gcj_matches_eviltransform(wlat: float, wlon: float, glat: float, glon: float) -> None:
    lon, lat = coords.from_wgs84(wlon, wlat, crs="gcj02")
    assert lon == pytest.approx(glon, abs=1e-7)
    assert lat == pytest.approx(glat, abs=1e-7)


@pytest.mark.parametrize(("wlat", "wlon", "glat", "glon"), EVIL_WGS_GCJ)
def test_gcj_to_wgs_exact_within_a_centimetre(wlat: float, wlon: float, glat: float, glon: float) -> None:
    lon, lat = coords.to_wgs84(glon, glat, crs="gcj02")
    assert _dist_m(lon, lat, wlon, wlat) < 0.05  # the reference gcj values carry ~1e-9° rounding
    back = coords.from_wgs84(lon, lat, crs="gcj02")
    assert _dist_m(*back, glon, glat) < 0.01


def test_gcoord_reference_values() -> None:
    assert coords.to_wgs84(*GCOORD_GCJ, crs="gcj02") == pytest.approx(GCOORD_GCJ_TO_WGS, abs=5e-6)
    assert coords.gcj02_to_bd09(*GCOORD_GCJ) == pytest.approx(GCOORD_GCJ_TO_BD, abs=5e-6)


def test_coordtransform_reference_values() -> None:
    # coordtransform prints the closed-form BD inverse; ours refines it (a few centimetres apart)
    assert coords.bd09_to_gcj02(*CT_IN) == pytest.approx(CT_BD_TO_GCJ, abs=1e-6)
    assert coords.gcj02_to_bd09(*CT_IN) == pytest.approx(CT_GCJ_TO_BD, abs=1e-9)
    assert coords.wgs84_to_gcj02(*CT_IN) == pytest.approx(CT_WGS_TO_GCJ, abs=1e-9)


def test_against_fast_geocn_on_jiaxing_points() -> None:
    fast_geocn = pytest.importorskip("fast_geocn")
    rng = np.random.default_rng(1)
    lon = rng.uniform(120.3, 121.2, 50)
    lat = rng.uniform(30.3, 31.0, 50)
    glon, glat = coords.from_wgs84(lon, lat, crs="gcj02")
    blon, blat = coords.from_wgs84(lon, lat, crs="bd09")
    for i in range(lon.size):
        assert (glon[i], glat[i]) == pytest.approx(fast_geocn.wgs84_to_gcj02(lon[i], lat[i]), abs=1e-9)
        # fast-geocn inverts with 5 fixed iterations; ours stops at 1 cm: both agree to well under 1 m
        ref = fast_geocn.gcj02_to_wgs84(glon[i], glat[i])
        mine = coords.to_wgs84(glon[i], glat[i], crs="gcj02")
        assert _dist_m(*mine, *ref) < 0.5
        assert _dist_m(*mine, lon[i], lat[i]) < 0.05
        # fast-geocn 1.1.3's BD-09 uses sin(y*pi)/cos(x*pi) where the published formula (and
        # coordtransform, eviltransform, gcoord) use x_pi = pi*3000/180: up to ~80 m apart.
        assert _dist_m(blon[i], blat[i], *fast_geocn.wgs84_to_bd09(lon[i], lat[i])) < 100.0


def test_vectorised_round_trip_and_shapes() -> None:
    rng = np.random.default_rng(7)
    lon = rng.uniform(73.0, 135.0, (20, 3))
    lat = rng.uniform(18.0, 53.0, (20, 3))
    for crs in ("gcj02", "bd09", "wgs84"):
        x, y = coords.from_wgs84(lon, lat, crs=crs)
        assert x.shape == lon.shape
        bx, by = coords.to_wgs84(x, y, crs=crs)
        err = 6371008.8 * np.radians(np.hypot((bx - lon) * np.cos(np.radians(lat)), by - lat))
        assert err.max() < 0.05


def test_scalars_return_floats() -> None:
    lon, lat = coords.to_wgs84(120.76, 30.75, crs="gcj02")
    assert isinstance(lon, float) and isinstance(lat, float)


def test_outside_china_is_identity() -> None:
    # Helsinki (the demo city) is outside China: GCJ-02 equals WGS84 there.
    assert coords.from_wgs84(24.94, 60.17, crs="gcj02") == (24.94, 60.17)
    assert coords.to_wgs84(24.94, 60.17, crs="gcj02") == (24.94, 60.17)
    assert coords.out_of_china(24.94, 60.17) is True
    assert coords.out_of_china(120.76, 30.75) is False


def test_unknown_crs_raises() -> None:
    with pytest.raises(CoordinateError) as exc:
        coords.to_wgs84(120.0, 30.0, crs="mercator")
    assert exc.value.code == "invalid_coordinates"
    assert "mercator" in exc.value.message_zh
    assert coords.normalize_crs("Baidu") == "bd09"
    assert coords.normalize_crs("AMAP") == "gcj02"
