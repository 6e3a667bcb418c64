"""Prometheus metrics of the service, served at /metrics, and the middleware that records each request."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "skillcircle_http_requests_total",
    "HTTP requests by route and status",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "skillcircle_http_request_seconds",
    "HTTP request latency by route",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
NETWORK_LOADED = Gauge(
    "skillcircle_network_loaded",
    "1 when a city's road network is loaded (0 = straight-line estimate)",
    ["city"],
    registry=REGISTRY,
)
SKILL_CODE_SCANS = Counter(
    "skillcircle_skill_code_scans_total",
    "skill code scans (views of a code's bare /s/{code} page, as counted in scan_counts) by city",
    ["city"],
    registry=REGISTRY,
)

SHARED_CACHE = Counter(
    "skillcircle_shared_cache_total",
    "lookups of answers shared through Redis (api/shared_cache.py) by namespace and result (hit, miss, error)",
    ["namespace", "result"],
    registry=REGISTRY,
)
COVERAGE_MODELS = Counter(
    "skillcircle_coverage_models_built_total",
    "coverage models built (api/services/coverage.py: a first request, a registry write, the start-up warm-up) by city",
    ["city"],
    registry=REGISTRY,
)

# the labelled children of each (method, route, status): ``labels()`` validates and locks on every call
_CHILDREN: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Record one finished request (``route`` is the route's path template, so the label set stays small)."""
    key = (method, route, status)
    children = _CHILDREN.get(key)
    if children is None:
        children = _CHILDREN[key] = (REQUESTS.labels(method, route, str(status)), LATENCY.labels(route))
    children[0].inc()
    children[1].observe(seconds)


class MetricsMiddleware:
    """Counts every HTTP request by method, route template and status, and times it to its last byte.

    A pure ASGI middleware: it only watches the ``http.response.start`` message for the status, so it
    neither buffers nor copies the body (Starlette's ``BaseHTTPMiddleware`` streams every answer through
    an extra task and queue). A request that raises is recorded with status 500.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            observe_request(scope["method"], route, status, time.perf_counter() - start)
