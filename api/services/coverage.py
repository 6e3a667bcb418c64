"""Coverage for the API and the CLI: cached coverage models and encoded ``/coverage`` answers.

Times come from one nearest-resource pass of the engine per category and mode
(:mod:`planning.times`); answers are cached per (city, category, mode, minutes, grid resolution,
resources version), where the version is a hash of the resources' ids, positions, categories and
seats plus the loaded road graphs, so any write to the registry invalidates them. The answer cache is
bounded by bytes (``SKILLCIRCLE_COVERAGE_CACHE_MB`` of encoded JSON per worker, least recently used out
first), not by entries: one fine-grid answer is tens of megabytes. Models are kept under the same budget,
each weighed by the arrays it may come to hold. With Redis configured, answers are also shared between
every worker and host (:mod:`api.shared_cache`).
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import numpy as np
from cachetools import LRUCache
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import shared_cache
from api.deps import require_heavy
from api.state import CityRuntime
from api.telemetry import COVERAGE_MODELS
from geo.categories import CATEGORY_KEYS
from geo.clock import city_today
from geo.config import get_settings
from geo.models import Resource
from geo.moderules import MODE_KEYS
from geo.population import default_resolution, surface_of
from planning.coverage import CoverageModel
from planning.grid import city_grid
from planning.notices import coverage_notice
from planning.params import parse_category_or_all
from planning.resources import ResourceSet, class_seats_by_resource

log = logging.getLogger(__name__)

_LOCK = threading.RLock()


def _model_bytes(model: CoverageModel) -> int:
    """What a model may come to hold: a dozen per-cell arrays, a snap per mode and a times array per
    category × mode (its grid frame is shared with the grid cache and not counted)."""
    arrays = 12 + 2 * len(MODE_KEYS) + (len(CATEGORY_KEYS) + 1) * len(MODE_KEYS)
    return int(model.n_cells) * 8 * arrays


def _budget() -> int:
    return max(1, int(get_settings().coverage_cache_mb * 1024 * 1024))


_MODELS: LRUCache = LRUCache(maxsize=_budget(), getsizeof=_model_bytes)
_ANSWERS: LRUCache = LRUCache(maxsize=_budget(), getsizeof=len)


def check_grid_cost(db: Session, runtime: CityRuntime, secret: str | None, resolution: int | None) -> None:
    """A grid finer than the city's default needs a ``plan:heavy`` token (401/403 otherwise)."""
    default = default_resolution(runtime.city)
    if resolution is not None and default < resolution <= min(10, default + 1):  # out of range: city_grid's 422
        require_heavy(
            db,
            secret,
            what_en=f"a grid finer than {runtime.city.name_en}'s default (resolution {resolution})",
            what_zh=f"比{runtime.city.name_zh}默认更细的网格（分辨率 {resolution}）",
        )


def _engine_signature(engine: Any) -> str:
    graphs = getattr(engine, "graphs", {}) or {}
    return ",".join(f"{m}:{getattr(g, 'content_hash', '')[:12]}" for m, g in sorted(graphs.items())) or "estimate"


def current_resources(runtime: CityRuntime, db: Session) -> ResourceSet:
    """The resources the city's engine routes to (same order), with seats and class seats from the database."""
    runtime.engine  # noqa: B018 - loads the engine and refreshes the index after writes
    index = runtime.index
    ids = [int(i) for i in index.ids]
    seats = dict(db.execute(select(Resource.id, Resource.seats).where(Resource.city == runtime.city.key)).all())
    class_seats = class_seats_by_resource(db, ids, today=city_today(runtime.city))
    return ResourceSet.of(
        ids,
        index.lons,
        index.lats,
        index.categories,
        seats=[seats.get(i) for i in ids],
        class_seats=[class_seats.get(i, 0.0) for i in ids],
        any_sample=index.any_sample,
    )


def coverage_model(runtime: CityRuntime, db: Session, *, resolution: int | None = None) -> CoverageModel:
    """The cached coverage model of the runtime's city for the current resources and road graphs."""
    resources = current_resources(runtime, db)
    engine = runtime.engine
    grid = city_grid(runtime.city, resolution=resolution)
    key = (runtime.city.key, int(grid.attrs.get("resolution", 0)), resources.version, _engine_signature(engine))
    with _LOCK:
        model = _MODELS.get(key)
        if model is None or model.engine is not engine:
            model = CoverageModel(engine=engine, grid=grid, resources=resources, city=runtime.city)
            COVERAGE_MODELS.labels(runtime.city.key).inc()
            if _model_bytes(model) <= _MODELS.maxsize:  # a model larger than the budget is used, not kept
                _MODELS[key] = model
        return model


def checked_model(db: Session, runtime: CityRuntime, *, secret: str | None, resolution: int | None) -> CoverageModel:
    """The coverage model a request may have: :func:`check_grid_cost` for its token ``secret`` first (so
    nothing costly runs without a ``plan:heavy`` token), then :func:`coverage_model`."""
    check_grid_cost(db, runtime, secret, resolution)
    return coverage_model(runtime, db, resolution=resolution)


