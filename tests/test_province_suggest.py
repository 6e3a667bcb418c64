"""The province's next sites over HTTP, as a provincial planner asks: ``POST /api/v1/plan/suggest?city=zhejiang``.

The reference is independent of the merge: each member city's own ``/api/v1/plan/suggest`` answer
(greedy, the same k) fetched over HTTP, every site with what it adds pooled, and the k largest taken
by brute force. The province's answer must be exactly those sites, each city's in its own order.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests._province import PROVINCE, province_members

BODY = {"category": "evaluation", "mode": "ebike", "minutes": 15, "k": 6}


@pytest.fixture(scope="module")
def answers(client) -> dict[str, Any]:
    province = client.post("/api/v1/plan/suggest", params={"city": PROVINCE}, json=BODY)
    assert province.status_code == 200, province.text
    cities = {}
    for key in province_members()["loaded"]:
        own = client.post("/api/v1/plan/suggest", params={"city": key}, json=BODY)
        assert own.status_code == 200, own.text
        cities[key] = own.json()
    return {"province": province.json(), "cities": cities}


def test_the_sites_are_the_k_largest_gains_of_every_citys_own_sites(answers) -> None:
    body, cities = answers["province"], answers["cities"]
    order = list(cities)
    pooled = [
        (site["newly_covered"], order.index(key), site["rank"], key, site)
        for key, own in cities.items()
        for site in own["sites"]
        if site["newly_covered"] > 0
    ]
    best = sorted(pooled, key=lambda p: (-p[0], p[1], p[2]))[: BODY["k"]]
    assert len(body["sites"]) == len(best) == BODY["k"]
    for got, (gain, _order, rank, key, site) in zip(body["sites"], best, strict=True):
        assert (got["city"], got["city_rank"], got["newly_covered"]) == (key, rank, gain)
        assert (got["lon"], got["lat"], got["label"], got["district"]) == (
            site["lon"],
            site["lat"],
            site["label"],
            site["district"],
        )
    gains = [s["newly_covered"] for s in body["sites"]]
    assert gains == sorted(gains, reverse=True) and gains[-1] > 0
    assert len({s["city"] for s in body["sites"]}) > 1  # the merge interleaves cities, not one city's list
    assert [s["rank"] for s in body["sites"]] == list(range(1, len(gains) + 1))
    assert [s["cumulative"] for s in body["sites"]] == [sum(gains[: i + 1]) for i in range(len(gains))]
    assert body["newly_covered"] == body["greedy"]["covered"] == sum(gains)


def test_each_city_keeps_its_own_order_and_the_sums_are_the_cities(answers) -> None:
    body, cities = answers["province"], answers["cities"]
    per_city = {row["city"]: row for row in body["per_city"]}
    assert list(per_city) == list(cities)
    for key, own in cities.items():
        mine = [s for s in body["sites"] if s["city"] == key]
        assert [s["city_rank"] for s in mine] == list(range(1, len(mine) + 1))  # a prefix of the city's list
        assert per_city[key]["sites"] == len(mine)
        assert per_city[key]["newly_covered"] == sum(s["newly_covered"] for s in mine)
        assert per_city[key]["uncovered_before"] == own["uncovered_before"]
    assert body["uncovered_before"] == sum(own["uncovered_before"] for own in cities.values())
    assert body["covered_before"] == sum(own["before"]["total"]["covered"] for own in cities.values())
    # the province's optimum is at most the sum of the cities' optima, each bounded by its greedy bound
    bound = min(sum(own["greedy"]["upper_bound"] for own in cities.values()), body["uncovered_before"])
    assert body["greedy"]["upper_bound"] == pytest.approx(bound, abs=len(cities))
    assert body["greedy"]["covered"] <= body["greedy"]["upper_bound"]
    assert body["greedy"]["guarantee"] == pytest.approx(1 - 1 / 2.718281828459045, abs=1e-4)


def test_the_answer_names_its_cities_flags_and_the_city_without_a_pack(answers) -> None:
    body = answers["province"]
    members = province_members()
    assert [c["key"] for c in body["cities"]] == members["loaded"]
    assert {m["key"]: m["reason"] for m in body["missing"]} == members["missing"]
    assert body["estimate"] is True and body["estimate_modes"] == ["ebike"]  # no road network in tests
    assert body["notice"]["estimate"]["zh"] and body["notice"]["population"]["en"]
    assert body["method"] == "greedy" and body["category"] == "evaluation"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"method": "exact"}, "invalid_method"),
        ({"candidates": [{"lon": 120.75, "lat": 30.75}]}, "invalid_candidates"),
        ({"resolution": 9}, "invalid_parameter"),
        ({"k": 51}, "invalid_parameter"),
    ],
)
def test_what_only_one_city_can_answer_is_a_clear_4xx(client, change, code) -> None:
    resp = client.post("/api/v1/plan/suggest", params={"city": PROVINCE}, json={**BODY, **change})
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == code and error["message_zh"] and error["message_en"]


def test_merging_each_citys_greedy_is_greedy_on_the_whole_province() -> None:
    """The claim the merge rests on, checked against an independent greedy run: cities whose residents
    only their own sites cover form a block-diagonal cover matrix, and greedy on the whole matrix picks
    exactly the merged sites (random instances; float weights, so no ties)."""
    from types import SimpleNamespace

    import numpy as np
    from scipy import sparse

    from planning.mclp import mclp_greedy
    from planning.province import merge_suggestions
    from planning.sites import Site

    rng = np.random.default_rng(16)
    for trial in range(20):
        k = int(rng.integers(1, 9))
        covers, weights, suggestions, columns = [], [], {}, []
        for c in range(int(rng.integers(2, 6))):
            rows, cols = int(rng.integers(5, 60)), int(rng.integers(3, 25))
            cover = sparse.random(rows, cols, density=float(rng.uniform(0.05, 0.4)), random_state=rng, format="csr")
            cover.data[:] = 1.0
            w = rng.uniform(1.0, 5000.0, rows)
            greedy = mclp_greedy(cover, w, k)
            sites = [
                Site(i + 1, 0.0, 0.0, f"{c}:{j}", "", "", int(round(g)), 0, float(g))
                for i, (j, g) in enumerate(zip(greedy.chosen, greedy.gains, strict=True))
            ]
            suggestions[f"city{c}"] = SimpleNamespace(
                greedy=greedy, sites=sites, before=SimpleNamespace(total={"covered": 0}), uncovered_population=0
            )
            covers.append(cover)
            weights.append(w)
            columns += [f"{c}:{j}" for j in range(cols)]
        whole = mclp_greedy(sparse.block_diag(covers, format="csr"), np.concatenate(weights), k)
        merged = merge_suggestions(suggestions, k=k)
        expected = [columns[j] for j, g in zip(whole.chosen, whole.gains, strict=True) if g > 0]
        assert [s.site.label for s in merged.sites] == expected, trial
        assert merged.newly_covered == pytest.approx(whole.value, abs=1.0), trial
