"""One rate limit for all workers: counted by the ``limits`` library in a store every worker sees
(Redis when ``SKILLCIRCLE_REDIS_URL`` is set, else a SQLite file shared by the workers of a host),
with ``X-Forwarded-For`` read only from trusted proxies. Driven through uvicorn with 2 workers.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import httpx
import pytest

from api.ratelimit import RateLimiter, SQLiteStorage, client_address, make_storage, parse_networks
from geo.config import get_settings
from geo.errors import SkillCircleError
from tests._servers import uvicorn_server

REDIS_URL = "redis://127.0.0.1:6379/0"
LIMIT = 15


def _statuses(base: str, n: int, headers: dict[str, str] | None = None) -> list[int]:
    out = []
    for _ in range(n):  # a new connection each time, so the requests spread over both workers
        with httpx.Client(timeout=30) as c:
            out.append(c.get(f"{base}/api/v1/categories", headers=headers or {}).status_code)
    return out


def test_client_address_reads_forwarded_for_only_from_trusted_proxies() -> None:
    trusted = parse_networks(["10.0.0.0/8", "127.0.0.1", "not-an-address"])
    assert client_address("203.0.113.9", "198.51.100.7", trusted) == "203.0.113.9"  # untrusted peer: ignored
    assert client_address("127.0.0.1", "198.51.100.7", trusted) == "198.51.100.7"
    # from the right: skip trusted hops; a spoofed left part is never reached
    assert client_address("127.0.0.1", "6.6.6.6, 198.51.100.7, 10.1.2.3", trusted) == "198.51.100.7"
    assert client_address("127.0.0.1", "10.1.2.3", trusted) == "10.1.2.3"
    assert client_address("127.0.0.1", "garbage", trusted) == "127.0.0.1"
    assert client_address("127.0.0.1", None, trusted) == "127.0.0.1"


def test_sqlite_store_is_shared_between_limiters(tmp_path: Path) -> None:
    path = tmp_path / "rl.sqlite"
    one = RateLimiter(per_minute=3, storage=SQLiteStorage(path=path))
    two = RateLimiter(per_minute=3, storage=SQLiteStorage(path=path))  # as another worker process would
    results = [one.hit("a"), two.hit("a"), one.hit("a"), two.hit("a")]
    assert results[:3] == [None, None, None]
    assert 1 <= results[3] <= 60
    assert one.hit("b") is None


def test_an_async_store_url_is_refused_with_its_setting_named(monkeypatch: pytest.MonkeyPatch) -> None:
    # the limiter is synchronous: an async+… URL would only fail at the first request
    monkeypatch.setenv("SKILLCIRCLE_REDIS_URL", "async+memory://")
    get_settings.cache_clear()
    try:
        with pytest.raises(SkillCircleError) as err:
            make_storage()
    finally:
        monkeypatch.delenv("SKILLCIRCLE_REDIS_URL")
        get_settings.cache_clear()
    assert err.value.code == "invalid_setting"
    assert "SKILLCIRCLE_REDIS_URL" in err.value.message_en and "async+memory://" in err.value.message_en


@pytest.mark.slow
def test_two_workers_share_one_local_budget(tmp_path: Path) -> None:
    env = {"SKILLCIRCLE_VAR_DIR": str(tmp_path), "SKILLCIRCLE_RATE_LIMIT_PER_MINUTE": str(LIMIT)}
    with uvicorn_server(env, workers=2) as base:
        statuses = _statuses(base, 3 * LIMIT)
    assert statuses.count(200) == LIMIT, statuses
    assert statuses.count(429) == 2 * LIMIT


def _redis_or_skip() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"Redis is required in CI: {exc}")
        pytest.skip(f"no Redis at {REDIS_URL}")


@pytest.mark.slow
def test_two_workers_share_one_redis_budget_and_trust_only_the_proxy(tmp_path: Path) -> None:
    _redis_or_skip()
    import redis

    prefix = f"sc-test-{secrets.token_hex(6)}"
    env = {
        "SKILLCIRCLE_VAR_DIR": str(tmp_path),
        "SKILLCIRCLE_RATE_LIMIT_PER_MINUTE": str(LIMIT),
        "SKILLCIRCLE_REDIS_URL": REDIS_URL,
        "SKILLCIRCLE_REDIS_KEY_PREFIX": prefix,
        "SKILLCIRCLE_TRUSTED_PROXIES": '["127.0.0.1"]',
    }
    r = redis.Redis.from_url(REDIS_URL)
    try:
        with uvicorn_server(env, workers=2) as base:
            alice = _statuses(base, 2 * LIMIT, {"X-Forwarded-For": "198.51.100.7"})
            bob = _statuses(base, 5, {"X-Forwarded-For": "198.51.100.8"})
            health = httpx.get(f"{base}/healthz", timeout=30).json()
        assert alice.count(200) == LIMIT and alice.count(429) == LIMIT, alice
        assert bob == [200] * 5  # another client behind the same proxy has its own budget
        assert health["dependencies"]["redis"] == {"ok": True}
        keys = list(r.scan_iter(f"{prefix}*"))
        assert keys, "the counters live in Redis under the configured prefix"
        assert not any(b"198.51.100" in k for k in keys), "client addresses are stored only as hashes"
    finally:
        for key in r.scan_iter(f"{prefix}*"):
            r.delete(key)
        r.close()


@pytest.mark.slow
def test_forwarded_for_is_ignored_without_trusted_proxies(tmp_path: Path) -> None:
    env = {"SKILLCIRCLE_VAR_DIR": str(tmp_path), "SKILLCIRCLE_RATE_LIMIT_PER_MINUTE": str(LIMIT)}
    with uvicorn_server(env) as base:
        statuses = [
            httpx.get(f"{base}/api/v1/categories", headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
            for i in range(LIMIT + 3)
        ]
    assert statuses.count(429) == 3, statuses