def model_key(model: CoverageModel) -> tuple:
    """The cache identity of a model's inputs (city, resolution, resources version, graphs)."""
    city = model.city.key if model.city is not None else ""
    return (city, model.resolution, model.resources.version, _engine_signature(model.engine))


def grid_geojson(model: CoverageModel, seconds: np.ndarray, minutes: float) -> dict[str, Any]:
    """The coverage grid as a FeatureCollection of H3 hexagons (WGS84)."""
    import h3

    frame = model.grid
    mins = seconds / 60.0
    finite = np.isfinite(mins)
    # rounded UP to 0.1 min so that "minutes <= threshold" agrees with "covered"
    up = np.round(np.ceil(np.where(finite, mins, 0.0) * 10.0 - 1e-9) / 10.0, 1)
    covered = seconds <= minutes * 60.0
    feats = []
    for k, (cell, pop, dist, town, geom) in enumerate(
        zip(frame["h3"], frame["population"], frame["district"], frame["town"], frame.geometry, strict=True)
    ):
        if h3.is_valid_cell(str(cell)):
            ring = [[round(lng, 6), round(lat, 6)] for lat, lng in h3.cell_to_boundary(str(cell))]
            ring.append(ring[0])
            geometry = {"type": "Polygon", "coordinates": [ring]}
        else:
            geometry = geom.__geo_interface__
        feats.append(
            {
                "type": "Feature",
                "geometry": geometry,
                "properties": {
                    "h3": str(cell),
                    "population": int(pop),
                    "minutes": float(up[k]) if finite[k] else None,
                    "covered": bool(covered[k]),
                    "district": str(dist),
                    "town": str(town),
                },
            }
        )
    return {"type": "FeatureCollection", "features": feats}


def coverage_answer(model: CoverageModel, category: str, *, mode: str, minutes: int, grid: bool) -> bytes:
    """The ``/coverage`` JSON for one category × mode × threshold, encoded (cached per inputs, by bytes)."""
    cat = parse_category_or_all(category)
    key = (*model_key(model), cat, mode, int(minutes), bool(grid))
    with _LOCK:
        hit = _ANSWERS.get(key)
        if hit is not None:
            return hit
    shared = shared_cache.get("coverage", key)  # computed by another worker or host (Redis configured)
    if shared is not None:
        with _LOCK:
            if len(shared) <= _ANSWERS.maxsize:
                _ANSWERS[key] = shared
        return shared
    cov = model.coverage(cat, mode=mode, minutes=minutes)
    answer = {
        "city": model.city.key if model.city is not None else None,
        "category": cat,
        "mode": mode,
        "minutes": int(minutes),
        "estimate": bool(cov.estimate),
        "sample": bool(model.resources.any_sample),
        "notice": coverage_notice(model, mode=mode),
        "population_surface": surface_of(model.grid),
        "total": cov.total,
        "districts": _records(cov.districts, ["adcode", "name", "population", "covered", "uncovered", "share"]),
        "towns": _records(
            cov.towns, ["district", "name", "population", "covered", "uncovered", "share", "approximate"]
        ),
        "grid": grid_geojson(model, cov.seconds, float(minutes)) if grid else None,
    }
    data = json.dumps(answer, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    with _LOCK:
        if len(data) <= _ANSWERS.maxsize:  # an answer larger than the whole budget is not kept
            _ANSWERS[key] = data
    shared_cache.put("coverage", key, data)
    return data


def _records(frame: Any, columns: list[str]) -> list[dict[str, Any]]:
    out = []
    for row in frame[columns].itertuples(index=False):
        rec: dict[str, Any] = {}
        for col, val in zip(columns, row, strict=True):
            if isinstance(val, np.bool_ | bool):
                rec[col] = bool(val)
            elif isinstance(val, np.integer | int):
                rec[col] = int(val)
            elif isinstance(val, np.floating | float):
                rec[col] = float(val)
            else:
                rec[col] = str(val)
        out.append(rec)
    return out


def clear_cache() -> None:
    """Forget cached models and answers, and re-read the answer budget from the settings (tests)."""
    global _ANSWERS, _MODELS
    with _LOCK:
        _MODELS = LRUCache(maxsize=_budget(), getsizeof=_model_bytes)
        _ANSWERS = LRUCache(maxsize=_budget(), getsizeof=len)


def answer_cache_usage() -> tuple[int, int, int]:
    """(answers kept, their bytes, the byte budget) of this worker's answer cache."""
    with _LOCK:
        return len(_ANSWERS), int(_ANSWERS.currsize), int(_ANSWERS.maxsize)


def model_cache_usage() -> tuple[int, int, int]:
    """(models kept, the bytes they may hold, the byte budget) of this worker's model cache."""
    with _LOCK:
        return len(_MODELS), int(_MODELS.currsize), int(_MODELS.maxsize)
