"""Test helpers: an API client on a real Redis, event builders, and a state fingerprint."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis
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
    app = create_app(settings_for(redis_url, **overrides), clock or ManualClock(NOW))
    async with AsyncTestClient(app) as client:
        yield client


def event(type_: str, **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": type_, "event_id": f"ev-{next(_counter)}", "timestamp": NOW - 60}
    doc.update(fields)
    return doc


def store_fingerprint(client: redis.Redis) -> str:
    """A digest of every key and value in the database (to prove nothing changed)."""
    h = hashlib.sha256()
    for key in sorted(client.scan_iter(count=1000)):
        kind = client.type(key)
        h.update(key + b"\0" + kind)
        if kind == b"string":
            h.update(client.get(key) or b"")
        elif kind == b"hash":
            h.update(repr(sorted(client.hgetall(key).items())).encode())
        elif kind == b"list":
            h.update(repr(client.lrange(key, 0, -1)).encode())
        elif kind == b"set":
            h.update(repr(sorted(client.smembers(key))).encode())
        elif kind == b"zset":
            h.update(repr(client.zrange(key, 0, -1, withscores=True)).encode())
        elif kind == b"stream":
            h.update(repr(client.xrange(key)).encode())
    return h.hexdigest()
