"""redis-py asyncio clients with explicit timeouts, retries and health checks.

A stale connection after a Redis restart must not turn into a 500: the client
retries once on connection errors with a short backoff, and every call also
runs under an asyncio deadline (see ``with_deadline``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

T = TypeVar("T")


class StoreUnavailable(Exception):
    """Redis did not answer within the deadline or is unreachable."""


def make_async_client(url: str, timeout_ms: int = 250, max_connections: int = 64) -> aioredis.Redis:
    timeout_s = timeout_ms / 1000.0
    return aioredis.Redis.from_url(
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


async def with_deadline(awaitable: Awaitable[T], timeout_ms: int) -> T:
    """Await a Redis call under a deadline; any failure becomes StoreUnavailable."""
    try:
        async with asyncio.timeout(timeout_ms / 1000.0):
            return await awaitable
    except (TimeoutError, RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise StoreUnavailable(str(exc) or exc.__class__.__name__) from exc
