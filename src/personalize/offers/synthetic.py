"""A synthetic offer catalog for benchmarks and tests (SIMULATED: not a real store's offers).

Offers are drawn from six templates close to ``examples/offers.yaml`` with random
thresholds, values, channels, levers and budgets, so rule evaluation costs what a real
catalog would (2-4 rules per offer, mixing profile, session, cart, context and scores).
"""

from __future__ import annotations

import random
from typing import Any

from personalize.offers.catalog import Catalog, catalog_from_document

_STAGES = ["awareness", "discovery", "interest", "consideration", "action", "usage", "advocacy"]
_PAGES = ["home", "category", "product", "cart", "checkout", "search"]
_CATEGORIES = ["shoes", "shirts", "bags", "toys", "garden", "kitchen", "books", "beauty"]


def _offer(i: int, rng: random.Random) -> dict[str, Any]:
    template = i % 6
    channels = sorted(rng.sample(["web", "email", "sms", "app"], k=rng.randint(1, 3)) + ["web"])
    base: dict[str, Any] = {
        "id": f"syn-{i:04d}",
        "channels": sorted(set(channels)),
        "lever": round(rng.uniform(0.5, 1.5), 2),
        "store_value": round(rng.uniform(1.0, 10.0), 2),
        "purpose": "service" if rng.random() < 0.15 else "marketing",
    }
    if template == 0:
        threshold = rng.choice([20, 30, 40, 50, 75])
        base |= {
            "name": f"free shipping over {threshold}",
            "kind": "free_shipping",
            "value": 4.95,
            "cost": 4.95,
            "propensity_key": "p_purchase",
            "eligibility": [
                f"cart.value >= {threshold}",
                f"profile.shipping_paid_ratio > {rng.choice([0.5, 0.7, 0.8])}",
            ],
            "suitability": ["scores.p_purchase < 0.97"],
        }
    elif template == 1:
        pct = rng.choice([5, 10, 15, 20])
        base |= {
            "name": f"{pct}% win-back",
            "kind": "percent_discount",
            "value": pct,
            "cost": pct * 0.6,
            "propensity_key": "churn_risk",
            "eligibility": [
                '"at_risk" in profile.segments or "dormant" in profile.segments',
                "profile.orders >= 1",
            ],
            "suitability": [f"profile.return_rate < {rng.choice([0.2, 0.3, 0.4])}"],
        }
    elif template == 2:
        base |= {
            "name": "loyalty points",
            "kind": "loyalty_points",
            "value": rng.choice([100, 200, 500]),
            "cost": 2.0,
            "propensity_key": "p_buy_again",
            "eligibility": [
                f'"loyal" in profile.segments or profile.orders >= {rng.randint(3, 8)}'
            ],
            "applicability": ["session.product_views >= 2 or cart.items >= 1"],
        }
    elif template == 3:
        category = rng.choice(_CATEGORIES)
        base |= {
            "name": f"{category} bundle",
            "kind": "bundle",
            "value": rng.choice([10, 15, 20]),
            "cost": 3.0,
            "propensity_key": "min(0.9, 0.1 + 0.1 * session.image_zooms + session.dwell_ms / 600000)",
            "eligibility": ['context.page_type == "product"', f'context.category == "{category}"'],
            "applicability": ["item.in_stock == true", f"item.price >= {rng.choice([10, 20, 40])}"],
        }
    elif template == 4:
        base |= {
            "name": "welcome voucher",
            "kind": "fixed_discount",
            "value": rng.choice([5, 10]),
            "cost": 5.0,
            "propensity_key": "p_purchase",
            "eligibility": [
                "profile.orders == 0 or profile.orders == null",
                f"session.page_views >= {rng.randint(1, 4)}",
            ],
            "suitability": [
                f"profile.stage in {sorted(rng.sample(_STAGES, k=3))!r}".replace("'", '"')
            ],
        }
    else:
        base |= {
            "name": "service message",
            "kind": "message",
            "value": 0,
            "purpose": "service",
            "default_propensity": 0.5,
            "eligibility": [
                f"context.page_type in {sorted(rng.sample(_PAGES, k=2))!r}".replace("'", '"')
            ],
            "applicability": ["session.checkout_started >= 1 or cart.value > 0"],
        }
    if rng.random() < 0.3:
        base["budget"] = {
            "max_per_day": rng.choice([100, 1000]),
            "max_total": rng.choice([10_000, 100_000]),
        }
    if rng.random() < 0.3:
        base["context_weights"] = {
            f"page_type:{rng.choice(_PAGES)}": round(rng.uniform(0.5, 2.0), 2)
        }
    return base


def make_catalog(n: int = 200, seed: int = 0) -> Catalog:
    """``n`` simulated offers, reproducible for a given seed."""
    rng = random.Random(seed)
    return catalog_from_document({"offers": [_offer(i, rng) for i in range(n)]})


def make_facts(rng: random.Random) -> dict[str, Any]:
    """Random but plausible facts (simulated), for benchmarks and property tests."""
    orders = rng.choice([0, 0, 1, 2, 3, 5, 8, 13])
    return {
        "profile": {
            "orders": orders,
            "revenue": orders * rng.uniform(20, 90),
            "return_rate": rng.random() * 0.5,
            "shipping_paid_ratio": rng.random(),
            "stage": rng.choice(_STAGES),
            "segments": rng.sample(
                ["new", "active", "at_risk", "dormant", "loyal"], k=rng.randint(0, 2)
            ),
            "consent": {"personalization": True, "marketing": rng.random() < 0.6},
        },
        "session": {
            "page_views": rng.randint(0, 20),
            "product_views": rng.randint(0, 10),
            "dwell_ms": rng.randint(0, 600_000),
            "image_zooms": rng.randint(0, 5),
            "cart_adds": rng.randint(0, 3),
            "checkout_started": rng.randint(0, 1),
        },
        "cart": {"value": round(rng.uniform(0, 120), 2), "items": rng.randint(0, 5)},
        "context": {
            "page_type": rng.choice(_PAGES),
            "channel": "web",
            "category": rng.choice(_CATEGORIES),
        },
        "scores": {
            "p_purchase": rng.random(),
            "p_buy_again": rng.random(),
            "churn_risk": rng.random(),
        },
        "item": {"in_stock": rng.random() < 0.9, "price": round(rng.uniform(5, 150), 2)},
    }
