"""Where the time of one ``/nearby`` request goes: py-spy samples of the serving process under load.

Starts the service with one uvicorn worker (the same set-up as :mod:`benchmarks.bench_api`), drives
``/api/v1/nearby`` on the routed demo city with ``wrk`` (20 connections), and meanwhile samples the
worker with py-spy (``--gil``: only the thread holding the GIL, so a sample is CPU time spent in
Python or in C code called from it). Each sample is attributed to the innermost frame of its stack
that belongs to a known part of the request path (the handler's steps, FastAPI's dependency and
parameter handling, worker-thread hops, each middleware, writing the answer, uvicorn), and the table
gives each part's GIL time per request: samples / rate / requests served while sampling.

With ``--before REF`` the code of git revision ``REF`` is profiled the same way, in the same run.

Run: ``python -m benchmarks.profile_api [--seconds 10] [--before REF]`` (py-spy needs ptrace: root,
or ``kernel.yama.ptrace_scope=0``).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.bench_api import ROOT, SCENARIOS, _checkout, _prepare, _run, _Server, _wrk

# (part of the request path, pattern of a py-spy frame "function (file:line)"); for each sample the
# innermost frame that matches any pattern decides, patterns tried in this order for that frame
PARTS = [
    ("handler: point check (crs, district polygons, land mask)", r"^wgs84_point "),
    ("handler: engine.nearby (snap, table row, sort)", r"^CityEngine\.nearby "),
    ("handler: the rest (filters, records, JSON body)", r"^nearby \("),
    ("response model validation + serialisation", r"^serialize_response "),
    (
        "worker-thread hops (run_in_threadpool)",
        r"^(run_in_threadpool|run_sync |AsyncIOBackend\.run_sync_in_worker_thread|WorkerThread\.run|Queue\.)",
    ),
    ("dependencies + query parameter validation", r"^solve_dependencies "),
    ("route matching", r"^(_IncludedRouter\._match|_IncludedRouter\.matches|APIRouter\.matches|APIRoute\.matches)"),
    (
        "BaseHTTPMiddleware (rate limit + metrics): its task group and body stream",
        r"^(BaseHTTPMiddleware|_StreamingResponse|create_collapsing_task_group|create_app\.<locals>\._limit_and)",
    ),
    ("rate limit + metrics, pure ASGI", r"^(RateLimitMiddleware|MetricsMiddleware|observe_request)"),
    (
        "FastAPI/Starlette routing and exception glue",
        r"^(get_request_handler|request_response|APIRoute\.handle|Router\.__call__|APIRouter\.|_IncludedRouter\."
        r"|ExceptionMiddleware|AsyncExitStackMiddleware|wrap_app_handling_exceptions|run_endpoint_function"
        r"|_run_sync_endpoint)",
    ),
    ("security headers (CSP nonce)", r"^SecurityHeadersMiddleware"),
    ("gzip middleware (identity for this client)", r"^(GZipMiddleware|IdentityResponder|GZipResponder)"),
    ("writing the answer to the socket", r"^(Response\.__call__|RequestResponseCycle\.send)"),
]
OTHER = "uvicorn, httptools, event loop"


def attribute(raw: Path) -> tuple[collections.Counter, int]:
    """Samples per part of a py-spy ``--format raw`` file (one ``frame;frame;… count`` line per stack)."""
    rules = [(name, re.compile(pattern)) for name, pattern in PARTS]
    counts: collections.Counter = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")[::-1]  # innermost first
        part = next((name for frame in frames for name, rule in rules if rule.search(frame)), OTHER)
        counts[part] += int(n)
        total += int(n)
    return counts, total


def _py_spy() -> str:
    """py-spy's executable: beside this Python (a virtualenv's bin/) or on the PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        sys.exit("py-spy is needed: pip install py-spy (the dev extras)")
    return found


def _profile(code: Path, env: dict, *, seconds: int, rate: int, folder: Path, wrk: str) -> tuple[dict, float]:
    spec = next(s for s in SCENARIOS if s.name == "/nearby demo (routed)")
    server = _Server(code, env, 1)
    try:
        server.wait_ready()
        _run(wrk, server.base, spec, clients=20, seconds=3, folder=folder)  # warm up
        result: dict = {}
        load = threading.Thread(
            target=lambda: result.update(_run(wrk, server.base, spec, clients=20, seconds=seconds + 2, folder=folder))
        )
        load.start()
        raw = folder / "profile.raw"
        spy = [_py_spy(), "record", "-p", str(server.process.pid), "-d", str(seconds)]
        spy += ["-r", str(rate), "--gil", "--nonblocking", "-f", "raw", "-o", str(raw)]
        time.sleep(1.0)
        subprocess.run(spy, check=True, capture_output=True, timeout=seconds + 60)
        load.join()
    finally:
        server.stop()
    counts, total = attribute(raw)
    requests = result["rps"] * seconds
    per_request = {part: n / rate * 1000 / requests for part, n in counts.items()}
    per_request["total"] = total / rate * 1000 / requests
    return per_request, result["rps"]


def main() -> None:
    """Profile the current code (and ``--before``) and print GIL milliseconds per request by part."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=10, help="sampling time")
    ap.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    ap.add_argument("--before", metavar="REF", help="also profile the code of this git revision")
    args = ap.parse_args()
    wrk = _wrk()
    _py_spy()
    tmp = Path(tempfile.mkdtemp(prefix="skillcircle-profile-api-"))
    codes = {}
    if args.before:
        codes[f"before ({args.before})"] = _checkout(args.before, tmp / "before-code")
    codes["current"] = ROOT
    results = {}
    for i, (label, code) in enumerate(codes.items()):
        var = tmp / f"var-{i}"
        env = {
            **os.environ,
            "SKILLCIRCLE_VAR_DIR": str(var),
            "DATABASE_URL": f"sqlite:///{var / 'bench.db'}",
            "SKILLCIRCLE_RATE_LIMIT_PER_MINUTE": "0",
            "SKILLCIRCLE_OFFLINE": "true",
        }
        print(f"{label}: preparing samples and the demo network …", flush=True)
        _prepare(code, env)
        print(f"{label}: profiling /nearby (demo, routed) under 20 connections, 1 worker …", flush=True)
        results[label] = _profile(code, env, seconds=args.seconds, rate=args.rate, folder=tmp, wrk=wrk)
    shutil.rmtree(tmp, ignore_errors=True)
    labels = list(results)
    print(
        f"\nGIL time per request (ms), py-spy --gil at {args.rate} Hz for {args.seconds} s, load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    print("| part of the request path | " + " | ".join(labels) + " |")
    print("|---|" + "---|" * len(labels))
    for part in [p for p, _ in PARTS] + [OTHER, "total"]:
        cells = [f"{results[label][0].get(part, 0.0):.2f}" for label in labels]
        if any(c != "0.00" for c in cells):
            print(f"| {part} | " + " | ".join(cells) + " |")
    print("| requests/s while sampling | " + " | ".join(f"{results[label][1]:,.0f}" for label in labels) + " |")


if __name__ == "__main__":
    main()
