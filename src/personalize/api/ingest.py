"""POST /v1/events: the storefront's signal intake."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post

from personalize.domain.events import EVENT_TYPES
from personalize.metrics import EVENTS
from personalize.service.ingest import BatchResult, parse_batch
from personalize.service.runtime import Runtime


@post(
    "/v1/events",
    status_code=202,
    summary="Ingest a batch of storefront events",
    description=(
        "Body: {\"events\": [...]} (or a bare array), at most PERSONALIZE_MAX_BATCH_EVENTS events, each a "
        "typed event (field `type`). Per event: accepted, duplicate (event_id already applied: not applied "
        "twice) or rejected (index, field, reason: nothing changed). 202 when at least one event is "
        "accepted or a duplicate; 422 when every event is rejected; 400 malformed JSON; 413 too large."
    ),
    request_body=None,
)
async def ingest_events(request: Request[Any, Any, Any]) -> Response[BatchResult]:
    runtime: Runtime = request.app.state.runtime
    raw = parse_batch(await request.body(), runtime.settings.max_batch_events)
    result = await runtime.ingest.ingest(raw)
    for r, item in zip(result.results, (raw[r.index] for r in result.results), strict=True):
        type_ = item.get("type") if isinstance(item, dict) else None
        EVENTS.labels(type=type_ if type_ in EVENT_TYPES else "invalid", result=r.status).inc()
    status = 422 if result.rejected == len(result.results) else 202
    return Response(result, status_code=status)
