"""Exports and report services against a real Redis: streams -> Parquet -> back, joinable."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pyarrow.parquet as pq
import pytest
import redis
import redis.asyncio as aioredis

from personalize.clock import ManualClock
from personalize.domain.decisions import DecisionRecord, RecommendedItem
from personalize.reports import export, service
from personalize.reports.experiments import InvalidExperiment, experiment_results
from personalize.reports.export_stream import export_decisions, export_events, write_streams
from personalize.reports.simulate import SimulationConfig, simulate
from personalize.reports.summary import build_summary, json_safe
from personalize.settings import Settings
from personalize.store.client import make_async_client
from personalize.store.keys import Keys

KEYS = Keys("pzt")
T0 = 1_767_225_600.0


@pytest.fixture()
async def client(redis_url: str, redis_sync: redis.Redis) -> AsyncIterator[aioredis.Redis]:
    c = make_async_client(redis_url, timeout_ms=5000)
    yield c
    await c.aclose()


def seed_streams(r: redis.Redis) -> None:
    d = DecisionRecord(
        decision_id="d1",
        timestamp=T0,
        customer_id="a:v1",
        anonymous_id="v1",
        offer_id="o1",
        items=[RecommendedItem(item_id="i1", score=0.9, reason="pop", slot="home")],
        probability=0.8,
    )
    r.xadd(KEYS.decision_stream, {"d": msgspec.json.encode(d)})
    events = [
        {
            "type": "product_view",
            "event_id": "e1",
            "timestamp": T0 + 1,
            "anonymous_id": "v1",
            "session_id": "s1",
            "item_id": "i1",
            "price": 9.5,
            "dwell_ms": 1200,
            "category": "shoes",
        },
        {
            "type": "offer_accept",
            "event_id": "e2",
            "timestamp": T0 + 2,
            "anonymous_id": "v1",
            "decision_id": "d1",
            "offer_id": "o1",
        },
        {
            "type": "purchase",
            "event_id": "e3",
            "timestamp": T0 + 3,
            "anonymous_id": "v1",
            "session_id": "s1",
            "order_id": "A1",
            "lines": [
                {"item_id": "i1", "price": 9.5, "quantity": 2},
                {"item_id": "i2", "price": 3.0},
            ],
            "total": 26.0,
            "shipping_fee": 4.0,
            "decision_id": "d1",
        },
    ]
    for e in events:
        r.xadd(KEYS.event_stream, {"c": "a:v1", "e": msgspec.json.encode(e)})
    r.xadd(KEYS.event_stream, {"junk": "not an event"})  # skipped, not fatal


async def test_export_round_trip(
    client: aioredis.Redis, redis_sync: redis.Redis, tmp_path: Path
) -> None:
    seed_streams(redis_sync)
    ev_path, dec_path = tmp_path / "events.parquet", tmp_path / "decisions.parquet"
    n_events, n_rows = await export_events(
        client, KEYS, ev_path, chunk=2
    )  # chunk 2: paging is exercised
    assert (n_events, n_rows) == (3, 4)  # the purchase has two lines
    assert await export_decisions(client, KEYS, dec_path, chunk=1) == 1
    table = pq.read_table(ev_path)
    assert table.column_names[:9] == [
        "timestamp",
        "session_id",
        "user_id",
        "item_id",
        "event_type",
        "price",
        "quantity",
        "dwell_ms",
        "category",
    ]
    rows = table.to_pylist()
    purchase = [r for r in rows if r["event_type"] == "purchase"]
    assert [(r["item_id"], r["price"], r["quantity"]) for r in purchase] == [
        ("i1", 9.5, 2),
        ("i2", 3.0, 1),
    ]
    assert (
        purchase[0]["total"] == 26.0
        and purchase[0]["shipping_fee"] == 4.0
        and purchase[0]["order_id"] == "A1"
    )
    view = next(r for r in rows if r["event_type"] == "product_view")
    assert (view["dwell_ms"], view["category"], view["customer_id"]) == (1200, "shoes", "a:v1")
    # Joinable on decision_id.
    decisions = {r["decision_id"]: r for r in pq.read_table(dec_path).to_pylist()}
    joined = [
        (r["event_type"], decisions[r["decision_id"]]["offer_id"])
        for r in rows
        if r["decision_id"] in decisions
    ]
    assert joined == [("offer_accept", "o1"), ("purchase", "o1"), ("purchase", "o1")]
    assert decisions["d1"]["item_ids"] == ["i1"] and decisions["d1"]["probability"] == 0.8
    # Lossless reload.
    reloaded = export.read_events(ev_path)
    assert [e.event_id for e in reloaded] == ["e1", "e2", "e3"]
    # the stream stores events without their defaults; readers (and exports) get them back
    assert reloaded[2].event["lines"][1] == {"item_id": "i2", "price": 3.0, "quantity": 1, "category": None}
    assert export.read_decisions(dec_path)[0].offer_id == "o1"


async def test_experiment_store(client: aioredis.Redis) -> None:
    raw = b'{"id":"e1","variants":[{"name":"a","control":true},{"name":"b","weight":2}],"salt":"x"}'
    exp = await service.put_experiment(client, KEYS, raw)
    assert (await service.get_experiment(client, KEYS, "e1")) == exp
    assert [e.id for e in await service.list_experiments(client, KEYS)] == ["e1"]
    with pytest.raises(InvalidExperiment):
        await service.put_experiment(client, KEYS, b'{"id":"e2","variants":[{"name":"a"}]}')
    with pytest.raises(service.ExperimentNotFound):
        await service.get_experiment(client, KEYS, "nope")
    clock = ManualClock(T0)
    assert (await service.assign_variant(client, KEYS, clock, "e1", "a:v")) is not None
    assert await service.delete_experiment(client, KEYS, "e1")


async def test_results_and_summary_through_redis(client: aioredis.Redis) -> None:
    run = simulate(SimulationConfig(visitors=800, seed=3))
    await write_streams(client, KEYS, run.events, run.decisions)
    await service.put_experiment(client, KEYS, run.experiment)
    clock = ManualClock(T0 + 10 * 86400)
    via_redis = await service.experiment_results(
        client, KEYS, clock, run.experiment.id, since_days=None
    )
    direct = json_safe(experiment_results(run.experiment, run.decisions, run.events))
    assert via_redis["arms"] == direct["arms"]
    summary = await service.summary(
        client, KEYS, clock, Settings(holdout_share=0.1), since_days=30, ope_replicates=20
    )
    expected = build_summary(
        run.events, run.decisions, [run.experiment], holdout_share=0.1, ope_replicates=20
    )
    assert summary["attribution"] == json_safe(expected["attribution"])
    assert summary["counts"]["decisions"] == len(run.decisions)
    assert summary["experiments"][0]["arms"] == direct["arms"]
    # since_days bounds the scan by arrival time (stream ids): seen from 10 days ahead, nothing is recent.
    recent = await service.summary(
        client, KEYS, ManualClock(time.time() + 10 * 86400), Settings(), since_days=1
    )
    assert recent["counts"]["events"] == 0
