"""Travel-time engine: compiled per-mode road graphs, snapping, shortest paths, isochrones.

Public entry point: :class:`isochrones.engine.CityEngine` (imported lazily to keep ``import isochrones``
cheap). Data flows ``geo`` → ``isochrones`` → ``planning`` → ``api``; nothing here imports ``planning``
or ``api``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from isochrones.engine import CityEngine, NearbyHit, Reach

__all__ = ["CityEngine", "NearbyHit", "Reach"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from isochrones import engine

        return getattr(engine, name)
    msg = f"module 'isochrones' has no attribute {name!r}"
    raise AttributeError(msg)
