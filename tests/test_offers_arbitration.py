"""Arbitration: the free-shipping scenario, safety properties, probabilities, holdout."""

from __future__ import annotations

import dataclasses
import math
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from personalize.domain.decisions import OfferCandidate
from personalize.offers.arbitration import (
    ConsentFlags,
    ExplorationPolicy,
    arbitrate,
    in_holdout,
    policy_probabilities,
)
from personalize.offers.catalog import Catalog, load_catalog
from personalize.offers.contact import CAP_DAY, CAP_GLOBAL, ContactState
from personalize.offers.synthetic import make_catalog, make_facts

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "offers.yaml"
NOW = 1_795_000_000.0  # 2026-11-18, inside every example offer's validity window
GREEDY = ExplorationPolicy(mode="greedy")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(EXAMPLE)


def shipping_payer_facts() -> dict[str, Any]:
    """The product brief's customer: always paid shipping, likely to buy, cart of 42."""
    return {
        "profile": {
            "orders": 5,
            "shipping_paid_ratio": 1.0,
            "stage": "consideration",
            "segments": ["active"],
            "return_rate": 0.0,
        },
        "session": {"page_views": 6, "product_views": 3, "checkout_started": 0},
        "cart": {"value": 42.0, "items": 2},
        "context": {"page_type": "cart", "channel": "web"},
        "scores": {"p_purchase": 0.71, "p_buy_again": 0.3, "churn_risk": 0.1},
    }


def test_free_shipping_scenario(catalog: Catalog) -> None:
    decision = arbitrate(
        catalog,
        shipping_payer_facts(),
        now=NOW,
        rng=random.Random(0),
        policy=GREEDY,
        consent=ConsentFlags(personalization=True, marketing=True),
    )
    assert decision.offer_id == "free-shipping-converter"
    assert decision.probability == 1.0 and not decision.explored and not decision.holdout
    # 0.71 x 6.0 (store value) x 1.3 (cart page) x 1.0 (lever)
    chosen = next(c for c in decision.candidates if c.offer_id == "free-shipping-converter")
    assert chosen.priority == pytest.approx(0.71 * 6.0 * 1.3)
    assert decision.explanation.startswith("free shipping: cart.value >= 30 (cart.value=42.00); ")
    assert (
        "profile.shipping_paid_ratio > 0.8 (profile.shipping_paid_ratio=1.00)"
        in decision.explanation
    )
    assert (
        "p_purchase 0.71; priority 5.54 = propensity 0.71 x value 6.00 x context 1.30 x lever 1.00"
        in decision.explanation
    )
    assert decision.explanation.endswith("beat double loyalty points 1.20, no-offer 1.00")
    assert decision.candidates[0].offer_id is None and decision.candidates[0].eligible
    assert all(isinstance(c, OfferCandidate) for c in decision.candidates)
    assert decision.policy_version == f"{catalog.version}/greedy"


def test_free_shipping_is_not_offered_to_someone_who_never_pays_shipping(catalog: Catalog) -> None:
    facts = shipping_payer_facts()
    facts["profile"]["shipping_paid_ratio"] = 0.2
    decision = arbitrate(
        catalog,
        facts,
        now=NOW,
        rng=random.Random(0),
        policy=GREEDY,
        consent=ConsentFlags(True, True),
    )
    free = next(c for c in decision.candidates if c.offer_id == "free-shipping-converter")
    assert not free.eligible and free.failed == ["eligibility: profile.shipping_paid_ratio > 0.8"]
    assert decision.offer_id == "loyalty-double-points"  # 0.3 x 4.0 = 1.2 beats no-offer 1.0


