"""The documented deployment (``deploy/``) on this machine: the schema unit, two API processes started
with the systemd unit's ``ExecStart`` line, Debian's nginx with the site file in front, one PostgreSQL
(a fresh database) and one Redis (this module's own key prefix, deleted afterwards). Every request goes
through the proxy as a user's would.

Shown: real routing answered by both processes; one rate-limit budget for both (counted in Redis); a
/coverage answer computed by one process and served by the other from Redis; every process mapping
the same compiled graph files (one copy in memory per host).
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import httpx
import pytest

from benchmarks._deploy_stack import Stack, clear_redis, deployment, migrate, nginx_binary
from geo.db import head_revision
from tests._postgres import fresh_database
from tests._servers import run_cli

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
REDIS_URL = "redis://127.0.0.1:6379/0"
LIMIT = 20
PATIENCE = httpx.Timeout(120.0)  # a hang guard for a loaded machine, not a speed claim
ORIGINS = [(60.1699, 24.9384), (60.1719, 24.9414), (60.1690, 24.9452), (60.1735, 24.9480)]  # Helsinki centre


def _required(what: str, reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what} is required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def redis_prefix() -> str:
    """This module's Redis key prefix; its keys are deleted afterwards."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        _required("Redis", f"no Redis at {REDIS_URL}: {exc}")
    prefix = f"sc-test-deploy-{secrets.token_hex(6)}"
    yield prefix
    clear_redis(REDIS_URL, prefix)


@pytest.fixture(scope="module")
def stack(demo_network: Path, var_dir: Path, redis_prefix: str, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    """The deployment, on a fresh PostgreSQL database holding the demo sample."""
    if nginx_binary() is None:
        _required("nginx", "nginx is not installed (scripts/system-deps.sh installs it)")
    tmp = tmp_path_factory.mktemp("deploy")
    with fresh_database(prefix="sc_deploy") as url:
        env = {
            "DATABASE_URL": url,
            "SKILLCIRCLE_VAR_DIR": str(var_dir),  # where the session built the demo's road graphs
            "SKILLCIRCLE_REDIS_URL": REDIS_URL,
            "SKILLCIRCLE_REDIS_KEY_PREFIX": redis_prefix,
            "SKILLCIRCLE_RATE_LIMIT_PER_MINUTE": str(LIMIT),
            "SKILLCIRCLE_CITIES": '["demo"]',
            "SKILLCIRCLE_DEFAULT_CITY": "demo",
        }
        upgraded = migrate(env)  # the schema unit, as systemd runs it before the API units
        assert upgraded.returncode == 0, upgraded.stderr
        assert f"revision {head_revision()}" in upgraded.stdout
        loaded = run_cli(env, "sample", "demo", "--out", str(tmp / "sheets"))
        assert loaded.returncode == 0, loaded.stderr
        with deployment(tmp / "run", env, processes=2) as running:
            yield running


def _get(stack: Stack, path: str, *, client_ip: str, **params) -> httpx.Response:
    # a new connection each time, as separate users; the proxy adds the hop the app trusts
    with httpx.Client(timeout=PATIENCE) as c:
        return c.get(f"{stack.base}{path}", params=params, headers={"X-Forwarded-For": client_ip})


def _ports(stack: Stack, path: str, *, expect: int) -> set[int]:
    """The API ports that answered the ``expect`` requests for ``path``, from nginx's access log."""
    return set(stack.answered_by(path, expect=expect))


def test_real_routing_through_the_proxy_from_both_processes(stack: Stack) -> None:
    health = _get(stack, "/healthz", client_ip="198.51.100.1")
    assert health.status_code == 200, health.text
    body = health.json()
    assert body["database"] == {"dialect": "postgresql", "revision": head_revision()}
    assert body["dependencies"]["redis"]["ok"] is True
    for lat, lon in ORIGINS * 2:
        answer = _get(stack, "/api/v1/nearby", client_ip="198.51.100.1", city="demo", lat=lat, lon=lon, mode="walk")
        assert answer.status_code == 200, answer.text
        nearby = answer.json()
        assert nearby["estimate"] is False and nearby["count"] > 0
        assert nearby["sample"] is True  # the demo's resources are a labelled sample
    assert _ports(stack, "/api/v1/nearby", expect=2 * len(ORIGINS)) == {port for port, _ in stack.backends}


def test_one_rate_limit_for_both_processes_counted_in_redis(stack: Stack, redis_prefix: str) -> None:
    import redis

    statuses = [_get(stack, "/api/v1/categories", client_ip="198.51.100.2").status_code for _ in range(2 * LIMIT)]
    # each process alone would let LIMIT through; together they let exactly LIMIT through
    assert statuses.count(200) == LIMIT, statuses
    assert statuses.count(429) == LIMIT
    assert _ports(stack, "/api/v1/categories", expect=2 * LIMIT) == {port for port, _ in stack.backends}
    other = _get(stack, "/api/v1/categories", client_ip="198.51.100.3")  # another client has its own budget
    assert other.status_code == 200
    keys = list(redis.Redis.from_url(REDIS_URL).scan_iter(match=f"{redis_prefix}:*"))
    assert keys, "no rate-limit counter under this test's Redis prefix"


def test_a_coverage_answer_computed_once_is_served_by_the_other_process(stack: Stack, redis_prefix: str) -> None:
    import redis

    params = {"city": "demo", "category": "all", "mode": "walk", "minutes": 15}
    first = _get(stack, "/api/v1/coverage", client_ip="198.51.100.4", **params)
    second = _get(stack, "/api/v1/coverage", client_ip="198.51.100.4", **params)
    assert first.status_code == second.status_code == 200, first.text
    assert first.content == second.content
    answered = stack.answered_by("/api/v1/coverage", expect=2)
    assert len(answered) == 2 and answered[0] != answered[1], answered  # round robin: one process each
    hits = 0
    for port, _ in stack.backends:
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=PATIENCE).text
        found = re.search(r'skillcircle_shared_cache_total\{namespace="coverage",result="hit"\} (\d+)', metrics)
        hits += int(float(found.group(1))) if found else 0
    assert hits == 1  # the second process took the first one's answer from Redis
    assert list(redis.Redis.from_url(REDIS_URL).scan_iter(match=f"{redis_prefix}:cache:coverage:*"))


def test_every_process_maps_the_same_compiled_graph_files(stack: Stack, demo_network: Path) -> None:
    for port, _ in stack.backends:  # make sure each process has routed once
        lat, lon = ORIGINS[0]
        answer = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/nearby",
            params={"city": "demo", "lat": lat, "lon": lon, "mode": "walk"},
            headers={"X-Forwarded-For": "198.51.100.5"},
            timeout=PATIENCE,
        )
        assert answer.status_code == 200
    walk = (demo_network / "walk.npz").resolve()
    inode = (os.stat(walk).st_dev, os.stat(walk).st_ino)
    for _, proc in stack.backends:
        maps = Path(f"/proc/{proc.pid}/maps").read_text().splitlines()
        # "address perms offset dev inode path": a file-backed mapping, whose pages every process mapping
        # the same inode shares through the page cache (one copy per host)
        hits = [ln.split() for ln in maps if ln.endswith(str(walk))]
        assert hits, f"process {proc.pid} does not memory-map {walk}"
        for fields in hits:
            major, minor = (int(x, 16) for x in fields[3].split(":"))
            assert (os.makedev(major, minor), int(fields[4])) == inode
            assert fields[1].startswith("r") and "w" not in fields[1]  # read-only: never copied on write
