"""The decide path's multiplexed Redis connection, against a real Redis."""

from __future__ import annotations

import asyncio

import pytest
import redis
from redis.exceptions import ResponseError

from personalize.store.client import StoreUnavailable, with_deadline
from personalize.store.resp import MultiplexedConnection, pack
from tests.helpers import command


async def test_concurrent_calls_get_their_own_replies_in_order(redis_url: str, redis_sync: redis.Redis) -> None:
    conn = MultiplexedConnection(redis_url)
    try:
        async def call(i: int) -> list[object]:
            return await conn.execute(pack([("SET", f"k{i}", i), ("GET", f"k{i}"), ("HGETALL", "missing")]), 3)

        replies = await asyncio.gather(*(call(i) for i in range(200)))
        assert replies == [["OK", str(i), []] for i in range(200)]
    finally:
        await conn.aclose()


async def test_error_replies_are_returned_not_raised(redis_url: str, redis_sync: redis.Redis) -> None:
    redis_sync.set("s", "x")
    conn = MultiplexedConnection(redis_url)
    try:
        first, second = await conn.execute(pack([("HGETALL", "s"), ("GET", "s")]), 2)
        assert isinstance(first, ResponseError) and str(first).startswith("WRONGTYPE")
        assert second == "x"
    finally:
        await conn.aclose()


async def test_a_killed_connection_is_replaced_on_the_next_call(redis_url: str, redis_sync: redis.Redis) -> None:
    conn = MultiplexedConnection(redis_url)
    try:
        assert await conn.execute(pack([("CLIENT", "SETNAME", "pz-mux")]), 1) == ["OK"]
        redis_sync.client_kill_filter(_type="normal", skipme=True)
        await asyncio.sleep(0.05)  # the loop sees the connection closed
        assert await conn.execute(pack([("PING",)]), 1) == ["PONG"]
    finally:
        await conn.aclose()


async def test_a_paused_redis_misses_the_deadline_and_late_replies_are_dropped(
    redis_url: str, redis_sync: redis.Redis
) -> None:
    conn = MultiplexedConnection(redis_url)
    try:
        await conn.execute(pack([("PING",)]), 1)
        command(redis_sync, "CLIENT", "PAUSE", 300, "ALL")
        with pytest.raises(StoreUnavailable):
            await with_deadline(conn.execute(pack([("GET", "a")]), 1), 50)
        await asyncio.sleep(0.4)  # Redis answers the abandoned call now; it must not reach the next one
        redis_sync.set("b", "2")
        assert await with_deadline(conn.execute(pack([("GET", "b")]), 1), 250) == ["2"]
    finally:
        await conn.aclose()


async def test_no_redis_is_a_store_error_not_a_hang() -> None:
    conn = MultiplexedConnection("redis://127.0.0.1:1/0")
    with pytest.raises(StoreUnavailable):
        await with_deadline(conn.execute(pack([("PING",)]), 1), 250)
