"""``/livez`` (the process answers), ``/healthz`` (readiness: which dependency is down, which road
networks are loaded) and ``/metrics`` (Prometheus).

``/healthz`` answers 200 when every dependency answers and 503 naming the one that does not (the
database; Redis when ``SKILLCIRCLE_REDIS_URL`` is set), so a load balancer can take the worker out
while ``/livez`` keeps telling the supervisor not to restart it.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from api.state import loaded_runtimes
from api.telemetry import NETWORK_LOADED, REGISTRY
from geo.cities import load_city
from geo.config import get_settings
from geo.db import current_revision, get_engine

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])


def _network_status(city_key: str) -> dict:
    runtime = loaded_runtimes().get(city_key)
    if runtime is not None and runtime._engine is not None:  # only report, never load here
        eng = runtime._engine
        status = {"loaded": not eng.estimate, "estimate": bool(eng.estimate), "modes": list(eng.modes_loaded)}
    else:
        graphs = load_city(city_key).var_dir / "graphs"
        built = sorted(p.stem for p in graphs.glob("*.npz")) if graphs.is_dir() else []
        status = {"loaded": False, "built": built, "estimate": not built}
    NETWORK_LOADED.labels(city_key).set(1 if status.get("loaded") else 0)
    return status


def _database_status() -> dict:
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"ok": True, "dialect": get_engine().dialect.name, "revision": current_revision()}
    except Exception as exc:  # noqa: BLE001 - any failure means "down"; the reason is logged, not sent
        log.warning("healthz: database down: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return {"ok": False, "dialect": get_engine().dialect.name, "error": "database_unavailable"}


def _redis_status() -> dict | None:
    from api.ratelimit import redis_status

    return redis_status()


@router.get("/livez", summary="Liveness: the process answers (no dependency is checked)")
def livez() -> dict:
    """Always ``{"status": "alive"}`` while the process serves requests, even with the database away."""
    return {"status": "alive"}


@router.get(
    "/healthz",
    summary="Readiness: database (and Redis) status and road networks",
    responses={503: {"description": "a dependency is down; `down` names it"}},
)
def healthz(request: Request) -> JSONResponse:
    """``status: ok`` when every dependency answers, else 503 with ``status: degraded`` and ``down``
    listing the dependencies that do not; per city, whether its road networks are loaded/built; the
    start-up warm-up's progress (:mod:`api.warmup`)."""
    settings = get_settings()
    dependencies = {"database": _database_status()}
    redis = _redis_status()
    if redis is not None:
        dependencies["redis"] = redis
    down = [name for name, dep in dependencies.items() if not dep["ok"]]
    body = {
        "status": "degraded" if down else "ok",
        "down": down,
        "dependencies": dependencies,
        "database": {k: v for k, v in dependencies["database"].items() if k in ("dialect", "revision")},
        "default_city": settings.default_city,
        "cities": {key: _network_status(key) for key in settings.cities},
        "warm_up": warm.status if (warm := getattr(request.app.state, "warm_up", None)) else {"status": "off"},
    }
    return JSONResponse(body, status_code=503 if down else 200, headers={"Retry-After": "10"} if down else None)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics() -> Response:
    """Request counts and latencies per route, network-loaded gauges, skill-code scans."""
    for key in get_settings().cities:
        _network_status(key)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
