"""redis-py asyncio clients with explicit timeouts, retries and health checks.

A stale connection after a Redis restart must not turn into a 500: the client
retries once on connection errors with a short backoff, and every call also
runs under an asyncio deadline (see ``with_deadline``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError
from redis.exceptions import TimeoutError as RedisTimeoutError

T = TypeVar("T")


class StoreUnavailable(Exception):
    """Redis did not answer within the deadline or is unreachable."""


class _HiredisPacking:
    """Serialise commands with hiredis (C) instead of redis-py's per-argument Python loop.

    redis-py's asyncio connections pack in Python: ~0.75 ms for an ingest script call of
    100 events (~550 keys), against ~0.1 ms here. Same bytes on the wire.
    """

    def pack_command(self, *args: Any) -> list[bytes]:
        name = args[0]
        if " " in name if isinstance(name, str) else b" " in name:  # e.g. "CONFIG GET"
            args = tuple((name.encode() if isinstance(name, str) else name).split()) + args[1:]
        try:
            return [hiredis.pack_command(args)]
        except TypeError:
            pass
        # memoryview/bytearray values (rare) must become bytes; anything else is an error
        args = tuple(bytes(a) if isinstance(a, (bytearray, memoryview)) else a for a in args)
        try:
            return [hiredis.pack_command(args)]
        except TypeError as exc:  # redis-py raises DataError for e.g. None or bool values
            raise DataError(str(exc)) from exc


_PACKING_CLASSES: dict[type[AbstractConnection], type[AbstractConnection]] = {}


def _hiredis_packing(cls: type[AbstractConnection]) -> type[AbstractConnection]:
    if cls not in _PACKING_CLASSES:
        _PACKING_CLASSES[cls] = type(f"Hiredis{cls.__name__}", (_HiredisPacking, cls), {})
    return _PACKING_CLASSES[cls]


def make_async_client(url: str, timeout_ms: int = 250, max_connections: int = 64) -> aioredis.Redis:
    timeout_s = timeout_ms / 1000.0
    client = aioredis.Redis.from_url(
        url,
        # The socket timeout is a backstop; each call's own deadline (with_deadline) is
        # what answers the request, and may be longer for big batches.
        socket_timeout=max(timeout_s * 4, 2.0),
        socket_connect_timeout=max(timeout_s, 0.25),
        retry=Retry(ExponentialBackoff(cap=0.05, base=0.005), retries=1),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        health_check_interval=30,
        max_connections=max_connections,
        decode_responses=False,
    )
    pool = client.connection_pool
    pool.connection_class = _hiredis_packing(pool.connection_class)
    return client


async def with_deadline(awaitable: Awaitable[T], timeout_ms: int) -> T:
    """Await a Redis call under a deadline; any failure becomes StoreUnavailable."""
    try:
        async with asyncio.timeout(timeout_ms / 1000.0):
            return await awaitable
    except (TimeoutError, RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise StoreUnavailable(str(exc) or exc.__class__.__name__) from exc
