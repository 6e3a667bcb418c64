"""The mode rules table of geo.moderules, row by row: the modes, access chains, one-way variants, pushing, speeds."""

from __future__ import annotations

import numpy as np
import pytest

from geo.cities import load_city
from geo.errors import CityPackError, UnknownModeError
from geo.moderules import (
    ACCESS_CHAIN,
    EBIKE_LEGAL_MAX_KMH,
    MODE_KEYS,
    ONEWAY_MODES,
    WALK_MODE,
    check_mode,
    ebike_speed,
    mode_edges,
    parse_maxspeed,
)
from tests._engine_fixtures import tag_network

WALK, BIKE, EBIKE, CAR = 4.5, 15.0, 17.0, 30.0
SPEED = {"walk": WALK, "bicycle": BIKE, "ebike": EBIKE, "car": CAR}
F, B, BOTH, NONE = "forward", "backward", "both", "-"

# (tags, {mode: direction or (direction, "push")}) -- one segment each, drawn from node 0 to node 1
CASES: list[tuple[dict, dict]] = [
    ({"highway": "residential"}, {"walk": BOTH, "bicycle": BOTH, "ebike": BOTH, "car": BOTH}),
    ({"highway": "residential", "oneway": "yes"}, {"walk": BOTH, "bicycle": F, "ebike": F, "car": F}),
    ({"highway": "residential", "oneway": "-1"}, {"walk": BOTH, "bicycle": B, "ebike": B, "car": B}),
    ({"highway": "residential", "junction": "roundabout"}, {"walk": BOTH, "bicycle": F, "ebike": F, "car": F}),
    ({"highway": "residential", "oneway": "reversible"}, {"walk": BOTH, "bicycle": BOTH, "ebike": BOTH, "car": NONE}),
    (
        {"highway": "residential", "oneway": "yes", "oneway:bicycle": "no"},
        {"walk": BOTH, "bicycle": BOTH, "ebike": BOTH, "car": F},
    ),
    (
        {"highway": "residential", "oneway": "yes", "cycleway": "opposite_lane"},
        {"walk": BOTH, "bicycle": BOTH, "ebike": BOTH, "car": F},
    ),
    (
        {"highway": "residential", "oneway": "yes", "cycleway:left": "opposite_track"},
        {"walk": BOTH, "bicycle": BOTH, "ebike": BOTH, "car": F},
    ),
    ({"highway": "residential", "oneway:bicycle": "yes"}, {"walk": BOTH, "bicycle": F, "ebike": F, "car": BOTH}),
    ({"highway": "residential", "vehicle": "no"}, {"walk": BOTH, "bicycle": NONE, "ebike": NONE, "car": NONE}),
    (
        {"highway": "residential", "vehicle": "no", "bicycle": "yes"},
        {"walk": BOTH, "bicycle": BOTH, "ebike": BOTH, "car": NONE},
    ),
    # China: e-bikes are non-motor vehicles, so motor_vehicle=no does not bar them
    ({"highway": "service", "motor_vehicle": "no"}, {"walk": BOTH, "bicycle": BOTH, "ebike": BOTH, "car": NONE}),
    ({"highway": "service", "motorcar": "no"}, {"walk": BOTH, "bicycle": BOTH, "ebike": BOTH, "car": NONE}),
    ({"highway": "service", "access": "private"}, {"walk": NONE, "bicycle": NONE, "ebike": NONE, "car": NONE}),
    (
        {"highway": "service", "access": "no", "foot": "yes", "motor_vehicle": "destination"},
        {"walk": BOTH, "bicycle": NONE, "ebike": NONE, "car": BOTH},
    ),
    ({"highway": "primary", "foot": "no"}, {"walk": NONE, "bicycle": BOTH, "ebike": BOTH, "car": BOTH}),
    ({"highway": "primary", "bicycle": "use_sidepath"}, {"walk": BOTH, "bicycle": NONE, "ebike": NONE, "car": BOTH}),
    ({"highway": "trunk"}, {"walk": NONE, "bicycle": NONE, "ebike": NONE, "car": BOTH}),
    (
        {"highway": "trunk", "bicycle": "yes", "foot": "yes"},
        {"walk": BOTH, "bicycle": BOTH, "ebike": BOTH, "car": BOTH},
    ),
    ({"highway": "motorway"}, {"walk": NONE, "bicycle": NONE, "ebike": NONE, "car": F}),
    ({"highway": "motorway", "oneway": "no"}, {"walk": NONE, "bicycle": NONE, "ebike": NONE, "car": BOTH}),
    ({"highway": "cycleway"}, {"walk": BOTH, "bicycle": BOTH, "ebike": BOTH, "car": NONE}),
    ({"highway": "cycleway", "foot": "no"}, {"walk": NONE, "bicycle": BOTH, "ebike": BOTH, "car": NONE}),
    (
        {"highway": "footway"},
        {"walk": BOTH, "bicycle": (BOTH, "push"), "ebike": (BOTH, "push"), "car": NONE},
    ),
    ({"highway": "footway", "bicycle": "designated"}, {"walk": BOTH, "bicycle": BOTH, "ebike": BOTH, "car": NONE}),
    ({"highway": "footway", "bicycle": "no"}, {"walk": BOTH, "bicycle": NONE, "ebike": NONE, "car": NONE}),
    (
        {"highway": "pedestrian"},
        {"walk": BOTH, "bicycle": (BOTH, "push"), "ebike": (BOTH, "push"), "car": NONE},
    ),
    ({"highway": "pedestrian", "bicycle": "yes"}, {"walk": BOTH, "bicycle": BOTH, "ebike": BOTH, "car": NONE}),
    (
        {"highway": "cycleway", "bicycle": "dismount"},
        {"walk": BOTH, "bicycle": (BOTH, "push"), "ebike": (BOTH, "push"), "car": NONE},
    ),
    (
        {"highway": "residential", "oneway": "yes", "bicycle": "dismount"},
        {"walk": BOTH, "bicycle": (F, "push"), "ebike": (F, "push"), "car": F},
    ),
    ({"highway": "steps"}, {"walk": BOTH, "bicycle": NONE, "ebike": NONE, "car": NONE}),
    ({"highway": "steps", "bicycle": "yes"}, {"walk": BOTH, "bicycle": (BOTH, "push"), "ebike": NONE, "car": NONE}),
    ({"highway": "service", "area": "yes"}, {"walk": BOTH, "bicycle": BOTH, "ebike": BOTH, "car": NONE}),
    ({"highway": "track"}, {"walk": BOTH, "bicycle": BOTH, "ebike": BOTH, "car": NONE}),
    ({"highway": "construction"}, {"walk": NONE, "bicycle": NONE, "ebike": NONE, "car": NONE}),
]


