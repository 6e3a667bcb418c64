"""Travel modes: the four mode keys and the check every query makes.

Which ways each mode may use, in which direction and how fast (with the source of every speed, and
China's rules for e-bikes, 电动自行车) is one table in :mod:`geo.moderules`, which also implements it.
Speeds come from the city pack (``[modes.<mode>] speed_kmh``), so a city can change them without code;
an e-bike faster than GB 17761-2018's 25 km/h is refused. The walk from a point to its nearest
network node is always at walking speed.
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