def test_consent_rules(catalog: Catalog) -> None:
    facts = shipping_payer_facts()
    no_marketing = arbitrate(
        catalog,
        facts,
        now=NOW,
        rng=random.Random(0),
        policy=GREEDY,
        consent=ConsentFlags(personalization=True, marketing=False),
    )
    free = next(c for c in no_marketing.candidates if c.offer_id == "free-shipping-converter")
    assert free.failed == ["consent:marketing"]
    assert no_marketing.offer_id is None
    # Without personalization consent the lead removes profile/scores; personal rules fail
    # by construction, non-personal service offers still work.
    anonymous = {k: v for k, v in facts.items() if k not in ("profile", "scores")}
    anonymous["session"] = {"checkout_started": 1}
    anonymous["context"] = {"page_type": "checkout", "channel": "web"}
    decision = arbitrate(
        catalog,
        anonymous,
        now=NOW,
        rng=random.Random(0),
        policy=GREEDY,
        consent=ConsentFlags(personalization=False, marketing=True),
    )
    free = next(c for c in decision.candidates if c.offer_id == "free-shipping-converter")
    assert free.failed[0] == "consent:personalization" or "consent:personalization" in free.failed
    assert decision.offer_id == "returns-help"  # service, non-personal rules, 0.8 x 1.5 = 1.2
    # Even when the profile is (wrongly) still present, personal rules fail without consent.
    leaked = arbitrate(
        catalog,
        facts,
        now=NOW,
        rng=random.Random(0),
        policy=GREEDY,
        consent=ConsentFlags(personalization=False, marketing=True),
    )
    free = next(c for c in leaked.candidates if c.offer_id == "free-shipping-converter")
    assert "consent:personalization" in free.failed and not free.eligible


def test_validity_channel_and_contact_state(catalog: Catalog) -> None:
    facts = shipping_payer_facts()
    facts["profile"]["orders"] = 0
    before = arbitrate(
        catalog,
        facts,
        now=1_700_000_000.0,
        rng=random.Random(0),
        policy=GREEDY,
        consent=ConsentFlags(True, True),
    )
    welcome = next(c for c in before.candidates if c.offer_id == "welcome-5")
    assert welcome.failed == ["validity"]
    sms = arbitrate(
        catalog,
        facts,
        now=NOW,
        rng=random.Random(0),
        policy=GREEDY,
        channel="sms",
        consent=ConsentFlags(True, True),
    )
    assert sms.offer_id is None and all("channel" in c.failed for c in sms.candidates[1:])
    blocked = ContactState(blocked={"free-shipping-converter": (CAP_DAY,)})
    capped = arbitrate(
        catalog,
        shipping_payer_facts(),
        now=NOW,
        rng=random.Random(0),
        policy=GREEDY,
        consent=ConsentFlags(True, True),
        contact=blocked,
    )
    free = next(c for c in capped.candidates if c.offer_id == "free-shipping-converter")
    assert free.failed == [CAP_DAY] and capped.offer_id != "free-shipping-converter"
    everything = arbitrate(
        catalog,
        shipping_payer_facts(),
        now=NOW,
        rng=random.Random(0),
        policy=GREEDY,
        consent=ConsentFlags(True, True),
        contact=ContactState(global_reasons=(CAP_GLOBAL,)),
    )
    assert everything.offer_id is None
    assert everything.explanation.startswith(
        "no offer: none of 6 offers is eligible; first failures: cap:offers_per_day (6)"
    )


def test_holdout_gets_no_offer(catalog: Catalog) -> None:
    decision = arbitrate(
        catalog,
        shipping_payer_facts(),
        now=NOW,
        rng=random.Random(0),
        consent=ConsentFlags(True, True),
        holdout=True,
        policy=ExplorationPolicy(mode="epsilon_greedy", epsilon=1.0),
    )
    assert decision.offer_id is None and decision.probability == 1.0 and decision.holdout
    assert decision.explanation == "no offer: customer is in the holdout group"
    assert all(
        c.failed == ["holdout"]
        for c in decision.candidates[1:]
        if c.offer_id == "free-shipping-converter"
    )


def test_holdout_assignment_is_stable_and_has_the_configured_share() -> None:
    ids = [f"u:{i}" for i in range(100_000)]
    first = [in_holdout(cid, 0.05) for cid in ids]
    assert first == [in_holdout(cid, 0.05) for cid in ids]
    share = sum(first) / len(ids)
    assert abs(share - 0.05) < 0.003  # ~4 standard errors of a binomial(100k, 0.05)
    # Nested: growing the share keeps everyone already held out.
    assert all(in_holdout(cid, 0.10) for cid, held in zip(ids[:20_000], first[:20_000]) if held)
    other_salt = [in_holdout(cid, 0.05, salt="experiment-2") for cid in ids[:20_000]]
    assert other_salt != first[:20_000]
    assert not any(in_holdout(cid, 0.0) for cid in ids[:1000])
    assert all(in_holdout(cid, 1.0) for cid in ids[:1000])
    assert in_holdout("u:1", 0.05) is in_holdout("u:1", 0.05)


