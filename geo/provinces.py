"""Province packs: ``data/provinces/<key>.toml`` groups the city packs of a province for the province view.

A province pack names its prefecture-level cities (pack key, adcode, name). :func:`province_cities`
loads those whose pack exists under ``data/cities`` and reports the others as missing, with the reason
``skillcircle city new`` gives for them (for instance ``no_census_data``), so a province view can show
every city and say plainly which have no pack yet.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from geo.cities import CITIES_DIR, DATA_DIR, CityPack, CoverageView, load_city
from geo.errors import CityPackError, SkillCircleError, UnknownCityError

PROVINCES_DIR = DATA_DIR / "provinces"


class ProvinceMember(BaseModel):
    """One prefecture-level city of a province pack."""

    model_config = ConfigDict(extra="forbid")

    key: str
    adcode: str = Field(pattern=r"^\d{6}$")
    name_zh: str


class ProvincePack(BaseModel):
    """A parsed ``data/provinces/<key>.toml``."""

    model_config = ConfigDict(extra="forbid")

    key: str
    name_zh: str
    name_en: str
    adcode: str = Field(pattern=r"^\d{6}$")
    center: tuple[float, float]  # lat, lon (WGS84)
    zoom: int = 7
    bbox: tuple[float, float, float, float]  # min_lon, min_lat, max_lon, max_lat
    # the view /map/coverage?city=<province> opens on (the same keys as a city pack's [coverage_view])
    coverage_view: CoverageView = CoverageView()
    cities: list[ProvinceMember]


@dataclass(frozen=True)
class ProvinceCities:
    """The province's loaded city packs, and the members without a pack with the reason."""

    loaded: list[CityPack]
    missing: dict[str, str]  # member key -> reason (an error code and message)


def available_provinces() -> list[str]:
    """Keys of every province pack under ``data/provinces``."""
    return sorted(p.stem for p in PROVINCES_DIR.glob("*.toml"))


def load_province(key: str) -> ProvincePack:
    """Load and check the province pack ``key``.

    Raises
    ------
    UnknownCityError
        If there is no ``data/provinces/<key>.toml``.
    CityPackError
        If the file is invalid, or a member's adcode is not under the province's.
    """
    path = PROVINCES_DIR / f"{key}.toml"
    if not key or "/" in key or not path.is_file():
        msg = f"unknown province {key!r}; available: {', '.join(available_provinces())}"
        raise UnknownCityError(msg, message_zh=f"未知的省份“{key}”", details={"province": key})
    try:
        pack = ProvincePack(**tomllib.loads(path.read_text(encoding="utf-8")))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        msg = f"province pack {path} is invalid: {exc}"
        raise CityPackError(msg, message_zh=f"省份配置 {path} 无效：{exc}") from exc
    outside = [m.adcode for m in pack.cities if m.adcode[:2] != pack.adcode[:2]]
    if outside:
        msg = f"province pack {path} lists cities outside {pack.adcode}: {outside}"
        raise CityPackError(msg, message_zh=f"省份配置 {path} 列出了不属于本省的城市：{outside}")
    return pack


def province_cities(pack: ProvincePack, *, cities_dir: Path | None = None) -> ProvinceCities:
    """Load every member's city pack; a member without one is reported with the reason."""
    from geo.citypack import check_sources

    loaded: list[CityPack] = []
    missing: dict[str, str] = {}
    root = cities_dir or CITIES_DIR
    for member in pack.cities:
        if (root / member.key / "city.toml").is_file():
            city = load_city(member.key)
            if city.boundaries.parent_adcode != member.adcode:
                msg = f"city pack {member.key} has parent_adcode {city.boundaries.parent_adcode}, not {member.adcode}"
                raise CityPackError(msg, message_zh=f"城市配置 {member.key} 的行政区划代码与省份配置不符")
            loaded.append(city)
            continue
        try:  # why there is no pack: the generator's own checks of its sources, writing nothing
            check_sources(member.adcode)
            missing[member.key] = "no pack generated yet (`skillcircle city new` would succeed)"
        except SkillCircleError as exc:
            missing[member.key] = f"{exc.code}: {exc.message_en}"
    return ProvinceCities(loaded=loaded, missing=missing)
