"""SkillCircle's side of the Valhalla benchmark, in a fresh process (so its RSS is the engine's alone).

Usage: ``python -m benchmarks._valhalla_ours JOBS.json OUT.json``. Reads the same ``JOBS.json`` as
:mod:`benchmarks._valhalla_worker` plus the compiled graphs' folder, speeds and resources; loads the
engine (graphs memory-mapped, nearby tables from the cache the parent filled), answers the same
queries (each timed as the best of ``repeat`` runs, answer serialised to JSON as Valhalla's is):
isochrones (``CityEngine.isochrone``) and, in place of each matrix query, ``CityEngine.nearby`` with
the matrix's time budget; then reads RSS and writes ``OUT.json``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from isochrones.engine import CityEngine
from isochrones.graph import load_graph


def _memory_mib() -> dict[str, float]:
    """VmRSS/VmHWM and the private part of RSS (pages not shared with other processes), MiB."""
    out: dict[str, float] = {}
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            key = line.split(":")[0]
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(line.split()[1]) / 1024
    private = 0.0
    with open("/proc/self/smaps_rollup", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                private += int(line.split()[1]) / 1024
    return {"rss_mib": out["VmRSS"], "hwm_mib": out["VmHWM"], "private_mib": private}


def run(jobs: dict) -> dict:
    """Load the engine and answer ``jobs``; returns GeoJSONs, nearby answers, timings and memory."""
    t0 = time.perf_counter()
    graphs = {m: load_graph(Path(jobs["graphs"]) / f"{m}.npz") for m in jobs["modes"]}
    eng = CityEngine(graphs, speeds_mps=jobs["speeds_mps"], max_snap_m=500.0, cache_dir=Path(jobs["tables"]))
    res = jobs["resources"]
    eng.set_resources(res["ids"], res["lons"], res["lats"])
    out: dict = {"load_s": time.perf_counter() - t0, "iso": {}, "matrix": {}}
    for mode, job in jobs["modes"].items():
        fcs, secs = [], []
        for lon, lat in job["iso_origins"]:
            best = float("inf")
            for _ in range(jobs["repeat"]):
                t0 = time.perf_counter()
                fc = eng.isochrone(lon, lat, mode=mode, minutes=jobs["bands"])
                json.dumps(fc)  # Valhalla's answer is a JSON string: serialise ours too
                best = min(best, time.perf_counter() - t0)
            secs.append(best)
            fcs.append(fc)
        out["iso"][mode] = {"seconds": secs, "features": fcs}
        answers, secs = [], []
        for (lon, lat), _targets in job["matrix"]:
            best = float("inf")
            for _ in range(jobs["repeat"]):
                t0 = time.perf_counter()
                hits = eng.nearby(lon, lat, mode=mode, minutes=jobs["matrix_minutes"])
                json.dumps([[h.resource_id, h.seconds] for h in hits])
                best = min(best, time.perf_counter() - t0)
            secs.append(best)
            answers.append({str(h.resource_id): h.seconds for h in hits})
        out["matrix"][mode] = {"seconds": secs, "answers": answers}
    out.update(_memory_mib())
    return out


def main(jobs_path: str, out_path: str) -> None:
    """Answer every job of ``jobs_path`` with SkillCircle's engine and write ``out_path``."""
    jobs = json.loads(Path(jobs_path).read_text(encoding="utf-8"))
    Path(out_path).write_text(json.dumps(run(jobs)), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
