"""Parsing the query parameters of the map pages, with a stable 4xx code for every bad value.

The pages take their parameters as plain strings and parse them here (rather than through FastAPI's
typed query parameters) so that a bad value always produces the same bilingual error, which the
router renders as an HTML page for browsers and as JSON for everyone else.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.i18n import negotiate
from api.maps.basemaps import Basemap, resolve_basemap
from api.params import check_service_point
from geo.categories import parse_category
from geo.cities import CityPack, load_city
from geo.config import Settings
from geo.errors import InvalidParameterError, UnknownModeError, UnknownSkillError
from geo.models import Resource, ResourceSkill
from geo.moderules import MODE_KEYS

MAX_VALUE_CHARS = 200
DEFAULT_MODE = "ebike"
DEFAULT_MINUTES = 30
MIN_ZOOM = 3


@dataclass(frozen=True)
class MapParams:
    """Validated parameters of a map page.

    ``center`` and ``origin`` are WGS84 (lat, lon) whatever the basemap: the page converts them like
    every overlay. ``origin`` (the city map and embed only) is where "what is within reach" opens.
    Empty ``categories`` means all six.
    """

    city: CityPack
    lang: str
    basemap: Basemap
    mode: str
    minutes: int
    categories: tuple[str, ...]
    skill: str | None
    center: tuple[float, float] | None
    zoom: int | None
    origin: tuple[float, float] | None = None

    def query(self, **overrides: str | None) -> dict[str, str]:
        """The parameters as a query dict (for links between the pages), with ``overrides`` applied."""
        out: dict[str, str | None] = {
            "city": self.city.key,
            "lang": self.lang,
            "basemap": self.basemap.key,
            "mode": self.mode,
            "category": ",".join(self.categories) or None,
            "skill": self.skill,
        }
        out.update(overrides)
        return {k: v for k, v in out.items() if v}


def _get(query: Mapping[str, str], name: str) -> str | None:
    value = query.get(name)
    if value is None:
        return None
    value = value.strip()
    if len(value) > MAX_VALUE_CHARS:
        msg = f"parameter {name!r} is longer than {MAX_VALUE_CHARS} characters"
        raise InvalidParameterError(
            msg, message_zh=f"参数 {name} 超过 {MAX_VALUE_CHARS} 个字符", details={"parameter": name}
        )
    return value or None


def parse_mode(value: str | None) -> str:
    """A travel mode key (default e-bike); anything else → 422 ``unknown_mode``."""
    if value is None:
        return DEFAULT_MODE
    if value not in MODE_KEYS:
        msg = f"unknown travel mode {value!r}; expected one of {', '.join(MODE_KEYS)}"
        raise UnknownModeError(
            msg,
            message_zh=(
                f"未知的出行方式“{value}”，应为 walk（步行）、bicycle（自行车）、ebike（电动自行车）或 car（驾车）"
            ),
            details={"mode": value, "allowed": list(MODE_KEYS)},
        )
    return value


def parse_minutes(value: str | None) -> int:
    """A whole number of minutes from 1 to 60 (default 30); else → 422 ``invalid_minutes``."""
    if value is None:
        return DEFAULT_MINUTES
    try:
        minutes = int(value)
    except ValueError:
        minutes = 0
    if not 1 <= minutes <= 60:
        msg = f"minutes must be a whole number from 1 to 60, got {value!r}"
        raise InvalidParameterError(
            msg,
            message_zh=f"minutes 应为 1–60 的整数，收到“{value}”",
            code="invalid_minutes",
            details={"minutes": value},
        )
    return minutes


def parse_lat_lon(value: str, *, name: str = "center") -> tuple[float, float]:
    """``"lat,lon"`` as two finite numbers (a full-width comma accepted); else → 422 ``invalid_<name>``."""
    parts = value.replace("，", ",").split(",")
    try:
        lat, lon = (float(p) for p in parts)
    except ValueError:
        lat = lon = math.nan
    if not (math.isfinite(lat) and math.isfinite(lon)):
        msg = f"{name} must be 'lat,lon' in decimal degrees, got {value!r}"
        raise InvalidParameterError(
            msg,
            message_zh=f"{name} 应为“纬度,经度”（十进制度），收到“{value}”",
            code=f"invalid_{name}",
            details={name: value},
        )
    return lat, lon


def parse_center(value: str | None, city: CityPack) -> tuple[float, float] | None:
    """``"lat,lon"`` (WGS84) inside the city's service area, or None.

    Raises
    ------
    InvalidParameterError
        ``invalid_center`` when not two numbers; ``invalid_coordinates`` / ``outside_service_area``
        from :meth:`geo.cities.CityPack.check_point` otherwise.
    """
    if value is None:
        return None
    lat, lon = parse_lat_lon(value)
    city.check_point(lon, lat)
    return lat, lon


def parse_origin(value: str | None, city: CityPack) -> tuple[float, float] | None:
    """``"lat,lon"`` (WGS84) in the city's service area, where the map opens "what is within reach from here".

    The 技能码 page links its place (or the worker's phone) this way. Checked as the reach itself is
    (:func:`api.params.check_service_point`), so a bad origin is the page's 4xx, not an error inside it:
    ``invalid_origin`` when not two numbers, ``invalid_coordinates`` / ``outside_service_area`` outside
    the city's box or districts, ``in_water`` in the sea, the estuary or a lake.
    """
    if value is None:
        return None
    lat, lon = parse_lat_lon(value, name="origin")
    check_service_point(city, lon, lat)
    return lat, lon


def parse_zoom(value: str | None, *, max_zoom: int) -> int | None:
    """A whole zoom level from 3 to the basemap's maximum, or None; else → 422 ``invalid_zoom``."""
    if value is None:
        return None
    try:
        zoom = int(value)
    except ValueError:
        zoom = -1
    if not MIN_ZOOM <= zoom <= max_zoom:
        msg = f"zoom must be a whole number from {MIN_ZOOM} to {max_zoom}, got {value!r}"
        raise InvalidParameterError(
            msg,
            message_zh=f"zoom 应为 {MIN_ZOOM}–{max_zoom} 的整数，收到“{value}”",
            code="invalid_zoom",
            details={"zoom": value, "min": MIN_ZOOM, "max": max_zoom},
        )
    return zoom


def parse_resolution(value: str | None) -> int | None:
    """An H3 resolution for the coverage grid, 6 (coarse) to 9 (fine), or None for the API's default."""
    if value is None:
        return None
    try:
        res = int(value)
    except ValueError:
        res = -1
    if not 6 <= res <= 9:
        msg = f"resolution must be a whole number from 6 to 9, got {value!r}"
        raise InvalidParameterError(
            msg,
            message_zh=f"resolution（网格分辨率）应为 6–9 的整数，收到“{value}”",
            code="invalid_resolution",
            details={"resolution": value},
        )
    return res


def parse_categories(value: str | None) -> tuple[str, ...]:
    """Comma-separated category keys or labels → keys (empty = all); unknown → 422 ``unknown_category``."""
    if value is None or value.lower() == "all":
        return ()
    keys = [parse_category(part) for part in value.replace("，", ",").split(",") if part.strip()]
    return tuple(dict.fromkeys(keys))


def check_skill(session: Session, city: CityPack, skill: str | None) -> str | None:
    """The skill if some resource of ``city`` offers it; else → 422 ``unknown_skill``."""
    if skill is None:
        return None
    found = session.scalar(
        select(ResourceSkill.id).join(Resource).where(Resource.city == city.key, ResourceSkill.name == skill).limit(1)
    )
    if found is None:
        msg = f"no resource in {city.key} offers the skill {skill!r}"
        raise UnknownSkillError(msg, message_zh=f"本市没有提供“{skill}”工种的机构", details={"skill": skill})
    return skill


def parse_map_params(
    query: Mapping[str, str],
    *,
    settings: Settings,
    session: Session,
    accept_language: str | None = None,
    with_origin: bool = False,
) -> MapParams:
    """Validate every parameter a map page accepts (unknown parameters are ignored).

    Parameters
    ----------
    query
        The request's query parameters.
    settings
        Deployment settings (default city and basemap, provider keys).
    session
        Database session, to check that the requested skill exists in the city.
    accept_language
        The request's ``Accept-Language`` header: the language when ``lang`` is not given.
    with_origin
        Read ``origin`` (the city map and its embed, which draw the reach from it); other pages ignore it.
    """
    lang = negotiate(_get(query, "lang"), accept_language)
    city = load_city(_get(query, "city") or settings.default_city)
    basemap = resolve_basemap(_get(query, "basemap"), lang=lang, settings=settings)
    return MapParams(
        city=city,
        lang=lang,
        basemap=basemap,
        mode=parse_mode(_get(query, "mode")),
        minutes=parse_minutes(_get(query, "minutes")),
        categories=parse_categories(_get(query, "category")),
        skill=check_skill(session, city, _get(query, "skill")),
        center=parse_center(_get(query, "center"), city),
        zoom=parse_zoom(_get(query, "zoom"), max_zoom=basemap.max_zoom),
        origin=parse_origin(_get(query, "origin"), city) if with_origin else None,
    )
