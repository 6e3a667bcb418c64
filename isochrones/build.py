"""The build pipeline: road network → one compiled graph per mode → saved with hashes (+ resource tables).

``skillcircle build CITY`` runs :func:`build_city`:

1. ``load_network`` — the imported/configured file, or an Overpass download when online (cached);
2. ``compile:<mode>`` — one :class:`~isochrones.graph.CompiledGraph` per mode;
3. ``save`` — ``<var_dir>/cities/<key>/graphs/<mode>.npz`` plus ``manifest.json`` (hashes, sizes,
   source, step timings);
4. with resources: ``resources`` — snap them and precompute the nearby() tables (cached next to the
   graphs); ``isochrones`` — each resource's 10/20/30-minute "to" polygons per mode
   (``graphs/isochrones/<mode>-<hash>/<id>.geojson``, :mod:`isochrones.precomputed`, read back by
   :meth:`~isochrones.engine.CityEngine.resource_isochrones`); and ``coverage`` — the nearest-resource
   times of every node per category × mode (``graphs/coverage/<mode>-<category>.npy``).

Each step shows a tqdm progress bar and its wall time is returned and recorded.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

from geo.moderules import MODE_KEYS
from geo.network_sources import load_network
from isochrones.engine import CityEngine, graphs_dir
from isochrones.graph import compile_graph, load_graph, save_graph
from isochrones.precomputed import precompute

if TYPE_CHECKING:
    from geo.cities import CityPack

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResourcePoints:
    """Resources to prepare at build time: ids, WGS84 positions and (optionally) category keys."""

    ids: Sequence[int]
    lons: Sequence[float]
    lats: Sequence[float]
    categories: Sequence[str] | None = None


def build_city(
    city: CityPack,
    *,
    resources: ResourcePoints | None = None,
    modes: Sequence[str] = MODE_KEYS,
    progress: bool = True,
    download: bool = True,
) -> dict[str, float]:
    """Compile and save every mode's graph of ``city``; returns each step's wall time in seconds.

    Parameters
    ----------
    city
        City pack.
    resources
        Optional resources to snap, tabulate for nearby() and cover per category.
    modes
        Modes to compile.
    progress
        Show tqdm progress bars.
    download
        Allow an Overpass download when the network is not cached.

    Raises
    ------
    NetworkUnavailableError
        No network file exists and none can be downloaded (offline).
    """
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    t0 = time.perf_counter()
    net = load_network(city, download=download)
    timings["load_network"] = time.perf_counter() - t0
    folder = graphs_dir(city)
    folder.mkdir(parents=True, exist_ok=True)
    manifest: dict = {"city": city.key, "source": net.source, "modes": {}}
    for mode in tqdm(list(modes), desc=f"{city.key}: compile", unit="mode", disable=not progress):
        t0 = time.perf_counter()
        graph = compile_graph(net, mode, speed_kmh=city.modes[mode].speed_kmh, walk_kmh=city.modes["walk"].speed_kmh)
        timings[f"compile:{mode}"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        path = save_graph(graph, folder / f"{mode}.npz")
        timings[f"save:{mode}"] = time.perf_counter() - t0
        manifest["modes"][mode] = {
            "file": path.name,
            "content_hash": graph.content_hash,
            "nodes": graph.n_nodes,
            "edges": graph.n_edges,
            "bytes": path.stat().st_size,
        }
    if resources is not None:
        timings.update(_prepare_resources(city, resources, modes=modes, progress=progress))
    timings["total"] = time.perf_counter() - t_all
    manifest["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
    manifest["built_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    log.info("built %s: %s", city.key, ", ".join(f"{k}={v:.2f}s" for k, v in timings.items()))
    return timings


def _prepare_resources(
    city: CityPack, resources: ResourcePoints, *, modes: Sequence[str], progress: bool
) -> dict[str, float]:
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    eng = CityEngine.load(city, modes=modes)
    eng.set_resources(resources.ids, resources.lons, resources.lats, progress=progress)
    timings["resources"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    written = precompute(eng, progress=progress)
    timings["isochrones"] = time.perf_counter() - t0
    log.info("%s: %d resource isochrone files written", city.key, written)
    if resources.categories is None:
        return timings
    t0 = time.perf_counter()
    cats = np.asarray(resources.categories, dtype=object)
    cover = graphs_dir(city) / "coverage"
    cover.mkdir(parents=True, exist_ok=True)
    jobs = [(m, c) for m in eng.modes_loaded for c in sorted(set(cats.tolist()))]
    for mode, cat in tqdm(jobs, desc=f"{city.key}: coverage", unit="set", disable=not progress):
        times = eng.nearest_times(cats == cat, mode=mode)
        np.save(cover / f"{mode}-{cat}.npy", times.astype(np.float32))
    timings["coverage"] = time.perf_counter() - t0
    return timings


def built_modes(city: CityPack) -> list[str]:
    """Modes whose compiled graph file exists for ``city``."""
    folder = graphs_dir(city)
    return [m for m in MODE_KEYS if (folder / f"{m}.npz").is_file()]


def ensure_built(city: CityPack, *, progress: bool = False) -> dict[str, object]:
    """Build the city's graphs unless all modes exist and load; returns a short summary.

    Used by ``make serve``: with a network file (or online) the first run compiles, later runs return
    at once. Graphs compiled before grid numbering (no ``meta["grid"]``: exact, but without the fast
    disk searches of :mod:`isochrones.subgraph`) are rebuilt once. Raises
    :class:`~geo.errors.NetworkUnavailableError` when there is nothing to build from.
    """
    have = built_modes(city)
    if len(have) == len(MODE_KEYS):
        try:
            graphs = [load_graph(graphs_dir(city) / f"{mode}.npz", verify=True) for mode in have]
            if all("grid" in g.meta for g in graphs):
                return {"status": "ready", "modes": have}
            log.warning("%s: compiled graphs predate grid numbering, rebuilding", city.key)
        except Exception:  # noqa: BLE001 - corrupt or old format, whatever the error: rebuild
            log.warning("%s: compiled graphs unusable, rebuilding", city.key)
    timings = build_city(city, progress=progress)
    return {"status": "built", "modes": built_modes(city), "seconds": round(timings["total"], 2)}
