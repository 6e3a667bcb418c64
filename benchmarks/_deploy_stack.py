"""The deployment of ``deploy/`` run on this machine, as its files say: the schema unit, N API processes
started with the API unit's ``ExecStart`` line, nginx with the site file, one PostgreSQL and one Redis.

Only what cannot hold outside systemd and /etc is substituted: the install's console script
(``/opt/skillcircle/.venv/bin/skillcircle``) by this interpreter's ``-m api.cli`` in this checkout,
``%i`` by a free port, nginx's ``listen``/upstream ports and log path, and the environment file's
database, var folder and Redis key prefix. Used by ``tests/test_deploy.py`` and
``benchmarks/bench_deploy.py``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
API_UNIT = DEPLOY / "systemd" / "skillcircle-api@.service"
MIGRATE_UNIT = DEPLOY / "systemd" / "skillcircle-migrate.service"
ENV_FILE = DEPLOY / "skillcircle.env"
NGINX_SITE = DEPLOY / "nginx" / "skillcircle.conf"
INSTALLED_CLI = "/opt/skillcircle/.venv/bin/skillcircle"
START_TIMEOUT_S = 300.0  # a hang guard for start-up under load, not a speed claim


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nginx_binary() -> str | None:
    """Debian's nginx (installed by scripts/system-deps.sh), or None."""
    return shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").is_file() else None)


def unit_command(unit: Path, *, instance: str | None = None) -> list[str]:
    """A unit's ``ExecStart`` as argv for this checkout (the installed CLI → ``python -m api.cli``)."""
    lines = [ln for ln in unit.read_text(encoding="utf-8").splitlines() if ln.startswith("ExecStart=")]
    assert len(lines) == 1, f"{unit.name}: expected one ExecStart line"
    argv = shlex.split(lines[0].removeprefix("ExecStart="))
    assert argv[0] == INSTALLED_CLI, f"{unit.name}: ExecStart should run {INSTALLED_CLI}"
    argv = [sys.executable, "-m", "api.cli", *argv[1:]]
    if instance is not None:
        argv = [a.replace("%i", instance) for a in argv]
    return argv


def unit_environment() -> dict[str, str]:
    """``deploy/skillcircle.env`` as systemd's EnvironmentFile reads it (comments skipped, quotes removed)."""
    out = {}
    for line in ENV_FILE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = "".join(shlex.split(value))
    return out


def nginx_config(folder: Path, *, listen_port: int, backend_ports: list[int]) -> Path:
    """nginx.conf in ``folder`` that includes the site file with this run's ports and log path."""
    site = NGINX_SITE.read_text(encoding="utf-8")
    servers = re.findall(r"^\s*server 127\.0\.0\.1:\d+(.*);$", site, flags=re.M)
    assert servers, "the site file lists no upstream servers"
    block = "\n".join(f"    server 127.0.0.1:{p}{servers[0]};" for p in backend_ports)
    site = re.sub(r"(?:^\s*server 127\.0\.0\.1:\d+.*;\n)+", block + "\n", site, count=1, flags=re.M)
    site = re.sub(r"^(\s*)listen 80;", rf"\1listen 127.0.0.1:{listen_port};", site, count=1, flags=re.M)
    site = re.sub(r"access_log \S+ ", f"access_log {folder / 'access.log'} ", site, count=1)
    (folder / "site.conf").write_text(site, encoding="utf-8")
    temp = "\n".join(
        f"    {kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = f"""# written by benchmarks/_deploy_stack.py around deploy/nginx/skillcircle.conf
{"user root;" if os.geteuid() == 0 else ""}
daemon off;
worker_processes 1;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
{temp}
    include {folder / "site.conf"};
}}
"""
    conf = folder / "nginx.conf"
    conf.write_text(main, encoding="utf-8")
    return conf


@dataclass
class Stack:
    """A running deployment: the proxy's URL, each API process (port, process) and nginx's access log."""

    base: str
    backends: list[tuple[int, subprocess.Popen]] = field(default_factory=list)
    access_log: Path | None = None

    def answered_by(self, path: str, *, expect: int = 0) -> list[int]:
        """The API port that answered each logged request for ``path``, in order (the last one nginx
        tried, when it had to retry on another process). nginx writes a request's line just after the
        answer has gone out: with ``expect``, wait (up to 30 s) until that many lines are there."""
        deadline = time.monotonic() + 30
        while True:
            out = self._answered_by(path)
            if len(out) >= expect or time.monotonic() > deadline:
                return out
            time.sleep(0.1)

    def _answered_by(self, path: str) -> list[int]:
        if self.access_log is None or not self.access_log.is_file():
            return []
        out = []
        for line in self.access_log.read_text(encoding="utf-8").splitlines():
            found = re.search(r'"GET (\S+) [^"]*".*upstream="([^"]*)"', line)
            if found and found.group(1).split("?")[0] == path:
                out.append(int(found.group(2).split(",")[-1].strip().rsplit(":", 1)[1]))
        return out


def _wait(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up: {log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.3)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def migrate(env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run the schema unit's ``ExecStart`` with the units' environment plus ``env``."""
    full = {**os.environ, **unit_environment(), **env}
    return subprocess.run(
        unit_command(MIGRATE_UNIT), cwd=ROOT, env=full, capture_output=True, text=True, timeout=START_TIMEOUT_S
    )


@contextmanager
def deployment(folder: Path, env: dict[str, str], *, processes: int = 2) -> Iterator[Stack]:
    """Start ``processes`` API processes and nginx in front of them (logs in ``folder``); stop them all.

    ``env`` overrides the units' environment file (database, var folder, Redis key prefix, limits).
    The schema must be migrated first (:func:`migrate`), as systemd orders the units.
    """
    nginx = nginx_binary()
    if nginx is None:
        msg = "nginx is not installed (scripts/system-deps.sh installs it)"
        raise RuntimeError(msg)
    folder.mkdir(parents=True, exist_ok=True)
    full = {**os.environ, **unit_environment(), **env}
    with ExitStack() as stack:
        ports = [free_port() for _ in range(processes)]
        backends = []
        for port in ports:
            log = folder / f"api-{port}.log"
            out = stack.enter_context(open(log, "w"))  # closed by the ExitStack
            proc = subprocess.Popen(
                unit_command(API_UNIT, instance=str(port)), cwd=ROOT, env=full, stdout=out, stderr=subprocess.STDOUT
            )
            stack.callback(_stop, proc)
            backends.append((port, proc, log))
        for port, proc, log in backends:
            _wait(f"http://127.0.0.1:{port}/healthz", proc, log)
        listen = free_port()
        conf = nginx_config(folder, listen_port=listen, backend_ports=ports)
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (folder / kind).mkdir(exist_ok=True)
        nginx_log = folder / "nginx.out"
        out = stack.enter_context(open(nginx_log, "w"))
        proxy = subprocess.Popen([nginx, "-c", str(conf), "-p", str(folder)], stdout=out, stderr=subprocess.STDOUT)
        stack.callback(_stop, proxy)
        base = f"http://127.0.0.1:{listen}"
        _wait(f"{base}/livez", proxy, folder / "error.log" if (folder / "error.log").exists() else nginx_log)
        yield Stack(base=base, backends=[(p, proc) for p, proc, _ in backends], access_log=folder / "access.log")


def clear_redis(url: str, prefix: str) -> int:
    """Delete every key under ``prefix:`` (a test's or benchmark's own); returns how many."""
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
    if keys:
        client.delete(*keys)
    client.close()
    return len(keys)
