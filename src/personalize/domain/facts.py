"""The facts offer rules read (profile, session, cart, context, scores, item).

Without personalization consent only non-personal facts are passed (context, item,
and the live cart the visitor is looking at): rules reading profile/scores then fail.
"""

from __future__ import annotations

from collections.abc import Mapping
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


def session_facts(session: Mapping[str, str]) -> dict[str, Any]:
    """Rule facts of a session hash as returned by ``session_with_totals``."""
    counts = {k[2:]: _n(session, k) for k in session if k.startswith("n:") and k != "n"}
    return {
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


def profile_facts(p: ProfileView) -> dict[str, Any]:
    return {
        "orders": p.orders,
        "revenue": p.revenue,
        "aov": p.average_order_value,
        "returns": p.returns,
        "return_rate": p.return_rate,
        "shipping_paid_ratio": p.shipping_paid_ratio,
        "days_since_last_purchase": p.days_since_last_purchase,
        "stage": p.stage,
        "segments": p.segments,
        "rfm": p.rfm.code if p.rfm else None,
        "traits": p.traits,
        "sessions": p.sessions,
        "known": p.known,
        "consent": {
            "personalization": bool(p.consent.personalization) if p.consent.personalization is not None else None,
            "marketing": bool(p.consent.marketing),
            "analytics": bool(p.consent.analytics),
        },
    }


def build_facts(
    profile: ProfileView,
    session: Mapping[str, str],
    context: dict[str, Any],
    scores: dict[str, float],
    item: dict[str, Any] | None,
    personalized: bool,
) -> dict[str, Any]:
    cart = {"value": profile.cart.value, "items": profile.cart.items, "item_ids": [line.item_id for line in profile.cart.lines]}
    facts: dict[str, Any] = {"context": context, "cart": cart, "item": item or {}}
    if personalized:
        facts["profile"] = profile_facts(profile)
        facts["session"] = session_facts(session)
        facts["scores"] = scores
    return facts
