"""HTTP load benchmark of ``/api/v1/nearby`` against the framework floor, before and after a change.

Starts the real service (uvicorn, 1 and then 2 worker processes) on 127.0.0.1 with a fresh database
holding the Jiaxing and demo samples, and drives it with ``wrk`` (Debian's C load generator, installed
by ``scripts/system-deps.sh``, so the client does not run Python on the server's two cores):
``--clients`` keep-alive connections for ``--seconds`` per scenario, a random point and mode per request.

It reports requests/s and the p50/p95/p99 latency of

- ``GET /api/v1/categories``, the baseline measured in the same run: a trivial endpoint, the framework's
  own floor on this machine;
- ``GET /api/v1/nearby`` in Jiaxing (straight-line estimate) and in the routed demo city, full records;
- the demo ``/nearby`` with ``view=compact`` (no full resource record) and with ``Accept-Encoding: gzip``.

With ``--before REF`` the same scenarios also run against the code of the git revision ``REF``
(extracted with ``git archive`` into a temporary folder, with its own fresh database): the "before"
of a change. Both codes serve at once and take turns, round by round (``--rounds`` of ``--seconds``
each), so a change in the shared machine's load hits both alike; the table gives the medians, and
the ratio is the median of the rounds' ratios. Scenarios the old code does not know (``view=compact``)
are left out there. Besides latency and throughput, it reports the server processes' CPU time per
answered request (psutil), the figure that the machine's load disturbs least.

Run: ``python -m benchmarks.bench_api [--seconds 6] [--rounds 4] [--clients 20] [--workers 1,2] [--before REF]``
(on a shared machine, hold the benchmark lock while it runs). Only loopback traffic; every load is bounded
in time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from io import BytesIO
from pathlib import Path

import httpx
import psutil

from benchmarks._wrk import run_wrk, wrk_path

ROOT = Path(__file__).resolve().parent.parent
GOAL_RATIO = 2.0  # issue #15: /nearby at least 2x the requests/s of the code before it
GOAL_P95_MS = 25.0  # ... and p95 at most 25 ms at 2 workers

# wrk script: a random point per request inside a box, the mode cycling; prints JSON stats at the end.
_LUA = """
math.randomseed(7)
local modes = {"walk", "bicycle", "ebike", "car"}
local headers = %(headers)s
local n = 0
request = function()
  n = n + 1
  local lat = %(lat0)f + math.random() * %(dlat)f
  local lon = %(lon0)f + math.random() * %(dlon)f
  return wrk.format("GET", string.format("%(path)s", lat, lon, modes[n %% 4 + 1]), headers)
end
local bytes = 0
response = function(status, headers, body)
  bytes = bytes + #body
