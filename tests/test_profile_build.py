"""build_profile gives exactly what it gave before it was made single-pass: pinned against the
previous implementation (copied below, verbatim but for the names it imports) on random raw
profile hashes, including empty values, absent counters and corrupt ones (both must fail)."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from personalize.domain import profile as P
from personalize.domain.profile import DAY, build_profile

NOW = 1_795_000_000.0

# --- the previous implementation -------------------------------------------------------------


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
    orders = _i(raw, "orders")
    returns = _i(raw, "returns")
    engaged = (
        _i(raw, "n:email_click") > 0
        or _i(raw, "n:lead_form") > 0
        or any(k.startswith("trait:") for k in raw)
    )
    if orders >= 3 and returns / orders < 0.2 and engaged:
        return "advocacy"
    if orders >= 2:
        return "usage"
    if orders == 1:
        return "action"
    if _i(raw, "n:add_to_cart") > 0 or _i(raw, "n:checkout_started") > 0:
        return "consideration"
    zooms = _i(raw, "n:image_zoom") + _i(raw, "n:video_play")
    if _i(raw, "n:product_view") >= 3 or zooms > 0 or _i(raw, "dwell_ms") >= 60_000:
        return "interest"
    if _i(raw, "n:product_view") > 0 or _i(raw, "n:search") > 0:
        return "discovery"
    return "awareness"


def rfm(raw: Mapping[str, str], now: float) -> P.Rfm | None:
    orders = _i(raw, "orders")
    last = _opt(raw, "last_purchase_ts")
    if orders == 0 or last is None:
        return None
    days = max(0.0, (now - last) / DAY)
    r = 5 if days <= 30 else 4 if days <= 90 else 3 if days <= 180 else 2 if days <= 365 else 1
    f = 1 if orders == 1 else 2 if orders == 2 else 3 if orders <= 4 else 4 if orders <= 9 else 5
    revenue = _fl(raw, "revenue")
    m = (
        1
        if revenue < 50
        else 2
        if revenue < 150
        else 3
        if revenue < 500
        else 4
        if revenue < 1500
        else 5
    )
    return P.Rfm(recency=r, frequency=f, monetary=m, code=f"{r}{f}{m}")


def segments(raw: Mapping[str, str], now: float) -> list[str]:
    out: list[str] = []
    orders = _i(raw, "orders")
    first = _opt(raw, "first_ts")
    last = _opt(raw, "last_ts")
    last_order = _opt(raw, "last_purchase_ts")
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
    if orders >= 4 or (orders >= 3 and _fl(raw, "revenue") >= 300):
        out.append("loyal")
    return out


def reference_build_profile(
    customer: str,
    raw: Mapping[str, str],
    raw_cart: Mapping[str, str],
    scores: Mapping[str, str],
    now: float,
) -> P.ProfileView:
    orders = _i(raw, "orders")
    paid = _i(raw, "orders_shipping_paid")
    free = _i(raw, "orders_shipping_free")
    revenue = _fl(raw, "revenue")
    last_purchase = _opt(raw, "last_purchase_ts")
    kind, _, ident = customer.partition(":")
    return P.ProfileView(
        customer_id=customer,
        user_id=ident if kind == "u" else None,
        anonymous_id=ident if kind == "a" else None,
        known=kind == "u",
        first_seen=_opt(raw, "first_ts"),
        last_seen=_opt(raw, "last_ts"),
        events=sum(int(v) for k, v in raw.items() if k.startswith("n:")),
        events_by_type={k[2:]: int(v) for k, v in raw.items() if k.startswith("n:")},
        sessions=_i(raw, "sessions"),
        product_views=_i(raw, "n:product_view"),
        dwell_ms=_i(raw, "dwell_ms"),
        searches=_i(raw, "n:search"),
        cart_adds=_i(raw, "n:add_to_cart"),
        checkouts=_i(raw, "n:checkout_started"),
        orders=orders,
        revenue=round(revenue, 2),
        average_order_value=round(revenue / orders, 2) if orders else 0.0,
        items_bought=_i(raw, "items_bought"),
        first_purchase_at=_opt(raw, "first_purchase_ts"),
        last_purchase_at=last_purchase,
        days_since_last_purchase=round((now - last_purchase) / DAY, 2) if last_purchase else None,
        returns=_i(raw, "returns"),
        returned_value=round(_fl(raw, "returned_value"), 2),
        return_rate=round(_i(raw, "returns") / orders, 4) if orders else 0.0,
        orders_shipping_paid=paid,
        orders_shipping_free=free,
        shipping_paid_ratio=round(paid / (paid + free), 4) if paid + free else None,
        shipping_paid_total=round(_fl(raw, "shipping_paid_total"), 2),
        email_opens=_i(raw, "n:email_open"),
        email_clicks=_i(raw, "n:email_click"),
        last_email_open_at=_opt(raw, "last_email_open_ts"),
        last_email_click_at=_opt(raw, "last_email_click_ts"),
        offer_impressions=_i(raw, "n:offer_impression"),
        offer_accepts=_i(raw, "n:offer_accept"),
        offer_dismissals=_i(raw, "n:offer_dismiss"),
        consent=P.Consent(
            personalization=consent_given(raw, "personalization"),
            marketing=consent_given(raw, "marketing"),
            analytics=consent_given(raw, "analytics"),
        ),
        traits={k[6:]: v for k, v in raw.items() if k.startswith("trait:")},
        stage=journey_stage(raw),
        segments=segments(raw, now),
        rfm=rfm(raw, now),
        cart=reference_cart_view(raw_cart),
        propensities=reference_scores(scores),
        merged_visitors=_i(raw, "merged_visitors"),
    )


def reference_cart_view(raw_cart: Mapping[str, str]) -> P.Cart:
    lines = []
    for name, qty in raw_cart.items():
        if name.startswith("q:"):
            item = name[2:]
            q = int(qty)
            if q > 0:
                lines.append(
                    P.CartLine(
                        item_id=item, quantity=q, price=float(raw_cart.get(f"p:{item}", 0.0))
                    )
                )
    lines.sort(key=lambda line: line.item_id)
    return P.Cart(
        lines=lines,
        value=round(sum(line.price * line.quantity for line in lines), 2),
        items=sum(line.quantity for line in lines),
        updated_at=_opt(raw_cart, "updated_ts"),
    )


def reference_scores(scores: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in scores.items():
        try:
            out[k] = float(v)
        except ValueError:
            out[k] = v
    return out


# --- random raw hashes ------------------------------------------------------------------------

INT_FIELDS = [
    "orders",
    "returns",
    "orders_shipping_paid",
    "orders_shipping_free",
    "dwell_ms",
    "sessions",
    "items_bought",
    "merged_visitors",
]
FLOAT_FIELDS = ["revenue", "returned_value", "shipping_paid_total"]
TIME_FIELDS = [
    "first_ts",
    "last_ts",
    "last_purchase_ts",
    "first_purchase_ts",
    "last_email_open_ts",
    "last_email_click_ts",
]
EVENTS = [
    "product_view",
    "search",
    "add_to_cart",
    "checkout_started",
    "email_open",
    "email_click",
    "lead_form",
    "image_zoom",
    "video_play",
    "offer_impression",
    "offer_accept",
    "offer_dismiss",
    "page_view",
]
OTHER = [
    "consent:personalization",
    "consent:marketing",
    "consent:analytics",
    "trait:size",
    "trait:city",
]


def random_raw(r: random.Random) -> dict[str, str]:
    raw: dict[str, str] = {}
    names = INT_FIELDS + FLOAT_FIELDS + TIME_FIELDS + [f"n:{e}" for e in EVENTS] + OTHER
    r.shuffle(names)  # hash order varies
    for name in names:
        if r.random() < 0.4:
            continue
        if name in INT_FIELDS or name.startswith("n:"):
            raw[name] = r.choice(["0", "1", "2", "3", "5", "13", "70000", str(r.randint(0, 100))])
        elif name in FLOAT_FIELDS:
            raw[name] = r.choice(["0", "12.5", "299.99", "300", str(r.uniform(0, 3000))])
        elif name in TIME_FIELDS:
            days = r.choice([0, 1, 29, 31, 89, 91, 179, 181, 364, 366, 1000])
            raw[name] = str(NOW - days * DAY + r.uniform(-100, 100))
        elif name.startswith("consent:"):
            raw[name] = r.choice(["0", "1", ""])
        else:
            raw[name] = r.choice(["M", "Berlin", ""])
    if r.random() < 0.2:  # empty values read as absent (counters) or fail (event counts)
        raw[r.choice(INT_FIELDS + FLOAT_FIELDS + TIME_FIELDS + ["n:search"])] = ""
    if r.random() < 0.05:
        raw[r.choice(INT_FIELDS + ["n:product_view"])] = "x"
    return raw


def outcome(fn: Any, *args: Any) -> Any:
    try:
        return msgspec.json.encode(fn(*args))  # bytes: 0 and 0.0 differ
    except ValueError as exc:
        return type(exc)


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_build_profile_matches_the_previous_implementation(seed: int) -> None:
    r = random.Random(seed)
    raw = random_raw(r)
    cart = (
        {"q:a": "2", "p:a": "9.5", "q:b": "0", "updated_ts": str(NOW)} if r.random() < 0.5 else {}
    )
    scores = {"p_purchase": "0.4", "label": "x"} if r.random() < 0.5 else {}
    customer = r.choice(["u:1", "a:x", "odd"])
    now = NOW + r.uniform(-DAY, DAY)
    args = (customer, raw, cart, scores, now)
    assert outcome(build_profile, *args) == outcome(reference_build_profile, *args)


def test_public_helpers_read_the_raw_hash_as_before() -> None:
    r = random.Random(5)
    for _ in range(300):
        raw: Mapping[str, str] = {k: v for k, v in random_raw(r).items() if v not in ("", "x")}
        assert P.journey_stage(raw) == journey_stage(raw)
        assert P.segments(raw, NOW) == segments(raw, NOW)
        assert msgspec.to_builtins(P.rfm(raw, NOW)) == msgspec.to_builtins(rfm(raw, NOW))
        assert consent_given(raw, "marketing") == (
            None if "consent:marketing" not in raw else raw["consent:marketing"] == "1"
        )
