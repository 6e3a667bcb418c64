"""Travel-mode rules: the four modes, which OSM ways each may use, in which direction, and how fast.

This module is the one place the rules live: the modes (:data:`MODE_KEYS`, checked by :func:`check_mode`
on every query), the table below, and :func:`mode_edges`, which implements exactly this table.

Access (the OSM transport-mode hierarchy, https://wiki.openstreetmap.org/wiki/Key:access): each mode
reads a chain of tags from general to specific and the most specific tag present wins.

=========  ==========================================  ===============================================
mode       access chain (last present tag wins)        values
=========  ==========================================  ===============================================
walk       ``access`` → ``foot``                       ``no``, ``private``, ``use_sidepath`` (and for
bicycle    ``access`` → ``vehicle`` → ``bicycle``      bicycles ``dismount``, see below) refuse;
ebike      ``access`` → ``vehicle`` → ``bicycle``      ``yes``, ``designated``, ``permissive``,
car        ``access`` → ``vehicle`` →                  ``destination``, ``customers``, ``delivery``,
           ``motor_vehicle`` → ``motorcar``            ``official`` allow; anything else keeps the
                                                       highway class's default
=========  ==========================================  ===============================================

Ways by highway class (the access chain then applies):

=========  ====================================================  ===========================================
mode       ridden / walked by default                            only when the mode's own tag says yes
=========  ====================================================  ===========================================
walk       every road except motorway/trunk; footway, path,      ``trunk``, ``trunk_link`` (``foot=yes``)
           pedestrian, steps, track, cycleway, corridor,
           bridleway, trail
bicycle    roads up to primary, living_street, service,          ``trunk``, ``trunk_link``; ``footway``,
           cycleway, path, track; **pushed** at walking speed:   ``pedestrian``, ``bridleway``,
           ``footway``, ``pedestrian``, ``bridleway``,           ``corridor`` are *ridden* with
           ``corridor``                                          ``bicycle=yes|designated``; ``steps``
                                                                 pushed with ``bicycle=yes``
ebike      as bicycle (never on ``steps``)                       as bicycle, except steps
car        motorway … living_street, service, road               —
           (``area=yes`` and ``oneway=reversible`` excluded)
=========  ====================================================  ===========================================

``bicycle=dismount`` (and the default of footways and pedestrian streets) means *push*: the way is
usable by bicycle and e-bike at **walking speed**, like ``highway=pedestrian`` in a Chinese
步行街 where riding is not allowed. ``motor_vehicle=no`` does **not** apply to e-bikes: China's
电动自行车 that meet GB 17761-2018 are non-motor vehicles (非机动车, Road Traffic Safety Law of the
PRC, art. 119), they ride on non-motorised lanes and roads with the bicycles, and ``vehicle=no`` or
``bicycle=no`` does bar them. Trunk roads (urban expressways, 城市快速路) are closed to non-motor
vehicles unless tagged otherwise.

One-way: ``oneway=yes|true|1`` (and ``junction=roundabout|circular``, ``highway=motorway`` implied)
is forward only, ``oneway=-1|reverse`` backward only, ``oneway=no`` two-way. Walkers ignore one-way
tags. Bicycles and e-bikes follow them, except that ``oneway:bicycle=no`` or a contraflow lane
(``cycleway[:left|:right|:both]=opposite*``) opens the way both ways and ``oneway:bicycle=yes|-1``
makes a two-way road one-way for them. Cars follow them and skip ``oneway=reversible``.

Speeds (km/h; the city pack's ``[modes.<mode>] speed_kmh`` sets walk, bicycle and e-bike):

=========  ==============================================================================================
walk       4.5 (1.25 m/s): the US Highway Capacity Manual's design walking speed is 4.0 ft/s
           (1.2 m/s); OSRM's foot profile uses 5 km/h.
bicycle    15: OSRM's bicycle profile default (``default_speed = 15``). Field data from Hangzhou give
           13.5 km/h for pedal bicycles in mixed non-motorised-lane traffic (Xu, Jin et al., "Speed
           distribution for mixed bicycle traffic", *Advances in Mechanical Engineering* 7(11), 2015,
           doi:10.1177/1687814015616918).
ebike      17: the same Hangzhou study measured a mean e-bike speed of 17.09 km/h on non-motorised
           lanes. GB 17761-2018 (电动自行车安全技术规范) caps an e-bike's design speed at 25 km/h:
           :func:`ebike_speed` refuses anything faster.
pushing    walking speed, for bicycles and e-bikes on ``dismount`` ways.
car        the way's ``maxspeed`` where tagged (:func:`parse_maxspeed`), else :data:`CAR_HWY_SPEEDS_KMH`
           of its class (urban limits of the Road Traffic
           Safety Law's implementing regulations, art. 45: 30 km/h on roads without a centre line,
           50 km/h with one lane each way; higher classes at typical Chinese urban posted limits),
           clipped to 5–130 km/h; a class outside the table gets its mean tagged speed in this network,
           else the pack's car speed.
=========  ==============================================================================================

Snapping: points join the network only at nodes of ground-level ways (:func:`surface_ways`: no
tunnels, bridges, other layers or indoor corridors); paths may still pass through the others. The walk
from a point to its snapped node is always priced at the :data:`WALK_MODE`'s speed, whatever the mode.

Not modelled: turn restrictions, time-conditional access (``access:conditional``), pushing a bicycle
against a one-way, traffic signals and congestion.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from geo.errors import CityPackError, UnknownModeError

if TYPE_CHECKING:
    from geo.network import RoadNetwork

log = logging.getLogger(__name__)

#: The travel modes, one row each in the tables above.
MODE_KEYS: tuple[str, ...] = ("walk", "bicycle", "ebike", "car")
#: Modes that follow one-way streets (walkers go both ways).
ONEWAY_MODES: frozenset[str] = frozenset({"bicycle", "ebike", "car"})
#: The mode whose speed prices the walk between a point and its snapped network node, and pushing.
WALK_MODE = "walk"
#: GB 17761-2018: an e-bike's maximum design speed (km/h).
EBIKE_LEGAL_MAX_KMH = 25.0
#: Walking speed used for pushing when the caller gives none (km/h).
DEFAULT_WALK_KMH = 4.5

#: Way tags the rules read (a network keeps these columns; missing tags are ``None``).
RULE_TAGS: tuple[str, ...] = (
    "highway",
    "oneway",
    "junction",
    "access",
    "vehicle",
    "foot",
    "bicycle",
    "motor_vehicle",
    "motorcar",
    "oneway:bicycle",
    "cycleway",
    "cycleway:left",
    "cycleway:right",
    "cycleway:both",
    "area",
    "maxspeed",
    "tunnel",
    "bridge",
    "layer",
)

ACCESS_CHAIN: dict[str, tuple[str, ...]] = {
    "walk": ("access", "foot"),
    "bicycle": ("access", "vehicle", "bicycle"),
    "ebike": ("access", "vehicle", "bicycle"),
    "car": ("access", "vehicle", "motor_vehicle", "motorcar"),
}
ALLOW = frozenset({"yes", "designated", "permissive", "destination", "customers", "delivery", "official", "true", "1"})
REFUSE = frozenset({"no", "private", "use_sidepath", "false", "0"})
DISMOUNT = "dismount"

_ROADS = frozenset(
    {
        "primary",
        "primary_link",
        "secondary",
        "secondary_link",
        "tertiary",
        "tertiary_link",
        "unclassified",
        "residential",
        "living_street",
        "service",
        "road",
    }
)
_WALK_DEFAULT = _ROADS | {
    "pedestrian",
    "footway",
    "path",
    "steps",
    "track",
    "cycleway",
    "corridor",
    "bridleway",
    "trail",
}
_WALK_OPT_IN = frozenset({"trunk", "trunk_link"})
_BIKE_RIDE = _ROADS | {"cycleway", "path", "track"}
_BIKE_PUSH = frozenset({"footway", "pedestrian", "bridleway", "corridor"})
_BIKE_OPT_IN = frozenset({"trunk", "trunk_link"})
_CAR_DEFAULT = _ROADS | {"motorway", "motorway_link", "trunk", "trunk_link"}

#: Free-flow car speeds (km/h) by highway class where no ``maxspeed`` of that class is tagged.
CAR_HWY_SPEEDS_KMH: dict[str, float] = {
    "motorway": 100.0,
    "motorway_link": 60.0,
    "trunk": 80.0,
    "trunk_link": 50.0,
    "primary": 60.0,
    "primary_link": 40.0,
    "secondary": 50.0,
    "secondary_link": 40.0,
    "tertiary": 40.0,
    "tertiary_link": 30.0,
    "unclassified": 30.0,
    "residential": 30.0,
    "road": 30.0,
    "service": 15.0,
    "living_street": 10.0,
}
_CAR_MIN_KMH, _CAR_MAX_KMH = 5.0, 130.0


@dataclass(frozen=True)
class ModeEdges:
    """The directed edges one travel mode may use, as positions into :class:`geo.network.RoadNetwork` nodes.

    ``speed_mps`` is each edge's speed in metres per second; ``surface`` is False for edges on tunnels,
    bridges or another layer (:func:`surface_ways`).
    """

    mode: str
    u: np.ndarray
    v: np.ndarray
    length_m: np.ndarray
    speed_mps: np.ndarray
    surface: np.ndarray


def check_mode(mode: str) -> str:
    """Return ``mode`` if it is one of :data:`MODE_KEYS`, else raise :class:`~geo.errors.UnknownModeError`."""
    if mode not in MODE_KEYS:
        msg = f"unknown travel mode {mode!r}; expected one of {', '.join(MODE_KEYS)}"
        raise UnknownModeError(
            msg,
            message_zh=f"未知的出行方式“{mode}”，可选：步行 walk、自行车 bicycle、电动自行车 ebike、汽车 car",
            details={"mode": mode, "allowed": list(MODE_KEYS)},
        )
    return mode


def ebike_speed(speed_kmh: float) -> float:
    """``speed_kmh`` if it is a legal e-bike speed, else a :class:`~geo.errors.CityPackError`.

    GB 17761-2018 caps an e-bike's design speed at :data:`EBIKE_LEGAL_MAX_KMH` (25 km/h).
    """
    if not 0 < float(speed_kmh) <= EBIKE_LEGAL_MAX_KMH:
        msg = f"e-bike speed {speed_kmh} km/h is above the legal {EBIKE_LEGAL_MAX_KMH:g} km/h (GB 17761-2018)"
        raise CityPackError(
            msg,
            message_zh=(
                f"电动自行车速度 {speed_kmh} 公里/小时 超过国标 GB 17761-2018 规定的 {EBIKE_LEGAL_MAX_KMH:g} 公里/小时"
            ),
            details={"speed_kmh": speed_kmh, "max_kmh": EBIKE_LEGAL_MAX_KMH},
        )
    return float(speed_kmh)


# --------------------------------------------------------------------------------------------- tags
def _tag(seg: pd.DataFrame, col: str) -> np.ndarray:
    """Lower-case tag values ('' where missing); of ``a;b`` lists the first value counts."""
    if col not in seg:
        return np.full(len(seg), "", dtype=object)
    vals = seg[col].fillna("").astype(str).str.lower().str.strip()
    return vals.str.split(";", n=1).str[0].str.strip().to_numpy(dtype=object)


def resolved_access(seg: pd.DataFrame, mode: str) -> np.ndarray:
    """The access value that applies to ``mode`` on each segment ('' where no tag of its chain is set)."""
    out = np.full(len(seg), "", dtype=object)
    for col in ACCESS_CHAIN[mode]:
        val = _tag(seg, col)
        out = np.where(val != "", val, out)
    return out


def oneway_code(seg: pd.DataFrame) -> np.ndarray:
    """General direction of each segment: 1 forward only, -1 backward only, 0 both (module docstring)."""
    ow, jn, hw = _tag(seg, "oneway"), _tag(seg, "junction"), _tag(seg, "highway")
    code = np.zeros(len(seg), dtype=np.int8)
    code[np.isin(jn, ["roundabout", "circular"]) | (hw == "motorway")] = 1
    code[np.isin(ow, ["yes", "true", "1"])] = 1
    code[np.isin(ow, ["-1", "reverse"])] = -1
    code[np.isin(ow, ["no", "false", "0"])] = 0
    return code


def _bike_oneway(seg: pd.DataFrame, code: np.ndarray) -> np.ndarray:
    """Direction for bicycles and e-bikes: ``oneway:bicycle`` and contraflow cycleways override."""
    out = code.copy()
    contra = np.zeros(len(seg), dtype=bool)
    for col in ("cycleway", "cycleway:left", "cycleway:right", "cycleway:both"):
        contra |= np.array([v.startswith("opposite") for v in _tag(seg, col)], dtype=bool)
    out[contra] = 0
    ob = _tag(seg, "oneway:bicycle")
    out[np.isin(ob, ["no", "false", "0"])] = 0
    out[np.isin(ob, ["yes", "true", "1"])] = 1
    out[ob == "-1"] = -1
    return out


def surface_ways(seg: pd.DataFrame) -> np.ndarray:
    """True for segments at ground level: not ``tunnel=*`` (except ``building_passage``), not
    ``bridge=*``, ``layer`` 0 or untagged, and not ``highway=corridor`` (indoor).

    Points are snapped only to nodes on such ways (:mod:`isochrones.graph`): a worker on a street is
    not in the service tunnel four levels below it, nor on the flyover above.
    """
    tunnel, bridge, hw = _tag(seg, "tunnel"), _tag(seg, "bridge"), _tag(seg, "highway")
    layer = pd.to_numeric(pd.Series(_tag(seg, "layer")), errors="coerce").fillna(0.0).to_numpy()
    off = (~np.isin(tunnel, ["", "no", "building_passage"])) | (~np.isin(bridge, ["", "no"])) | (layer != 0)
    return ~(off | (hw == "corridor"))


# --------------------------------------------------------------------------------------------- rules
def mode_edges(net: RoadNetwork, mode: str, *, speed_kmh: float, walk_kmh: float = DEFAULT_WALK_KMH) -> ModeEdges:
    """The directed edges ``mode`` may use, with per-edge speeds, by the rules of the module docstring.

    Parameters
    ----------
    net
        The full network (segments carrying the :data:`RULE_TAGS` columns and ``oneway_code``).
    mode
        One of :data:`MODE_KEYS`.
    speed_kmh
        The mode's speed (walk, bicycle, e-bike: every ridden edge; car: fallback for unknown classes).
    walk_kmh
        Walking speed: bicycles and e-bikes are pushed at it on ``dismount`` ways.

    Raises
    ------
    UnknownModeError
        ``mode`` is not one of the four.
    CityPackError
        An e-bike speed above the legal 25 km/h.
    """
    check_mode(mode)
    seg = net.segments
    hw = _tag(seg, "highway")
    acc = resolved_access(seg, mode)
    refused = np.isin(acc, list(REFUSE))
    code = seg["oneway_code"].to_numpy(np.int8) if "oneway_code" in seg else oneway_code(seg)
    kmh = np.full(len(seg), float(speed_kmh))
    if mode == "walk":
        own = _tag(seg, "foot")
        ok = (np.isin(hw, list(_WALK_DEFAULT)) | (np.isin(hw, list(_WALK_OPT_IN)) & np.isin(own, list(ALLOW)))) & ~(
            refused | (acc == DISMOUNT)
        )
    elif mode in ("bicycle", "ebike"):
        if mode == "ebike":
            speed_kmh = ebike_speed(speed_kmh)
            kmh[:] = speed_kmh
        own = _tag(seg, "bicycle")
        own_yes = np.isin(own, list(ALLOW))
        ride = (np.isin(hw, list(_BIKE_RIDE)) | (np.isin(hw, list(_BIKE_OPT_IN | _BIKE_PUSH)) & own_yes)) & ~refused
        push = np.isin(hw, list(_BIKE_PUSH)) & ~own_yes & ~refused
        if mode == "bicycle":
            push |= (hw == "steps") & own_yes
        pushable = np.isin(hw, list(_BIKE_RIDE | _BIKE_PUSH)) | ((hw == "steps") & (mode == "bicycle"))
        push |= (acc == DISMOUNT) & pushable
        ride &= acc != DISMOUNT
        ok = ride | push
        kmh[push] = min(float(walk_kmh), float(speed_kmh))
        code = _bike_oneway(seg, code)
    elif mode == "car":
        ok = np.isin(hw, list(_CAR_DEFAULT)) & ~refused
        ok &= (_tag(seg, "area") != "yes") & (_tag(seg, "oneway") != "reversible")
    else:  # pragma: no cover - ACCESS_CHAIN lists the four modes
        raise AssertionError(mode)
    if mode not in ONEWAY_MODES:
        code = np.zeros_like(code)
    idx = np.flatnonzero(ok)
    u, v = seg["u"].to_numpy()[idx], seg["v"].to_numpy()[idx]
    length, c = seg["length_m"].to_numpy(np.float64)[idx], code[idx]
    ground = surface_ways(seg)[idx]
    speed = car_speeds_kmh(seg.iloc[idx], fallback_kmh=speed_kmh) if mode == "car" else kmh[idx]
    fwd, bwd = c >= 0, c <= 0
    return ModeEdges(
        mode=mode,
        u=np.concatenate([u[fwd], v[bwd]]),
        v=np.concatenate([v[fwd], u[bwd]]),
        length_m=np.concatenate([length[fwd], length[bwd]]),
        speed_mps=np.concatenate([speed[fwd], speed[bwd]]) / 3.6,
        surface=np.concatenate([ground[fwd], ground[bwd]]),
    )


# --------------------------------------------------------------------------------------------- car speeds
_MAXSPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(km/h|kmh|kph|mph|knots)?\s*$")
_UNIT = {None: 1.0, "km/h": 1.0, "kmh": 1.0, "kph": 1.0, "mph": 1.609344, "knots": 1.852}


def parse_maxspeed(value: object) -> float:
    """One OSM ``maxspeed`` value in km/h, or NaN when it is not a number.

    Accepts ``"50"``, ``"50 km/h"``, ``"30 mph"``, ``"10 knots"`` and ``;``-separated lists (their mean,
    as osmnx does); ``"none"``, ``"signals"``, ``"walk"`` and zone codes such as ``"CN:urban"`` give NaN
    (the class default then applies).
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return np.nan
    speeds = []
    for part in str(value).lower().split(";"):
        m = _MAXSPEED.match(part)
        if m is None:
            return np.nan
        speeds.append(float(m.group(1)) * _UNIT[m.group(2)])
    return float(np.mean(speeds)) if speeds else np.nan


