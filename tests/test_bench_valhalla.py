"""The Valhalla side-by-side benchmark: the network it writes as .osm.pbf, and both engines on one network.

The first test needs only osmium-tool: the ``.pbf`` the benchmark writes for Valhalla, read back through
SkillCircle's own reader, compiles to the same graphs as the network it was written from. The second
runs the benchmark end to end on a small synthetic network when the benchmark's Python 3.12 venv with
pyvalhalla exists (``python -m benchmarks.bench_valhalla --prepare-only`` makes it; tests never
download): Valhalla is then an independent reference for our walking and driving times.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from benchmarks._synthetic import synthetic_network
from benchmarks._valhalla_setup import write_pbf
from geo.network import read_pbf
from isochrones.graph import compile_graph

SPEEDS = {"walk": 4.5, "bicycle": 15.0, "ebike": 17.0, "car": 35.0}


@pytest.mark.skipif(shutil.which("osmium") is None, reason="needs Debian's osmium-tool")
def test_written_pbf_reads_back_as_the_same_network(tmp_path: Path) -> None:
    net = synthetic_network(side=80, seed=7)
    back = read_pbf(write_pbf(net, tmp_path / "small.osm.pbf"))
    used = np.unique(np.concatenate([net.segments["u"], net.segments["v"]]))  # a lake can leave a node alone
    assert back.n_nodes == used.size > 1000
    np.testing.assert_allclose(np.sort(back.lon), np.sort(net.lon[used]), atol=1e-7)
    assert len(back.segments) == len(net.segments)
    trunk = back.segments[back.segments["highway"] == "trunk"]
    assert len(trunk) > 0
    assert (trunk["foot"] == "no").all() and (trunk["bicycle"] == "no").all()
    assert sorted(back.segments["oneway_code"].value_counts().items()) == sorted(
        net.segments["oneway_code"].value_counts().items()
    )
    for mode, kmh in SPEEDS.items():
        a = compile_graph(net, mode, speed_kmh=kmh)
        b = compile_graph(back, mode, speed_kmh=kmh)
        assert a.n_edges == b.n_edges, mode
        # pyrosm measures lengths on the sphere, the synthetic network in UTM metres: < 0.2 % apart
        assert b.seconds.sum() == pytest.approx(a.seconds.sum(), rel=2e-3), mode


def _venv() -> Path | None:
    from benchmarks.bench_engine import CACHE

    venv = CACHE / "valhalla-venv"
    return venv if (venv / "bin" / "python").is_file() and shutil.which("osmium") else None


@pytest.mark.slow
@pytest.mark.skipif(_venv() is None, reason="no Valhalla venv (python -m benchmarks.bench_valhalla --prepare-only)")
def test_both_engines_on_one_small_network(tmp_path: Path) -> None:
    from benchmarks import bench_valhalla as bv

    venv = _venv()
    net = bv._Network("small", tmp_path, write_pbf(synthetic_network(side=60, seed=11), tmp_path / "s.osm.pbf"), 40)
    bv._prepare(net, venv)
    rows, mem = bv.bench(net, venv, n_iso=4, n_matrix=4)
    by_mode = {r["mode"]: r for r in rows}
    assert set(by_mode) == {"walk", "bicycle", "ebike", "car"}
    for mode in ("walk", "car"):  # same speed model on both sides: the same resources, the same times
        r = by_mode[mode]
        assert r["jaccard"] >= 0.9, r
        assert 0.9 <= r["time_ratio"] <= 1.1, r
    for r in rows:
        assert r["missed"]["ours"] == 0.0, r  # every place we reach inside our own polygon
        assert all(0.5 <= a <= 2.0 for a in r["area"].values()), r
        assert r["iso_ours"] > 0 and r["iso_val"] > 0
    assert mem["ours_rss"] > 0 and mem["val_rss"] > 0
