"""Answers shared by every worker and host through Redis, when ``SKILLCIRCLE_REDIS_URL`` is set.

Each process keeps its own bounded LRU of encoded answers (see :mod:`api.services.coverage`); this is
the level behind it. An answer one process computed is fetched by the others instead of being
computed again. Keys are ``<SKILLCIRCLE_REDIS_KEY_PREFIX>:cache:<namespace>:<sha256 of the inputs>``.
The inputs include the data's versions (resources, road graphs), so a write never serves a stale
answer; the expiry (:data:`TTL_S`) only bounds Redis's memory. Answers above :data:`MAX_BYTES` are not
shared. Without Redis every call is a no-op. When Redis fails, the caller computes and a warning is
logged: the cache must not take the service down.
"""

from __future__ import annotations

import hashlib
import logging
from functools import cache
from typing import Any

from api.telemetry import SHARED_CACHE
from geo.config import get_settings

log = logging.getLogger(__name__)
TTL_S = 3600
MAX_BYTES = 16 * 1024 * 1024


@cache
def _client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)


def _key(namespace: str, inputs: tuple) -> str:
    digest = hashlib.sha256(repr(inputs).encode("utf-8")).hexdigest()
    return f"{get_settings().redis_key_prefix}:cache:{namespace}:{digest}"


def enabled() -> bool:
    """True when a Redis is configured (``SKILLCIRCLE_REDIS_URL``)."""
    return bool(get_settings().redis_url)


def get(namespace: str, inputs: tuple) -> bytes | None:
    """The answer some process stored for ``inputs`` in ``namespace``, or None (none stored, no Redis,
    or Redis failing)."""
    if not enabled():
        return None
    try:
        data = _client(get_settings().redis_url).get(_key(namespace, inputs))
    except Exception as exc:  # noqa: BLE001 - any Redis failure means "compute it here"
        log.warning("shared cache unavailable, computing locally: %s", type(exc).__name__)
        SHARED_CACHE.labels(namespace, "error").inc()
        return None
    SHARED_CACHE.labels(namespace, "hit" if data is not None else "miss").inc()
    return data


def put(namespace: str, inputs: tuple, data: bytes) -> None:
    """Share ``data`` as the answer for ``inputs`` (kept :data:`TTL_S` seconds; larger than
    :data:`MAX_BYTES` is not shared)."""
    if not enabled() or len(data) > MAX_BYTES:
        return
    try:
        _client(get_settings().redis_url).set(_key(namespace, inputs), data, ex=TTL_S)
    except Exception as exc:  # noqa: BLE001 - a failed share only costs other workers a computation
        log.warning("shared cache unavailable, answer not shared: %s", type(exc).__name__)
        SHARED_CACHE.labels(namespace, "error").inc()
