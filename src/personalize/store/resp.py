"""One multiplexed Redis connection for the decide path: pre-packed commands, hiredis replies.

redis-py spends ~0.5 ms of Python per decision packing ~25 commands one by one, reading each
reply under its own asyncio timeout and checking a connection out of the pool. Here a
round trip is one ``bytes`` (packed by hiredis in C) written on a single connection shared
by every request of the worker; Redis answers in order, so replies are matched to callers
by a FIFO. Writes issued in the same event-loop tick leave in one ``send``.

Deadlines stay with the caller (``with_deadline``); a caller that gives up leaves its entry
in the FIFO and its late replies are dropped. Connection loss fails every pending call with
``ConnectionError``; the next call reconnects. Reads are retried once after a connection
error (a stale connection after a Redis restart must not become an error); writes are
retried only if they never left the process, so nothing is applied twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import hiredis
from redis.connection import SSLConnection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

Command = Sequence[str | bytes | int | float]


def pack(commands: Sequence[Command]) -> bytes:
    """RESP encoding of several commands, ready to be written in one go."""
    return b"".join([hiredis.pack_command(tuple(c)) for c in commands])  # type: ignore[arg-type]


Arg = str | bytes | int | float


def raise_errors(replies: Sequence[Any]) -> None:
    """Raise the first error reply (replies carry errors as ResponseError instances)."""
    for reply in replies:
        if isinstance(reply, ResponseError):
            raise reply


def is_noscript(reply: Any) -> bool:
    """Redis does not have the script (restart, SCRIPT FLUSH): send its source with EVAL."""
    return isinstance(reply, ResponseError) and str(reply).startswith("NOSCRIPT")


class Script:
    """A Lua script called by SHA; its source goes over the wire only when Redis lacks it."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def by_sha(self, keys: Sequence[str], args: Sequence[Arg]) -> Command:
        """The EVALSHA command: the usual call, the script's hash only."""
        return ("EVALSHA", self.sha, len(keys), *keys, *args)

    def with_source(self, keys: Sequence[str], args: Sequence[Arg]) -> Command:
        """The Redis EVAL command: the script's text, for a Redis that lacks it."""
        return ("EVAL", self.source, len(keys), *keys, *args)

    async def run(
        self, conn: MultiplexedConnection, calls: Sequence[tuple[Sequence[str], Sequence[Arg]]], retry: bool = True
    ) -> list[Any]:
        """Run the script once per (keys, args), pipelined: one round trip, a second for the
        calls Redis answered NOSCRIPT (EVAL also caches the script for the next time).
        Replies in call order, errors as ResponseError instances (not raised)."""
        if not calls:
            return []
        replies = await conn.execute(pack([self.by_sha(k, a) for k, a in calls]), len(calls), retry=retry)
        missing = [i for i, reply in enumerate(replies) if is_noscript(reply)]
        if missing:
            again = await conn.execute(pack([self.with_source(*calls[i]) for i in missing]), len(missing), retry=retry)
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        return replies


class _Call:
    __slots__ = ("expected", "future", "replies", "sent_at")

    def __init__(self, expected: int, future: asyncio.Future[list[Any]], sent_at: float) -> None:
        self.expected = expected
        self.replies: list[Any] = []
        self.future = future
        self.sent_at = sent_at