@pytest.fixture(scope="module")
def net():
    xy, segs = [], []
    for k, (tags, _) in enumerate(CASES):
        xy += [(0.0, 100.0 * k), (100.0, 100.0 * k)]
        segs.append({"u": 2 * k, "v": 2 * k + 1, **tags})
    return tag_network(np.array(xy), segs)


@pytest.mark.parametrize("mode", ["walk", "bicycle", "ebike", "car"])
def test_every_row_of_the_rules_table(net, mode: str) -> None:
    edges = mode_edges(net, mode, speed_kmh=SPEED[mode], walk_kmh=WALK)
    got: dict[int, dict[str, float]] = {}
    for a, b, s in zip(edges.u.tolist(), edges.v.tolist(), (edges.speed_mps * 3.6).tolist(), strict=True):
        k = min(a, b) // 2
        got.setdefault(k, {})[F if a < b else B] = s
    for k, (tags, want) in enumerate(CASES):
        expect = want[mode]
        direction, push = expect if isinstance(expect, tuple) else (expect, "")
        dirs = got.get(k, {})
        have = {(): NONE, (F,): F, (B,): B, (B, F): BOTH}[tuple(sorted(dirs))]
        assert have == direction, f"{mode} on {tags}: {have}, expected {direction}"
        if mode != "car":
            for s in dirs.values():
                assert s == pytest.approx(WALK if push else SPEED[mode]), f"{mode} speed on {tags}"


def test_the_table_has_one_row_per_mode_and_refuses_others(net) -> None:
    assert set(ACCESS_CHAIN) == set(MODE_KEYS) and ONEWAY_MODES < set(MODE_KEYS) and WALK_MODE in MODE_KEYS
    assert [check_mode(m) for m in MODE_KEYS] == list(MODE_KEYS)
    for bad in ("bus", "WALK", ""):
        with pytest.raises(UnknownModeError) as err:
            mode_edges(net, bad, speed_kmh=10.0)
        assert err.value.details == {"mode": bad, "allowed": list(MODE_KEYS)}
        assert "电动自行车" in err.value.message_zh


def test_only_the_one_way_modes_follow_one_way_streets(net) -> None:
    for mode in MODE_KEYS:
        edges = mode_edges(net, mode, speed_kmh=SPEED[mode], walk_kmh=WALK)
        pairs = set(zip(edges.u.tolist(), edges.v.tolist(), strict=True))
        reversed_ = {(v, u) for u, v in pairs}
        assert (pairs == reversed_) == (mode not in ONEWAY_MODES), mode


def test_ebike_is_capped_at_the_legal_speed(net) -> None:
    assert ebike_speed(EBIKE_LEGAL_MAX_KMH) == 25.0
    with pytest.raises(CityPackError) as err:
        mode_edges(net, "ebike", speed_kmh=30.0)
    assert "GB 17761-2018" in err.value.message_zh
    for key in ("demo", "jiaxing"):  # the shipped packs ride at a cited cruising speed below the cap
        assert load_city(key).modes["ebike"].speed_kmh <= EBIKE_LEGAL_MAX_KMH


@pytest.mark.parametrize(
    ("raw", "kmh"),
    [("50", 50.0), ("50 km/h", 50.0), ("30 mph", 48.28032), ("10 knots", 18.52), ("40;60", 50.0), (None, None)],
)
def test_maxspeed_parsing(raw, kmh) -> None:
    got = parse_maxspeed(raw)
    assert np.isnan(got) if kmh is None else got == pytest.approx(kmh)


@pytest.mark.parametrize("raw", ["none", "signals", "CN:urban", "walk", ""])
def test_maxspeed_words_are_not_numbers(raw) -> None:
    assert np.isnan(parse_maxspeed(raw))


def test_no_private_osmnx_function_is_used() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for folder in ("geo", "isochrones", "api"):
        for path in (root / folder).rglob("*.py"):
            assert "_clean_maxspeed" not in path.read_text(encoding="utf-8"), path
