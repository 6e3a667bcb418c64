"""The public endpoints' rate limit, one budget per client for every worker and process.

Counting is done by the maintained ``limits`` library (fixed one-minute window). Its store must be
one that every worker sees, or N workers let N times the limit through:

- Redis when ``SKILLCIRCLE_REDIS_URL`` is set (every host and worker shares it); keys start with
  ``SKILLCIRCLE_REDIS_KEY_PREFIX``;
- otherwise :class:`SQLiteStorage`, a ``limits`` storage in a SQLite file under ``var/`` that the
  workers of one host share.

The client is the connecting address, unless that address is one of ``SKILLCIRCLE_TRUSTED_PROXIES``
(addresses or networks): then ``X-Forwarded-For`` is read from the right, skipping trusted hops, and
the first untrusted address is the client. Client addresses are kept only as a hash, for the current
window, and never logged. If the store fails (Redis down), requests are let through and a warning is
logged: the limit protects the service, it must not take it down.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import sqlite3
import threading
import time
from functools import cache
from pathlib import Path

from limits import RateLimitItemPerMinute
from limits.errors import StorageError
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from geo.config import get_settings
from geo.errors import RateLimitedError, SkillCircleError

log = logging.getLogger(__name__)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SQLiteStorage(Storage):
    """A ``limits`` storage in one SQLite file: shared by every process of a host that opens it.

    Each counter is one row (key, count, expiry time); an increment is one upsert, atomic under
    SQLite's write lock, so concurrent workers never lose a hit.
    """

    STORAGE_SCHEME = ["skillcircle+sqlite"]

    def __init__(self, uri: str = "", *, path: Path | str | None = None, wrap_exceptions: bool = False) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        self.path = Path(path or uri.removeprefix("skillcircle+sqlite://"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._hits = 0
        with self._conn() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, count INTEGER, expires REAL)")

    @property
    def base_exceptions(self) -> type[Exception]:
        return sqlite3.Error

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=5, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")  # counters of the current minute: losing them is harmless
            self._local.conn = conn
        return conn

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        conn = self._conn()
        row = conn.execute(
            "INSERT INTO counters (key, count, expires) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET"
            " count = CASE WHEN counters.expires <= ? THEN excluded.count ELSE counters.count + excluded.count END,"
            " expires = CASE WHEN counters.expires <= ? THEN excluded.expires ELSE counters.expires END"
            " RETURNING count",
            (key, amount, now + expiry, now, now),
        ).fetchone()
        self._hits += 1
        if self._hits % 1000 == 0:
            conn.execute("DELETE FROM counters WHERE expires <= ?", (now,))
        return int(row[0])

    def get(self, key: str) -> int:
        row = (
            self._conn()
            .execute("SELECT count FROM counters WHERE key = ? AND expires > ?", (key, time.time()))
            .fetchone()
        )
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        row = self._conn().execute("SELECT expires FROM counters WHERE key = ?", (key,)).fetchone()
        return float(row[0]) if row and row[0] > time.time() else time.time()

    def check(self) -> bool:
        try:
            self._conn().execute("SELECT 1")
            return True
        except sqlite3.Error:
            return False

    def reset(self) -> int | None:
        return self._conn().execute("DELETE FROM counters").rowcount

    def clear(self, key: str) -> None:
        self._conn().execute("DELETE FROM counters WHERE key = ?", (key,))


@cache
def _redis_storage(url: str, prefix: str) -> Storage:
    storage = storage_from_string(url, key_prefix=prefix, socket_timeout=1, socket_connect_timeout=1)
    if not isinstance(storage, Storage):  # an async+… URL: the limiter here is synchronous
        msg = f"SKILLCIRCLE_REDIS_URL must name a synchronous store (redis://…), got {url.split('://')[0]}://"
        raise SkillCircleError(
            msg, message_zh="SKILLCIRCLE_REDIS_URL 须为同步存储地址（redis://…）", code="invalid_setting"
        )
    return storage


def make_storage() -> Storage:
    """The store the settings ask for: Redis when ``redis_url`` is set, else the host's SQLite file."""
    settings = get_settings()
    if settings.redis_url:
        return _redis_storage(settings.redis_url, settings.redis_key_prefix)
    return SQLiteStorage(path=settings.var_dir / "ratelimit.sqlite")


