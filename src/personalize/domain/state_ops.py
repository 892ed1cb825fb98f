"""Translate one storefront event into primitive state operations.

The domain decides *what* changes (counters, session, cart, history, popularity);
the store applies the operations atomically per customer in one Lua call, after
checking the event's idempotency key, and logs the applied events to the stream. Operations name keys logically
("profile", "session:<sid>", ...); the store maps them to real Redis keys.

Logical keys:
  profile, cart, history, purchased, orders, pop, popcat:<category>,
  session:<sid>, session_items:<sid>, contacts, merged:<from_customer_id>
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from personalize.domain import events as ev

# An operation: (command, logical key or None, *args). Commands are interpreted by
# store/lua/apply_events.lua; see that file for their exact semantics.
Op = tuple[Any, ...]

DWELL_FULL_MS = 30_000  # a product viewed this long counts double (dwell weighting)


@dataclass(frozen=True, slots=True)
class OpSettings:
    session_ttl_s: int
    recent_items_per_session: int
    history_items_per_customer: int


def interaction_weight(event_type: str, dwell_ms: int | None = None) -> float:
    weight = ev.ITEM_EVENT_WEIGHTS.get(event_type, 0.0)
    if dwell_ms:
        weight *= 1.0 + min(dwell_ms / DWELL_FULL_MS, 1.0)
    return weight


def item_entry(item_id: str, event_type: str, weight: float, ts: float) -> str:
    """Encoding of one entry of the session-items and history rings."""
    return f"{item_id}|{event_type}|{weight:.3f}|{ts:.3f}"


def parse_item_entry(raw: str) -> tuple[str, str, float, float]:
    item_id, event_type, weight, ts = raw.rsplit("|", 3)
    return item_id, event_type, float(weight), float(ts)


def page_type_of(event: ev.BaseEvent) -> str | None:
    if event.context is not None and event.context.page_type is not None:
        return event.context.page_type
    if isinstance(event, ev.ProductView):
        return "product"
    if isinstance(event, ev.PageView):
        return "other"
    if isinstance(event, ev.Search):
        return "search"
    return None


def popularity_increments(event: ev.BaseEvent) -> list[tuple[str, str | None, float]]:
    """(item, category, weight) pairs this event adds to the decayed popularity counters."""
    match event:
        case ev.ProductView(item_id=item, category=cat, dwell_ms=dwell):
            return [(item, cat or _ctx_category(event), interaction_weight("product_view", dwell))]
        case ev.ImageZoom(item_id=item):
            return [(item, _ctx_category(event), interaction_weight("image_zoom"))]
        case ev.VideoPlay(item_id=item):
            return [(item, _ctx_category(event), interaction_weight("video_play"))]
        case ev.AddToCart(item_id=item, category=cat):
            return [(item, cat or _ctx_category(event), interaction_weight("add_to_cart"))]
        case ev.Purchase(lines=lines):
            w = interaction_weight("purchase")
            return [(line.item_id, line.category, w * line.quantity) for line in lines]
    return []


def _touch_item(
    item_id: str, event_type: str, weight: float, ts: float, sid: str | None, cfg: OpSettings
) -> list[Op]:
    # ITEM: one entry pushed on the customer's history and, in a session, the session's items.
    return [("ITEM", "history", f"session_items:{sid}" if sid else None, item_entry(item_id, event_type, weight, ts),
             cfg.history_items_per_customer, cfg.recent_items_per_session)]


def ops_for_event(event: ev.BaseEvent, cfg: OpSettings) -> list[Op]:
    """All state operations that applying ``event`` performs (the stream append is the store's).

    Counts per event type live in ``n:<type>`` only (product views, searches, cart adds...
    are derived from them on read): every field written costs ingest throughput.
    """
    ts = event.timestamp
    type_ = str(type(event).__struct_config__.tag)
    sid = event.session_id
    skey = f"session:{sid}" if sid else None
    # TOUCH: first/last seen and the per-type counter on the profile (and session), and a
    # new-session count; one compound op because every event does it (see the Lua).
    ops: list[Op] = [("TOUCH", "profile", skey, type_, ts)]
    if skey is not None:
        referrer = event.context.referrer if event.context else None
        if referrer:
            ops.append(("HSETNX", skey, "landing_ref", referrer))
        page_type = page_type_of(event)
        if page_type is not None:
            if type_ != "product_view":  # product views: n:product_view says it already
                ops.append(("HINCR", skey, f"pt:{page_type}", 1))
            dwell = getattr(event, "dwell_ms", None)
            if dwell:
                ops.append(("HINCR", skey, f"dw:{page_type}", dwell))
    ops += _ops_specific(event, type_, ts, sid, cfg)
    return ops


def _ops_specific(event: ev.BaseEvent, type_: str, ts: float, sid: str | None, cfg: OpSettings) -> list[Op]:
    ops: list[Op] = []
    match event:
        case ev.ProductView(item_id=item, dwell_ms=dwell):
            if dwell:
                ops.append(("HINCR", "profile", "dwell_ms", dwell))
            ops += _touch_item(item, type_, interaction_weight(type_, dwell), ts, sid, cfg)
        case ev.ImageZoom(item_id=item) | ev.VideoPlay(item_id=item):
            ops += _touch_item(item, type_, interaction_weight(type_), ts, sid, cfg)
        case ev.AddToCart(item_id=item, quantity=qty, price=price):
            ops += [
                ("HINCR", "cart", f"q:{item}", qty),
                ("HSET", "cart", f"p:{item}", price),
                ("HSET", "cart", "updated_ts", ts),
            ]
            ops += _touch_item(item, type_, interaction_weight(type_), ts, sid, cfg)
        case ev.RemoveFromCart(item_id=item, quantity=qty):
            ops += [
                ("HDECRDEL", "cart", f"q:{item}", f"p:{item}", qty),
                ("HSET", "cart", "updated_ts", ts),
            ]
        case ev.CheckoutStarted(shipping_fee=fee):
            if fee is not None and fee > 0:
                ops.append(("HINCR", "profile", "checkouts_shipping_charged", 1))
        case ev.Purchase():
            ops += _purchase_ops(event, ts, sid, cfg)
        case ev.Return(order_id=order, amount=amount):
            ops += [
                ("HSETNX", "orders", f"r:{order}:{event.item_id or '*'}", amount),
                ("IFNEW", None, 3),
                ("HINCR", "profile", "returns", 1),
                ("HINCRF", "profile", "returned_value", amount),
                ("HMAX", "profile", "last_return_ts", ts),
            ]
        case ev.EmailOpen():
            ops.append(("HMAX", "profile", "last_email_open_ts", ts))
        case ev.EmailClick():
            ops.append(("HMAX", "profile", "last_email_click_ts", ts))
        case ev.OfferAccept(offer_id=offer):
            ops += [("HINCR", "contacts", f"acc:{offer}", 1), ("HMAX", "contacts", f"red:{offer}", ts)]
        case ev.OfferDismiss(offer_id=offer):
            ops += [("HINCR", "contacts", f"dis:{offer}", 1), ("HMAX", "contacts", f"dist:{offer}", ts)]
        case ev.RecommendationClick(item_id=item):
            ops.append(("HDEL", "shown", item))  # a click resets the repeat-demotion counter
        case ev.LeadForm(traits=traits):
            for name, value in traits.items():
                ops.append(("HLATEST", "profile", f"trait:{name}", trait_text(value), f"trait_ts:{name}", ts))
        case ev.Consent(granted=granted, withdrawn=withdrawn):
            for purpose in granted:
                ops.append(("HLATEST", "profile", f"consent:{purpose}", "1", f"consent_ts:{purpose}", ts))
            for purpose in withdrawn:
                ops.append(("HLATEST", "profile", f"consent:{purpose}", "0", f"consent_ts:{purpose}", ts))
        case _:
            pass
    return ops


def _purchase_ops(event: ev.Purchase, ts: float, sid: str | None, cfg: OpSettings) -> list[Op]:
    guarded: list[Op] = [
        ("HINCR", "profile", "orders", 1),
        ("HINCRF", "profile", "revenue", event.total),
        ("HMAX", "profile", "last_purchase_ts", ts),
        ("HMIN", "profile", "first_purchase_ts", ts),
        ("HINCR", "profile", "items_bought", sum(line.quantity for line in event.lines)),
    ]
    if event.shipping_fee > 0:
        guarded += [
            ("HINCR", "profile", "orders_shipping_paid", 1),
            ("HINCRF", "profile", "shipping_paid_total", event.shipping_fee),
        ]
    else:
        guarded.append(("HINCR", "profile", "orders_shipping_free", 1))
    w = interaction_weight("purchase")
    for line in event.lines:
        guarded += [
            ("SADD", "purchased", line.item_id),
            ("HDECRDEL", "cart", f"q:{line.item_id}", f"p:{line.item_id}", line.quantity),
        ]
        guarded += _touch_item(line.item_id, "purchase", w, ts, sid, cfg)
    if sid:
        guarded.append(("HINCR", f"session:{sid}", "orders", 1))
    # The order id guards the counters: a second event for the same order (new event_id,
    # e.g. a storefront retry with a fresh id) is stored in the stream but not counted twice.
    return [("HSETNX", "orders", event.order_id, event.total), ("IFNEW", None, len(guarded)), *guarded]


def _ctx_category(event: ev.BaseEvent) -> str | None:
    return event.context.category if event.context else None


def trait_text(value: str | float | bool) -> str:
    """How a trait value is stored (lead forms and PATCH /v1/profiles/{id}/traits alike)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
