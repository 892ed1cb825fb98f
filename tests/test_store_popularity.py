"""PopularityBuffer: increments summed in memory, flushed in chunked script calls."""

from __future__ import annotations

import pytest
import redis

from personalize.clock import ManualClock
from personalize.domain.popularity import popularity_boost
from personalize.store.client import make_async_client
from personalize.store.keys import Keys
from personalize.store.popularity import FLUSH_CHUNK, PopularityBuffer
from tests.helpers import NOW

KEYS = Keys("pzp")


async def test_flush_adds_summed_boosted_increments(redis_url: str, redis_sync: redis.Redis) -> None:
    client = make_async_client(redis_url)
    buffer = PopularityBuffer(client, KEYS, ManualClock(NOW), half_life_h=72, timeout_ms=250)
    n = FLUSH_CHUNK  # with categories: ~2 chunks, so chunking is exercised
    buffer.add((f"i{k}", f"c{k % 3}", 1.0) for k in range(n))
    buffer.add([("i0", "c0", 2.5), ("i1", None, 0.5)])
    redis_sync.zincrby(KEYS.popularity, 10.0, "i2")  # earlier flushes (other workers) add up
    boost = popularity_boost(NOW, 72)
    try:
        assert await buffer.flush() == 2 * n
        assert await buffer.flush() == 0  # nothing pending
    finally:
        await client.aclose()
    assert redis_sync.zcard(KEYS.popularity) == n
    assert redis_sync.zscore(KEYS.popularity, "i0") == pytest.approx(3.5 * boost)
    assert redis_sync.zscore(KEYS.popularity, "i1") == pytest.approx(1.5 * boost)
    assert redis_sync.zscore(KEYS.popularity, "i2") == pytest.approx(10.0 + boost)
    assert redis_sync.zscore(KEYS.popularity_in("c0"), "i0") == pytest.approx(3.5 * boost)
    assert redis_sync.zscore(KEYS.popularity_in("c1"), "i1") == pytest.approx(boost)
    assert sum(redis_sync.zcard(KEYS.popularity_in(f"c{c}")) for c in range(3)) == n
