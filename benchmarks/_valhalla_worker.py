"""Valhalla's side of the benchmark, run by the Python 3.12 venv's interpreter (stdlib + pyvalhalla only).

Usage: ``<venv>/bin/python benchmarks/_valhalla_worker.py JOBS.json OUT.json``. ``JOBS.json`` holds the
Valhalla config path, the bands, and per mode the costing, its options, the isochrone origins and the
matrix queries (one source, its targets). It answers them with one ``valhalla.Actor`` in this fresh
process, timing each call (the best of ``repeat`` runs, to damp the shared machine's noise), then
reads this process's RSS (``/proc/self/status``) and writes ``OUT.json``: the isochrone GeoJSONs,
the matrix times, the seconds of every call and the memory.
"""

from __future__ import annotations

import json
import sys
import time


def _status_mib(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _matrix_seconds(answer: dict) -> list[float | None]:
    """Durations of the one source row (Valhalla ≥ 3.5 may answer row-wise dicts or column arrays)."""
    s2t = answer["sources_to_targets"]
    if isinstance(s2t, dict):
        return list(s2t["durations"][0])
    return [cell.get("time") for cell in s2t[0]]


def main(jobs_path: str, out_path: str) -> None:
    """Answer every job of ``jobs_path`` with Valhalla and write ``out_path``."""
    from valhalla import Actor

    with open(jobs_path, encoding="utf-8") as fh:
        jobs = json.load(fh)
    t0 = time.perf_counter()
    actor = Actor(jobs["config"])
    out: dict = {"load_s": time.perf_counter() - t0, "iso": {}, "matrix": {}}
    contours = [{"time": b} for b in jobs["bands"]]
    for mode, job in jobs["modes"].items():
        opts = {job["costing"]: job["options"]}
        fcs, secs = [], []
        for lon, lat in job["iso_origins"]:
            query = {
                "locations": [{"lat": lat, "lon": lon}],
                "costing": job["costing"],
                "costing_options": opts,
                "contours": contours,
                "polygons": True,
            }
            best = float("inf")
            for _ in range(jobs["repeat"]):
                t0 = time.perf_counter()
                answer = actor.isochrone(json.dumps(query))
                best = min(best, time.perf_counter() - t0)
            secs.append(best)
            fcs.append(json.loads(answer))
        out["iso"][mode] = {"seconds": secs, "features": fcs}
        times, secs = [], []
        for (lon, lat), targets in job["matrix"]:
            if not targets:
                times.append([])
                secs.append(None)
                continue
            query = {
                "sources": [{"lat": lat, "lon": lon}],
                "targets": [{"lat": b, "lon": a} for a, b, *_ in targets],
                "costing": job["costing"],
                "costing_options": opts,
            }
            best = float("inf")
            for _ in range(jobs["repeat"]):
                t0 = time.perf_counter()
                answer = actor.matrix(json.dumps(query))
                best = min(best, time.perf_counter() - t0)
            secs.append(best)
            times.append(_matrix_seconds(json.loads(answer)))
        out["matrix"][mode] = {"seconds": secs, "times": times}
    out["rss_mib"] = _status_mib("VmRSS")
    out["hwm_mib"] = _status_mib("VmHWM")
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump(out, fh)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
