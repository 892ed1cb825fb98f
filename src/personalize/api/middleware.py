"""Request timing into the Prometheus histogram, labelled by route template (not raw path)."""

from __future__ import annotations

import time
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from personalize.metrics import REQUEST_LATENCY


def timing_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            handler: Any = scope.get("route_handler")
            route = "unmatched"
            if handler is not None and getattr(handler, "paths", None):
                route = min(handler.paths)
            REQUEST_LATENCY.labels(
                method=scope.get("method", ""), route=route, status=f"{status[0] // 100}xx"
            ).observe(time.perf_counter() - start)

    return middleware
