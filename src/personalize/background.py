"""A periodic background job that stops cleanly.

Stopping by cancellation alone is fragile: on Python 3.11 a cancel that lands while an
``asyncio.timeout`` deadline also fires can surface as a TimeoutError, which a loop that
tolerates Redis timeouts would swallow and carry on. A stop event ends the loop for sure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from personalize.store.client import StoreUnavailable

log = logging.getLogger("personalize.background")


class Periodic:
    def __init__(self, name: str, job: Callable[[], Awaitable[object]], interval_s: float) -> None:
        self._name = name
        self._job = job
        self._interval_s = interval_s
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._interval_s)
            if self._stop.is_set():
                return
            try:
                await self._job()
            except StoreUnavailable:
                pass  # Redis slow or away: try again next round
            except Exception:
                log.exception("%s failed", self._name)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=self._name)

    async def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
        except (TimeoutError, asyncio.CancelledError):
            self._task.cancel()
