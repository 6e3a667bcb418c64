"""``api/shared_cache.py``: answers shared through Redis (this module's own key prefix, deleted after),
a no-op without Redis, and a failing Redis never failing the request."""

from __future__ import annotations

import os
import secrets

import pytest

from api import shared_cache
from api.telemetry import SHARED_CACHE
from benchmarks._deploy_stack import clear_redis
from geo.config import get_settings

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_settings(monkeypatch: pytest.MonkeyPatch):
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"Redis is required in CI: {exc}")
        pytest.skip(f"no Redis at {REDIS_URL}")
    prefix = f"sc-test-cache-{secrets.token_hex(6)}"
    monkeypatch.setenv("SKILLCIRCLE_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("SKILLCIRCLE_REDIS_KEY_PREFIX", prefix)
    get_settings.cache_clear()
    yield prefix
    clear_redis(REDIS_URL, prefix)
    monkeypatch.undo()
    get_settings.cache_clear()


def _count(result: str) -> float:
    return SHARED_CACHE.labels("test", result)._value.get()


def test_an_answer_put_by_one_process_is_got_by_another(redis_settings: str) -> None:
    import redis

    inputs = ("demo", 9, "v1", "walk:abc", "all", "walk", 15, False)
    assert shared_cache.get("test", inputs) is None
    shared_cache.put("test", inputs, b'{"answer": 1}')
    assert shared_cache.get("test", inputs) == b'{"answer": 1}'
    assert shared_cache.get("test", (*inputs[:-1], True)) is None  # other inputs, other answer
    keys = list(redis.Redis.from_url(REDIS_URL).scan_iter(match=f"{redis_settings}:cache:test:*"))
    assert len(keys) == 1
    assert 0 < redis.Redis.from_url(REDIS_URL).ttl(keys[0]) <= shared_cache.TTL_S
    shared_cache.put("test", ("too big",), b"x" * (shared_cache.MAX_BYTES + 1))
    assert shared_cache.get("test", ("too big",)) is None


def test_without_redis_nothing_is_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLCIRCLE_REDIS_URL", "")
    get_settings.cache_clear()
    try:
        shared_cache.put("test", ("x",), b"1")
        assert shared_cache.get("test", ("x",)) is None
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_a_failing_redis_lets_the_caller_compute(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests._servers import free_port

    monkeypatch.setenv("SKILLCIRCLE_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens
    get_settings.cache_clear()
    try:
        before = _count("error")
        shared_cache.put("test", ("x",), b"1")
        assert shared_cache.get("test", ("x",)) is None
        assert _count("error") == before + 2
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
