"""Travel modes: which ways each may use and how fast it goes.

=========  ==============  ==================================================================================
mode       speed           ways (OSM tags; rules implemented in :func:`geo.network.mode_edges`)
=========  ==============  ==================================================================================
walk       4.5 km/h        footways, paths, steps, pedestrian streets and all roads except motorways and
                           trunk roads (trunk with ``foot=yes``); ``foot=no`` excluded; one-way ignored.
bicycle    15 km/h         roads up to primary, cycleways, paths, tracks; footways/pedestrian/trunk only with
                           ``bicycle=yes``; no motorways; one-way respected (``oneway=-1`` too) unless
                           ``oneway:bicycle=no`` or a contraflow cycleway.
ebike      20 km/h         as bicycle. China's GB 17761-2018 caps e-bikes (电动自行车) at 25 km/h; 20 km/h
                           is a typical cruising speed. E-bikes ride the non-motorised lanes of urban roads,
                           so they use the same ways as bicycles and never exceed their speed.
car        by road class   drivable highway classes; one-way respected; speed from ``maxspeed`` where
                           tagged, else the mean tagged speed of the highway class, else
                           :data:`geo.network.CAR_HWY_SPEEDS_KMH` (osmnx ``add_edge_speeds``); the city
                           pack's car speed is the fallback and the straight-line estimate's speed.
=========  ==============  ==================================================================================

Speeds come from the city pack (``[modes.<mode>] speed_kmh``), so a city can change them without code.
Bicycles and e-bikes are not slowed on primary roads (their non-motorised lanes run at the same speed).
The walk from a point to its nearest network node is always at walking speed.
"""

from __future__ import annotations

from geo.cities import MODE_KEYS
from geo.errors import UnknownModeError

__all__ = ["MODE_KEYS", "ONEWAY_MODES", "WALK_MODE", "check_mode"]

#: Modes that must respect one-way streets (walkers may go both ways).
ONEWAY_MODES: frozenset[str] = frozenset({"bicycle", "ebike", "car"})
#: The mode whose speed prices the walk between a point and its snapped network node.
WALK_MODE = "walk"


def check_mode(mode: str) -> str:
    """Return ``mode`` if it is one of :data:`MODE_KEYS`, else raise :class:`UnknownModeError`."""
    if mode not in MODE_KEYS:
        msg = f"unknown travel mode {mode!r}; expected one of {', '.join(MODE_KEYS)}"
        raise UnknownModeError(
            msg,
            message_zh=f"未知的出行方式“{mode}”，可选：步行 walk、自行车 bicycle、电动自行车 ebike、汽车 car",
            details={"mode": mode, "allowed": list(MODE_KEYS)},
        )
    return mode
