"""Per-city runtime state of the service: the city pack, its routing engine and its resource index.

The engine is loaded lazily, once per process. The resource index (ids, points, categories, skills,
and each resource's public record) is rebuilt whenever the registry changed: at once after a write
through this process, and within ``CHECK_SECONDS`` after a write through another worker process or
the CLI or an import job, rebuilt in a background thread while requests keep using the old index
(a cheap signature query: the city's registry version, bumped in the same
transaction as every write (:mod:`geo.versions`), plus count, newest update and largest id, which
also catch bulk deletes). ``/nearby`` therefore answers from memory, without a database query, and
still routes to what the registry holds. When the database is away, the last index keeps serving
(the check is retried every ``CHECK_SECONDS``); only a process that never indexed answers 503.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import orjson
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from api.schemas import ResourceBrief, ResourceOut
from geo.cities import CityPack, load_city
from geo.coords import from_wgs84
from geo.db import database_unavailable, session_scope
from geo.models import RegistryVersion, Resource

if TYPE_CHECKING:
    from isochrones.engine import CityEngine

log = logging.getLogger(__name__)
CHECK_SECONDS = 2.0


@dataclass
class ResourceIndex:
    """Arrays over a city's resources, aligned with what the engine was given."""

    ids: np.ndarray
    lons: np.ndarray
    lats: np.ndarray
    categories: np.ndarray
    skills: list[frozenset[str]]
    any_sample: bool
    position: dict[int, int] = field(default_factory=dict)
    records: dict[str, dict[int, ResourceOut]] = field(default_factory=dict)
    # (lang, crs, compact) -> resource id -> the record serialised once (see record_json)
    _json: dict[tuple[str, str, bool], dict[int, orjson.Fragment]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def mask(self, *, categories: list[str] | None = None, skill: str | None = None) -> np.ndarray:
        """Boolean mask of the resources in ``categories`` (any) offering ``skill``."""
        m = np.ones(len(self.ids), dtype=bool)
        if categories:
            m &= np.isin(self.categories, categories)
        if skill:
            m &= np.fromiter((skill in s for s in self.skills), dtype=bool, count=len(self.ids))
        return m

    def record(self, resource_id: int, *, lang: str = "zh", crs: str = "wgs84") -> ResourceOut:
        """The public record of a resource (built once per refresh), with coordinates in ``crs``."""
        out = self.records[lang][resource_id]
        if crs == "wgs84":
            return out
        lon, lat = from_wgs84(out.lon, out.lat, crs=crs)
        return out.model_copy(update={"lon": round(float(lon), 7), "lat": round(float(lat), 7), "crs": crs})

    def record_json(
        self, resource_id: int, *, lang: str = "zh", crs: str = "wgs84", compact: bool = False
    ) -> orjson.Fragment:
        """:meth:`record` (or its :class:`~api.schemas.ResourceBrief` when ``compact``) as JSON text.

        Serialised by pydantic once per index and kept, so ``/nearby`` splices records into its answer
        with orjson instead of validating and serialising a model per resource per request.
        """
        cache = self._json.setdefault((lang, crs, compact), {})
        text = cache.get(resource_id)
        if text is None:
            full = self.record(resource_id, lang=lang, crs=crs)
            model = ResourceBrief.of(full) if compact else full
            text = cache[resource_id] = orjson.Fragment(model.model_dump_json())
        return text


class CityRuntime:
    """The engine and resource index of one city, loaded on first use."""

    def __init__(self, city: CityPack) -> None:
        self.city = city
        self._engine: CityEngine | None = None
        self._index: ResourceIndex | None = None
        self._stale = True
        self._signature: tuple | None = None
        self._checked_at = 0.0
        self._retry_at = 0.0
        self._building = False
        self._lock = threading.RLock()

    @property
    def engine(self) -> CityEngine:
        """The city's :class:`isochrones.engine.CityEngine` with the current resources set."""
        with self._lock:
            if self._engine is None:
                from isochrones.engine import CityEngine

                self._engine = CityEngine.load(self.city)
            now = time.monotonic()
            try:
                if self._index is None or self._stale:  # first use, or a write through this process
                    self._install(*self._build())
                elif now - self._checked_at > CHECK_SECONDS and now >= self._retry_at and not self._building:
                    self._checked_at = now
                    if self._read_signature() != self._signature:
                        self._refresh_in_background()
            except DBAPIError as exc:
                if self._index is None:
                    raise database_unavailable(exc) from exc
                # the database is away: keep answering from the last index, try again later
                self._retry_at = now + CHECK_SECONDS
                log.warning("city %s: database unavailable, serving the last index: %s", self.city.key, exc.orig)
            return self._engine

    def ready(self) -> bool:
        """True when the engine and index are loaded and no registry check is due: reading
        :attr:`engine` or :attr:`index` then touches neither the disk nor the database, so an ``async``
        handler may do it on the event loop (otherwise it reads them in a worker thread first)."""
        return (
            self._engine is not None
            and self._index is not None
            and not self._stale
            and time.monotonic() - self._checked_at <= CHECK_SECONDS
        )

    @property
    def index(self) -> ResourceIndex:
        """The resource index matching the engine's resources."""
        self.engine  # noqa: B018 - loads and refreshes
        assert self._index is not None
        return self._index

    def invalidate(self) -> None:
        """Mark the resource index stale after a write; the next query rebuilds it."""
        with self._lock:
            self._stale = True

    def _read_signature(self) -> tuple:
        with session_scope() as session:
            version = select(RegistryVersion.version).where(RegistryVersion.city == self.city.key).scalar_subquery()
            row = session.execute(
                select(version, func.count(Resource.id), func.max(Resource.updated_at), func.max(Resource.id)).where(
                    Resource.city == self.city.key
                )
            ).one()
        return tuple(str(v) for v in row)

    def _refresh_in_background(self) -> None:
        """Rebuild the index in a thread after a write made elsewhere; requests keep the old one meanwhile."""
        self._building = True
        started_from = self._signature

        def _run() -> None:
            try:
                built = self._build()
                with self._lock:
                    if self._signature == started_from:  # no newer index was installed meanwhile
                        self._install(*built)
            except DBAPIError as exc:
                self._retry_at = time.monotonic() + CHECK_SECONDS
                log.warning("city %s: re-index failed, serving the last index: %s", self.city.key, exc.orig)
            except Exception:
                log.exception("city %s: re-index failed", self.city.key)
            finally:
                self._building = False

        threading.Thread(target=_run, name=f"reindex-{self.city.key}", daemon=True).start()

    def _build(self) -> tuple[ResourceIndex, tuple]:
        """A new index of the city's resources, and the signature it matches (read first)."""
        signature = self._read_signature()
        with session_scope() as session:
            rows = session.scalars(select(Resource).where(Resource.city == self.city.key).order_by(Resource.id)).all()
            ids = np.array([r.id for r in rows], dtype=np.int64)
            index = ResourceIndex(
                ids=ids,
                lons=np.array([r.lon for r in rows], dtype=float),
                lats=np.array([r.lat for r in rows], dtype=float),
                categories=np.array([r.category for r in rows], dtype=object),
                skills=[frozenset(s.name for s in r.skills) for r in rows],
                any_sample=any(r.is_sample for r in rows),
                position={int(i): k for k, i in enumerate(ids)},
                records={lang: {r.id: ResourceOut.of(r, lang=lang) for r in rows} for lang in ("zh", "en")},
            )
        return index, signature

    def _install(self, index: ResourceIndex, signature: tuple) -> None:
        """Give the engine the index's resources and make it current (under the lock)."""
        assert self._engine is not None, "the engine loads before its first index"
        self._engine.set_resources(index.ids, index.lons, index.lats)
        self._index = index
        self._signature = signature
        self._checked_at = time.monotonic()
        self._stale = False
        log.info("city %s: %d resources indexed for routing", self.city.key, len(index.ids))


_RUNTIMES: dict[str, CityRuntime] = {}
_RUNTIMES_LOCK = threading.Lock()


def get_runtime(city_key: str) -> CityRuntime:
    """The runtime of ``city_key`` (raises UnknownCityError for a city without a pack)."""
    with _RUNTIMES_LOCK:
        if city_key not in _RUNTIMES:
            _RUNTIMES[city_key] = CityRuntime(load_city(city_key))
        return _RUNTIMES[city_key]


def loaded_runtimes() -> dict[str, CityRuntime]:
    """The runtimes created so far (for /healthz)."""
    return dict(_RUNTIMES)


def reset_runtimes() -> None:
    """Forget every runtime (tests, and after ``skillcircle build``)."""
    with _RUNTIMES_LOCK:
        _RUNTIMES.clear()
