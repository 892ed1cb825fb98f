"""Apply per-customer operation lists to Redis: one script call for a whole batch.

Maps the domain's logical keys to real keys (store/keys.py) and KEYS indexes, packs
the operations into one flat msgpack token stream, and runs store/lua/apply_events.lua,
which checks each event's id against the dedup buckets, applies the operations and logs
the applied events as one stream entry (store/event_log.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from redis.exceptions import ResponseError

from personalize.domain.state_ops import Op
from personalize.store.event_log import entry_piece
from personalize.store.keys import Keys
from personalize.store.resp import MultiplexedConnection, Script
from personalize.store.scripts import lua_source
from personalize.store.sessions import session_slack_s

APPLIED, DUPLICATE, CONFLICT = 1, 0, 2
DEDUP_BUCKETS = 5  # windows read per batch: an id is remembered for 4 to 5 windows

_encoder = msgspec.msgpack.Encoder()

# Domain command -> (script opcode, positions of hash fields the op reads or writes,
# which are prefetched by one HMGET per hash). See store/lua/apply_events.lua.
_OPCODES: dict[str, tuple[str, tuple[int, ...]]] = {
    "IFNEW": ("IF", ()), "HINCR": ("HI", (2,)), "HINCRF": ("HI", (2,)), "HSET": ("HS", (2,)),
    "HSETNX": ("HSNX", (2,)), "HMAX": ("HMAX", (2,)), "HMIN": ("HMIN", (2,)), "HLATEST": ("HL", (2, 4)),
    "HDECRDEL": ("HDD", (2, 3)), "HDEL": ("HD", (2,)), "SADD": ("SA", ()),
    "SETNX": ("SNX", ()),
}
_SESSION_FIELDS = ("seen_at", "ttl_at", "ic", "icap")
_HISTORY_RING_FIELDS = ("hc", "hcap")  # the item history: a ring in the profile hash

_C = "\x00"  # a stand-in customer id for deriving key templates
# An anonymous visitor's keys that live as long as its profile (the cart, sessions and
# shown-counters have lifetimes of their own; the alias gets its TTL when it is set).
_RETAINED = frozenset(("purchased", "orders"))
_TOUCH_FIELDS = ("first_ts", "last_ts", "sessions")  # what every event's TOUCH reads of the profile
_ANONYMOUS_PROFILE_FIELDS = (*_TOUCH_FIELDS, "xttl")  # + when the visitor's TTL was last pushed forward


def anonymous_refresh_s(anonymous_ttl_s: int) -> int:
    """How often an active visitor's TTL is pushed forward: a day, or a tenth of a short TTL."""
    return max(1, min(86_400, anonymous_ttl_s // 10)) if anonymous_ttl_s > 0 else 0


def _split(key: str, arg: str) -> tuple[str, str]:
    before, _, after = key.partition(arg)
    return before, after


@dataclass(slots=True)
class CustomerBatch:
    """The events of one customer in one request, ready to be applied."""

    customer: str
    check_alias: bool
    # (event_id, fingerprint, ops, event JSON, origin: the customer its dedup entry is keyed by)
    events: list[tuple[str, str, list[Op], bytes, str]] = field(default_factory=list)
    indexes: list[int] = field(default_factory=list)  # position of each event in the request


@dataclass(slots=True)
class BatchOutcome:
    results: list[int] | None  # per event: APPLIED / DUPLICATE / CONFLICT
    redirect_to: str | None = None  # the visitor was merged into this customer


def _want(prefetch: dict[int, set[str]], ki: int, fields: Sequence[str]) -> None:
    wanted = prefetch.get(ki)
    if wanted is None:
        wanted = prefetch[ki] = set()
    wanted.update(fields)


class _KeyTable:
    """KEYS of one script call: logical keys of the current customer -> 1-based indexes,
    allocated on first use, plus what the script must know about them (hash fields to
    prefetch, session keys, keys to expire)."""

    __slots__ = ("_after", "_anonymous", "_before", "_cart_ttl", "_fixed", "_tag", "_templates", "expires",
                 "key_list", "prefetch", "resolved", "retained", "sessions")

    def __init__(self, writer: EventWriter, key_list: list[str]) -> None:
        self.key_list = key_list
        self.prefetch: dict[int, set[str]] = {}
        self.sessions: list[int] = []
        self.expires: list[int] = []  # key, seconds, ...
        self.retained: list[int] = []  # keys of anonymous visitors that expire with them (besides the profile)
        self.resolved: dict[str, int] = {}
        self._anonymous = False
        self._fixed, self._templates, self._cart_ttl = writer._fixed, writer._templates, writer._cart_ttl_s
        self._before, self._after = writer._templates["session"]
        self._tag = ""

    def begin(self, tag: str, anonymous: bool) -> dict[str, int]:
        """Start the next customer's keys (each customer's keys are its own)."""
        self._tag = tag
        self._anonymous = anonymous
        self.resolved = {}
        return self.resolved

    def key(self, logical: str) -> int:
        name, _, arg = logical.partition(":")
        key_list, resolved = self.key_list, self.resolved
        if name == "session" or name == "session_items":  # one hash: its items are a ring in it
            key_list.append(self._tag + self._before + arg + self._after)
            i = resolved["session:" + arg] = resolved["session_items:" + arg] = len(key_list)
            self.sessions.append(i)
            self.prefetch[i] = set(_SESSION_FIELDS)
            return i
        suffix = self._fixed.get(logical)
        if suffix is None:
            before, after = self._templates[name]
            suffix = before + arg + after
        key_list.append(self._tag + suffix)
        i = resolved[logical] = len(key_list)
        if logical == "cart":
            self.expires += (i, self._cart_ttl)
        elif self._anonymous and logical in _RETAINED:
            self.retained.append(i)
        return i


class EventWriter:
    def __init__(
        self, conn: MultiplexedConnection, keys: Keys, session_ttl_s: int, cart_ttl_s: int, dedup_ttl_s: int,
        stream_maxlen: int, anonymous_ttl_s: int = 0,
    ) -> None:
        self._keys = keys
        self._anonymous_ttl_s = anonymous_ttl_s
        # The TTL is refreshed once per this period per visitor (the profile's ``xttl``), not per
        # event: a visitor is kept at least (TTL - period) after its last event.
        self._anonymous_refresh_s = anonymous_refresh_s(anonymous_ttl_s)
        self._stream_maxlen = stream_maxlen
        self._session_ttl_s = session_ttl_s
        self._session_slack_s = session_slack_s(session_ttl_s)
        self._cart_ttl_s = cart_ttl_s
        self._dedup_window_s = max(1, dedup_ttl_s // (DEDUP_BUCKETS - 1))
        # Per-customer key templates taken from store/keys.py once: the tag, then a suffix.
        tag, arg = keys.tag(_C), "\x01"
        self._fixed = {
            name: method(_C)[len(tag):]
            for name, method in (
                ("profile", keys.profile), ("cart", keys.cart),
                ("purchased", keys.purchased), ("orders", keys.orders), ("contacts", keys.contacts),
                ("shown", keys.shown), ("alias", keys.alias),
            )
        }
        self._templates: dict[str, tuple[str, str]] = {
            name: _split(method(_C, arg)[len(tag):], arg)
            for name, method in (("session", keys.session), ("merged", keys.merged))
        }
        self._script = Script(lua_source("apply_events"))
        # Its own pipelined connection (store/resp.py): redis-py's client cost ~10 us of worker
        # CPU per event for this call (argument handling, pool, reply parsing), and a
        # connection of its own keeps big ingest calls from queueing in front of decisions.
        self._conn = conn

    async def close(self) -> None:
        await self._conn.aclose()

    def dedup_buckets(self, now: float) -> tuple[list[str], int]:
        """The dedup bucket keys to read at ``now`` (newest first) and the newest one's
        remaining lifetime in seconds: an id written in window w is checked until window
        w + 4 ends, i.e. for at least the dedup TTL and at most 1.25 times it."""
        width = self._dedup_window_s
        window = int(now // width)
        keys = [self._keys.dedup_bucket(window - k) for k in range(DEDUP_BUCKETS)]
        return keys, int((window + DEDUP_BUCKETS) * width - now) + 60

    def _pack(self, batches: Sequence[CustomerBatch], now: float) -> tuple[list[str], bytes, bytes]:
        """KEYS, the script's token stream and the stream entry for these batches.

        Hot path (~100 events per call, written for few Python calls per op): keys are built
        from per-customer templates (each customer's keys are distinct from every other
        customer's, so only logical names are cached, per customer) and the ops are
        flattened into one list of scalars.
        """
        buckets, bucket_ttl = self.dedup_buckets(now)
        keys = _KeyTable(self, [self._keys.event_stream, *buckets])
        key_list, prefetch, sessions, expires = keys.key_list, keys.prefetch, keys.sessions, keys.expires
        dedup_fields: list[str] = []
        fingerprints: list[str] = []
        positions: list[int] = []  # first, last offset of each event's piece in the entry
        aliases: list[int] = []  # customer number, alias key, profile key
        body: list[Any] = []  # customer records with their ops
        pieces: list[bytes] = []
        offset = 2  # 1-based offset of the next piece in the stream entry (after its "[")
        opcodes = _OPCODES
        tag_of = self._keys.tag
        key = keys.key

        for number, batch in enumerate(batches, 1):
            customer = batch.customer
            resolved = keys.begin(tag_of(customer), anonymous=batch.check_alias)
            if batch.check_alias:  # an anonymous visitor: may be merged, expires unless identified
                pk = key("profile")
                _want(prefetch, pk, _ANONYMOUS_PROFILE_FIELDS)
                aliases += (number, key("alias"), pk)
            body.append(len(batch.events))
            for event_id, fingerprint, ops, event_json, origin in batch.events:
                body.append(len(ops))
                for op in ops:
                    cmd = op[0]
                    if cmd == "TOUCH":
                        # ("TOUCH", "profile", session logical key | None, type, ts)
                        pk = resolved.get("profile") or key("profile")
                        counter = "n:" + op[3]
                        wanted = prefetch.get(pk)
                        if wanted is None:
                            wanted = prefetch[pk] = set(_TOUCH_FIELDS)
                        wanted.add(counter)
                        sk = 0
                        if op[2] is not None:
                            sk = resolved.get(op[2]) or key(op[2])
                            prefetch[sk].update(("first_ts", "last_ts", counter))
                        body += ("T", pk, sk, counter, repr(op[4]))  # ts as text: see the script
                    elif cmd == "ITEM":
                        # ("ITEM", "history", session items logical key | None, entry, hmax, smax)
                        pk = resolved.get("profile") or key("profile")
                        _want(prefetch, pk, _HISTORY_RING_FIELDS)
                        si = 0 if op[2] is None else (resolved.get(op[2]) or key(op[2]))
                        body += ("IT", pk, si, op[3], op[4], op[5])
                    elif cmd == "LPUSHT":
                        # ("LPUSHT", "history" | "session_items:<sid>", entry, max): into that ring
                        if op[1] == "history":
                            pk = resolved.get("profile") or key("profile")
                            _want(prefetch, pk, _HISTORY_RING_FIELDS)
                            body += ("RH", pk, op[2], op[3])
                        else:
                            body += ("RP", resolved.get(op[1]) or key(op[1]), op[2], op[3])
                    elif op[1] is None:
                        body += (opcodes[cmd][0], *op[2:])
                    else:
                        ki = resolved.get(op[1]) or key(op[1])
                        code, fields = opcodes[cmd]
                        if fields:
                            wanted = prefetch.get(ki)
                            if wanted is None:
                                wanted = prefetch[ki] = set()
                            for position in fields:
                                wanted.add(op[position])
                        body += (code, ki, *op[2:])
                piece = entry_piece(customer, event_json)
                pieces.append(piece)
                end = offset + len(piece)
                dedup_fields.append(origin + " " + event_id)
                fingerprints.append(fingerprint)
                positions += (offset, end - 1)
                offset = end + 1  # the comma
        tokens: list[Any] = [repr(now), self._stream_maxlen, DEDUP_BUCKETS, bucket_ttl, self._session_ttl_s,
                             self._session_slack_s, self._anonymous_ttl_s, self._anonymous_refresh_s, len(prefetch)]
        for ki, wanted in prefetch.items():
            tokens += (ki, len(wanted), *wanted)
        tokens.append(len(sessions))
        tokens += sessions
        tokens.append(len(expires) // 2)
        tokens += expires
        tokens.append(len(aliases) // 3)
        tokens += aliases
        tokens.append(len(keys.retained))
        tokens += keys.retained
        tokens.append(len(dedup_fields))
        tokens += dedup_fields
        tokens += fingerprints
        tokens += positions
        tokens.append(len(batches))
        tokens += body
        return key_list, _encoder.encode(tokens), b"[" + b",".join(pieces) + b"]"

    async def apply(self, batches: Sequence[CustomerBatch], now: float) -> list[BatchOutcome]:
        """Apply every customer's events in one script call: one round trip, atomic.

        Single-Redis layout. On Redis Cluster the batches would be grouped by hash slot
        (one call per slot group, pipelined), which the per-customer hash tags allow.
        """
        if not batches:
            return []
        key_list, payload, entry = self._pack(batches, now)
        # Retried after a connection error: events applied by a lost first attempt come back
        # "duplicate" (the dedup window), never twice.
        (reply,) = await self._script.run(self._conn, [(key_list, (payload, entry))])
        if isinstance(reply, ResponseError):
            raise reply
        outcomes = []
        for customer in reply:
            if customer[0] == -1:
                outcomes.append(BatchOutcome(results=None, redirect_to=str(customer[1])))
            else:
                outcomes.append(BatchOutcome(results=customer[1:]))
        return outcomes
