"""Test helpers: an API client on a real Redis, event builders, and a state fingerprint."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import redis
import redis.asyncio as aioredis
from litestar.testing import AsyncTestClient

from personalize.api.app import create_app
from personalize.clock import ManualClock
from personalize.settings import Settings

NOW = 1_795_000_000.0  # 2026-11-18, a fixed "now" for tests
_counter = itertools.count()


def settings_for(redis_url: str, **overrides: Any) -> Settings:
    # Decide's read deadline (50 ms in production) widened: on a loaded CI machine a
    # scheduler hiccup would turn into a store_timeout fallback in tests about rankings.
    # The deadline test pauses Redis for longer than this.
    overrides.setdefault("redis_decide_timeout_ms", 300)
    return dataclasses.replace(Settings(), redis_url=redis_url, **overrides)


@asynccontextmanager
async def api_client(redis_url: str, clock: ManualClock | None = None, **overrides: Any) -> AsyncIterator[AsyncTestClient[Any]]:
    # The OpenAPI document is completed only where a test reads it (test_server_cli, test_openapi).
    openapi = overrides.pop("openapi_bodies", False)
    app = create_app(settings_for(redis_url, **overrides), clock or ManualClock(NOW), openapi_bodies=openapi)
    async with AsyncTestClient(app) as client:
        yield client


def event(type_: str, **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": type_, "event_id": f"ev-{next(_counter)}", "timestamp": NOW - 60}
    doc.update(fields)
    return doc


# redis-py types replies for either decode_responses setting (bytes | str, often | None);
# the tests' clients never decode, so these read replies as the bytes Redis sends.
StreamEntry = tuple[bytes, dict[bytes, bytes]]


def stream_entries(
    client: redis.Redis,
    name: str | bytes,
    *,
    min: str = "-",
    max: str = "+",
    count: int | None = None,
) -> list[StreamEntry]:
    """XRANGE: a stream's (entry id, fields) pairs, oldest first."""
    return cast(list[StreamEntry], client.xrange(name, min=min, max=max, count=count))


def hash_fields(client: redis.Redis, name: str | bytes) -> dict[bytes, bytes]:
    """HGETALL: a hash's fields and values."""
    return cast(dict[bytes, bytes], client.hgetall(name))


async def hash_fields_async(client: aioredis.Redis, name: str | bytes) -> dict[bytes, bytes]:
    """HGETALL on an asyncio client."""
    return cast(dict[bytes, bytes], await client.hgetall(name))


def keys_matching(client: redis.Redis, pattern: str) -> list[bytes]:
    """KEYS: the names of the keys matching a glob pattern."""
    return cast(list[bytes], client.keys(pattern))


def string_value(client: redis.Redis, name: str | bytes) -> bytes | None:
    """GET: a string key's value, None when the key does not exist."""
    return cast(bytes | None, client.get(name))


def command(client: redis.Redis, *args: str | int) -> object:
    """A command sent exactly as given (e.g. CLIENT PAUSE <ms> ALL)."""
    # redis-py leaves Redis.execute_command unannotated
    return client.execute_command(*args)  # type: ignore[no-untyped-call]


def store_fingerprint(client: redis.Redis) -> str:
    """A digest of every key and value in the database (to prove nothing changed)."""
    h = hashlib.sha256()
    for key in sorted(client.scan_iter(count=1000)):
        kind = client.type(key)
        h.update(key + b"\0" + kind)
        if kind == b"string":
            h.update(string_value(client, key) or b"")
        elif kind == b"hash":
            h.update(repr(sorted(hash_fields(client, key).items())).encode())
        elif kind == b"list":
            h.update(repr(client.lrange(key, 0, -1)).encode())
        elif kind == b"set":
            h.update(repr(sorted(client.smembers(key))).encode())
        elif kind == b"zset":
            h.update(repr(client.zrange(key, 0, -1, withscores=True)).encode())
        elif kind == b"stream":
            h.update(repr(stream_entries(client, key)).encode())
    return h.hexdigest()