class _Protocol(asyncio.Protocol):
    def __init__(self, owner: MultiplexedConnection) -> None:
        self._owner = owner
        self._reader = hiredis.Reader(encoding="utf-8", errors="replace", replyError=ResponseError)

    def data_received(self, data: bytes) -> None:
        if self._owner._protocol is not self:
            return  # a dropped connection's last bytes
        reader = self._reader
        reader.feed(data)
        calls = self._owner._calls
        while calls and (reply := reader.gets()) is not False:
            call = calls[0]
            call.replies.append(reply)
            if len(call.replies) == call.expected:
                calls.popleft()
                if not call.future.done():
                    call.future.set_result(call.replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._lost(self, exc)


class MultiplexedConnection:
    """A single pipelined connection (per worker) to the Redis at ``url``."""

    def __init__(self, url: str, stall_s: float = 2.0, connect_timeout_s: float = 0.25) -> None:
        self._params: dict[str, Any] = parse_url(url)  # type: ignore[no-untyped-call]
        self._stall_s = stall_s  # no reply for this long while calls wait: the connection is dead
        self._connect_timeout_s = connect_timeout_s
        self._transport: asyncio.Transport | None = None
        self._protocol: _Protocol | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connecting: asyncio.Future[None] | None = None
        self._calls: deque[_Call] = deque()
        self._out: list[bytes] = []
        self._flush_scheduled = False

    async def execute(self, packed: bytes, expected: int, retry: bool = True) -> list[Any]:
        """Send ``expected`` packed commands and return their replies (errors as ResponseError
        instances, not raised). ``retry``: may be sent again after a connection error."""
        try:
            return await self._execute(packed, expected)
        except _NotSent:
            return await self._execute(packed, expected)
        except RedisConnectionError:
            if not retry:
                raise
            return await self._execute(packed, expected)

    async def _execute(self, packed: bytes, expected: int) -> list[Any]:
        loop = asyncio.get_running_loop()
        if self._calls and time.monotonic() - self._calls[0].sent_at > self._stall_s:
            # Replies overdue by far more than any deadline: the connection is dead.
            self._drop(RedisConnectionError("Redis stopped answering"))
        if self._transport is None or self._loop is not loop or self._transport.is_closing():
            await self._connect(loop)
        future: asyncio.Future[list[Any]] = loop.create_future()
        self._calls.append(_Call(expected, future, time.monotonic()))
        self._out.append(packed)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._flush_scheduled = False
        out, self._out = self._out, []
        if out and self._transport is not None and not self._transport.is_closing():
            self._transport.write(b"".join(out))

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._connecting is not None and self._loop is loop and not self._connecting.done():
            await asyncio.shield(self._connecting)
            return
        self._drop(RedisConnectionError("reconnecting"))
        self._loop = loop
        connecting = self._connecting = loop.create_future()
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                await self._open(loop)
        except BaseException as exc:
            self._drop(RedisConnectionError("connect failed"))
            connecting.set_exception(_NotSent(f"cannot connect to Redis: {exc}"))
            connecting.exception()  # retrieved: a connect failure nobody else awaited is no warning
            if isinstance(exc, (OSError, TimeoutError, RedisConnectionError)):
                raise _NotSent(f"cannot connect to Redis: {exc}") from exc
            raise
        connecting.set_result(None)

    async def _open(self, loop: asyncio.AbstractEventLoop) -> None:
        p = self._params
        if p.get("path"):
            transport, protocol = await loop.create_unix_connection(lambda: _Protocol(self), p["path"])
        else:
            # rediss:// URLs: TLS with the default (verifying) context, as redis-py does.
            tls = ssl.create_default_context() if p.get("connection_class") is SSLConnection else None
            transport, protocol = await loop.create_connection(
                lambda: _Protocol(self), p.get("host", "localhost"), int(p.get("port", 6379)), ssl=tls
            )
        self._transport, self._protocol = transport, protocol
        setup: list[Command] = []
        if p.get("password"):
            setup.append(["AUTH", *([p["username"]] if p.get("username") else []), p["password"]])
        if int(p.get("db", 0) or 0):
            setup.append(["SELECT", int(p["db"])])
        if setup:
            future: asyncio.Future[list[Any]] = loop.create_future()
            self._calls.append(_Call(len(setup), future, time.monotonic()))
            transport.write(pack(setup))
            errors = [r for r in await future if isinstance(r, ResponseError)]
            if errors:
                raise RedisConnectionError(str(errors[0]))

    def _lost(self, protocol: _Protocol, exc: Exception | None) -> None:
        if protocol is self._protocol:
            self._drop(RedisConnectionError(f"connection to Redis lost: {exc}"))

    def _drop(self, exc: RedisConnectionError) -> None:
        """Close the connection and fail every waiting call; calls whose commands never left
        the process fail with ``_NotSent`` (safe to send again)."""
        transport, self._transport, self._protocol = self._transport, None, None
        if transport is not None:
            transport.abort()
        calls, self._calls = self._calls, deque()
        unsent = len(self._out)
        self._out = []
        for i, call in enumerate(calls):
            if not call.future.done():
                error = _NotSent(str(exc)) if i >= len(calls) - unsent else exc
                call.future.set_exception(error)

    async def aclose(self) -> None:
        self._drop(RedisConnectionError("closed"))


class _NotSent(RedisConnectionError):
    """The connection failed before the command could be written (safe to send again)."""
