"""Parameters of the province pages (``/map?city=<province>``, ``/map/coverage?city=<province>``).

Each bad value gets the city pages' stable 4xx code (:mod:`api.maps.params`): a ``center`` outside the
province's box is ``outside_service_area``; ``resolution`` is refused (``invalid_resolution``), since a
province's tables use each city's default grid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from api.i18n import negotiate
from api.maps.basemaps import Basemap, resolve_basemap
from api.maps.params import parse_categories, parse_lat_lon, parse_minutes, parse_mode, parse_zoom
from geo.config import Settings
from geo.errors import CoordinateError, InvalidParameterError, OutsideServiceAreaError
from geo.provinces import ProvincePack


@dataclass(frozen=True)
class ProvinceParams:
    """Validated parameters of a province page (``mode``, ``minutes``, ``categories`` for its gap map)."""

    province: ProvincePack
    lang: str
    basemap: Basemap
    mode: str
    minutes: int
    categories: tuple[str, ...]
    center: tuple[float, float] | None
    zoom: int | None

    def query(self, **overrides: str | None) -> dict[str, str]:
        """The parameters as a query dict (links between the pages), with ``overrides`` applied."""
        out: dict[str, str | None] = {
            "city": self.province.key,
            "lang": self.lang,
            "basemap": self.basemap.key,
            "mode": self.mode,
            "category": ",".join(self.categories) or None,
        }
        out.update(overrides)
        return {k: v for k, v in out.items() if v}


def province_of_query(query: Mapping[str, str]) -> ProvincePack | None:
    """The province pack a page's ``city`` parameter names, or None for a city (or nothing)."""
    from api.services.province import province_of

    return province_of((query.get("city") or "").strip())


def _parse_center(value: str | None, pack: ProvincePack) -> tuple[float, float] | None:
    """``"lat,lon"`` (WGS84) inside the province's box, or None; the same codes as a city page's."""
    if value is None or not value.strip():
        return None
    lat, lon = parse_lat_lon(value)
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        msg = f"coordinates out of range: lat={lat}, lon={lon}"
        raise CoordinateError(msg, message_zh=f"坐标超出范围：纬度 {lat}，经度 {lon}", details={"lat": lat, "lon": lon})
    min_lon, min_lat, max_lon, max_lat = pack.bbox
    if not (min_lon <= lon <= max_lon and min_lat <= lat <= max_lat):
        msg = f"point lat={lat}, lon={lon} is outside {pack.name_en}"
        raise OutsideServiceAreaError(
            msg,
            message_zh=f"位置（纬度 {lat}，经度 {lon}）不在{pack.name_zh}范围内",
            details={"lat": lat, "lon": lon, "city": pack.key, "bbox": list(pack.bbox)},
        )
    return lat, lon


def parse_province_params(
    query: Mapping[str, str], pack: ProvincePack, *, settings: Settings, accept_language: str | None = None
) -> ProvinceParams:
    """Validate a province page's parameters: each bad value is the city pages' stable 4xx code.

    ``resolution`` is refused (422 ``invalid_resolution``): a province's tables use each city's default
    grid. ``skill`` is a city's question and is ignored, like any parameter the page does not take.
    """

    def get(name: str) -> str | None:
        value = query.get(name)
        if value is not None and len(value) > 200:
            raise InvalidParameterError(
                f"parameter {name!r} is longer than 200 characters",
                message_zh=f"参数 {name} 超过 200 个字符",
                details={"parameter": name},
            )
        return value.strip() or None if value is not None else None

    lang = negotiate(get("lang"), accept_language)
    basemap = resolve_basemap(get("basemap"), lang=lang, settings=settings)
    if get("resolution") is not None:
        msg = "a province map uses each city's default grid; ask a city's own gap map for another resolution"
        raise InvalidParameterError(
            msg,
            message_zh="全省缺口图使用各市的默认网格；如需其他分辨率，请打开该市的缺口图",
            code="invalid_resolution",
            details={"resolution": get("resolution"), "city": pack.key},
        )
    return ProvinceParams(
        province=pack,
        lang=lang,
        basemap=basemap,
        mode=parse_mode(get("mode")),
        minutes=parse_minutes(get("minutes")),
        categories=parse_categories(get("category")),
        center=_parse_center(get("center"), pack),
        zoom=parse_zoom(get("zoom"), max_zoom=basemap.max_zoom),
    )
