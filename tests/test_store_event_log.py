"""The event stream's batch entries: what ingest logs, and that every reader decodes them
exactly like the older one-event-per-entry format."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pyarrow.parquet as pq
import pytest
import redis
import redis.asyncio as aioredis

from personalize.reports.export_stream import export_events, write_streams
from personalize.reports.simulate import SimulationConfig, simulate
from personalize.reports.streams import read_events
from personalize.reports.summary import build_summary
from personalize.store.client import make_async_client
from personalize.store.event_log import decode_entry
from personalize.store.keys import Keys
from tests.helpers import api_client, event, stream_entries


@pytest.fixture()
async def client(redis_url: str, redis_sync: redis.Redis) -> AsyncIterator[aioredis.Redis]:
    c = make_async_client(redis_url)
    yield c
    await c.aclose()


def pv(visitor: str, item: str) -> dict[str, object]:
    return event("product_view", anonymous_id=visitor, session_id="s1", item_id=item)


async def test_a_batch_logs_its_applied_events_as_one_entry(redis_url: str, redis_sync: redis.Redis) -> None:
    async with api_client(redis_url) as api:
        first = pv("v1", "i1")
        assert (await api.post("/v1/events", json={"events": [first]})).json()["accepted"] == 1
        purchase = event("purchase", user_id="u1", session_id="s2", order_id="o1", total=3.0, shipping_fee=0.0,
                         lines=[{"item_id": "i1", "price": 1.0, "quantity": 1}, {"item_id": "i2", "price": 2.0}])
        batch = [
            first,  # duplicate
            {**first, "item_id": "other"},  # conflict: same id, other content
            pv("v2", "i3"),
            event("page_view"),  # rejected: no customer
            pv("v1", "i2"),
            purchase,
        ]
        statuses = [r["status"] for r in (await api.post("/v1/events", json={"events": batch})).json()["results"]]
        assert statuses == ["duplicate", "rejected", "accepted", "rejected", "accepted", "accepted"]
    entries = stream_entries(redis_sync, "pz:stream:events")
    assert len(entries) == 2
    logged = [(cid, e["event_id"]) for cid, e in decode_entry(entries[1][1])]
    # applied events only, grouped by customer in order of first appearance (as applied)
    assert logged == [("a:v1", batch[4]["event_id"]), ("a:v2", batch[2]["event_id"]), ("u:u1", purchase["event_id"])]
    assert decode_entry(entries[1][1])[2][1]["lines"][1] == {"item_id": "i2", "price": 2.0, "quantity": 1, "category": None}


async def test_nothing_applied_logs_nothing(redis_url: str, redis_sync: redis.Redis) -> None:
    async with api_client(redis_url) as api:
        e = pv("v1", "i1")
        await api.post("/v1/events", json={"events": [e]})
        r = await api.post("/v1/events", json={"events": [e, e]})
        assert [x["status"] for x in r.json()["results"]] == ["duplicate", "duplicate"]
    assert redis_sync.xlen("pz:stream:events") == 1


async def test_readers_see_batch_entries_as_per_event_entries(
    client: aioredis.Redis, redis_sync: redis.Redis, tmp_path: Path
) -> None:
    """Export content and attribution are the same whichever format the stream holds."""
    run = simulate(SimulationConfig(visitors=300, seed=5))
    batched, single = Keys("pzb"), Keys("pzs")
    await write_streams(client, batched, run.events, [])
    for ev in run.events:  # the format written before batch entries
        redis_sync.xadd(single.event_stream, {"c": ev.customer_id, "e": msgspec.json.encode(ev.event)})
    assert redis_sync.xlen(batched.event_stream) < redis_sync.xlen(single.event_stream) == len(run.events)

    tables = {}
    for keys in (batched, single):
        path = tmp_path / f"{keys.prefix}.parquet"
        n_events, _ = await export_events(client, keys, path, chunk=3)
        assert n_events == len(run.events)
        tables[keys.prefix] = pq.read_table(path).drop(["stream_id"])  # ids address entries
    assert tables["pzb"].equals(tables["pzs"])

    from_batches = await read_events(client, batched.event_stream)
    from_singles = await read_events(client, single.event_stream)
    assert [(e.customer_id, e.event) for e in from_batches] == [(e.customer_id, e.event) for e in from_singles]
    # every event of an entry carries the entry's id, which is a cursor for XRANGE
    first_id = stream_entries(redis_sync, batched.event_stream, count=1)[0][0].decode()
    assert {e.stream_id for e in from_batches[:100]} == {first_id}
    assert stream_entries(redis_sync, batched.event_stream, min=f"({first_id}", count=1)[0][0].decode() == from_batches[100].stream_id
    summaries = [
        build_summary(events, run.decisions, [run.experiment], holdout_share=0.1, ope_replicates=5)["attribution"]
        for events in (from_batches, from_singles)
    ]
    assert summaries[0] == summaries[1]
