"""Decayed item popularity, aggregated in each worker and flushed to Redis every second.

Popularity is a ranking signal, not a record: summing a second of increments in memory
turns thousands of ZINCRBYs per second into one per distinct item, which matters more
to ingest throughput than anything else in the write path. A crashed worker loses at
most one flush interval of increments; the event stream holds the events themselves,
so counters can be rebuilt from it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import redis.asyncio as aioredis

from personalize.background import Periodic
from personalize.clock import Clock
from personalize.domain.popularity import popularity_boost
from personalize.store.client import StoreUnavailable, with_deadline
from personalize.store.keys import Keys

log = logging.getLogger("personalize.popularity")


class PopularityBuffer:
    def __init__(self, client: aioredis.Redis, keys: Keys, clock: Clock, half_life_h: float, timeout_ms: int) -> None:
        self._client = client
        self._keys = keys
        self._clock = clock
        self._half_life_h = half_life_h
        self._timeout_ms = timeout_ms
        self._pending: dict[tuple[str, str | None], float] = {}
        self._periodic: Periodic | None = None

    def add(self, increments: Iterable[tuple[str, str | None, float]]) -> None:
        pending = self._pending
        for item, category, weight in increments:
            pending[(item, None)] = pending.get((item, None), 0.0) + weight
            if category:
                pending[(item, category)] = pending.get((item, category), 0.0) + weight

    async def flush(self) -> int:
        if not self._pending:
            return 0
        pending, self._pending = self._pending, {}
        boost = popularity_boost(self._clock.now(), self._half_life_h)
        pipe = self._client.pipeline(transaction=False)
        for (item, category), weight in pending.items():
            key = self._keys.popularity if category is None else self._keys.popularity_in(category)
            pipe.zincrby(key, weight * boost, item)
        try:
            await with_deadline(pipe.execute(), max(self._timeout_ms, 1000))
        except StoreUnavailable:
            # Put them back: the next flush retries (popularity tolerates a late update).
            for entry, weight in pending.items():
                self._pending[entry] = self._pending.get(entry, 0.0) + weight
            raise
        return len(pending)

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