def redis_status() -> dict | None:
    """``{"ok": bool}`` for the configured Redis (for ``/healthz``), None when none is configured."""
    settings = get_settings()
    if not settings.redis_url:
        return None
    try:
        ok = bool(_redis_storage(settings.redis_url, settings.redis_key_prefix).check())
    except Exception:  # noqa: BLE001 - any failure means "down"
        ok = False
    return {"ok": ok} if ok else {"ok": False, "error": "redis_unavailable"}


def parse_networks(values: list[str]) -> list[Network]:
    """Trusted proxies as networks (``10.0.0.1`` → ``10.0.0.1/32``); malformed entries are skipped with a warning."""
    out = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError:
            log.warning("ignoring malformed trusted proxy %r", value)
    return out


def _trusted(address: str, networks: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(peer: str, forwarded_for: str | None, trusted: list[Network]) -> str:
    """The client of a request from ``peer``: ``X-Forwarded-For`` is believed only when ``peer`` is a
    trusted proxy, and then read from the right up to the first address that is not a trusted proxy."""
    if not forwarded_for or not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    client = peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # a malformed hop: trust nothing further left of it
        client = hop
        if not _trusted(hop, trusted):
            break
    return client


class RateLimiter:
    """Allow ``per_minute`` requests per client per minute across every worker; 0 disables the limit."""

    def __init__(
        self, *, per_minute: int, storage: Storage | None = None, trusted_proxies: list[str] | None = None
    ) -> None:
        self.per_minute = per_minute
        self.item = RateLimitItemPerMinute(max(per_minute, 1), namespace="public")
        self._storage = storage
        self._strategy: FixedWindowRateLimiter | None = None
        self.trusted = parse_networks(trusted_proxies or [])

    @property
    def strategy(self) -> FixedWindowRateLimiter:
        if self._strategy is None:  # opened on first use: in the worker process, not the master
            self._strategy = FixedWindowRateLimiter(self._storage or make_storage())
        return self._strategy

    def client(self, peer: str, forwarded_for: str | None) -> str:
        """The client id a request is counted against (see :func:`client_address`)."""
        return client_address(peer, forwarded_for, self.trusted)

    def hit(self, client: str) -> int | None:
        """Count one request of ``client``; return the seconds to wait if it is over the limit, else None."""
        if self.per_minute <= 0:
            return None
        key = hashlib.blake2b(client.encode(), digest_size=12).hexdigest()
        try:
            if self.strategy.hit(self.item, key):
                return None
            reset = self.strategy.get_window_stats(self.item, key).reset_time
        except (StorageError, sqlite3.Error, ConnectionError, OSError) as exc:
            log.warning("rate-limit store unavailable, request let through: %s", type(exc).__name__)
            return None
        except Exception as exc:  # redis errors are not all OSError
            if type(exc).__module__.startswith("redis"):
                log.warning("rate-limit store unavailable, request let through: %s", type(exc).__name__)
                return None
            raise
        return max(1, math.ceil(reset - time.time()))


class RateLimitMiddleware:
    """Counts each request to the public API (``/api/v1/``, not ``/api/v1/admin``) against its client's
    budget and answers 429 ``rate_limited`` with ``Retry-After`` once it is spent.

    A pure ASGI middleware: it reads the path, peer and ``X-Forwarded-For`` from the scope and passes
    the request on untouched (no body is read, copied or re-sent).
    """

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.limiter.per_minute > 0:
            path: str = scope["path"]
            if path.startswith("/api/v1/") and not path.startswith("/api/v1/admin"):
                retry = self.limiter.hit(self.limiter.client(*_peer_and_forwarded(scope)))
                if retry is not None:
                    exc = RateLimitedError(
                        "too many requests; retry later",
                        message_zh="请求过于频繁，请稍后再试",
                        details={"retry_after": retry},
                    )
                    answer = JSONResponse(exc.to_dict(), status_code=429, headers={"Retry-After": str(retry)})
                    await answer(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def _peer_and_forwarded(scope: Scope) -> tuple[str, str | None]:
    """The connecting address and the first ``X-Forwarded-For`` header of a request (as Starlette reads it)."""
    client = scope.get("client")
    forwarded = next((v.decode("latin-1") for k, v in scope["headers"] if k.lower() == b"x-forwarded-for"), None)
    return (client[0] if client else "unknown"), forwarded
