"""Each resource's isochrones, precomputed by ``skillcircle build`` and stored as GeoJSON files.

"Who can reach this training place within 10, 20, 30 minutes" (the polygons *to* a resource) is asked
for every resource page; computing it for a car on a city-scale graph takes a few hundred
milliseconds, reading it back about one. Files live under the graphs folder::

    <graphs>/isochrones/<mode>-<graph hash[:16]>/<resource id>.geojson

A file is a GeoJSON FeatureCollection (as :meth:`isochrones.engine.CityEngine.isochrone` returns) with
foreign members recording what it was computed from — the full graph hash, the resource's WGS84 point,
the bands and the direction. :func:`read` returns it only when all of these still match, so a moved
resource or a rebuilt graph never serves a stale polygon (the caller computes afresh instead). Folders
of other graph hashes are removed when a mode is precomputed again. :func:`precompute` writes them all
for an engine's resources.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import numpy as np

from geo.errors import InvalidParameterError, OffNetworkError

if TYPE_CHECKING:
    from isochrones.engine import CityEngine

log = logging.getLogger(__name__)

#: Bands precomputed for every resource (minutes).
RESOURCE_BANDS: tuple[float, ...] = (10.0, 20.0, 30.0)
_DIRECTION = "to"


def mode_folder(root: Path, mode: str, graph_hash: str) -> Path:
    """The folder holding one mode's precomputed polygons for one compiled graph."""
    return root / f"{mode}-{graph_hash[:16]}"


def file_path(root: Path, mode: str, graph_hash: str, resource_id: int) -> Path:
    """Where the polygons of ``resource_id`` in ``mode`` are stored."""
    return mode_folder(root, mode, graph_hash) / f"{int(resource_id)}.geojson"


def _stamp(graph_hash: str, resource_id: int, lon: float, lat: float, minutes: Sequence[float]) -> dict:
    return {
        "graph_hash": graph_hash,
        "resource": {"id": int(resource_id), "lon": float(lon), "lat": float(lat)},
        "minutes": [float(m) for m in sorted(minutes)],
        "direction": _DIRECTION,
    }


class Stamp(TypedDict):
    """What a stored isochrone was computed for (:func:`read` answers only for the same)."""

    mode: str
    graph_hash: str
    resource_id: int
    lon: float
    lat: float
    minutes: Sequence[float]


def write(
    root: Path,
    *,
    mode: str,
    graph_hash: str,
    resource_id: int,
    lon: float,
    lat: float,
    minutes: Sequence[float],
    collection: dict,
) -> Path:
    """Store one resource's FeatureCollection with the stamp :func:`read` checks; returns the path."""
    path = file_path(root, mode, graph_hash, resource_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {**collection, "precomputed": _stamp(graph_hash, resource_id, lon, lat, minutes)}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(body, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    tmp.replace(path)
    return path


def read(
    root: Path, *, mode: str, graph_hash: str, resource_id: int, lon: float, lat: float, minutes: Sequence[float]
) -> dict | None:
    """The stored FeatureCollection if it was computed for exactly this graph, point and bands, else None."""
    path = file_path(root, mode, graph_hash, resource_id)
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        log.warning("ignoring unreadable precomputed isochrone %s", path)
        return None
    if body.get("precomputed") != _stamp(graph_hash, resource_id, lon, lat, minutes):
        return None
    return body


def clear_other_graphs(root: Path, *, mode: str, graph_hash: str) -> int:
    """Remove ``mode``'s folders of other graph hashes (stale after a rebuild); returns how many."""
    keep = mode_folder(root, mode, graph_hash).name
    removed = 0
    for folder in root.glob(f"{mode}-*"):
        if folder.is_dir() and folder.name != keep:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def precompute(
    engine: CityEngine,
    *,
    modes: Sequence[str] | None = None,
    minutes: Sequence[float] = RESOURCE_BANDS,
    resource_ids: Sequence[int] | None = None,
    progress: bool = False,
) -> int:
    """Compute and store every resource's "to" isochrones per routed mode; returns files written.

    Files still valid (same graph, point and bands) are kept; resources off a mode's network are
    skipped; folders of older graphs are removed. Needs the engine's ``isochrone_dir``.

    Parameters
    ----------
    engine
        The city's engine, with its resources set.
    modes
        Modes to precompute (default: every routed mode).
    minutes
        Bands (default :data:`RESOURCE_BANDS`).
    resource_ids
        Only these resources (default: all).
    progress
        Show tqdm bars.
    """
    from tqdm.auto import tqdm

    root = engine.isochrone_dir
    if root is None:
        msg = "no isochrone_dir: nowhere to store precomputed isochrones"
        raise InvalidParameterError(msg, message_zh="未设置等时圈存放目录")
    ids, lons, lats = engine.resource_points()
    bands = sorted({float(m) for m in minutes})
    written = 0
    for mode in [m for m in (modes or engine.modes_loaded) if m in engine.graphs]:
        graph = engine.graphs[mode]
        clear_other_graphs(root, mode=mode, graph_hash=graph.content_hash)
        snap = engine.resource_snap(mode)
        ok = snap.ok if snap is not None else np.zeros(ids.size, bool)
        wanted = np.ones(ids.size, bool) if resource_ids is None else np.isin(ids, list(resource_ids))
        jobs = np.flatnonzero(ok & wanted).tolist()
        for k in tqdm(jobs, desc=f"{mode} isochrones", unit="res", disable=not progress, leave=False):
            rid, lon, lat = int(ids[k]), float(lons[k]), float(lats[k])
            stamp: Stamp = dict(
                mode=mode, graph_hash=graph.content_hash, resource_id=rid, lon=lon, lat=lat, minutes=bands
            )
            if read(root, **stamp) is not None:
                continue
            try:
                fc = engine.isochrone(lon, lat, mode=mode, minutes=bands, direction="to")
            except (OffNetworkError, InvalidParameterError) as exc:  # e.g. outside the service area
                log.warning("no isochrones for resource %s (%s): %s", rid, mode, exc)
                continue
            write(root, collection=fc, **stamp)
            written += 1
    return written
