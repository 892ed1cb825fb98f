"""The single customer view, derived from the raw profile counters.

Journey stage (furthest stage the signals show; documented in the README):
  awareness     any visit
  discovery     viewed a product or searched
  interest      3+ product views, or an image zoom / video play, or 60 s+ of product dwell
  consideration an item added to the cart or a checkout started
  action        exactly one order
  usage         two or more orders
  advocacy      three or more orders, return rate below 20 %, and engaged with email
                (a click) or a lead form / progressive-profiling traits given
Segments (with the injected clock): new (first seen <= 30 days ago and at most one
order), active (seen in the last 30 days), prospect (no order), at_risk (last order
90-180 days ago), dormant (last order > 180 days ago, or no visit for 180 days),
loyal (4+ orders, or 3+ orders and revenue >= 300).
RFM: recency (days since last order <=30:5, <=90:4, <=180:3, <=365:2, else 1),
frequency (orders 1:1, 2:2, 3-4:3, 5-9:4, 10+:5), monetary (revenue <50:1, <150:2,
<500:3, <1500:4, else 5); absent for customers without orders.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

DAY = 86_400.0
STAGES = ("awareness", "discovery", "interest", "consideration", "action", "usage", "advocacy")
PURPOSES = ("personalization", "marketing", "analytics")


class Consent(msgspec.Struct, kw_only=True):
    personalization: bool | None
    marketing: bool | None
    analytics: bool | None


class Rfm(msgspec.Struct, kw_only=True):
    recency: int
    frequency: int
    monetary: int
    code: str


class CartLine(msgspec.Struct, kw_only=True):
    item_id: str
    quantity: int
    price: float


class Cart(msgspec.Struct, kw_only=True):
    lines: list[CartLine]
    value: float
    items: int
    updated_at: float | None = None


class ProfileView(msgspec.Struct, kw_only=True):
    customer_id: str
    user_id: str | None
    anonymous_id: str | None
    known: bool
    first_seen: float | None
    last_seen: float | None
    events: int
    events_by_type: dict[str, int]
    sessions: int
    product_views: int
    dwell_ms: int
    searches: int
    cart_adds: int
    checkouts: int
    orders: int
    revenue: float
    average_order_value: float
    items_bought: int
    first_purchase_at: float | None
    last_purchase_at: float | None
    days_since_last_purchase: float | None
    returns: int
    returned_value: float
    return_rate: float
    orders_shipping_paid: int
    orders_shipping_free: int
    shipping_paid_ratio: float | None
    shipping_paid_total: float
    email_opens: int
    email_clicks: int
    last_email_open_at: float | None
    last_email_click_at: float | None
    offer_impressions: int
    offer_accepts: int
    offer_dismissals: int
    consent: Consent
    traits: dict[str, str]
    stage: str
    segments: list[str]
    rfm: Rfm | None
    cart: Cart
    propensities: dict[str, Any]
    merged_visitors: int


def _i(raw: Mapping[str, str], name: str) -> int:
    v = raw.get(name)
    return int(v) if v else 0


def _fl(raw: Mapping[str, str], name: str) -> float:
    v = raw.get(name)
    return float(v) if v else 0.0


def _opt(raw: Mapping[str, str], name: str) -> float | None:
    v = raw.get(name)
    return float(v) if v else None


def consent_given(raw: Mapping[str, str], purpose: str) -> bool | None:
    """Consent for ``purpose`` in a raw profile hash: True, False, or None (never asked)."""
    v = raw.get(f"consent:{purpose}")
    return None if v is None else v == "1"


def journey_stage(raw: Mapping[str, str]) -> str:
    return _stage(
        _i(raw, "orders"),
        _i(raw, "returns"),
        _i(raw, "n:email_click") > 0 or _i(raw, "n:lead_form") > 0 or any(k.startswith("trait:") for k in raw),
        {k[2:]: _i(raw, k) for k in raw if k.startswith("n:")},
        _i(raw, "dwell_ms"),
    )


def _stage(orders: int, returns: int, engaged: bool, counts: Mapping[str, int], dwell_ms: int) -> str:
    """The journey stage from the order counters and the event counts (by type)."""
    if orders >= 3 and returns / orders < 0.2 and engaged:
        return "advocacy"
    if orders >= 2:
        return "usage"
    if orders == 1:
        return "action"
    count = counts.get
    if count("add_to_cart", 0) > 0 or count("checkout_started", 0) > 0:
        return "consideration"
    zooms = count("image_zoom", 0) + count("video_play", 0)
    if count("product_view", 0) >= 3 or zooms > 0 or dwell_ms >= 60_000:
        return "interest"
    if count("product_view", 0) > 0 or count("search", 0) > 0:
        return "discovery"
    return "awareness"


def rfm(raw: Mapping[str, str], now: float) -> Rfm | None:
    return _rfm(_i(raw, "orders"), _opt(raw, "last_purchase_ts"), _fl(raw, "revenue"), now)


def _rfm(orders: int, last: float | None, revenue: float, now: float) -> Rfm | None:
    if orders == 0 or last is None:
        return None
    days = max(0.0, (now - last) / DAY)
    r = 5 if days <= 30 else 4 if days <= 90 else 3 if days <= 180 else 2 if days <= 365 else 1
    f = 1 if orders == 1 else 2 if orders == 2 else 3 if orders <= 4 else 4 if orders <= 9 else 5
    m = 1 if revenue < 50 else 2 if revenue < 150 else 3 if revenue < 500 else 4 if revenue < 1500 else 5
    return Rfm(recency=r, frequency=f, monetary=m, code=f"{r}{f}{m}")


def segments(raw: Mapping[str, str], now: float) -> list[str]:
    return _segments(
        _i(raw, "orders"), _opt(raw, "first_ts"), _opt(raw, "last_ts"), _opt(raw, "last_purchase_ts"),
        _fl(raw, "revenue"), now,
    )


def _segments(
    orders: int, first: float | None, last: float | None, last_order: float | None, revenue: float, now: float
) -> list[str]:
    out: list[str] = []
    if first is not None and now - first <= 30 * DAY and orders <= 1:
        out.append("new")
    if last is not None and now - last <= 30 * DAY:
        out.append("active")
    if orders == 0:
        out.append("prospect")
    if last_order is not None:
        days = (now - last_order) / DAY
        if 90 < days <= 180:
            out.append("at_risk")
        elif days > 180:
            out.append("dormant")
    elif last is not None and now - last > 180 * DAY:
        out.append("dormant")
    if orders >= 4 or (orders >= 3 and revenue >= 300):
        out.append("loyal")
    return out


def cart_item_ids(raw_cart: Mapping[str, str]) -> set[str]:
    """Items with a positive quantity in a raw cart hash (the lines of ``cart_view``)."""
    return {name[2:] for name, qty in raw_cart.items() if name.startswith("q:") and int(qty) > 0}


def cart_view(raw_cart: Mapping[str, str]) -> Cart:
    if not raw_cart:  # most visitors: what the loop below gives for no lines (0 is an int there)
        return Cart(lines=[], value=0, items=0, updated_at=None)
    lines = []
    for name, qty in raw_cart.items():
        if name.startswith("q:"):
            item = name[2:]
            q = int(qty)
            if q > 0:
                lines.append(CartLine(item_id=item, quantity=q, price=float(raw_cart.get(f"p:{item}", 0.0))))
    lines.sort(key=lambda line: line.item_id)
    return Cart(
        lines=lines,
        value=round(sum(line.price * line.quantity for line in lines), 2),
        items=sum(line.quantity for line in lines),
        updated_at=_opt(raw_cart, "updated_ts"),
    )


def build_profile(
    customer: str,
    raw: Mapping[str, str],
    raw_cart: Mapping[str, str],
    scores: Mapping[str, str],
    now: float,
) -> ProfileView:
    # One pass over the hash for the per-type event counts and the traits; each counter is read
    # once and shared by the stage, segments and RFM (this runs on every offer decision).
    events_by_type: dict[str, int] = {}
    traits: dict[str, str] = {}
    for key, value in raw.items():
        if key.startswith("n:"):
            events_by_type[key[2:]] = int(value)
        elif key.startswith("trait:"):
            traits[key[6:]] = value
    get = raw.get
    v: str | None
    count = events_by_type.get
    orders = int(v) if (v := get("orders")) else 0
    returns = int(v) if (v := get("returns")) else 0
    paid = int(v) if (v := get("orders_shipping_paid")) else 0
    free = int(v) if (v := get("orders_shipping_free")) else 0
    dwell_ms = int(v) if (v := get("dwell_ms")) else 0
    revenue = float(v) if (v := get("revenue")) else 0.0
    first_seen = float(v) if (v := get("first_ts")) else None
    last_seen = float(v) if (v := get("last_ts")) else None
    last_purchase = float(v) if (v := get("last_purchase_ts")) else None
    engaged = count("email_click", 0) > 0 or count("lead_form", 0) > 0 or bool(traits)
    kind, _, ident = customer.partition(":")
    return ProfileView(
        customer_id=customer,
        user_id=ident if kind == "u" else None,
        anonymous_id=ident if kind == "a" else None,
        known=kind == "u",
        first_seen=first_seen,
        last_seen=last_seen,
        events=sum(events_by_type.values()),
        events_by_type=events_by_type,
        sessions=int(v) if (v := get("sessions")) else 0,
        product_views=count("product_view", 0),
        dwell_ms=dwell_ms,
        searches=count("search", 0),
        cart_adds=count("add_to_cart", 0),
        checkouts=count("checkout_started", 0),
        orders=orders,
        revenue=round(revenue, 2),
        average_order_value=round(revenue / orders, 2) if orders else 0.0,
        items_bought=int(v) if (v := get("items_bought")) else 0,
        first_purchase_at=float(v) if (v := get("first_purchase_ts")) else None,
        last_purchase_at=last_purchase,
        days_since_last_purchase=round((now - last_purchase) / DAY, 2) if last_purchase else None,
        returns=returns,
        returned_value=round(float(v) if (v := get("returned_value")) else 0.0, 2),
        return_rate=round(returns / orders, 4) if orders else 0.0,
        orders_shipping_paid=paid,
        orders_shipping_free=free,
        shipping_paid_ratio=round(paid / (paid + free), 4) if paid + free else None,
        shipping_paid_total=round(float(v) if (v := get("shipping_paid_total")) else 0.0, 2),
        email_opens=count("email_open", 0),
        email_clicks=count("email_click", 0),
        last_email_open_at=float(v) if (v := get("last_email_open_ts")) else None,
        last_email_click_at=float(v) if (v := get("last_email_click_ts")) else None,
        offer_impressions=count("offer_impression", 0),
        offer_accepts=count("offer_accept", 0),
        offer_dismissals=count("offer_dismiss", 0),
        consent=Consent(
            personalization=None if (v := get("consent:personalization")) is None else v == "1",
            marketing=None if (v := get("consent:marketing")) is None else v == "1",
            analytics=None if (v := get("consent:analytics")) is None else v == "1",
        ),
        traits=traits,
        stage=_stage(orders, returns, engaged, events_by_type, dwell_ms),
        segments=_segments(orders, first_seen, last_seen, last_purchase, revenue, now),
        rfm=_rfm(orders, last_purchase, revenue, now),
        cart=cart_view(raw_cart),
        propensities=_scores(scores),
        merged_visitors=int(v) if (v := get("merged_visitors")) else 0,
    )


def _scores(scores: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not scores:
        return out
    for k, v in scores.items():
        try:
            out[k] = float(v)
        except ValueError:
            out[k] = v
    return out
