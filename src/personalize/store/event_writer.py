"""Apply per-customer operation lists to Redis: one EVALSHA per customer, all pipelined.

Maps the domain's logical keys to real keys (store/keys.py) and KEYS indexes, packs
the operations with msgpack, and runs store/lua/apply_events.lua, which also logs the
applied events as one stream entry (store/event_log.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

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


_C = "\x00"  # a stand-in customer id for deriving key templates


def _split(key: str, arg: str) -> tuple[str, str]:
    before, _, after = key.partition(arg)
    return before, after


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
        # Per-customer key templates taken from store/keys.py once: the tag, then a suffix.
        tag, arg = keys.tag(_C), "\x01"
        self._fixed = {
            name: method(_C)[len(tag):]
            for name, method in (
                ("profile", keys.profile), ("cart", keys.cart), ("history", keys.history),
                ("purchased", keys.purchased), ("orders", keys.orders), ("contacts", keys.contacts),
                ("shown", keys.shown), ("alias", keys.alias),
            )
        }
        self._templates: dict[str, tuple[str, str]] = {
            name: _split(method(_C, arg)[len(tag):], arg)
            for name, method in (("session", keys.session), ("session_items", keys.session_items), ("merged", keys.merged))
        }
        self._dedup_infix = keys.dedup(_C, "")[len(tag):]
        self._script: AsyncScript = client.register_script(lua_source("apply_events"))
        self._client = client

    def _pack(self, batches: Sequence[CustomerBatch]) -> tuple[list[str], bytes, bytes]:
        """KEYS, the script's msgpack argument and the stream entry for these batches.

        Hot path (~100 events per call): keys are built from per-customer templates,
        and each customer's keys are distinct from every other customer's, so only
        logical names are cached, per customer.
        """
        key_list: list[str] = []
        append_key = key_list.append
        prefetch: defaultdict[int, set[str]] = defaultdict(set)
        expires: dict[int, int] = {}
        customers = []
        pieces: list[bytes] = []
        offset = 2  # 1-based offset of the next piece in the stream entry (after its "[")
        session_ttl, cart_ttl = self._session_ttl_s, self._cart_ttl_s
        hash_fields, fixed, templates = _HASH_FIELDS, self._fixed, self._templates
        tag_of, dedup_infix = self._keys.tag, self._dedup_infix
        for batch in batches:
            customer = batch.customer
            tag = tag_of(customer)
            resolved: dict[str, int] = {}
            packed_events = []
            for event_id, fingerprint, ops, event_json in batch.events:
                packed_ops = []
                for op in ops:
                    cmd, logical = op[0], op[1]
                    if logical is None:
                        packed_ops.append((cmd, 0, *op[2:]))
                        continue
                    i = resolved.get(logical)
                    if i is None:
                        suffix = fixed.get(logical)
                        if suffix is None:
                            name, _, arg = logical.partition(":")
                            before, after = templates[name]
                            suffix = before + arg + after
                            if name.startswith("session"):
                                expires[len(key_list) + 1] = session_ttl
                        elif logical == "cart":
                            expires[len(key_list) + 1] = cart_ttl
                        append_key(tag + suffix)
                        i = resolved[logical] = len(key_list)  # Lua is 1-based
                    if cmd == "TOUCH":
                        # ("TOUCH", "profile", session logical key | None, type, ts, sid)
                        counter = "n:" + op[3]
                        prefetch[i].update(("first_ts", "last_ts", counter, "sessions"))
                        si = 0
                        skey = op[2]
                        if skey is not None:
                            si = resolved.get(skey, 0)
                            if not si:
                                _, _, sid = skey.partition(":")
                                before, after = templates["session"]
                                append_key(tag + before + sid + after)
                                si = resolved[skey] = len(key_list)
                                expires[si] = session_ttl
                            prefetch[si].update(("first_ts", "last_ts", counter))
                        packed_ops.append(("TOUCH", i, si, counter, op[4], op[5]))
                        continue
                    fields = hash_fields.get(cmd)
                    if fields is not None:
                        wanted = prefetch[i]
                        for position in fields:
                            wanted.add(op[position])
                    packed_ops.append((cmd, i, *op[2:]))
                piece = entry_piece(customer, event_json)
                pieces.append(piece)
                end = offset + len(piece)
                append_key(tag + dedup_infix + event_id)
                packed_events.append((len(key_list), fingerprint, packed_ops, offset, end - 1))
                offset = end + 1  # the comma
            alias_i = 0
            if batch.check_alias:
                append_key(tag + fixed["alias"])
                alias_i = len(key_list)
            customers.append((alias_i, packed_events))
        append_key(self._keys.event_stream)
        payload = _encoder.encode((
            self._dedup_ttl_s,
            customers,
            list(expires.items()),
            [(i, *fields) for i, fields in prefetch.items()],
            len(key_list),
            self._stream_maxlen,
        ))
        return key_list, payload, batch_entry(pieces)

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
