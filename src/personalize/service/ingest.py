"""Ingest use case: validate a batch of storefront events and apply it to Redis.

Per event the result is accepted, duplicate (same event_id and content seen within the
dedup window: not applied twice) or rejected (index, field, reason; nothing changed).
Valid events of a batch are applied even when others are rejected.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from personalize.clock import Clock
from personalize.domain import events as ev
from personalize.domain.merge import VisitorSnapshot, merge_ops
from personalize.domain.state_ops import Op, OpSettings, ops_for_event, popularity_increments
from personalize.settings import Settings
from personalize.store.client import with_deadline
from personalize.store.event_writer import APPLIED, CONFLICT, DUPLICATE, CustomerBatch, EventWriter
from personalize.store.identity import IdentityStore
from personalize.store.keys import customer_id
from personalize.store.popularity import PopularityBuffer

Status = Literal["accepted", "duplicate", "rejected"]


class EventResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    index: int
    status: Status
    event_id: str | None = None
    field: str | None = None
    reason: str | None = None


class BatchResult(msgspec.Struct, kw_only=True):
    accepted: int
    duplicates: int
    rejected: int
    results: list[EventResult]


class BatchTooLarge(Exception):
    def __init__(self, count: int, limit: int) -> None:
        super().__init__(f"events: {count} events in one batch, at most {limit} allowed")
        self.count, self.limit = count, limit


class BadBatch(Exception):
    """The body is not a batch at all (not JSON, not an object with an events list)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


# "... - at `$.lines[0].price`", or for a mapping's key "... - at `key` in `$.traits`"
_PATH = re.compile(r" - at (?:`key` in )?`\$(?P<path>[^`]*)`$")


def _split_validation_error(message: str) -> tuple[str, str]:
    """msgspec says 'Expected `int`, got `str` - at `$.dwell_ms`': return (field, reason)."""
    m = _PATH.search(message)
    if not m:
        missing = re.match(r"Object missing required field `(?P<f>[^`]+)`", message)
        if missing:
            return missing.group("f"), "is required"
        unknown = re.match(r"Object contains unknown field `(?P<f>[^`]+)`", message)
        if unknown:
            return unknown.group("f"), "unknown field"
        return "(event)", message
    path = m.group("path").lstrip(".")
    reason = message[: m.start()]
    nested = re.match(r"Object (?:missing required|contains unknown) field `(?P<f>[^`]+)`", reason)
    if nested:
        path = f"{path}.{nested.group('f')}" if path else nested.group("f")
    return path or "(event)", reason


_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


def parse_batch(body: bytes, max_events: int) -> list[Any]:
    """The raw event objects of a request body; raises BadBatch / BatchTooLarge."""
    try:
        doc = _decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise BadBatch("body", f"malformed JSON ({exc})") from exc
    if isinstance(doc, dict):
        if "events" not in doc:
            raise BadBatch("events", "is required (an array of events)")
        unknown = sorted(k for k in doc if k != "events")
        if unknown:  # a typo ("event") or a field meant for each event: say so, do not drop it
            raise BadBatch(str(unknown[0])[:64], "unknown field (the body holds only `events`)")
        raw = doc["events"]
    else:
        raw = doc
    if not isinstance(raw, list):
        raise BadBatch("events", "must be an array of events")
    if len(raw) > max_events:
        raise BatchTooLarge(len(raw), max_events)
    if not raw:
        raise BadBatch("events", "must contain at least one event")
    return raw


class _TypedBatch(msgspec.Struct, forbid_unknown_fields=True):
    events: list[ev.Event]


_typed_object = msgspec.json.Decoder(_TypedBatch)
_typed_list = msgspec.json.Decoder(list[ev.Event])


def decode_batch(body: bytes, max_events: int) -> list[Any]:
    """Events of a request body: typed structs when the whole body is valid (the fast path,
    one C-level decode), else raw objects validated one by one so each gets its own answer."""
    try:
        stripped = body.lstrip()
        events = (_typed_list if stripped[:1] == b"[" else _typed_object).decode(body)
        typed = events if isinstance(events, list) else events.events
        if len(typed) > max_events:
            raise BatchTooLarge(len(typed), max_events)
        if typed:
            return typed
    except (msgspec.ValidationError, msgspec.DecodeError):
        pass
    return parse_batch(body, max_events)


def check_event(event: ev.BaseEvent, now: float, max_future_skew_s: int) -> ev.BaseEvent:
    """The rules the schema cannot express; raises _Invalid."""
    if not event.user_id and not event.anonymous_id:
        raise _Invalid("user_id", "user_id or anonymous_id is required")
    if event.timestamp > now + max_future_skew_s:
        raise _Invalid("timestamp", f"is {event.timestamp - now:.0f} s in the future (at most {max_future_skew_s} s allowed)")
    if isinstance(event, ev.Identify) and event.user_id == event.anonymous_id:
        raise _Invalid("anonymous_id", "must differ from user_id")
    if isinstance(event, ev.Consent) and set(event.granted) & set(event.withdrawn):
        both = ", ".join(sorted(set(event.granted) & set(event.withdrawn)))
        raise _Invalid("withdrawn", f"{both} both granted and withdrawn in one event")
    return event


