"""Basemap providers (``data/basemaps.toml``): which tiles a map shows, their datum and required notices.

Chinese basemaps differ in datum: Tianditu (the official national basemap) is CGCS2000, which equals
WGS84 at map scale, while Amap's tiles are drawn in GCJ-02. A page on a GCJ-02 basemap therefore
converts every overlay it draws (see :mod:`api.maps.overlays` and ``crs=gcj02`` API calls in
``map.js``). The ``none`` provider shows no tiles at all (offline use, tests).
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from geo.cities import DATA_DIR
from geo.config import Settings
from geo.errors import CityPackError, InvalidParameterError

log = logging.getLogger(__name__)

BASEMAPS_FILE: Path = DATA_DIR / "basemaps.toml"
NO_TILES = "none"


@dataclass(frozen=True)
class TileSpec:
    """One tile layer of a provider, with ``{key}``/``{lang}`` already filled in."""

    url: str
    subdomains: str
    overlay: bool

    @property
    def origin(self) -> str:
        """The scheme and host pattern the tiles come from, for the pages' Content-Security-Policy."""
        parts = urlsplit(self.url.replace("{s}", "x"))
        host = parts.hostname or ""
        if "{s}" in self.url.split("/")[2]:
            # t{s}.tianditu.gov.cn → *.tianditu.gov.cn
            host = "*." + host.split(".", 1)[1]
        return f"{parts.scheme}://{host}"


@dataclass(frozen=True)
class Basemap:
    """A basemap ready for one page: tiles for the page language, datum and the notices to show."""

    key: str
    name: str
    crs: str
    max_zoom: int
    attribution: str
    approval: str
    layers: tuple[TileSpec, ...]
    fallback_note: str = ""

    @property
    def is_gcj02(self) -> bool:
        """True when overlays must be shifted to GCJ-02 to sit on these tiles."""
        return self.crs == "gcj02"

    @property
    def tile_origins(self) -> list[str]:
        """Distinct origins of the tile images (empty for ``none``)."""
        return sorted({layer.origin for layer in self.layers})


@cache
def _providers() -> dict[str, dict[str, Any]]:
    try:
        raw = tomllib.loads(BASEMAPS_FILE.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        msg = f"basemap file {BASEMAPS_FILE} is missing or invalid: {exc}"
        raise CityPackError(msg, message_zh=f"底图配置 {BASEMAPS_FILE} 缺失或无效：{exc}") from exc
    for key, spec in raw.items():
        if spec.get("crs") not in ("wgs84", "gcj02"):
            msg = f"basemap {key!r} in {BASEMAPS_FILE} has crs {spec.get('crs')!r}; expected wgs84 or gcj02"
            raise CityPackError(msg, message_zh=f"底图“{key}”的坐标系无效：{spec.get('crs')}")
    return raw


def basemap_keys() -> list[str]:
    """Keys of every configured basemap provider, in file order."""
    return list(_providers())


def basemap_names(lang: str) -> dict[str, str]:
    """Display name of every provider in ``lang``."""
    return {k: (v.get("name_en") if lang == "en" else v.get("name_zh")) or k for k, v in _providers().items()}


def _unknown(value: str) -> InvalidParameterError:
    keys = basemap_keys()
    msg = f"unknown basemap {value!r}; expected one of {', '.join(keys)}"
    return InvalidParameterError(
        msg,
        message_zh=f"未知的底图“{value}”，可选：{'、'.join(keys)}",
        code="unknown_basemap",
        details={"basemap": value, "allowed": keys},
    )


def _build(key: str, spec: dict[str, Any], *, lang: str, secret: str) -> Basemap:
    layers = []
    for layer in spec.get("layers", []):
        url = str(layer["url"]).replace("{key}", quote(secret, safe=""))
        url = url.replace("{lang}", str(layer.get("lang", {}).get(lang, "")))
        layers.append(
            TileSpec(url=url, subdomains=str(layer.get("subdomains", "")), overlay=bool(layer.get("overlay")))
        )
    return Basemap(
        key=key,
        name=str(spec.get("name_en") if lang == "en" else spec.get("name_zh")),
        crs=str(spec["crs"]),
        max_zoom=int(spec.get("max_zoom", 18)),
        attribution=str(spec.get("attribution", "")),
        approval=str(spec.get("approval", "")),
        layers=tuple(layers),
    )


def resolve_basemap(requested: str | None, *, lang: str, settings: Settings) -> Basemap:
    """The basemap a page shows: the requested one, else the deployment's ``settings.basemap``.

    A page asking for an unknown provider, or for one whose key is not configured (Tianditu without
    ``SKILLCIRCLE_TIANDITU_KEY``), gets a 422 (``unknown_basemap`` / ``basemap_unavailable``): the
    caller chose it and can choose another. A misconfigured *deployment default* does not break
    every page: it falls back to ``none`` (overlays only), logs a warning and says so on the page.

    Raises
    ------
    InvalidParameterError
        With code ``unknown_basemap`` or ``basemap_unavailable``.
    """
    providers = _providers()
    explicit = requested is not None and requested.strip() != ""
    key = (requested if requested is not None and explicit else settings.basemap or NO_TILES).strip().lower()
    spec = providers.get(key)
    if spec is None:
        if explicit:
            raise _unknown(key)
        log.warning("settings.basemap=%r is not a configured basemap; showing no tiles", key)
        return _fallback(key, lang=lang)
    secret = ""
    if spec.get("key_setting"):
        secret = str(getattr(settings, spec["key_setting"], "") or "")
        if not secret:
            if not explicit:
                log.warning("basemap %r needs settings.%s; showing no tiles", key, spec["key_setting"])
                return _fallback(key, lang=lang)
            env = "SKILLCIRCLE_" + str(spec["key_setting"]).upper()
            msg = f"the basemap {key!r} needs a key and this deployment has none (set {env})"
            raise InvalidParameterError(
                msg,
                message_zh=f"底图“{spec.get('name_zh', key)}”需要密钥，本服务尚未配置（{env}），请选择其他底图",
                code="basemap_unavailable",
                details={"basemap": key, "setting": env},
            )
    return _build(key, spec, lang=lang, secret=secret)


def _fallback(key: str, *, lang: str) -> Basemap:
    base = _build(NO_TILES, _providers()[NO_TILES], lang=lang, secret="")
    note = (
        f"The configured basemap {key!r} is unavailable (unknown or missing key); showing overlays only."
        if lang == "en"
        else f"配置的底图“{key}”不可用（未知或缺少密钥），仅显示叠加图层。"
    )
    return Basemap(**{**base.__dict__, "fallback_note": note})
