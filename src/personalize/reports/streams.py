"""Reading the event and decision streams in chunks (XRANGE with COUNT).

``since``/``until`` bound entries by ARRIVAL time (stream ids are the milliseconds Redis
assigned on XADD), not by event time; attribution then works on event timestamps.

Reading is bounded by an optional time range (stream ids are millisecond
timestamps), so a summary request never has to scan the whole log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import redis.asyncio as aioredis

from personalize.domain.decisions import DecisionRecord
from personalize.reports.records import LoggedEvent, decision_from_fields, events_from_entry

CHUNK = 1000


def _stream_bound(seconds: float | None, default: str) -> str:
    return default if seconds is None else f"{int(seconds * 1000)}"


async def iter_stream(
    client: aioredis.Redis,
    key: str,
    since: float | None = None,
    until: float | None = None,
    chunk: int = CHUNK,
) -> AsyncIterator[tuple[Any, Any]]:
    """Yield (id, fields) in id order, ``chunk`` entries per round trip."""
    start = _stream_bound(since, "-")
    end = _stream_bound(until, "+")
    while True:
        batch = await client.xrange(key, min=start, max=end, count=chunk)
        if not batch:
            return
        for entry_id, fields in batch:
            yield entry_id, fields
        if len(batch) < chunk:
            return
        last = batch[-1][0]
        # Exclusive start: continue after the last id read.
        start = "(" + (last.decode() if isinstance(last, bytes) else str(last))


async def read_events(
    client: aioredis.Redis,
    key: str,
    since: float | None = None,
    until: float | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> list[LoggedEvent]:
    out: list[LoggedEvent] = []
    async for entry_id, fields in iter_stream(client, key, since, until):
        out += events_from_entry(entry_id, fields)
        if on_chunk is not None:
            on_chunk(1)
    return out


async def read_decisions(
    client: aioredis.Redis,
    key: str,
    since: float | None = None,
    until: float | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> list[DecisionRecord]:
    out: list[DecisionRecord] = []
    async for _entry_id, fields in iter_stream(client, key, since, until):
        record = decision_from_fields(fields)
        if record is not None:
            out.append(record)
        if on_chunk is not None:
            on_chunk(1)
    return out