def test_policy_probabilities_known_answers() -> None:
    assert policy_probabilities(
        [1.0, 2.0], ExplorationPolicy(mode="softmax", temperature=1.0)
    ) == pytest.approx([1 / (1 + math.e), math.e / (1 + math.e)])
    assert policy_probabilities(
        [1.0, 3.0, 2.0], ExplorationPolicy(mode="epsilon_greedy", epsilon=0.3)
    ) == pytest.approx([0.1, 0.8, 0.1])
    # Ties go to the first candidate (no-offer is always first).
    assert policy_probabilities([2.0, 2.0], GREEDY) == [1.0, 0.0]
    with pytest.raises(ValueError, match="epsilon"):
        ExplorationPolicy(epsilon=1.5)


def test_epsilon_greedy_draws_match_logged_probabilities(catalog: Catalog) -> None:
    rng = random.Random(7)
    policy = ExplorationPolicy(mode="epsilon_greedy", epsilon=0.3)
    counts: dict[str | None, int] = {}
    n = 6000
    for _ in range(n):
        d = arbitrate(
            catalog,
            shipping_payer_facts(),
            now=NOW,
            rng=rng,
            policy=policy,
            consent=ConsentFlags(True, True),
        )
        counts[d.offer_id] = counts.get(d.offer_id, 0) + 1
    logged = {c.offer_id: c.probability for c in d.candidates if c.eligible}
    # eligible: no-offer, free shipping (greedy), loyalty points -> 0.1, 0.8, 0.1
    assert logged == pytest.approx(
        {None: 0.1, "free-shipping-converter": 0.8, "loyalty-double-points": 0.1}
    )
    for offer_id, p in logged.items():
        assert abs(counts.get(offer_id, 0) / n - p) < 0.025


# --- properties -------------------------------------------------------------------

SMALL_SYNTHETIC = make_catalog(30, seed=3)
EXAMPLE_CATALOG = load_catalog(EXAMPLE)
policies = st.one_of(
    st.just(GREEDY),
    st.builds(lambda e: ExplorationPolicy(mode="epsilon_greedy", epsilon=e), st.floats(0.0, 1.0)),
    st.builds(lambda t: ExplorationPolicy(mode="softmax", temperature=t), st.floats(0.01, 100.0)),
)


