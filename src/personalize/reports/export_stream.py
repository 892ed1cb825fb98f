"""Stream -> Parquet exports, chunked (memory stays bounded whatever the stream length)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec
import redis.asyncio as aioredis

from personalize.domain.decisions import DecisionRecord
from personalize.reports.export import (
    DECISION_SCHEMA,
    EVENT_SCHEMA,
    ParquetAppender,
    decision_row,
    event_rows,
)
from personalize.reports.records import LoggedEvent, decision_from_fields, events_from_entry
from personalize.reports.streams import CHUNK, iter_stream
from personalize.store.event_log import BATCH_FIELD, batch_entry, entry_piece
from personalize.store.keys import Keys

REPLAY_BATCH = 100  # events per stream entry when replaying, like an ingest batch


async def export_events(
    client: aioredis.Redis,
    keys: Keys,
    out: Path,
    since: float | None = None,
    until: float | None = None,
    progress: Callable[[int], None] | None = None,
    chunk: int = CHUNK,
) -> tuple[int, int]:
    """Returns (events read, rows written); entries that are not events are skipped."""
    writer = ParquetAppender(out, EVENT_SCHEMA)
    n = 0
    try:
        async for entry_id, fields in iter_stream(client, keys.event_stream, since, until, chunk):
            for ev in events_from_entry(entry_id, fields):
                writer.add(event_rows(ev))
                n += 1
            if progress is not None:
                progress(1)
    finally:
        writer.close()
    return n, writer.rows_written


async def export_decisions(
    client: aioredis.Redis,
    keys: Keys,
    out: Path,
    since: float | None = None,
    until: float | None = None,
    progress: Callable[[int], None] | None = None,
    chunk: int = CHUNK,
) -> int:
    writer = ParquetAppender(out, DECISION_SCHEMA)
    try:
        async for _entry_id, fields in iter_stream(
            client, keys.decision_stream, since, until, chunk
        ):
            d = decision_from_fields(fields)
            if d is not None:
                writer.add([decision_row(d)])
            if progress is not None:
                progress(1)
    finally:
        writer.close()
    return writer.rows_written


async def write_streams(
    client: aioredis.Redis,
    keys: Keys,
    events: Sequence[LoggedEvent],
    decisions: Sequence[DecisionRecord],
) -> None:
    """Append logged events (in batch entries, as ingest writes them) and decisions to the
    streams (demo and replay; ids assigned by Redis)."""
    pipe = client.pipeline(transaction=False)
    for n, start in enumerate(range(0, len(events), REPLAY_BATCH)):
        chunk = events[start : start + REPLAY_BATCH]
        blob = batch_entry(entry_piece(ev.customer_id, msgspec.json.encode(ev.event)) for ev in chunk)
        pipe.xadd(keys.event_stream, {BATCH_FIELD: blob})
        if n % 10 == 9:
            await pipe.execute()
    for i, d in enumerate(decisions):
        pipe.xadd(keys.decision_stream, {"d": msgspec.json.encode(d)})
        if i % 1000 == 999:
            await pipe.execute()
    await pipe.execute()
