"""The compiled arbitration (plans, rule sets, remembered outcomes) logs exactly what evaluating
offer by offer logs: pinned against ``tests/offers_reference.py`` on randomized catalogs, facts,
contact states, consents, policies and times, with warm and cold caches."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from personalize.offers.arbitration import ConsentFlags, OfferDecision, arbitrate
from personalize.offers.catalog import Catalog, load_catalog
from personalize.offers.synthetic import make_catalog, make_facts
from tests.offers_random import NOW, random_catalog, random_facts, random_kwargs
from tests.offers_reference import ReferenceDecision, reference_arbitrate

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "offers.yaml"

# --- equality with the reference -------------------------------------------------------------


def assert_same(decision: OfferDecision, reference: ReferenceDecision) -> None:
    assert msgspec.to_builtins(decision.candidates) == msgspec.to_builtins(reference.candidates)
    assert decision.offer_id == (reference.offer.id if reference.offer else None)
    assert decision.probability == reference.probability
    assert (decision.explored, decision.holdout) == (reference.explored, reference.holdout)
    assert decision.explanation == reference.explanation
    assert decision.policy_version == reference.policy_version
    # The log split is the same candidates, each part in catalog order.
    assert decision.eligible_candidates == [c for c in decision.candidates if c.eligible]
    assert list(decision.blocked_candidates) == [c for c in decision.candidates if not c.eligible]


def decide_both(catalog: Catalog, facts: dict[str, Any], kwargs: dict[str, Any], seed: int) -> None:
    rng_fast, rng_ref = random.Random(seed), random.Random(seed)
    decision = arbitrate(catalog, facts, rng=rng_fast, **kwargs)
    reference = reference_arbitrate(catalog, facts, rng=rng_ref, **kwargs)
    assert_same(decision, reference)
    assert rng_fast.getstate() == rng_ref.getstate()  # the same draws


# Long-lived catalogs: their plans, rule-set memos and outcomes warm up across examples.
WARM = [
    make_catalog(200, 0),
    make_catalog(40, 5),
    load_catalog(EXAMPLE),
    random_catalog(random.Random(1), 60),
]


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, len(WARM) - 1), st.booleans())
def test_warm_catalogs_match_the_reference(seed: int, which: int, synthetic_facts: bool) -> None:
    r = random.Random(seed)
    catalog = WARM[which]
    facts = make_facts(r) if synthetic_facts else random_facts(r)
    decide_both(catalog, facts, random_kwargs(r, catalog), seed)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 25))
def test_random_catalogs_match_the_reference(seed: int, n: int) -> None:
    r = random.Random(seed)
    catalog = random_catalog(r, n)
    for _ in range(8):  # several visitors on the same (warming) catalog
        facts = random_facts(r) if r.random() < 0.7 else make_facts(r)
        decide_both(catalog, facts, random_kwargs(r, catalog), r.randrange(2**32))


def test_a_catalog_used_for_many_visitors_logs_what_a_fresh_one_logs() -> None:
    r = random.Random(11)
    used = make_catalog(200, 0)
    visitors = [make_facts(r) for _ in range(300)]
    for facts in visitors:  # warm every plan and outcome
        for marketing in (False, True):
            arbitrate(used, facts, now=NOW, rng=r, consent=ConsentFlags(True, marketing))
    for facts in visitors[:50]:
        kwargs = random_kwargs(r, used)
        fresh = dataclasses.replace(used)
        a = arbitrate(used, facts, rng=random.Random(1), **kwargs)
        b = arbitrate(fresh, facts, rng=random.Random(1), **kwargs)
        assert msgspec.to_builtins(a.candidates) == msgspec.to_builtins(b.candidates)
        assert (a.offer_id, a.probability, a.explanation) == (
            b.offer_id,
            b.probability,
            b.explanation,
        )


def test_remembered_outcomes_are_bounded() -> None:
    catalog = random_catalog(random.Random(3), 30)
    r = random.Random(4)
    for _ in range(400):
        decide_both(catalog, random_facts(r), {"now": NOW, "consent": ConsentFlags(True, True)}, 0)
    plans = [p for k, p in catalog.plans.items() if k != "boundaries"]
    assert plans and all(len(p.outcomes) <= p.outcome_cap for p in plans)


def test_no_offer_alone_gets_what_the_policy_gives_one_candidate() -> None:
    import math

    from personalize.offers.arbitration import ExplorationPolicy
    from personalize.offers.catalog import catalog_from_document

    policies = [
        ExplorationPolicy(mode="greedy"),
        ExplorationPolicy(mode="softmax", temperature=0.3),
        *(ExplorationPolicy(epsilon=e) for e in (0.0, 0.05, 0.1, 0.3, 0.7, 1.0, 1 / 3)),
    ]
    offer = {"id": "o", "name": "o", "kind": "message"}  # marketing: blocked without consent
    for priority in (0.0, 1.0, 2.5, math.inf, math.nan):
        catalog = catalog_from_document({"offers": [offer], "no_offer_priority": priority})
        for policy in policies:
            for holdout in (False, True):
                kwargs: dict[str, Any] = {"now": NOW, "policy": policy, "holdout": holdout}
                fast_rng, ref_rng = random.Random(3), random.Random(3)
                decision = arbitrate(catalog, {}, rng=fast_rng, **kwargs)
                reference = reference_arbitrate(catalog, {}, rng=ref_rng, **kwargs)
                assert fast_rng.getstate() == ref_rng.getstate()
                assert decision.offer is None and decision.explanation == reference.explanation
                got, want = decision.probability, reference.probability
                assert got == want or (math.isnan(got) and math.isnan(want)), (priority, policy)
                assert decision.candidates[0].probability == got or math.isnan(got)
