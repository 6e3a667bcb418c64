"""A small in-memory rate limiter for the public endpoints (a fixed one-minute window per client).

Client addresses are kept in memory only for the current window and never stored or logged.
"""

from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    """Allow ``per_minute`` requests per client per minute; 0 disables the limit."""

    def __init__(self, *, per_minute: int) -> None:
        self.per_minute = per_minute
        self._window = 0
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def hit(self, client: str) -> int | None:
        """Count one request of ``client``; return the seconds to wait if it is over the limit, else None."""
        if self.per_minute <= 0:
            return None
        now = time.time()
        window = int(now // 60)
        with self._lock:
            if window != self._window:
                self._window, self._counts = window, {}
            count = self._counts.get(client, 0) + 1
            self._counts[client] = count
        if count > self.per_minute:
            return max(1, math.ceil((window + 1) * 60 - now))
        return None
