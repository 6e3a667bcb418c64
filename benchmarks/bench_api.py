"""HTTP load benchmark of ``/api/v1/nearby`` with the Jiaxing sample loaded.

Starts the real service (uvicorn, ``--workers`` processes) on 127.0.0.1 with a fresh database holding
the Jiaxing and demo samples, then drives it with ``--clients`` concurrent keep-alive clients for a
bounded number of requests. It reports requests/s and latency percentiles of ``/nearby`` (Jiaxing and
the routed demo city) and, as the baseline measured in the same run, of ``/api/v1/categories`` (a
trivial endpoint: the framework's own floor on this machine), with the ratio between them.

Run: ``python -m benchmarks.bench_api [--requests 4000] [--clients 20] [--workers 2]``
Only loopback traffic; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
        [sys.executable, "-m", "api.cli", "network", "build", "demo"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


async def _load(base: str, urls: list[str], *, clients: int, time_limit: float) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    queue = list(reversed(urls))
    deadline = time.perf_counter() + time_limit

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while queue and time.perf_counter() < deadline:
            url = queue.pop()
            t0 = time.perf_counter()
            resp = await client.get(url)
            latencies.append(time.perf_counter() - t0)
            if resp.status_code != 200:
                errors += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        elapsed = time.perf_counter() - start
    return latencies, errors, elapsed


def _row(name: str, lat: list[float], errors: int, elapsed: float) -> dict:
    ms = sorted(x * 1000 for x in lat)
    return {
        "name": name,
        "requests": len(ms),
        "errors": errors,
        "rps": len(ms) / elapsed,
        "p50": statistics.median(ms),
        "p95": ms[int(0.95 * (len(ms) - 1))],
        "p99": ms[int(0.99 * (len(ms) - 1))],
    }


def main() -> None:
    """Run the benchmark and print a table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--time-limit", type=float, default=120.0, help="seconds per scenario at most")
    args = ap.parse_args()

    var = Path(tempfile.mkdtemp(prefix="skillcircle-bench-"))
    env = {
        **os.environ,
        "SKILLCIRCLE_VAR_DIR": str(var),
        "DATABASE_URL": f"sqlite:///{var / 'bench.db'}",
        "SKILLCIRCLE_RATE_LIMIT_PER_MINUTE": "0",
        "SKILLCIRCLE_OFFLINE": "true",
    }
    env.pop("SKILLCIRCLE_TEST_DATABASE_URL", None)
    print(f"preparing samples in {var} …", flush=True)
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
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        rng = random.Random(7)
        jx = [
            f"/api/v1/nearby?lat={rng.uniform(30.55, 30.85):.5f}&lon={rng.uniform(120.55, 120.95):.5f}"
            f"&mode={rng.choice(['walk', 'bicycle', 'ebike', 'car'])}&minutes=30&limit=20"
            for _ in range(args.requests)
        ]
        demo = [
            f"/api/v1/nearby?city=demo&lat={rng.uniform(60.166, 60.177):.5f}&lon={rng.uniform(24.937, 24.951):.5f}"
            f"&mode={rng.choice(['walk', 'bicycle', 'ebike', 'car'])}&minutes=15&limit=20"
            for _ in range(args.requests)
        ]
        floor = ["/api/v1/categories"] * args.requests
        # warm every worker (engines load lazily) before measuring
        asyncio.run(_load(base, jx[:200] + demo[:200], clients=args.clients, time_limit=60))
        rows = []
        for name, urls in (
            ("baseline GET /api/v1/categories", floor),
            ("GET /nearby jiaxing (estimate)", jx),
            ("GET /nearby demo (routed)", demo),
        ):
            lat, errors, elapsed = asyncio.run(_load(base, urls, clients=args.clients, time_limit=args.time_limit))
            rows.append(_row(name, lat, errors, elapsed))
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"\n{args.clients} concurrent clients, {args.workers} uvicorn workers, 127.0.0.1, {os.cpu_count()} cores")
    print(f"{'scenario':36} {'requests':>8} {'errors':>6} {'req/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}")
    for r in rows:
        print(
            f"{r['name']:36} {r['requests']:8d} {r['errors']:6d} {r['rps']:8.0f} {r['p50']:7.1f} {r['p95']:7.1f} "
            f"{r['p99']:7.1f}"
        )
    base_rps = rows[0]["rps"]
    for r in rows[1:]:
        print(
            f"{r['name']}: {r['rps'] / base_rps:.2f}x the baseline's throughput; "
            f"targets ≥300 req/s: {'met' if r['rps'] >= 300 else 'NOT met'}, p95 ≤50 ms: "
            f"{'met' if r['p95'] <= 50 else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