end
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format('JSON{"requests": %%d, "seconds": %%f, "errors": %%d, "non2xx": %%d, "p50": %%f, '
    .. '"p95": %%f, "p99": %%f}\\n',
    summary.requests, summary.duration / 1e6, errors, summary.errors.status,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""


@dataclass(frozen=True)
class Scenario:
    """One load: a request path template (lat, lon, mode filled per request) over a box of points."""

    name: str
    path: str
    box: tuple[float, float, float, float]  # lat0, lon0, dlat, dlon
    gzip: bool = False
    new_only: bool = False  # a feature the "before" code does not have


_DEMO_BOX = (60.166, 24.937, 0.011, 0.014)
SCENARIOS = [
    Scenario("baseline GET /api/v1/categories", "/api/v1/categories?x=%%f&y=%%f&m=%%s", (0, 0, 1, 1)),
    Scenario(
        "/nearby jiaxing (estimate)",
        "/api/v1/nearby?lat=%%.5f&lon=%%.5f&mode=%%s&minutes=30&limit=20",
        (30.70, 120.70, 0.10, 0.10),
    ),
    Scenario(
        "/nearby demo (routed)",
        "/api/v1/nearby?city=demo&lat=%%.5f&lon=%%.5f&mode=%%s&minutes=15&limit=20",
        _DEMO_BOX,
    ),
    Scenario(
        "/nearby demo, view=compact",
        "/api/v1/nearby?city=demo&lat=%%.5f&lon=%%.5f&mode=%%s&minutes=15&limit=20&view=compact",
        _DEMO_BOX,
        new_only=True,
    ),
    Scenario(
        "/nearby demo, gzip",
        "/api/v1/nearby?city=demo&lat=%%.5f&lon=%%.5f&mode=%%s&minutes=15&limit=20",
        _DEMO_BOX,
        gzip=True,
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _checkout(ref: str, folder: Path) -> Path:
    """The code of git revision ``ref`` in ``folder`` (``git archive``: no worktree, no history)."""
    tar = subprocess.run(["git", "archive", "--format=tar", ref], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(tar)) as archive:
        archive.extractall(folder, filter="data")
    return folder


def _prepare(code: Path, env: dict[str, str]) -> None:
    """A fresh database with both samples and the demo network, written by ``code``'s own CLI."""
    for city in ("jiaxing", "demo"):
        subprocess.run(
            [sys.executable, "-m", "api.cli", "sample", city, "--start-date", date.today().isoformat()],
            cwd=code,
            env=env,
            check=True,
            capture_output=True,
        )
    build = [sys.executable, "-m", "api.cli", "build", "demo"]
    subprocess.run(build, cwd=code, env=env, check=True, capture_output=True)


def _run(wrk: str, base: str, spec: Scenario, *, clients: int, seconds: int, folder: Path) -> dict:
    lat0, lon0, dlat, dlon = spec.box
    headers = '{["Accept-Encoding"] = "gzip"}' if spec.gzip else "{}"
    script = folder / "load.lua"
    script.write_text(
        _LUA % {"lat0": lat0, "lon0": lon0, "dlat": dlat, "dlon": dlon, "path": spec.path % (), "headers": headers}
    )
    stats = run_wrk(wrk, base, script, threads=2, connections=clients, seconds=seconds, request_timeout_s=10)
    stats["rps"] = stats["requests"] / stats["seconds"]
    return stats


class _Server:
    """The service of one code tree under uvicorn with ``workers`` processes, until stopped."""

    def __init__(self, code: Path, env: dict[str, str], workers: int) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(self.port)]
        argv += ["--workers", str(workers), "--log-level", "warning", "--no-access-log"]
        self.process = subprocess.Popen(argv, cwd=code, env=env)

    def wait_ready(self) -> None:
        for _ in range(300):
            try:
                if httpx.get(f"{self.base}/healthz", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None:
                sys.exit(f"the server exited with {self.process.returncode}")
            time.sleep(0.2)
        sys.exit("the server did not answer /healthz within a minute")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server and every worker process so far."""
        root = psutil.Process(self.process.pid)
        total = 0.0
        for proc in [root, *root.children(recursive=True)]:
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def _load(wrk: str, server: _Server, spec: Scenario, *, args: argparse.Namespace, folder: Path) -> dict:
    """One wrk run, with the server's CPU milliseconds per answered request."""
    before = server.cpu_seconds()
    stats = _run(wrk, server.base, spec, clients=args.clients, seconds=args.seconds, folder=folder)
    stats["cpu_ms"] = (server.cpu_seconds() - before) * 1000 / max(stats["requests"], 1)
    stats["load"] = os.getloadavg()[0]
    return stats


def main() -> None:
    """Run the benchmark and print a table of every (workers, code, scenario)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=6, help="load duration of one round of a scenario")
    ap.add_argument("--rounds", type=int, default=4, help="rounds per scenario, alternating the codes")
    ap.add_argument("--clients", type=int, default=20, help="concurrent keep-alive connections")
    ap.add_argument("--workers", default="1,2", help="comma-separated uvicorn worker counts to measure")
    ap.add_argument("--before", metavar="REF", help="also measure the code of this git revision, in the same run")
    args = ap.parse_args()
    wrk = wrk_path()
    workers_list = [int(w) for w in args.workers.split(",")]

    tmp = Path(tempfile.mkdtemp(prefix="skillcircle-bench-api-"))
    codes: dict[str, Path] = {}
    if args.before:
        codes[f"before ({args.before})"] = _checkout(args.before, tmp / "before-code")
    codes["current"] = ROOT
    envs = {}
    for label, code in codes.items():
        var = tmp / f"var-{len(envs)}"
        envs[label] = {
            **os.environ,
            "SKILLCIRCLE_VAR_DIR": str(var),
            "DATABASE_URL": f"sqlite:///{var / 'bench.db'}",
            "SKILLCIRCLE_RATE_LIMIT_PER_MINUTE": "0",
            "SKILLCIRCLE_OFFLINE": "true",
        }
        print(f"{label}: preparing samples and the demo network in {var} …", flush=True)
        _prepare(code, envs[label])

    runs: dict[tuple[int, str, str], list[dict]] = {}
    for workers in workers_list:
        # both codes serve at once (an idle server costs nothing) and take turns, round by round, so a
        # change of the shared machine's load hits both alike
        servers = {label: _Server(code, envs[label], workers) for label, code in codes.items()}
        try:
            for server in servers.values():
                server.wait_ready()
            for label, server in servers.items():  # warm every worker: engines and indexes load lazily
                for spec in SCENARIOS:
                    if label == "current" or not spec.new_only:
                        _run(wrk, server.base, spec, clients=args.clients, seconds=2, folder=tmp)
            for spec in SCENARIOS:
                print(f"{workers} worker(s): {spec.name} …", flush=True)
                for _ in range(args.rounds):
                    for label, server in servers.items():
                        if label == "current" or not spec.new_only:
                            stats = _load(wrk, server, spec, args=args, folder=tmp)
                            runs.setdefault((workers, label, spec.name), []).append(stats)
        finally:
            for server in servers.values():
                server.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    _report(runs, list(codes), workers_list, args)


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _report(runs: dict, labels: list[str], workers_list: list[int], args: argparse.Namespace) -> None:
    loads = [r["load"] for rounds in runs.values() for r in rounds]
    print(
        f"\n{args.clients} concurrent connections (wrk), 127.0.0.1, {os.cpu_count()} cores; medians of "
        f"{args.rounds} rounds of {args.seconds} s, the codes taking turns; load average {min(loads):.1f}–"
        f"{max(loads):.1f} during the run. CPU ms = the server processes' CPU time per answered request."
    )
    print("| workers | code | scenario | req/s | × floor | p50 ms | p95 ms | p99 ms | CPU ms/req | errors |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for workers in workers_list:
        for label in labels:
            floor = _median([r["rps"] for r in runs[(workers, label, SCENARIOS[0].name)]])
            for spec in SCENARIOS:
                rounds = runs.get((workers, label, spec.name))
                if not rounds:
                    continue
                med = {k: _median([r[k] for r in rounds]) for k in ("rps", "p50", "p95", "p99", "cpu_ms")}
                errors = sum(r["non2xx"] + r["errors"] for r in rounds)
                print(
                    f"| {workers} | {label} | {spec.name} | {med['rps']:,.0f} | {med['rps'] / floor:.2f} | "
                    f"{med['p50']:.1f} | {med['p95']:.1f} | {med['p99']:.1f} | {med['cpu_ms']:.2f} | {errors} |"
                )
    before = next((label for label in labels if label != "current"), None)
    for workers in workers_list:
        for spec in SCENARIOS[1:]:
            now = runs[(workers, "current", spec.name)]
            p95 = _median([r["p95"] for r in now])
            verdict = f"p95 {p95:.1f} ms"
            if workers == 2:
                verdict += f" (goal ≤{GOAL_P95_MS:.0f} ms: {'met' if p95 <= GOAL_P95_MS else 'NOT met'})"
            if before is not None:
                then = runs[(workers, before, "/nearby demo (routed)" if spec.new_only else spec.name)]
                # paired rounds: each round's ratio, then the median
                ratio = _median([a["rps"] / b["rps"] for a, b in zip(now, then, strict=False)])
                cpu = _median([b["cpu_ms"] for b in then]) / _median([a["cpu_ms"] for a in now])
                met = "met" if ratio >= GOAL_RATIO else "NOT met"
                verdict = (
                    f"{ratio:.2f}× the before's req/s (goal ≥{GOAL_RATIO:.0f}×: {met}), {cpu:.2f}× less server "
                    f"CPU per request, {verdict}"
                )
            print(f"{workers} worker(s), {spec.name}: {verdict}")


if __name__ == "__main__":
    main()