@st.composite
def decision_inputs(draw: st.DrawFn) -> dict[str, Any]:
    facts = make_facts(random.Random(draw(st.integers(0, 10_000))))
    for group in ("profile", "scores", "cart", "session", "item"):
        if draw(st.booleans()) and draw(st.booleans()):
            facts.pop(group)
    if "scores" in facts and draw(st.booleans()):
        facts["scores"]["p_purchase"] = draw(
            st.one_of(st.none(), st.floats(allow_nan=True), st.text(max_size=3))
        )
    catalog = draw(st.sampled_from([EXAMPLE_CATALOG, SMALL_SYNTHETIC]))
    ids = sorted(catalog.offers)
    blocked_ids = draw(st.sets(st.sampled_from(ids), max_size=len(ids)))
    contact = ContactState(
        blocked={
            o: (draw(st.sampled_from(["cap:per_day", "budget:total", "suppressed:dismissals"])),)
            for o in blocked_ids
        },
        global_reasons=(CAP_GLOBAL,) if draw(st.integers(0, 9)) == 0 else (),
    )
    return {
        "catalog": catalog,
        "facts": facts,
        "policy": draw(policies),
        "consent": ConsentFlags(personalization=draw(st.booleans()), marketing=draw(st.booleans())),
        "contact": contact,
        "holdout": draw(st.integers(0, 9)) == 0,
        "channel": draw(st.sampled_from(["web", "web", "email", "sms", "app"])),
        "now": draw(st.sampled_from([1_700_000_000.0, NOW, 1_900_000_000.0])),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


@settings(max_examples=250, deadline=None)
@given(decision_inputs())
def test_a_blocked_offer_is_never_chosen(inp: dict[str, Any]) -> None:
    catalog: Catalog = inp["catalog"]
    consent: ConsentFlags = inp["consent"]
    decision = arbitrate(
        catalog,
        inp["facts"],
        now=inp["now"],
        rng=random.Random(inp["seed"]),
        policy=inp["policy"],
        channel=inp["channel"],
        consent=consent,
        contact=inp["contact"],
        holdout=inp["holdout"],
    )
    probs = [c.probability for c in decision.candidates]
    assert math.fsum(probs) == pytest.approx(1.0, abs=1e-9)
    assert decision.probability > 0
    assert all(c.probability == 0 for c in decision.candidates if not c.eligible)
    assert all(c.failed for c in decision.candidates if not c.eligible)
    if decision.offer is None:
        return
    # Re-check every gate independently of arbitrate's bookkeeping.
    compiled = decision.offer
    offer = compiled.offer
    assert not inp["holdout"]
    assert not inp["contact"].reasons(offer.id)
    assert inp["channel"] in offer.channels
    assert offer.purpose == "service" or consent.marketing
    assert compiled.valid_from is None or inp["now"] >= compiled.valid_from
    assert compiled.valid_until is None or inp["now"] < compiled.valid_until
    for named in compiled.rules:
        assert named.rule.passes(inp["facts"])
        assert consent.personalization or not named.rule.personal


@settings(max_examples=80, deadline=None)
@given(decision_inputs())
def test_evaluate_all_changes_logs_not_choices(inp: dict[str, Any]) -> None:
    kwargs = {
        "now": inp["now"],
        "policy": inp["policy"],
        "channel": inp["channel"],
        "consent": inp["consent"],
        "contact": inp["contact"],
        "holdout": inp["holdout"],
    }
    fast = arbitrate(inp["catalog"], inp["facts"], rng=random.Random(inp["seed"]), **kwargs)
    full = arbitrate(
        inp["catalog"], inp["facts"], rng=random.Random(inp["seed"]), evaluate_all=True, **kwargs
    )
    assert fast.offer_id == full.offer_id and fast.probability == full.probability
    for a, b in zip(fast.candidates, full.candidates, strict=True):
        assert a.eligible == b.eligible and set(a.failed) <= set(b.failed)


@settings(max_examples=120, deadline=None)
@given(decision_inputs())
def test_cached_gate_plans_log_what_a_fresh_catalog_logs(inp: dict[str, Any]) -> None:
    """The catalog caches its gate plans per visitor kind and validity window; a catalog that
    has served other visitors and times must log exactly what a fresh copy logs."""
    kwargs = {
        "now": inp["now"],
        "policy": inp["policy"],
        "channel": inp["channel"],
        "consent": inp["consent"],
        "contact": inp["contact"],
        "holdout": inp["holdout"],
    }
    fresh = dataclasses.replace(inp["catalog"])
    assert not fresh.plans
    used = arbitrate(inp["catalog"], inp["facts"], rng=random.Random(inp["seed"]), **kwargs)
    new = arbitrate(fresh, inp["facts"], rng=random.Random(inp["seed"]), **kwargs)
    assert used.candidates == new.candidates
    assert (used.offer_id, used.probability, used.explanation) == (new.offer_id, new.probability, new.explanation)


def test_gate_plans_follow_validity_boundaries(catalog: Catalog) -> None:
    facts = shipping_payer_facts()
    facts["profile"]["orders"] = 0
    consent = ConsentFlags(True, True)
    for now, expected in [(1_700_000_000.0, ["validity"]), (NOW, []), (1_700_000_000.0, ["validity"])]:
        decision = arbitrate(catalog, facts, now=now, rng=random.Random(0), policy=GREEDY, consent=consent)
        welcome = next(c for c in decision.candidates if c.offer_id == "welcome-5")
        assert welcome.failed[:1] == expected
