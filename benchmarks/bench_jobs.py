"""``/nearby`` latency while a 50,000-row sheet imports as a background job, against idle latency.

Starts the real service (uvicorn, one worker: ``skillcircle serve``'s default, the harshest case, as
the upload lands on the same worker that answers ``/nearby``) with the Jiaxing and demo samples and
the demo road network. It measures ``/nearby`` on the routed demo city with one keep-alive client,
sequential requests at random points: first idle (the baseline, same run), then while a 50,000-row
resource sheet uploaded to ``/api/v1/admin/import`` is imported by its job, until the job ends. It
prints p50/p95 of both, their ratio against the target (p95 within 2x idle), and the job's time.

Run: ``python -m benchmarks.bench_jobs [--rows 50000] [--idle 300]``
Only loopback traffic.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from benchmarks.bench_api import _free_port, _prepare

ROOT = Path(__file__).resolve().parent.parent


def resource_sheet(n: int, *, prefix: str = "BENCH", seed: int = 11) -> bytes:
    """A CSV of ``n`` labelled sample resources at random points of central Jiaxing (all inside
    districts), for the job benchmark and the job tests."""
    rng = np.random.default_rng(seed)
    lons, lats = rng.uniform(120.70, 120.80, n), rng.uniform(30.72, 30.78, n)
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(["external_id", "name", "category", "lon", "lat", "skills", "is_sample"])
    for i in range(n):
        out.writerow(
            [f"{prefix}-{i}", f"【示例】基准机构{i}", "training", f"{lons[i]:.6f}", f"{lats[i]:.6f}", "电工", "是"]
        )
    return buf.getvalue().encode("utf-8")


def _nearby_latencies(client: httpx.Client, rng: np.random.Generator, *, n: int | None, until=None) -> list[float]:
    out = []
    while (n is None or len(out) < n) and (until is None or not until()):
        lat, lon = 60.166 + rng.random() * 0.011, 24.937 + rng.random() * 0.014
        params = {"city": "demo", "lat": f"{lat:.5f}", "lon": f"{lon:.5f}", "mode": "walk", "minutes": 15, "limit": 20}
        start = time.perf_counter()
        resp = client.get("/api/v1/nearby", params=params)
        out.append((time.perf_counter() - start) * 1000)
        if resp.status_code != 200:
            sys.exit(f"/nearby answered {resp.status_code}: {resp.text[:200]}")
    return out


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main() -> None:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--idle", type=int, default=300, help="idle /nearby requests (baseline)")
    args = ap.parse_args()
    var = Path(tempfile.mkdtemp(prefix="skillcircle-bench-jobs-"))
    env = {
        **os.environ,
        "SKILLCIRCLE_VAR_DIR": str(var),
        "DATABASE_URL": f"sqlite:///{var / 'bench.db'}",
        "SKILLCIRCLE_RATE_LIMIT_PER_MINUTE": "0",
        "SKILLCIRCLE_OFFLINE": "true",
        "SKILLCIRCLE_MAX_UPLOAD_MB": "50",
    }
    print(f"preparing samples and the demo network in {var} …", flush=True)
    _prepare(env)
    token = subprocess.run(
        [sys.executable, "-m", "api.cli", "token", "create", "bench"], cwd=ROOT, env=env, capture_output=True, text=True
    ).stdout.split()[-1]
    sheet = resource_sheet(args.rows)
    port = _free_port()
    cmd = [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen([*cmd, "--log-level", "warning", "--no-access-log"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    rng = np.random.default_rng(3)
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/livez", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=60) as client:
            _nearby_latencies(client, rng, n=50)  # warm: engine, index, job pool not yet started
            load = os.getloadavg()[0]
            idle = _nearby_latencies(client, rng, n=args.idle)
            auth = {"Authorization": f"Bearer {token}"}
            started = time.perf_counter()
            accepted = client.post(
                "/api/v1/admin/import", headers=auth, files={"file": ("bench.csv", sheet, "text/csv")}
            )
            upload_ms = (time.perf_counter() - started) * 1000
            if accepted.status_code != 202:
                sys.exit(f"upload answered {accepted.status_code}: {accepted.text[:300]}")
            status_url = accepted.json()["status_url"]
            final: dict = {}
            ended = threading.Event()

            def _watch() -> None:
                with httpx.Client(base_url=base, timeout=60) as watcher:
                    while True:
                        resp = watcher.get(status_url, headers=auth)
                        job = resp.json() if resp.status_code == 200 else {"status": f"http {resp.status_code}"}
                        if job["status"] in ("succeeded", "failed"):
                            final.update(job)
                            ended.set()
                            return
                        time.sleep(0.5)

            threading.Thread(target=_watch, daemon=True).start()
            during = _nearby_latencies(client, rng, n=None, until=ended.is_set)
            job_s = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(
        f"\n1 uvicorn worker, 1 job process, 127.0.0.1, {os.cpu_count()} cores, load average {load:.2f} before "
        f"measuring; sequential keep-alive /nearby (demo, walk, 15 min) at random points"
    )
    print(f"{'phase':28} {'requests':>8} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}")
    for name, lat in (("idle (baseline)", idle), (f"during {args.rows:,}-row import", during)):
        print(f"{name:28} {len(lat):8d} {_pct(lat, 50):7.1f} {_pct(lat, 95):7.1f} {max(lat):7.1f}")
    ratio = _pct(during, 95) / _pct(idle, 95)
    print(
        f"upload answered 202 in {upload_ms:.0f} ms; "
        f"job {final.get('status')} after {job_s:.1f} s: {final.get('result')}"
    )
    print(f"p95 during the import / idle p95 = {ratio:.2f}x (target ≤ 2x: {'met' if ratio <= 2 else 'NOT met'})")


if __name__ == "__main__":
    main()