def validate_event(raw: Any, now: float, max_future_skew_s: int) -> ev.BaseEvent:
    """One event, fully validated; raises ValueError('field', 'reason') on any problem."""
    if not isinstance(raw, dict):
        raise _Invalid("(event)", "must be a JSON object")
    if "type" not in raw:
        raise _Invalid("type", f"is required (one of: {', '.join(ev.EVENT_TYPES)})")
    if raw["type"] not in ev.EVENT_TYPES:
        raise _Invalid("type", f"unknown event type {str(raw['type'])[:64]!r} (one of: {', '.join(ev.EVENT_TYPES)})")
    try:
        event: ev.BaseEvent = msgspec.convert(raw, ev.Event)
    except msgspec.ValidationError as exc:
        path, reason = _split_validation_error(str(exc))
        if path == "timestamp" and _looks_like_milliseconds(raw.get("timestamp")):
            # The usual mistake (JavaScript's Date.now()): say so.
            reason += "; timestamps are unix seconds and this looks like milliseconds"
        raise _Invalid(path, reason) from exc
    return check_event(event, now, max_future_skew_s)


def _looks_like_milliseconds(value: Any) -> bool:
    return isinstance(value, int | float) and 1e11 < value < 1e14


class _Invalid(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason


@dataclass(slots=True)
class _Pending:
    index: int
    event: ev.BaseEvent
    customer: str  # where it is applied: the visitor, or the user the visitor was merged into
    event_json: bytes
    fingerprint: str
    ops: list[Op] = field(default_factory=list)
    # Its dedup identity: the customer its own ids name, not where it is applied, so a
    # retry after the visitor logged in (and is redirected to the user) is still a duplicate.
    origin: str = ""


class IngestService:
    def __init__(
        self, writer: EventWriter, identity: IdentityStore, settings: Settings, clock: Clock,
        popularity: PopularityBuffer,
    ) -> None:
        self._writer = writer
        self._popularity = popularity
        self._identity = identity
        self._settings = settings
        self._clock = clock
        self._op_settings = OpSettings(
            session_ttl_s=settings.session_ttl_s,
            recent_items_per_session=settings.recent_items_per_session,
            history_items_per_customer=settings.history_items_per_customer,
        )

    async def close(self) -> None:
        await self._writer.close()

    async def ingest(self, raw_events: Sequence[Any]) -> BatchResult:
        now = self._clock.now()
        results: list[EventResult | None] = [None] * len(raw_events)
        pending: list[_Pending] = []
        seen_in_batch: dict[tuple[str, str], str] = {}
        skew = self._settings.max_future_skew_s
        for i, raw in enumerate(raw_events):
            try:
                if isinstance(raw, ev.BaseEvent):
                    event = check_event(raw, now, skew)
                else:
                    event = validate_event(raw, now, skew)
            except _Invalid as bad:
                event_id = raw.get("event_id") if isinstance(raw, dict) else getattr(raw, "event_id", None)
                results[i] = EventResult(
                    index=i, status="rejected", event_id=event_id if isinstance(event_id, str) else None,
                    field=bad.field, reason=bad.reason,
                )
                continue
            cid = customer_id(event.user_id, event.anonymous_id)
            origin = _dedup_identity(event, cid)
            event_json = _encoder.encode(event)
            # 16 characters (the script's msgpack has no binary type)
            fingerprint = base64.b64encode(hashlib.blake2b(event_json, digest_size=12).digest()).decode()
            if (origin, event.event_id) in seen_in_batch:
                # The same id twice in one batch: the first one wins, like across batches.
                same = seen_in_batch[(origin, event.event_id)] == fingerprint
                results[i] = EventResult(
                    index=i, status="duplicate" if same else "rejected", event_id=event.event_id,
                    **({} if same else {"field": "event_id", "reason": "reused with different content"}),
                )
                continue
            seen_in_batch[(origin, event.event_id)] = fingerprint
            pending.append(_Pending(i, event, cid, event_json, fingerprint, origin=origin))

        if pending:
            await self._apply(pending, now, results)
        by_index = {p.index: p.event for p in pending}
        self._popularity.add(
            inc for r in results if r is not None and r.status == "accepted"
            for inc in popularity_increments(by_index[r.index])
        )
        final = [r for r in results if r is not None]
        return BatchResult(
            accepted=sum(r.status == "accepted" for r in final),
            duplicates=sum(r.status == "duplicate" for r in final),
            rejected=sum(r.status == "rejected" for r in final),
            results=final,
        )

    async def _apply(self, pending: list[_Pending], now: float, results: list[EventResult | None]) -> None:
        # A deadline catches a stuck Redis, not a big batch: allow 1 ms per event on top.
        # A script cut off by the deadline still completes in Redis; the client's retry is
        # then answered "duplicate" for what was applied, so nothing is counted twice.
        timeout = self._settings.redis_timeout_ms + len(pending)
        snapshots, linked_elsewhere = await self._link_identities(pending, now)
        _route_identified_visitors(pending, linked_elsewhere)
        for p in pending:
            p.ops = ops_for_event(p.event, self._op_settings)
            snap = snapshots.get(p.index)
            if snap is not None:
                p.ops += merge_ops(snap, p.event.session_id, self._op_settings)
        batches = _group(pending)
        outcomes = await with_deadline(self._writer.apply(batches, now), timeout)
        redirected: list[_Pending] = []
        for batch, outcome in zip(batches, outcomes, strict=True):
            if outcome.redirect_to is not None:
                by_position = {x.index: x for x in pending}
                for i in batch.indexes:
                    p = by_position[i]
                    p.customer = outcome.redirect_to
                    p.ops = ops_for_event(p.event, self._op_settings)
                    redirected.append(p)
                continue
            _record(batch, outcome.results or [], results)
        if redirected:
            batches = _group(redirected, check_alias=False)
            outcomes = await with_deadline(self._writer.apply(batches, now), timeout)
            for batch, outcome in zip(batches, outcomes, strict=True):
                _record(batch, outcome.results or [], results)

    async def _link_identities(
        self, pending: list[_Pending], now: float
    ) -> tuple[dict[int, VisitorSnapshot], dict[str, str]]:
        """Link the batch's logins: (event index -> the visitor's state to merge, visitor ->
        the user it was linked to before, for visitors that stay with an earlier user)."""
        identifies = [p for p in pending if isinstance(p.event, ev.Identify)]
        if not identifies:
            return {}, {}
        links = await with_deadline(
            self._identity.link_many(
                [(customer_id(None, p.event.anonymous_id), p.customer, p.event.session_id) for p in identifies], now
            ),
            self._settings.redis_timeout_ms + len(identifies),
        )
        snapshots: dict[int, VisitorSnapshot] = {}
        linked_elsewhere: dict[str, str] = {}
        for p, link in zip(identifies, links, strict=True):
            if isinstance(link, str):
                linked_elsewhere.setdefault(customer_id(None, p.event.anonymous_id), link)
            else:
                snapshots[p.index] = link
        return snapshots, linked_elsewhere


def _dedup_identity(event: ev.BaseEvent, cid: str) -> str:
    """Whose event ids an event's id is unique among: the visitor's when it names one (a
    storefront that adds the user_id to a retry after login still sends the same visitor),
    else the user's."""
    return customer_id(None, event.anonymous_id) if event.anonymous_id else cid


def _route_identified_visitors(pending: list[_Pending], linked_elsewhere: dict[str, str]) -> None:
    """Events of a visitor identified in this same batch go straight to the user, in order.

    Otherwise they would be applied to the visitor, then redirected after the user's
    own events, and e.g. a cart add would land after the purchase that emptied the cart.
    A visitor linked to a user before this batch stays with that user, as later batches will.
    """
    links: dict[str, str] = dict(linked_elsewhere)
    for p in pending:
        if isinstance(p.event, ev.Identify):
            # The first link of a visitor wins, as in Redis (store/lua/link_alias.lua).
            links.setdefault(customer_id(None, p.event.anonymous_id), p.customer)
    if links:
        for p in pending:
            if p.customer in links and not isinstance(p.event, ev.Identify):
                p.customer = links[p.customer]


def _group(pending: list[_Pending], check_alias: bool = True) -> list[CustomerBatch]:
    by_customer: dict[str, CustomerBatch] = {}
    for p in pending:
        batch = by_customer.get(p.customer)
        if batch is None:
            batch = by_customer[p.customer] = CustomerBatch(
                customer=p.customer, check_alias=check_alias and p.customer.startswith("a:")
            )
        batch.events.append((p.event.event_id, p.fingerprint, p.ops, p.event_json, p.origin))
        batch.indexes.append(p.index)
    return list(by_customer.values())


def _record(batch: CustomerBatch, codes: list[int], results: list[EventResult | None]) -> None:
    for (event_id, *_), i, code in zip(batch.events, batch.indexes, codes, strict=True):
        if code == APPLIED:
            results[i] = EventResult(index=i, status="accepted", event_id=event_id)
        elif code == DUPLICATE:
            results[i] = EventResult(index=i, status="duplicate", event_id=event_id)
        elif code == CONFLICT:
            results[i] = EventResult(
                index=i, status="rejected", event_id=event_id, field="event_id",
                reason="already used by a different event within the dedup window",
            )
