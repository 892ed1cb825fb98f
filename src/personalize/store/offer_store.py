"""The offer catalog in Redis (admin API writes it, every worker caches a compiled copy)."""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis

from personalize.offers.catalog import Catalog, catalog_from_document
from personalize.store.keys import Keys


class OfferStore:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._client = client
        self._keys = keys

    @property
    def _version_key(self) -> str:
        return f"{self._keys.offers}:version"

    @property
    def _settings_key(self) -> str:
        return f"{self._keys.offers}:settings"

    async def version(self) -> int:
        v = await self._client.get(self._version_key)
        return int(v) if v else 0

    async def document(self) -> dict[str, Any]:
        pipe = self._client.pipeline(transaction=True)
        pipe.hgetall(self._keys.offers)
        pipe.get(self._settings_key)
        offers, settings = await pipe.execute()
        doc: dict[str, Any] = json.loads(settings) if settings else {}
        doc["offers"] = [json.loads(v) for _, v in sorted(offers.items())]
        return doc

    async def load(self) -> tuple[int, Catalog]:
        version = await self.version()
        return version, catalog_from_document(await self.document())

    async def replace_all(self, catalog: Catalog) -> None:
        doc = catalog.to_document()
        pipe = self._client.pipeline(transaction=True)
        pipe.delete(self._keys.offers)
        for offer in doc["offers"]:
            pipe.hset(self._keys.offers, offer["id"], json.dumps(offer))
        pipe.set(self._settings_key, json.dumps({k: v for k, v in doc.items() if k != "offers"}))
        pipe.incr(self._version_key)
        await pipe.execute()

    async def apply_file(self, catalog: Catalog, file_digest: str) -> bool:
        """Replace the catalog with an operator's file unless this same file was applied
        before: edits made through the API then stand, a changed file wins. True if applied."""
        key = f"{self._keys.offers}:file"
        applied = await self._client.get(key)
        if (applied.decode() if isinstance(applied, bytes) else applied) == file_digest:
            return False
        await self.replace_all(catalog)
        await self._client.set(key, file_digest)
        return True

    async def put(self, offer_builtins: dict[str, Any]) -> None:
        pipe = self._client.pipeline(transaction=True)
        pipe.hset(self._keys.offers, offer_builtins["id"], json.dumps(offer_builtins))
        pipe.incr(self._version_key)
        await pipe.execute()

    async def delete(self, offer_id: str) -> bool:
        pipe = self._client.pipeline(transaction=True)
        pipe.hdel(self._keys.offers, offer_id)
        pipe.incr(self._version_key)
        removed, _ = await pipe.execute()
        return bool(removed)
