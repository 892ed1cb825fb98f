"""Reading the event and decision streams in chunks (XRANGE with COUNT).

``since``/``until`` bound entries by ARRIVAL time (stream ids are the milliseconds Redis
assigned on XADD), not by event time; attribution then works on event timestamps.

Reading is bounded by an optional time range (stream ids are millisecond
timestamps), so a summary request never has to scan the whole log.

``timeout_ms`` puts each round trip (one chunk) under a deadline (store.client.with_deadline:
past it, StoreUnavailable); None, for the CLI's deliberate full reads, waits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis

from personalize.domain.decisions import DecisionRecord
from personalize.reports.records import LoggedEvent, decision_from_fields, events_from_entry
from personalize.store.client import with_deadline

CHUNK = 1000
T = TypeVar("T")


async def bounded(awaitable: Awaitable[T], timeout_ms: int | None) -> T:
    """``awaitable`` under with_deadline, or as it is when there is no deadline."""
    return await awaitable if timeout_ms is None else await with_deadline(awaitable, timeout_ms)


def _stream_bound(seconds: float | None, default: str) -> str:
    # Ids are never negative: a bound before 1970 means "from the first entry".
    return default if seconds is None else f"{max(int(seconds * 1000), 0)}"


async def iter_stream(
    client: aioredis.Redis,
    key: str,
    since: float | None = None,
    until: float | None = None,
    chunk: int = CHUNK,
    timeout_ms: int | None = None,
) -> AsyncIterator[tuple[Any, Any]]:
    """Yield (id, fields) in id order, ``chunk`` entries per round trip."""
    start = _stream_bound(since, "-")
    end = _stream_bound(until, "+")
    while True:
        batch = await bounded(client.xrange(key, min=start, max=end, count=chunk), timeout_ms)
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
    timeout_ms: int | None = None,
) -> list[LoggedEvent]:
    out: list[LoggedEvent] = []
    async for entry_id, fields in iter_stream(client, key, since, until, timeout_ms=timeout_ms):
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
    timeout_ms: int | None = None,
) -> list[DecisionRecord]:
    out: list[DecisionRecord] = []
    async for _entry_id, fields in iter_stream(client, key, since, until, timeout_ms=timeout_ms):
        record = decision_from_fields(fields)
        if record is not None:
            out.append(record)
        if on_chunk is not None:
            on_chunk(1)
    return out
