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

from personalize.background import Periodic
from personalize.heap import freeze_long_lived
from personalize.offers.catalog import CatalogError
from personalize.service.decide import DecideService
from personalize.service.models import ModelHolder
from personalize.settings import Settings
from personalize.store.catalog import CatalogCache
from personalize.store.client import with_deadline
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
        self._periodic: Periodic | None = None

    async def refresh_once(self) -> None:
        timeout = self._settings.redis_timeout_ms
        loaded = False
        if await self._models.sync(self._client, self._keys, timeout):
            self._decide.model = self._models.current
            loaded = True
        await with_deadline(self._catalog_cache.refresh(), timeout)
        version = await with_deadline(self._offer_store.version(), timeout)
        if version != self._offers_version:
            try:
                version, catalog = await with_deadline(self._offer_store.load(), timeout)
                self._decide.offers = catalog
                self._offers_version = version
                loaded = True
            except CatalogError as exc:
                log.error("stored offer catalog refused", extra={"fields": {"problems": exc.problems[:5]}})
                self._offers_version = version
        await self._refresh_experiments(timeout)
        await self._decide.refresh_budgets()
        self._refresh_propensity()
        if loaded:
            freeze_long_lived()

    async def _refresh_experiments(self, timeout: int) -> None:
        from personalize.ml.artifact import ArtifactError
        from personalize.ml.model import load_artifact
        from personalize.reports.service import list_experiments

        experiments = await with_deadline(list_experiments(self._client, self._keys), timeout)
        self._decide.experiments = experiments
        wanted = {v.model_version for e in experiments for v in e.variants if v.model_version}
        loaded = dict(self._decide.variant_models)
        for version in wanted - set(loaded):
            if self._models.current is not None and self._models.current.version == version:
                loaded[version] = self._models.current
                continue
            try:
                loaded[version] = await asyncio.to_thread(load_artifact, self._settings.models_dir / version)
            except (ArtifactError, OSError) as exc:
                log.error("experiment model refused", extra={"fields": {"version": version, "error": str(exc)[:300]}})
        self._decide.variant_models = {v: m for v, m in loaded.items() if v in wanted}

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

    def start(self) -> None:
        self._periodic = Periodic("refresh", self.refresh_once, self._settings.model_poll_s)
        self._periodic.start()

    async def stop(self) -> None:
        if self._periodic is not None:
            await self._periodic.stop()
