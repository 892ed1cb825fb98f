"""Which recommendation model is published: a small hash in Redis every worker polls.

``active`` holds version, path and publish time; ``history`` (a list, newest first)
allows ``publish --rollback``. Artifacts live on a filesystem every worker can read.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import redis

from personalize.ml.artifact import check_version_name
from personalize.store.keys import Keys


@dataclass(frozen=True, slots=True)
class Published:
    version: str
    path: str
    published_at: float


def _decode(raw: dict[bytes, bytes]) -> Published | None:
    if not raw:
        return None
    return Published(
        version=raw[b"version"].decode(),
        path=raw[b"path"].decode(),
        published_at=float(raw.get(b"published_at", b"0")),
    )


def parse_active(raw: dict[bytes, bytes]) -> Published | None:
    return _decode(raw)


class ModelPublisher:
    """Used by the CLI (sync client): publish a version, roll back, read the active one."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._client = client
        self._keys = keys

    def active(self) -> Published | None:
        return _decode(self._client.hgetall(self._keys.active_model))  # type: ignore[arg-type]

    def history(self) -> list[Published]:
        out = []
        for raw in self._client.lrange(self._keys.model_history, 0, 49):
            doc = json.loads(raw)
            out.append(Published(doc["version"], doc["path"], float(doc["published_at"])))
        return out

    def publish(self, version: str, path: str) -> Published:
        # Workers join the version onto their models directory: a plain name only.
        entry = Published(check_version_name(version), path, time.time())
        doc: dict[Any, Any] = {"version": entry.version, "path": entry.path, "published_at": repr(entry.published_at)}
        pipe = self._client.pipeline(transaction=True)
        pipe.hset(self._keys.active_model, mapping=doc)
        pipe.lpush(self._keys.model_history, json.dumps(doc))
        pipe.ltrim(self._keys.model_history, 0, 99)
        pipe.execute()
        return entry

    def previous(self) -> Published | None:
        """The version published before the active one (different version), for rollback."""
        active = self.active()
        for entry in self.history():
            if active is None or entry.version != active.version:
                return entry
        return None
