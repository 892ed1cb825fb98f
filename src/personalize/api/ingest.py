"""POST /v1/events: the storefront's signal intake."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, post

from personalize.api.errors import ApiError
from personalize.api.openapi_docs import error_responses
from personalize.domain import events as ev
from personalize.domain.events import EVENT_TYPES
from personalize.metrics import EVENTS
from personalize.service.ingest import BatchResult, decode_batch
from personalize.service.runtime import Runtime


class EventBatch(msgspec.Struct, kw_only=True):
    """The body of POST /v1/events, for the OpenAPI document (a bare array is read too);
    the handler decodes it itself so that each event gets its own answer."""

    events: list[ev.Event]


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
    response_description="At least one event accepted or a duplicate; per-event results, in Redis already",
    responses=error_responses(400, 413, 415, 422, 503),
)
async def ingest_events(request: Request[Any, Any, Any]) -> Response[BatchResult]:
    runtime: Runtime = request.app.state.runtime
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding != "identity":
        raise ApiError(415, "unsupported_media_type", f"content-encoding {encoding!r} is not accepted: send plain JSON",
                       "content-encoding")
    raw = decode_batch(await request.body(), runtime.settings.max_batch_events)
    result = await runtime.ingest.ingest(raw)
    counts: dict[tuple[str, str], int] = {}
    for r in result.results:
        type_ = _event_type(raw[r.index])
        key = (type_ if type_ in EVENT_TYPES else "invalid", r.status)
        counts[key] = counts.get(key, 0) + 1
    for (type_, outcome), n in counts.items():
        EVENTS.labels(type=type_, result=outcome).inc(n)
    status_code = 422 if result.rejected == len(result.results) else 202
    return Response(result, status_code=status_code)


def _event_type(item: Any) -> object:
    """The type label of a decoded event: a typed struct, a JSON object, or anything else a
    client sent in the array (a string, a number, null: rejected, counted as invalid)."""
    if isinstance(item, dict):
        return item.get("type")
    config = getattr(type(item), "__struct_config__", None)
    return config.tag if config is not None else None
