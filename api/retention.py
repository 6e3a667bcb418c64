"""The periodic retention sweep: deletes sign-ups ``signup_retention_days`` after their class ended (or
their evaluation session was held).

Each server process runs one daemon thread (started and stopped with the app's lifespan) that sweeps a
minute after start and then every ``retention_interval_minutes`` (0 turns it off; the CLI command
``skillcircle signup purge`` does the same sweep on demand, e.g. from cron). Sweeps are idempotent
deletes, so several worker processes sweeping is harmless.
"""

from __future__ import annotations

import logging

from api.periodic import PeriodicTask
from geo.config import get_settings

log = logging.getLogger(__name__)
FIRST_DELAY_S = 60.0


class RetentionTask(PeriodicTask):
    """A daemon thread calling :func:`geo.signups.purge_expired` periodically."""

    thread_name = "signup-retention"

    def __init__(self, *, interval_minutes: float, first_delay_s: float = FIRST_DELAY_S) -> None:
        super().__init__(every_s=interval_minutes * 60, first_delay_s=first_delay_s)

    @property
    def interval_s(self) -> float:
        """Seconds between sweeps (0: off)."""
        return self.every_s

    def tick(self) -> None:
        """One sweep."""
        self.sweep()

    def sweep(self) -> int:
        """One sweep; returns how many sign-ups were deleted (errors are logged, never raised)."""
        from geo.db import session_scope
        from geo.signups import purge_expired

        try:
            with session_scope() as session:
                return purge_expired(session)
        except Exception:  # a failed sweep must not kill the thread; the next one retries
            log.exception("retention sweep failed")
            return 0


def retention_task() -> RetentionTask:
    """The task configured by the settings."""
    return RetentionTask(interval_minutes=get_settings().retention_interval_minutes)
