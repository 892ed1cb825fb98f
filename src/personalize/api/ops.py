"""Operations: liveness, readiness (Redis reachable, with its latency), Prometheus metrics."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from personalize.metrics import render
from personalize.service.runtime import Runtime
from personalize.store.client import StoreUnavailable


@get("/health/live", summary="The process answers", include_in_schema=True)
async def live() -> dict[str, str]:
    return {"status": "ok"}


@get("/health/ready", summary="Redis is reachable (with its round-trip latency)")
async def ready(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    runtime: Runtime = request.app.state.runtime
    try:
        latency = await runtime.redis_latency_ms()
    except StoreUnavailable as exc:
        return Response({"status": "unavailable", "redis": {"ok": False, "error": str(exc)[:200]}}, status_code=503)
    body: dict[str, Any] = {"status": "ok", "redis": {"ok": True, "latency_ms": round(latency, 3)}}
    model = getattr(request.app.state, "models", None)
    if model is not None:
        body["model_version"] = model.version
    return Response(body, status_code=200)


@get("/metrics", summary="Prometheus metrics", include_in_schema=True)
async def metrics() -> Response[bytes]:
    payload, content_type = render()
    return Response(payload, media_type=content_type)
