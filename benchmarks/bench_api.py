"""HTTP load benchmark of ``/api/v1/nearby`` with the Jiaxing sample loaded.

Starts the real service (uvicorn, ``--workers`` processes) on 127.0.0.1 with a fresh database holding the
Jiaxing and demo samples, then drives it with ``--clients`` concurrent keep-alive connections for a
bounded time with ``wrk`` (Debian's C load generator, so the client does not take the server's two cores;
installed with apt-get when missing and root), a random point and mode per request. It reports
requests/s and latency percentiles of ``/nearby`` (Jiaxing and the routed demo city) and, as the
baseline measured in the same run, of ``/api/v1/categories`` (a trivial endpoint: the framework's own
floor on this machine), with the ratio between them.

Run: ``python -m benchmarks.bench_api [--seconds 15] [--clients 20] [--workers 2]``
Only loopback traffic; every load is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent

# wrk script: a random point per request inside a box, the mode cycling; prints JSON stats at the end.
_LUA = """
math.randomseed(7)
local modes = {"walk", "bicycle", "ebike", "car"}
local n = 0
request = function()
  n = n + 1
  local lat = %(lat0)f + math.random() * %(dlat)f
  local lon = %(lon0)f + math.random() * %(dlon)f
  return wrk.format("GET", string.format("%(path)s", lat, lon, modes[n %% 4 + 1]))
end
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format('JSON{"requests": %%d, "seconds": %%f, "errors": %%d, "p50": %%f, "p95": %%f, "p99": %%f}\\n',
    summary.requests, summary.duration / 1e6, errors,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""
SCENARIOS = {
    "baseline GET /api/v1/categories": {"path": "/api/v1/categories?x=%%f&y=%%f&m=%%s", "box": (0, 0, 1, 1)},
    "GET /nearby jiaxing (estimate)": {
        "path": "/api/v1/nearby?lat=%%.5f&lon=%%.5f&mode=%%s&minutes=30&limit=20",
        "box": (30.55, 120.55, 0.30, 0.40),
    },
    "GET /nearby demo (routed)": {
        "path": "/api/v1/nearby?city=demo&lat=%%.5f&lon=%%.5f&mode=%%s&minutes=15&limit=20",
        "box": (60.166, 24.937, 0.011, 0.014),
    },
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wrk() -> str:
    found = shutil.which("wrk")
    if found is None and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True)
        found = shutil.which("wrk")
    if found is None:
        sys.exit("wrk is needed: apt-get install wrk")
    return found


def _prepare(env: dict[str, str]) -> None:
    for city in ("jiaxing", "demo"):
        subprocess.run(
            [sys.executable, "-m", "api.cli", "sample", city, "--start-date", date.today().isoformat()],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
    subprocess.run(
        [sys.executable, "-m", "api.cli", "build", "demo"], cwd=ROOT, env=env, check=True, capture_output=True
    )


def _run(wrk: str, base: str, spec: dict, *, clients: int, seconds: int, folder: Path) -> dict:
    lat0, lon0, dlat, dlon = spec["box"]
    script = folder / "load.lua"
    script.write_text(_LUA % {"lat0": lat0, "lon0": lon0, "dlat": dlat, "dlon": dlon, "path": spec["path"] % ()})
    out = subprocess.run(
        [wrk, "-t2", f"-c{clients}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), base],
        check=True,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    ).stdout
    stats = json.loads(out[out.index("JSON") + 4 :].splitlines()[0])
    stats["rps"] = stats["requests"] / stats["seconds"]
    return stats


def main() -> None:
    """Run the benchmark and print a table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=15, help="load duration per scenario")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    wrk = _wrk()

    var = Path(tempfile.mkdtemp(prefix="skillcircle-bench-"))
    env = {
        **os.environ,
        "SKILLCIRCLE_VAR_DIR": str(var),
        "DATABASE_URL": f"sqlite:///{var / 'bench.db'}",
        "SKILLCIRCLE_RATE_LIMIT_PER_MINUTE": "0",
        "SKILLCIRCLE_OFFLINE": "true",
    }
    print(f"preparing samples and the demo network in {var} …", flush=True)
    _prepare(env)
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    rows = []
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        # warm every worker (engines and indexes load lazily) before measuring
        for spec in SCENARIOS.values():
            _run(wrk, base, spec, clients=args.clients, seconds=3, folder=var)
        load = os.getloadavg()[0]
        for name, spec in SCENARIOS.items():
            rows.append((name, _run(wrk, base, spec, clients=args.clients, seconds=args.seconds, folder=var)))
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(
        f"\n{args.clients} concurrent connections (wrk), {args.workers} uvicorn workers, 127.0.0.1, "
        f"{os.cpu_count()} cores, load average {load:.2f} before measuring, {args.seconds} s each"
    )
    print(f"{'scenario':34} {'requests':>8} {'errors':>6} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}")
    for name, r in rows:
        print(
            f"{name:34} {r['requests']:8d} {r['errors']:6d} {r['rps']:7.0f} {r['p50']:7.1f} {r['p95']:7.1f} "
            f"{r['p99']:7.1f}"
        )
    base_rps = rows[0][1]["rps"]
    for name, r in rows[1:]:
        print(
            f"{name}: {r['rps'] / base_rps:.2f}x the baseline's throughput; ≥300 req/s "
            f"{'met' if r['rps'] >= 300 else 'NOT met'}; p95 ≤50 ms {'met' if r['p95'] <= 50 else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
