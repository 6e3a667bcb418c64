"""Prometheus metrics of the service, served at /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Record one finished request."""
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(route).observe(seconds)
