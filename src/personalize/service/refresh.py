"""Per-worker background refresh: published model, catalog stock, offers, propensity model.

Runs every PERSONALIZE_MODEL_POLL_S. Each refresh builds the new object fully, then
replaces one reference on the decide service, so requests never see half an update.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from personalize.offers.catalog import CatalogError
from personalize.service.decide import DecideService
from personalize.service.models import ModelHolder
from personalize.settings import Settings
from personalize.store.catalog import CatalogCache
from personalize.store.client import StoreUnavailable, with_deadline
from personalize.store.keys import Keys
from personalize.store.offer_store import OfferStore

log = logging.getLogger("personalize.refresh")


def newest_propensity_dir(models_dir: Path) -> Path | None:
    root = models_dir / "propensity"
    if not root.is_dir():
        return None
    candidates = sorted((p for p in root.iterdir() if p.is_dir()), reverse=True)
    return candidates[0] if candidates else None


class Refresher:
    def __init__(
        self, client: aioredis.Redis, keys: Keys, settings: Settings, models: ModelHolder,
        catalog_cache: CatalogCache, offer_store: OfferStore, decide: DecideService,
    ) -> None:
        self._client = client
        self._keys = keys
        self._settings = settings
        self._models = models
        self._catalog_cache = catalog_cache
        self._offer_store = offer_store
        self._decide = decide
        self._offers_version = -1
        self._propensity_dir: Path | None = None
        self._task: asyncio.Task[None] | None = None

    async def refresh_once(self) -> None:
        timeout = self._settings.redis_timeout_ms
        if await self._models.sync(self._client, self._keys, timeout):
            self._decide.model = self._models.current
        await with_deadline(self._catalog_cache.refresh(), timeout)
        version = await with_deadline(self._offer_store.version(), timeout)
        if version != self._offers_version:
            try:
                version, catalog = await with_deadline(self._offer_store.load(), timeout)
                self._decide.offers = catalog
                self._offers_version = version
            except CatalogError as exc:
                log.error("stored offer catalog refused", extra={"fields": {"problems": exc.problems[:5]}})
                self._offers_version = version
        self._refresh_propensity()

    def _refresh_propensity(self) -> None:
        directory = newest_propensity_dir(self._settings.models_dir)
        if directory is None or directory == self._propensity_dir:
            return
        try:
            from personalize.propensity.serving import PurchasePropensity

            model: Any = PurchasePropensity.load(directory)
        except Exception as exc:  # noqa: BLE001 - keep serving without it
            log.error("purchase propensity model refused", extra={"fields": {"dir": str(directory), "error": str(exc)[:300]}})
            self._propensity_dir = directory
            return
        self._decide.purchase_propensity = model
        self._propensity_dir = directory

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.model_poll_s)
            try:
                await self.refresh_once()
            except StoreUnavailable:
                pass
            except Exception:  # noqa: BLE001 - the refresher must never die
                log.exception("refresh failed")

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
