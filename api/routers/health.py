"""``/healthz`` (liveness and which road networks are loaded) and ``/metrics`` (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from api.state import loaded_runtimes
from api.telemetry import NETWORK_LOADED, REGISTRY
from geo.cities import load_city
from geo.config import get_settings
from geo.db import current_revision, get_engine

router = APIRouter(tags=["operations"])


def _network_status(city_key: str) -> dict:
    runtime = loaded_runtimes().get(city_key)
    if runtime is not None and runtime._engine is not None:  # noqa: SLF001 - only report, never load here
        eng = runtime._engine  # noqa: SLF001
        status = {"loaded": not eng.estimate, "estimate": bool(eng.estimate), "modes": list(eng.modes_loaded)}
    else:
        graphs = load_city(city_key).var_dir / "graphs"
        built = sorted(p.stem for p in graphs.glob("*.npz")) if graphs.is_dir() else []
        status = {"loaded": False, "built": built, "estimate": not built}
    NETWORK_LOADED.labels(city_key).set(1 if status.get("loaded") else 0)
    return status


@router.get("/healthz", summary="Liveness, database and road-network status")
def healthz() -> dict:
    """``status: ok`` when the database answers; per city, whether its road networks are loaded/built."""
    settings = get_settings()
    with get_engine().connect() as conn:
        conn.execute(text("SELECT 1"))
    return {
        "status": "ok",
        "database": {"dialect": get_engine().dialect.name, "revision": current_revision()},
        "default_city": settings.default_city,
        "cities": {key: _network_status(key) for key in settings.cities},
    }


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics() -> Response:
    """Request counts and latencies per route, network-loaded gauges, skill-code scans."""
    for key in get_settings().cities:
        _network_status(key)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
