"""Per-worker model holder: loads the published model in the background, swaps one reference.

A request reads ``holder.current`` once and uses that object to the end, so no request
mixes two versions. A load that fails verification is refused and the old model keeps
serving (counted in personalize_model_swaps_total{result="refused"}).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import cast

import redis.asyncio as aioredis

from personalize.metrics import MODEL_SWAPS, MODEL_VERSION
from personalize.ml.artifact import ArtifactError
from personalize.ml.model import RecommenderModel, load_artifact
from personalize.store.client import with_deadline
from personalize.store.keys import Keys
from personalize.store.model_registry import Published, parse_active

log = logging.getLogger("personalize.models")


class ModelHolder:
    def __init__(self) -> None:
        self.current: RecommenderModel | None = None
        self.published: Published | None = None
        self.refused: dict[str, str] = {}  # version -> why it was refused

    @property
    def version(self) -> str | None:
        return self.current.version if self.current is not None else None

    async def sync(self, client: aioredis.Redis, keys: Keys, timeout_ms: int) -> bool:
        """Load the published model if it changed; True when a swap happened."""
        raw = await with_deadline(client.hgetall(keys.active_model), timeout_ms)
        published = parse_active(cast(dict[bytes, bytes], raw))  # a client without decode_responses
        if published is None or (self.published is not None and published.version == self.published.version
                                 and published.path == self.published.path):
            return False
        if published.version in self.refused:
            return False
        try:
            model = await asyncio.to_thread(load_artifact, Path(published.path))
        except (ArtifactError, OSError, ValueError) as exc:
            self.refused[published.version] = str(exc)[:500]
            MODEL_SWAPS.labels(result="refused").inc()
            log.error("model refused", extra={"fields": {"version": published.version, "error": str(exc)[:300]}})
            return False
        old = self.current
        self.current = model  # the swap: one reference assignment
        self.published = published
        MODEL_SWAPS.labels(result="loaded").inc()
        if old is not None:
            MODEL_VERSION.labels(version=old.version).set(0)
        MODEL_VERSION.labels(version=model.version).set(1)
        log.info("model loaded", extra={"fields": {"version": model.version, "items": model.n_items}})
        return True