def car_speeds_kmh(seg: pd.DataFrame, *, fallback_kmh: float) -> np.ndarray:
    """Car speed (km/h) of each segment: tagged ``maxspeed``, else the class table, else the class mean.

    A segment without a parseable ``maxspeed`` gets :data:`CAR_HWY_SPEEDS_KMH` of its class; a class
    not in that table gets the mean tagged speed of its class in this network, else ``fallback_kmh``.
    The result is clipped to 5–130 km/h. (The same imputation as ``osmnx.add_edge_speeds(G,
    hwy_speeds=CAR_HWY_SPEEDS_KMH, fallback=...)``, vectorised, tested.)
    """
    if len(seg) == 0:
        return np.zeros(0)
    raw = seg["maxspeed"].astype(object) if "maxspeed" in seg else pd.Series([None] * len(seg), dtype=object)
    parsed = {m: parse_maxspeed(m) for m in pd.unique(raw.dropna())}
    kph = raw.map(lambda m: parsed.get(m, np.nan) if m is not None else np.nan).astype(float)
    hw = seg["highway"].astype(str)
    observed = kph.groupby(hw).mean().dropna()
    table = pd.Series(CAR_HWY_SPEEDS_KMH, dtype=float)
    per_class = pd.concat([table, observed[~observed.index.isin(table.index)]])
    imputed = hw.map(per_class).astype(float).fillna(fallback_kmh)
    return np.clip(kph.fillna(imputed).to_numpy(np.float64), _CAR_MIN_KMH, _CAR_MAX_KMH)
