"""One clock: "today" in the city's time zone, what "upcoming" means, and timestamps with an offset.

- A city's day is the date in the time zone of its pack (``timezone`` in ``city.toml``, e.g.
  Asia/Shanghai), never the server's clock zone: a server in UTC would otherwise still show
  yesterday's classes until 08:00 in Jiaxing.
- An **upcoming class** has not ended (``end_date`` today or later) and is not cancelled: it is
  running or yet to start. It is **open** (a worker can still join it) when it also has seats left
  and its sign-up deadline (``signup_deadline``, else ``start_date``) is today or later.
- An **upcoming evaluation** is on today or later and not cancelled; it is **open** when it also has
  seats left.
- Stored timestamps are UTC. SQLite returns them without a zone: :func:`aware` puts the UTC offset
  back before anything is sent out, so every timestamp leaves with its offset.

Every list, page, count and export uses these definitions (nothing else compares dates to today).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any, overload
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func

from geo.models import Evaluation, TrainingClass

DEFAULT_TIMEZONE = "Asia/Shanghai"


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def city_zone(city: Any) -> ZoneInfo:
    """The time zone of ``city`` (a :class:`~geo.cities.CityPack`, or a city key; an unknown key gets
    the default zone, so a date is never an error)."""
    if isinstance(city, str):
        from geo.cities import load_city
        from geo.errors import SkillCircleError

        try:
            city = load_city(city)
        except SkillCircleError:
            return _zone(DEFAULT_TIMEZONE)
    return _zone(getattr(city, "timezone", None) or DEFAULT_TIMEZONE)


def utcnow() -> datetime:
    """The current instant (aware, UTC): the one source of "now" (tests set it)."""
    return datetime.now(UTC)


def city_now(city: Any) -> datetime:
    """Now, as an aware datetime in the city's time zone."""
    return utcnow().astimezone(city_zone(city))


def city_today(city: Any) -> date:
    """Today's date in the city's time zone."""
    return city_now(city).date()


@overload
def aware(value: datetime) -> datetime: ...
@overload
def aware(value: None) -> None: ...
def aware(value: datetime | None) -> datetime | None:
    """``value`` with its UTC offset (stored timestamps are UTC; SQLite drops the zone)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with offset, or None."""
    value = aware(value)
    return None if value is None else value.isoformat()


def signup_deadline(c: TrainingClass) -> date:
    """The last day a worker can sign up for class ``c``: its ``signup_deadline``, else its first day."""
    return c.signup_deadline or c.start_date


def evaluation_signup_deadline(e: Evaluation) -> date:
    """The last day a worker can sign up for evaluation session ``e``: the day before it, so that the
    agency has its candidate list when the day starts (no sign-up on the day itself)."""
    return e.date - timedelta(days=1)


def upcoming_class(today: date) -> ColumnElement[bool]:
    """SQL condition: the class has not ended and is not cancelled."""
    return and_(TrainingClass.end_date >= today, TrainingClass.cancelled_at.is_(None))


def open_class(today: date) -> ColumnElement[bool]:
    """SQL condition: an upcoming class with seats left whose sign-up has not closed."""
    return and_(
        upcoming_class(today),
        TrainingClass.seats_left > 0,
        func.coalesce(TrainingClass.signup_deadline, TrainingClass.start_date) >= today,
    )


def upcoming_evaluation(today: date) -> ColumnElement[bool]:
    """SQL condition: the evaluation session is today or later and not cancelled."""
    return and_(Evaluation.date >= today, Evaluation.cancelled_at.is_(None))


def open_evaluation(today: date) -> ColumnElement[bool]:
    """SQL condition: an upcoming evaluation session with seats left that still takes sign-ups (it is
    after today: :func:`evaluation_signup_deadline`)."""
    return and_(upcoming_evaluation(today), Evaluation.seats_left > 0, Evaluation.date > today)
