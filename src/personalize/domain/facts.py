"""The facts offer rules read (profile, session, cart, context, scores, item).

Without personalization consent only non-personal facts are passed (context, item,
and the live cart the visitor is looking at): rules reading profile/scores then fail.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping
from typing import Any

from personalize.domain.profile import ProfileView


def _n(h: Mapping[str, str], key: str) -> float:
    v = h.get(key)
    try:
        return float(v) if v else 0.0
    except ValueError:
        return 0.0


def session_with_totals(session: Mapping[str, str], cart_value: float | None = None) -> dict[str, str]:
    """The stored session hash plus the totals ingest leaves implicit (it writes each fact once):
    ``n`` (events), ``dwell_ms``, ``cart_adds``, ``pt:product`` including product views,
    and ``cart_value`` when given. This is what features and rules read."""
    out = dict(session)
    counts = {k: _n(session, k) for k in session if k.startswith("n:")}
    out["n"] = str(int(sum(counts.values())))
    out["dwell_ms"] = str(int(sum(_n(session, k) for k in session if k.startswith("dw:"))))
    out["cart_adds"] = str(int(counts.get("n:add_to_cart", 0.0)))
    out["pt:product"] = str(int(_n(session, "pt:product") + counts.get("n:product_view", 0.0)))
    if cart_value is not None:
        out["cart_value"] = repr(float(cart_value))
    return out


def session_facts(session: Mapping[str, str], fields: Collection[str] | None = None) -> dict[str, Any]:
    """Rule facts of a session hash as returned by ``session_with_totals`` (only ``fields``
    when given)."""
    counts = {k[2:]: _n(session, k) for k in session if k.startswith("n:") and k != "n"}
    facts = {
        "views": sum(_n(session, k) for k in session if k.startswith("pt:")),
        "product_views": counts.get("product_view", 0.0),
        "page_views": counts.get("page_view", 0.0),
        "dwell_ms": sum(_n(session, k) for k in session if k.startswith("dw:")),
        "image_zooms": counts.get("image_zoom", 0.0),
        "video_plays": counts.get("video_play", 0.0),
        "cart_adds": _n(session, "cart_adds"),
        "searches": counts.get("search", 0.0),
        "checkout_started": counts.get("checkout_started", 0.0),
        "events": sum(counts.values()),
    }
    return facts if fields is None else {k: v for k, v in facts.items() if k in fields}


_SESSION_COUNTS = {
    "product_views": "product_view",
    "page_views": "page_view",
    "image_zooms": "image_zoom",
    "video_plays": "video_play",
    "searches": "search",
    "checkout_started": "checkout_started",
}


def raw_session_facts(raw: Mapping[str, str], fields: Collection[str]) -> dict[str, Any]:
    """``session_facts(session_with_totals(raw), fields)`` without building the intermediate
    hash: the same values, summed in the same order."""
    out: dict[str, Any] = {}
    for name, event in _SESSION_COUNTS.items():
        if name in fields:
            out[name] = _n(raw, "n:" + event)
    if "views" in fields:
        # session_with_totals folds product views into pt:product (kept in place, else last).
        product = float(int(_n(raw, "pt:product") + _n(raw, "n:product_view")))
        views = [product if k == "pt:product" else _n(raw, k) for k in raw if k.startswith("pt:")]
        if "pt:product" not in raw:
            views.append(product)
        out["views"] = sum(views)
    if "dwell_ms" in fields:
        out["dwell_ms"] = sum(_n(raw, k) for k in raw if k.startswith("dw:"))
    if "cart_adds" in fields:
        out["cart_adds"] = float(int(_n(raw, "n:add_to_cart")))
    if "events" in fields:
        out["events"] = sum(_n(raw, k) for k in raw if k.startswith("n:"))
    return {k: out[k] for k in _SESSION_FIELDS if k in out}  # session_facts' key order


_SESSION_FIELDS = ("views", "product_views", "page_views", "dwell_ms", "image_zooms", "video_plays",
                   "cart_adds", "searches", "checkout_started", "events")


def profile_facts(p: ProfileView, fields: Collection[str] | None = None) -> dict[str, Any]:
    """Rule facts of a profile (only ``fields`` when given)."""
    if fields is not None:
        return {k: get(p) for k, get in _profile_getters(frozenset(fields))}
    return {k: get(p) for k, get in _PROFILE_FACTS.items()}


@functools.lru_cache(maxsize=64)
def _profile_getters(fields: frozenset[str]) -> tuple[tuple[str, Callable[[ProfileView], Any]], ...]:
    return tuple((k, get) for k, get in _PROFILE_FACTS.items() if k in fields)


def _consent(p: ProfileView) -> dict[str, bool | None]:
    return {
        "personalization": bool(p.consent.personalization) if p.consent.personalization is not None else None,
        "marketing": bool(p.consent.marketing),
        "analytics": bool(p.consent.analytics),
    }


_PROFILE_FACTS: dict[str, Callable[[ProfileView], Any]] = {
    "orders": lambda p: p.orders,
    "revenue": lambda p: p.revenue,
    "aov": lambda p: p.average_order_value,
    "returns": lambda p: p.returns,
    "return_rate": lambda p: p.return_rate,
    "shipping_paid_ratio": lambda p: p.shipping_paid_ratio,
    "days_since_last_purchase": lambda p: p.days_since_last_purchase,
    "stage": lambda p: p.stage,
    "segments": lambda p: p.segments,
    "rfm": lambda p: p.rfm.code if p.rfm else None,
    "traits": lambda p: p.traits,
    "sessions": lambda p: p.sessions,
    "known": lambda p: p.known,
    "consent": _consent,
}


def build_facts(
    profile: ProfileView,
    session: Mapping[str, str],
    context: dict[str, Any],
    scores: dict[str, float],
    item: dict[str, Any] | None,
    personalized: bool,
    *,
    reads: Mapping[str, Collection[str]] | None = None,
    raw_session: bool = False,
) -> dict[str, Any]:
    """The facts rules read. ``session`` is the hash from ``session_with_totals`` or, with
    ``raw_session``, the stored hash itself (its totals folded in while reading; needs
    ``reads``). ``reads``: per group, the fields the rules can read (``offers.arbitration.
    facts_read``); only those profile, session and cart facts are computed. None: all of them."""
    cart_fields = reads.get("cart", ()) if reads is not None else None
    cart: dict[str, Any] = {}
    if cart_fields is None or "value" in cart_fields:
        cart["value"] = profile.cart.value
    if cart_fields is None or "items" in cart_fields:
        cart["items"] = profile.cart.items
    if cart_fields is None or "item_ids" in cart_fields:
        cart["item_ids"] = [line.item_id for line in profile.cart.lines]
    facts: dict[str, Any] = {"context": context, "cart": cart, "item": item or {}}
    if personalized:
        if reads is None:
            facts["profile"] = profile_facts(profile)
            facts["session"] = session_facts(session)
        else:
            facts["profile"] = profile_facts(profile, reads.get("profile", ()))
            fields = reads.get("session", ())
            facts["session"] = raw_session_facts(session, fields) if raw_session else session_facts(session, fields)
        facts["scores"] = scores
    return facts
