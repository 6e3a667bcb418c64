"""One wrk run for the HTTP benchmarks: the load generator in C, driven by a Lua script whose ``done``
hook prints one ``JSON{...}`` line of the run's figures (each benchmark's script picks its fields)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path


def wrk_path() -> str:
    """Path of Debian's ``wrk``, or exit with how to install it."""
    found = shutil.which("wrk")
    if found is None:
        sys.exit("wrk is needed: run scripts/system-deps.sh (or apt-get install wrk)")
    return found


def run_wrk(
    wrk: str, base: str, script: Path, *, threads: int, connections: int, seconds: int, request_timeout_s: int
) -> dict:
    """Run ``wrk`` against ``base`` with ``script`` for ``seconds`` and return its ``JSON{...}`` line."""
    out = subprocess.run(
        [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", f"{request_timeout_s}s"]
        + ["-s", str(script), base],
        check=True,
        capture_output=True,
        text=True,
        timeout=seconds + 2 * request_timeout_s + 60,
    ).stdout
    return json.loads(out[out.index("JSON") + 4 :].splitlines()[0])
