"""The resources a coverage model sees: ids, positions, categories and supply (seats and the seats of
upcoming classes), read from the registry in the order the engine was given them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from geo.errors import InvalidParameterError
from planning.params import ALL_CATEGORIES, check_supply

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@dataclass(frozen=True)
class ResourceSet:
    """The resources the engine was given (same order), with what coverage and 2SFCA need.

    Attributes
    ----------
    ids, lons, lats
        Resource ids and WGS84 positions, in the order passed to ``engine.set_resources``.
    categories
        Category key of each resource.
    seats
        ``Resource.seats`` (``nan`` where unknown).
    class_seats
        Seats of the resource's current and upcoming classes (``seats_total`` of classes ending today
        or later; 0 where none).
    any_sample
        True if any resource is sample data (every answer must then say so).
    """

    ids: np.ndarray
    lons: np.ndarray
    lats: np.ndarray
    categories: np.ndarray
    seats: np.ndarray
    class_seats: np.ndarray
    any_sample: bool = False

    @classmethod
    def of(
        cls,
        ids: Sequence[int],
        lons: ArrayLike,
        lats: ArrayLike,
        categories: Iterable[str],
        *,
        seats: Sequence[float | None] | None = None,
        class_seats: Sequence[float] | None = None,
        any_sample: bool = False,
    ) -> ResourceSet:
        """Build a set from sequences (``None`` seats become ``nan``)."""
        n = len(ids)
        seat_arr = np.full(n, np.nan) if seats is None else np.array([np.nan if s is None else s for s in seats], float)
        cls_arr = np.zeros(n) if class_seats is None else np.asarray(class_seats, dtype=float)
        out = cls(
            ids=np.asarray(ids, dtype=np.int64),
            lons=np.asarray(lons, dtype=np.float64),
            lats=np.asarray(lats, dtype=np.float64),
            categories=np.asarray(list(categories), dtype=object),
            seats=seat_arr,
            class_seats=cls_arr,
            any_sample=bool(any_sample),
        )
        if not (out.lons.size == out.lats.size == out.categories.size == out.seats.size == out.class_seats.size == n):
            msg = "resource arrays must have the same length"
            raise InvalidParameterError(msg, message_zh="资源数组长度必须一致")
        return out

    @classmethod
    def from_db(cls, session: Session, city_key: str, *, today: date | None = None) -> ResourceSet:
        """Every resource of ``city_key`` ordered by id (the order :mod:`api.state` gives the engine)."""
        from sqlalchemy import select

        from geo.clock import city_today
        from geo.models import Resource

        rows = session.execute(
            select(Resource.id, Resource.lon, Resource.lat, Resource.category, Resource.seats, Resource.is_sample)
            .where(Resource.city == city_key)
            .order_by(Resource.id)
        ).all()
        ids = [r.id for r in rows]
        return cls.of(
            ids,
            [r.lon for r in rows],
            [r.lat for r in rows],
            [r.category for r in rows],
            seats=[r.seats for r in rows],
            class_seats=_class_seats(session, ids, today=today or city_today(city_key)),
            any_sample=any(r.is_sample for r in rows),
        )

    def mask(self, category: str) -> np.ndarray:
        """Boolean mask of the resources of ``category`` (``"all"``: every resource)."""
        if category == ALL_CATEGORIES:
            return np.ones(self.ids.size, dtype=bool)
        return self.categories == category

    def supply(self, kind: str) -> np.ndarray:
        """Seats per resource for 2SFCA: ``"seats"`` (``Resource.seats``) or ``"classes"`` (class seats)."""
        return self.seats if check_supply(kind) == "seats" else self.class_seats

    @property
    def version(self) -> str:
        """A short hash of everything coverage depends on (ids, positions, categories, seats)."""
        h = hashlib.blake2b(digest_size=10)
        for arr in (self.ids, self.lons, self.lats, self.seats, self.class_seats):
            h.update(np.ascontiguousarray(arr).tobytes())
        h.update("|".join(map(str, self.categories)).encode())
        return h.hexdigest()


def class_seats_by_resource(session: Session, ids: Sequence[int], *, today: date) -> dict[int, float]:
    """Total ``seats_total`` of the upcoming classes (:mod:`geo.clock`: not ended by ``today``, the
    city's date, and not cancelled), per resource id (for 2SFCA supply)."""
    from sqlalchemy import func, select

    from geo.clock import upcoming_class
    from geo.models import TrainingClass

    rows = session.execute(
        select(TrainingClass.resource_id, func.sum(TrainingClass.seats_total))
        .where(upcoming_class(today))
        .group_by(TrainingClass.resource_id)
    ).all()
    wanted = set(int(i) for i in ids)
    return {int(r): float(s or 0) for r, s in rows if int(r) in wanted}


def _class_seats(session: Session, ids: Sequence[int], *, today: date) -> list[float]:
    by_id = class_seats_by_resource(session, ids, today=today)
    return [by_id.get(int(i), 0.0) for i in ids]


__all__ = ["ResourceSet", "class_seats_by_resource"]
