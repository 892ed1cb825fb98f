"""Apply per-customer operation lists to Redis: one EVALSHA per customer, all pipelined.

Maps the domain's logical keys to real keys (store/keys.py) and KEYS indexes, packs
the operations with msgpack, and runs store/lua/apply_events.lua, which also logs the
applied events as one stream entry (store/event_log.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from personalize.domain.state_ops import Op
from personalize.store.event_log import batch_entry, entry_piece
from personalize.store.keys import Keys
from personalize.store.scripts import lua_source

APPLIED, DUPLICATE, CONFLICT = 1, 0, 2

_encoder = msgspec.msgpack.Encoder()

# Hash operations and the positions of the fields they read or write (prefetched by HMGET).
_HASH_FIELDS: dict[str, tuple[int, ...]] = {
    "HINCR": (2,), "HINCRF": (2,), "HSET": (2,), "HSETNX": (2,), "HMAX": (2,), "HMIN": (2,),
    "HDEL": (2,), "HLATEST": (2, 4), "HDECRDEL": (2, 3),
}


@dataclass(slots=True)
class CustomerBatch:
    """The events of one customer in one request, ready to be applied."""

    customer: str
    check_alias: bool
    # (event_id, fingerprint, ops, event JSON)
    events: list[tuple[str, str, list[Op], bytes]] = field(default_factory=list)
    indexes: list[int] = field(default_factory=list)  # position of each event in the request


@dataclass(slots=True)
class BatchOutcome:
    results: list[int] | None  # per event: APPLIED / DUPLICATE / CONFLICT
    redirect_to: str | None = None  # the visitor was merged into this customer


class EventWriter:
    def __init__(
        self, client: aioredis.Redis, keys: Keys, session_ttl_s: int, cart_ttl_s: int, dedup_ttl_s: int,
        stream_maxlen: int,
    ) -> None:
        self._keys = keys
        self._stream_maxlen = stream_maxlen
        self._session_ttl_s = session_ttl_s
        self._cart_ttl_s = cart_ttl_s
        self._dedup_ttl_s = dedup_ttl_s
        self._script: AsyncScript = client.register_script(lua_source("apply_events"))
        self._client = client

    def _resolve(self, customer: str, logical: str) -> str:
        k = self._keys
        name, _, arg = logical.partition(":")
        match name:
            case "profile":
                return k.profile(customer)
            case "cart":
                return k.cart(customer)
            case "history":
                return k.history(customer)
            case "purchased":
                return k.purchased(customer)
            case "orders":
                return k.orders(customer)
            case "contacts":
                return k.contacts(customer)
            case "shown":
                return k.shown(customer)
            case "session":
                return k.session(customer, arg)
            case "session_items":
                return k.session_items(customer, arg)
            case "merged":
                return k.merged(customer, arg)
            case "pop":
                return k.popularity
            case "popcat":
                return k.popularity_in(arg)
        raise ValueError(f"unknown logical key {logical!r}")

    def _pack(self, batches: Sequence[CustomerBatch]) -> tuple[list[str], bytes, bytes]:
        key_index: dict[str, int] = {}
        key_list: list[str] = []
        prefetch: dict[int, set[str]] = {}

        def idx(real: str) -> int:
            i = key_index.get(real)
            if i is None:
                key_list.append(real)
                i = key_index[real] = len(key_list)  # Lua is 1-based
            return i

        customers = []
        pieces: list[bytes] = []
        offset = 2  # 1-based offset of the next piece in the stream entry (after its "[")
        expires: dict[int, int] = {}
        session_ttl, cart_ttl = self._session_ttl_s, self._cart_ttl_s
        hash_fields = _HASH_FIELDS
        for batch in batches:
            resolved: dict[str, int] = {}
            packed_events = []
            for event_id, fingerprint, ops, event_json in batch.events:
                packed_ops = []
                for op in ops:
                    cmd, logical = op[0], op[1]
                    if cmd == "TOUCH":
                        packed_ops.append(self._touch(op, batch.customer, resolved, idx, expires, prefetch))
                        continue
                    if logical is None:
                        packed_ops.append((cmd, 0, *op[2:]))
                        continue
                    i = resolved.get(logical)
                    if i is None:
                        i = resolved[logical] = idx(self._resolve(batch.customer, logical))
                        if logical.startswith("session"):
                            expires[i] = session_ttl
                        elif logical == "cart":
                            expires[i] = cart_ttl
                    fields = hash_fields.get(cmd)
                    if fields is not None:
                        wanted = prefetch.get(i)
                        if wanted is None:
                            wanted = prefetch[i] = set()
                        for position in fields:
                            wanted.add(op[position])
                    packed_ops.append((cmd, i, *op[2:]))
                piece = entry_piece(batch.customer, event_json)
                pieces.append(piece)
                end = offset + len(piece)
                dedup_i = idx(self._keys.dedup(batch.customer, event_id))
                packed_events.append((dedup_i, fingerprint, packed_ops, offset, end - 1))
                offset = end + 1  # the comma
            alias_i = idx(self._keys.alias(batch.customer)) if batch.check_alias else 0
            customers.append((alias_i, packed_events))
        payload = _encoder.encode((
            self._dedup_ttl_s,
            customers,
            [(i, ttl) for i, ttl in expires.items()],
            [(i, *sorted(fields)) for i, fields in prefetch.items()],
            idx(self._keys.event_stream),
            self._stream_maxlen,
        ))
        return key_list, payload, batch_entry(pieces)

    def _touch(self, op: Op, customer: str, resolved: dict[str, int], idx: Any, expires: dict[int, int], prefetch: dict[int, set[str]]) -> tuple[Any, ...]:
        """("TOUCH", "profile", session-key|None, type, ts, sid) -> packed, with its prefetch."""
        _, _, skey, type_, ts, sid = op
        pi = resolved.get("profile")
        if pi is None:
            pi = resolved["profile"] = idx(self._resolve(customer, "profile"))
        prefetch.setdefault(pi, set()).update(("first_ts", "last_ts", f"n:{type_}", "sessions"))
        si = 0
        if skey is not None:
            si = resolved.get(skey) or 0
            if not si:
                si = resolved[skey] = idx(self._resolve(customer, skey))
                expires[si] = self._session_ttl_s
            prefetch.setdefault(si, set()).update(("first_ts", "last_ts", f"n:{type_}"))
        return ("TOUCH", pi, si, type_, ts, sid)

    async def apply(self, batches: Sequence[CustomerBatch]) -> list[BatchOutcome]:
        """Apply every customer's events in one script call: one round trip, atomic.

        Single-Redis layout. On Redis Cluster the batches would be grouped by hash slot
        (one call per slot group, pipelined), which the per-customer hash tags allow.
        """
        if not batches:
            return []
        key_list, payload, entry = self._pack(batches)
        reply = await self._script(keys=key_list, args=[payload, entry])
        outcomes = []
        for entry in reply:
            if int(entry[0]) == -1:
                target = entry[1].decode() if isinstance(entry[1], bytes) else str(entry[1])
                outcomes.append(BatchOutcome(results=None, redirect_to=target))
            else:
                outcomes.append(BatchOutcome(results=[int(x) for x in entry[1:]]))
        return outcomes
