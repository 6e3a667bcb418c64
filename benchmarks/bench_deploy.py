"""``/nearby`` throughput through the documented deployment (``deploy/``) with 1 and then 2 API processes.

The stack is the one ``tests/test_deploy.py`` runs (:mod:`benchmarks._deploy_stack`): the units'
``ExecStart`` lines behind Debian's nginx, a fresh PostgreSQL database with the demo sample, the demo's
compiled road graphs, and Redis holding the rate limit (set high enough never to refuse, so that its
Redis round trip is in every request). The load is ``wrk`` (one thread, ``--concurrency`` connections)
asking walk ``/nearby`` for origins cycling through a fixed list of valid points, for ``--seconds``
per run. Both set-ups run side by side (the idle one costs nothing) and are measured in
turn, ``--rounds`` times, so that other load on the machine drifts over both alike. The baseline is
the 1-process set-up in the same invocation: the ratio of the median rates is what a
second process adds on this machine, where the load generator, nginx, PostgreSQL and Redis share the
same cores as the API processes.

Run under the machine's shared benchmark lock: ``flock LOCKFILE python -m benchmarks.bench_deploy``
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import create_engine, make_url, text

from benchmarks._deploy_stack import ROOT, clear_redis, deployment, migrate
from benchmarks._wrk import run_wrk, wrk_path

REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _origins(base: str, n: int, seed: int = 7) -> list[tuple[float, float]]:
    """``n`` origins in the demo city that ``/nearby`` accepts (on land, in a district)."""
    rng = np.random.default_rng(seed)
    out: list[tuple[float, float]] = []
    with httpx.Client(timeout=60) as c:
        while len(out) < n:
            lat, lon = float(rng.uniform(60.164, 60.179)), float(rng.uniform(24.935, 24.954))
            r = c.get(f"{base}/api/v1/nearby", params={"city": "demo", "lat": lat, "lon": lon, "mode": "walk"})
            if r.status_code == 200:
                out.append((lat, lon))
    return out


_LUA = """
local origins = {%(origins)s}
local n = %(offset)d
request = function()
  n = n + 1
  local o = origins[n %% #origins + 1]
  return wrk.format("GET", string.format("/api/v1/nearby?city=demo&mode=walk&lat=%%.6f&lon=%%.6f", o[1], o[2]))
end
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format('JSON{"requests": %%d, "seconds": %%f, "errors": %%d, "p50": %%f, "p95": %%f}\\n',
    summary.requests, summary.duration / 1e6, errors,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000))
end
"""


def _load(base: str, origins: list[tuple[float, float]], *, concurrency: int, seconds: float, folder: Path) -> dict:
    """``wrk`` (one thread: the load generator in C takes little of the cores it shares) for ``seconds``."""
    wrk = wrk_path()
    table = ", ".join(f"{{{lat:.6f}, {lon:.6f}}}" for lat, lon in origins)
    script = folder / "nearby.lua"
    script.write_text(_LUA % {"origins": table, "offset": secrets.randbelow(len(origins))}, encoding="utf-8")
    stats = run_wrk(wrk, base, script, threads=1, connections=concurrency, seconds=int(seconds), request_timeout_s=30)
    ok = stats["requests"] - stats["errors"]
    return {"ok": ok, "errors": stats["errors"], "rps": ok / stats["seconds"], "p50": stats["p50"], "p95": stats["p95"]}


def _fresh_database(server: str) -> tuple[str, str]:
    name = f"sc_bench_deploy_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name, make_url(server).set(database=name).render_as_string(hide_password=False)


def _drop_database(server: str, name: str) -> None:
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    """Prepare the demo city on a fresh database, then measure with 1 and 2 API processes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--origins", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    server = os.environ.get("SKILLCIRCLE_TEST_DATABASE_URL", DEFAULT_SERVER)
    tmp = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    prefix = f"sc-bench-deploy-{secrets.token_hex(4)}"
    name, url = _fresh_database(server)
    env = {
        "DATABASE_URL": url,
        "SKILLCIRCLE_VAR_DIR": str(tmp / "var"),
        "SKILLCIRCLE_REDIS_URL": REDIS_URL,
        "SKILLCIRCLE_REDIS_KEY_PREFIX": prefix,
        "SKILLCIRCLE_RATE_LIMIT_PER_MINUTE": "100000000",
        "SKILLCIRCLE_CITIES": '["demo"]',
        "SKILLCIRCLE_DEFAULT_CITY": "demo",
        "SKILLCIRCLE_OFFLINE": "true",
    }
    try:
        done = migrate(env)
        assert done.returncode == 0, done.stderr
        prep = subprocess.run(
            [sys.executable, "-m", "api.cli", "prepare", "--city", "demo"],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert prep.returncode == 0, prep.stderr
        runs: dict[int, list[dict]] = {1: [], 2: []}
        with (
            deployment(tmp / "run1", env, processes=1) as one,
            deployment(tmp / "run2", env, processes=2) as two,
        ):
            stacks = {1: one, 2: two}
            origins = _origins(one.base, args.origins)
            for stack in stacks.values():  # warm every process (engines loaded, pages touched)
                _load(stack.base, origins, concurrency=args.concurrency, seconds=3, folder=tmp)
            # alternate the two set-ups, so that the other tenants' load drifts over both alike
            for _ in range(args.rounds):
                for processes, stack in stacks.items():
                    runs[processes].append(
                        _load(stack.base, origins, concurrency=args.concurrency, seconds=args.seconds, folder=tmp)
                    )
        load = os.getloadavg()[0]
        print(
            f"/nearby (walk, demo city) through nginx; wrk -t1 -c{args.concurrency}; {args.rounds} alternating runs"
            f" of {args.seconds:g} s per set-up; load average {load:.1f} after the runs, {os.cpu_count()} cores"
        )
        print("| API processes | requests answered | errors | requests/s (median of runs) | runs | p50 ms | p95 ms |")
        print("|---|---|---|---|---|---|---|")
        median = {}
        for processes, rs in runs.items():
            median[processes] = statistics.median(r["rps"] for r in rs)
            each = ", ".join(f"{r['rps']:.0f}" for r in rs)
            p50 = statistics.median(r["p50"] for r in rs)
            p95 = statistics.median(r["p95"] for r in rs)
            ok, errors = sum(r["ok"] for r in rs), sum(r["errors"] for r in rs)
            print(f"| {processes} | {ok} | {errors} | {median[processes]:.0f} | {each} | {p50:.1f} | {p95:.1f} |")
        print(f"ratio 2 processes / 1 process (medians): {median[2] / median[1]:.2f}x")
    finally:
        clear_redis(REDIS_URL, prefix)
        _drop_database(server, name)


if __name__ == "__main__":
    main()
