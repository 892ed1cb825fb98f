"""Decayed item popularity, aggregated in each worker and flushed to Redis every few seconds.

Popularity is a ranking signal, not a record: summing a few seconds of increments in memory
turns thousands of ZINCRBYs per second into one per distinct item and category, and one
script call applies them all (with long-tail catalogs that is still ~0.9 ZINCRBY per
event, so a pipeline of single commands cost more worker CPU than the ingest packer). A crashed worker loses at
most one flush interval of increments; the event stream holds the events themselves,
so counters can be rebuilt from it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import msgspec
import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from personalize.background import Periodic
from personalize.clock import Clock
from personalize.domain.popularity import popularity_boost
from personalize.store.client import StoreUnavailable, with_deadline
from personalize.store.keys import Keys
from personalize.store.scripts import lua_source

log = logging.getLogger("personalize.popularity")
_encoder = msgspec.msgpack.Encoder()
# Increments per script call: ~1-2 ms of Redis time, so a flush never blocks decisions
# for longer than one ingest batch does.
FLUSH_CHUNK = 500


class PopularityBuffer:
    def __init__(self, client: aioredis.Redis, keys: Keys, clock: Clock, half_life_h: float, timeout_ms: int) -> None:
        self._client = client
        self._keys = keys
        self._clock = clock
        self._half_life_h = half_life_h
        self._timeout_ms = timeout_ms
        self._pending: dict[tuple[str, str | None], float] = {}
        self._periodic: Periodic | None = None
        self._script: AsyncScript = client.register_script(lua_source("add_popularity"))

    def add(self, increments: Iterable[tuple[str, str | None, float]]) -> None:
        pending = self._pending
        for item, category, weight in increments:
            pending[(item, None)] = pending.get((item, None), 0.0) + weight
            if category:
                pending[(item, category)] = pending.get((item, category), 0.0) + weight

    async def flush(self) -> int:
        if not self._pending:
            return 0
        pending, self._pending = list(self._pending.items()), {}
        boost = popularity_boost(self._clock.now(), self._half_life_h)
        for start in range(0, len(pending), FLUSH_CHUNK):
            chunk = pending[start : start + FLUSH_CHUNK]
            try:
                await with_deadline(self._add(chunk, boost), max(self._timeout_ms, 1000))
            except StoreUnavailable:
                # Put back what was not applied: the next flush retries (popularity tolerates a late update).
                for entry, weight in pending[start:]:
                    self._pending[entry] = self._pending.get(entry, 0.0) + weight
                raise
        return len(pending)

    async def _add(self, chunk: list[tuple[tuple[str, str | None], float]], boost: float) -> None:
        groups: dict[str | None, list[str | float]] = {}
        for (item, category), weight in chunk:
            group = groups.get(category)
            if group is None:
                group = groups[category] = [len(groups) + 1]  # KEYS index, 1-based
            group += (item, weight * boost)
        keys = [self._keys.popularity if c is None else self._keys.popularity_in(c) for c in groups]
        await self._script(keys=keys, args=[_encoder.encode(list(groups.values()))])

    def start(self, interval_s: float) -> None:
        self._periodic = Periodic("popularity-flush", self.flush, interval_s)
        self._periodic.start()

    async def stop(self) -> None:
        if self._periodic is not None:
            await self._periodic.stop()
        try:
            await self.flush()
        except StoreUnavailable:
            log.warning("popularity increments lost at shutdown: Redis unavailable")
