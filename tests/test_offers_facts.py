"""Rule facts built only for what a catalog reads are the full facts restricted to those fields;
the session totals folded in while reading the stored hash equal those of session_with_totals."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from personalize.domain.facts import (
    build_facts,
    raw_session_facts,
    session_facts,
    session_with_totals,
)
from personalize.domain.profile import build_profile
from personalize.offers.arbitration import facts_read
from personalize.offers.catalog import load_catalog
from personalize.offers.synthetic import make_catalog
from tests.offers_random import random_catalog

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "offers.yaml"


SESSION_KEYS = [
    "n:product_view", "n:page_view", "n:image_zoom", "n:video_play", "n:search", "n:checkout_started",
    "n:add_to_cart", "n:purchase", "pt:product", "pt:home", "pt:cart", "dw:product", "dw:home",
    "first_ts", "last_ts", "n", "cart_adds",
]  # fmt: skip
FIELDS = ["views", "product_views", "page_views", "dwell_ms", "image_zooms", "video_plays", "cart_adds", "searches",
          "checkout_started", "events"]  # fmt: skip


def random_session(r: random.Random) -> dict[str, str]:
    keys = r.sample(SESSION_KEYS, k=r.randint(0, len(SESSION_KEYS)))
    return {
        k: r.choice(["0", "1", "3", "12", "2.5", "", "x", str(r.randint(0, 90_000))]) for k in keys
    }


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_session_totals_folded_while_reading(seed: int) -> None:
    r = random.Random(seed)
    raw = random_session(r)
    fields = set(r.sample(FIELDS, k=r.randint(0, len(FIELDS))))
    try:
        expected: Any = session_facts(session_with_totals(raw, r.choice([None, 12.5])), fields)
    except ValueError:
        return  # a corrupt total (int of "2.5" sums is fine; NaN/inf are not): nothing to compare
    assert raw_session_facts(raw, fields) == expected
    assert session_facts(session_with_totals(raw), None) == session_facts(session_with_totals(raw))


CATALOGS = [make_catalog(200, 0), load_catalog(EXAMPLE), random_catalog(random.Random(2), 40)]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, len(CATALOGS) - 1), st.booleans(), st.booleans())
def test_facts_for_what_the_catalog_reads(
    seed: int, which: int, personalized: bool, raw_session: bool
) -> None:
    r = random.Random(seed)
    reads = facts_read(CATALOGS[which])
    now = 1_795_000_000.0
    raw = {
        "orders": str(r.randint(0, 6)),
        "n:product_view": "3",
        "revenue": "120.5",
        "last_purchase_ts": str(now - 9e6),
    }
    profile = build_profile("u:1", raw, {"q:a": "1", "p:a": "20"}, {"p_purchase": "0.5"}, now)
    session = random_session(r)
    context = {"page_type": "cart", "channel": "web"}
    try:
        full = build_facts(
            profile,
            session_with_totals(session, profile.cart.value),
            context,
            {"p": 0.1},
            None,
            personalized,
        )
    except ValueError:
        return
    facts = build_facts(
        profile,
        session if raw_session else session_with_totals(session, profile.cart.value),
        context,
        {"p": 0.1},
        None,
        personalized,
        reads=reads,
        raw_session=raw_session,
    )
    assert set(facts) == set(full)
    for group, values in facts.items():
        if group in ("profile", "session", "cart"):
            assert values == {k: v for k, v in full[group].items() if k in reads.get(group, ())}
        else:
            assert values == full[group]


def test_facts_read_names_each_group_field() -> None:
    reads = facts_read(make_catalog(200, 0))
    assert reads["profile"] >= {"orders", "segments", "stage", "shipping_paid_ratio", "return_rate"}
    assert reads["session"] >= {
        "product_views",
        "page_views",
        "checkout_started",
        "image_zooms",
        "dwell_ms",
    }
    assert reads["cart"] == {"value", "items"}
    example = facts_read(load_catalog(EXAMPLE))
    assert all(
        group in {"profile", "session", "cart", "context", "scores", "item"} for group in example
    )
