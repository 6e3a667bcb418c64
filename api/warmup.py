"""Start-up warm-up: the population grids and coverage models of the first planner answers, built early.

A city's first coverage answer in a server process builds its population grid (the land mask, H3
cells, the population model) and its coverage model; a province table's first answer builds them for
every member city, about 20 s for Zhejiang's ten packed cities on this 2-core machine. With
``SKILLCIRCLE_WARM_UP`` naming cities or provinces (``["zhejiang"]``), each server process builds
them in a daemon thread as it starts, so the first planner does not wait. Requests are served
meanwhile; one that needs a city not warm yet builds it itself, as without warm-up. A registry write
later makes a new coverage model (the grid stays), which is the cheap part.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from tqdm import tqdm

from api.services.coverage import coverage_model
from api.state import get_runtime
from geo.cities import available_cities
from geo.db import session_scope
from geo.provinces import available_provinces, load_province, province_cities

log = logging.getLogger(__name__)


def warm_up_cities(keys: list[str]) -> tuple[list[str], list[str]]:
    """The city keys ``keys`` stand for (a province: its members with a pack), in order, once each,
    and the keys that are neither a city nor a province."""
    cities: list[str] = []
    unknown: list[str] = []
    known_cities, known_provinces = set(available_cities()), set(available_provinces())
    for key in keys:
        if key in known_provinces:
            members = [c.key for c in province_cities(load_province(key)).loaded]
        elif key in known_cities:
            members = [key]
        else:
            unknown.append(key)
            continue
        cities.extend(m for m in members if m not in cities)
    return cities, unknown


class WarmUp:
    """Build the coverage models of ``SKILLCIRCLE_WARM_UP``'s cities once, in a daemon thread.

    :attr:`status` is what ``/healthz`` shows: ``off``, ``running``, ``done`` or ``failed``, with the
    cities done so far, the keys not understood and the seconds spent.
    """

    def __init__(self, keys: list[str]) -> None:
        self.keys = list(keys)
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {"status": "off" if not self.keys else "pending", "cities": [], "unknown": []}
        self._thread: threading.Thread | None = None

    @property
    def status(self) -> dict[str, Any]:
        """A copy of the warm-up's state."""
        with self._lock:
            return {k: list(v) if isinstance(v, list) else v for k, v in self._state.items()}

    def _set(self, **changes: Any) -> None:
        with self._lock:
            self._state.update(changes)

    def start(self) -> None:
        """Start the thread (no-op when nothing is to be warmed or already started)."""
        if not self.keys or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="warm-up", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread to end (tests, and a server stopping right after starting)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        started = time.perf_counter()
        self._set(status="running")
        try:
            cities, unknown = warm_up_cities(self.keys)
            if unknown:
                log.error("SKILLCIRCLE_WARM_UP: %s is neither a city nor a province pack; left out", unknown)
            self._set(unknown=unknown)
            for key in tqdm(cities, desc="warm-up", unit="city", disable=None):
                with session_scope() as db:
                    coverage_model(get_runtime(key), db)
                with self._lock:
                    self._state["cities"].append(key)
        except Exception:  # a failed warm-up leaves the server as without one: requests build what they need
            log.exception("warm-up failed")
            self._set(status="failed", seconds=round(time.perf_counter() - started, 1))
            return
        seconds = round(time.perf_counter() - started, 1)
        log.info("warm-up: %d cities' coverage models built in %.1f s", len(cities), seconds)
        self._set(status="done", seconds=seconds)
