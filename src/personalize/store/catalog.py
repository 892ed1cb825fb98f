"""Catalog items in Redis, and a per-worker cache of what decisions need from them.

Decisions must not spend a round trip on stock and categories, so each worker keeps
the out-of-stock set and the item -> category map in memory and reloads them when
the catalog version (bumped by every upsert) changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import msgspec
import redis.asyncio as aioredis

from personalize.domain.items import Item
from personalize.store.keys import Keys

_json = msgspec.json.Encoder()


class CatalogStore:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._client = client
        self._keys = keys

    @property
    def version_key(self) -> str:
        return f"{self._keys.prefix}:items:version"

    @property
    def categories_key(self) -> str:
        return f"{self._keys.prefix}:items:category"

    @property
    def prices_key(self) -> str:
        """Hash: item -> price, cached by every worker for offer rules on ``item.price``."""
        return f"{self._keys.prefix}:items:price"

    async def upsert(self, items: Sequence[Item]) -> int:
        k = self._keys
        pipe = self._client.pipeline(transaction=True)
        for item in items:
            mapping: dict[str, str] = {}
            if item.in_stock is not None:
                mapping["in_stock"] = "1" if item.in_stock else "0"
            if item.title is not None:
                mapping["title"] = item.title
            if item.category is not None:
                mapping["category"] = item.category
                pipe.hset(self.categories_key, item.id, item.category)
            if item.price is not None:
                mapping["price"] = repr(item.price)
                pipe.hset(self.prices_key, item.id, repr(item.price))
            if item.attributes:
                mapping["attributes"] = _json.encode(item.attributes).decode()
            if mapping:
                pipe.hset(k.item(item.id), mapping=mapping)  # type: ignore[arg-type]
            if item.in_stock is None:
                # Stock not given: a new item starts in stock; a known one keeps its flag,
                # and the out-of-stock set (which always agrees with it) is left alone.
                pipe.hsetnx(k.item(item.id), "in_stock", "1")
            elif item.in_stock:
                pipe.srem(k.out_of_stock, item.id)
            else:
                pipe.sadd(k.out_of_stock, item.id)
            pipe.sadd(f"{k.prefix}:items:all", item.id)
        pipe.incr(self.version_key)
        await pipe.execute()
        return len({item.id for item in items})  # an id given twice in the batch is one item

    async def get(self, item_id: str) -> dict[str, str] | None:
        raw = await self._client.hgetall(self._keys.item(item_id))
        if not raw:
            return None
        return {k.decode(): v.decode() for k, v in cast(dict[bytes, bytes], raw).items()}

    async def count(self) -> int:
        return int(await self._client.scard(f"{self._keys.prefix}:items:all"))

    async def version(self) -> int:
        v = await self._client.get(self.version_key)
        return int(v) if v else 0

    async def snapshot(self) -> tuple[int, frozenset[str], dict[str, str], dict[str, float]]:
        pipe = self._client.pipeline(transaction=True)
        pipe.get(self.version_key)
        pipe.smembers(self._keys.out_of_stock)
        pipe.hgetall(self.categories_key)
        pipe.hgetall(self.prices_key)
        version, oos, cats, prices = await pipe.execute()
        return (
            int(version) if version else 0,
            frozenset(x.decode() for x in oos),
            {k.decode(): v.decode() for k, v in cats.items()},
            {k.decode(): float(v) for k, v in prices.items()},
        )


class CatalogCache:
    """In-memory view of stock, categories and prices, refreshed when the catalog version moves."""

    def __init__(self, store: CatalogStore) -> None:
        self._store = store
        self.version = -1
        self.out_of_stock: frozenset[str] = frozenset()
        self.categories: dict[str, str] = {}
        self.prices: dict[str, float] = {}

    async def refresh(self) -> bool:
        version = await self._store.version()
        if version == self.version:
            return False
        self.version, self.out_of_stock, self.categories, self.prices = await self._store.snapshot()
        return True
