"""A daemon thread that calls one piece of work periodically, started and stopped with the app's lifespan.

The retention sweep (:mod:`api.retention`) and the job watch (:mod:`api.jobs`) are both one; a round's
own errors are the subclass's to log, so a failed round never kills the thread.
"""

from __future__ import annotations

import threading


class PeriodicTask:
    """Call :meth:`tick` after ``first_delay_s``, then every ``every_s`` seconds, in a daemon thread.

    ``every_s <= 0`` turns the task off (:meth:`start` does nothing).
    """

    thread_name = "periodic"

    def __init__(self, *, every_s: float, first_delay_s: float = 0.0) -> None:
        self.every_s = every_s
        self.first_delay_s = first_delay_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> None:
        """One round of the work (subclasses)."""
        raise NotImplementedError

    def start(self) -> None:
        """Start the thread (no-op when off or already started)."""
        if self.every_s <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current round."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        delay = self.first_delay_s
        while not self._stop.wait(delay):
            self.tick()
            delay = self.every_s
