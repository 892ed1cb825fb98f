"""Prometheus metrics. With several server workers, PROMETHEUS_MULTIPROC_DIR is set by
``personalize serve`` so that /metrics aggregates every worker's samples."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUEST_LATENCY = Histogram(
    "personalize_request_seconds",
    "HTTP request latency by route and status class",
    ["method", "route", "status"],
    buckets=(0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
EVENTS = Counter("personalize_events_total", "Ingested events by type and result", ["type", "result"])
REDIS_ERRORS = Counter("personalize_redis_errors_total", "Redis calls that failed or missed their deadline", ["operation"])
DECISIONS = Counter("personalize_decisions_total", "Decisions by fallback used and offer outcome", ["fallback", "offer"])
MODEL_VERSION = Gauge(
    "personalize_model_loaded", "1 for the model version this worker serves", ["version"], multiprocess_mode="max"
)
MODEL_SWAPS = Counter("personalize_model_swaps_total", "Model hot swaps by result", ["result"])


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
