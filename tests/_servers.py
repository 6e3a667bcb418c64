"""Real uvicorn servers for tests that need separate processes (workers, database loss, jobs)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
# How long a test waits for something that must happen (a server to start, a job to end, a worker to
# re-index) before calling it hung. A guard against hangs on a shared, loaded machine, never a claim
# about speed: timings are measured in benchmarks/.
PATIENCE_S = 300.0


def free_port() -> int:
    """A free loopback port (bound to port 0, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``skillcircle ARGS`` in a subprocess with ``env`` added to this environment."""
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@contextmanager
def uvicorn_server(env: dict[str, str], *, workers: int = 1, ready_path: str = "/livez") -> Iterator[str]:
    """Start ``uvicorn api.main:app`` with ``env`` on a free port; yield its base URL; stop it."""
    with _uvicorn(env, workers=workers, ready_path=ready_path, own_group=False) as (base, _proc):
        yield base


@contextmanager
def uvicorn_process(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen]]:
    """Like :func:`uvicorn_server`, in a process group of its own: yields the base URL and the server's
    process, so a test can kill the server alone (``os.kill``) or with its job processes, as a reboot
    or systemd's stop of its control group would (``os.killpg``). Whatever is left of the group is
    killed on exit."""
    with _uvicorn(env, workers=1, ready_path="/livez", own_group=True) as started:
        yield started


@contextmanager
def _uvicorn(
    env: dict[str, str], *, workers: int, ready_path: str, own_group: bool
) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    log = open(Path(env.get("SKILLCIRCLE_VAR_DIR", "/tmp")) / f"uvicorn-{port}.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port)]
        + ["--no-proxy-headers", "--timeout-worker-healthcheck", "60"]  # as `skillcircle serve`
        + (["--workers", str(workers)] if workers > 1 else []),
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=own_group,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + PATIENCE_S
        while True:
            try:
                if httpx.get(base + ready_path, timeout=5).status_code < 500:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise RuntimeError(f"uvicorn did not start: {Path(log.name).read_text()[-3000:]}")
            time.sleep(0.3)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if own_group:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()
