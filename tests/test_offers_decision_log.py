"""The decision records written for an offer decision: the same JSON bytes as splitting the full
candidate list (no-offer and eligible first, 50 of them, then 10 blocked, in catalog order, with the
count of blocked offers) and
encoding each record on its own. Attribution and off-policy evaluation read these bytes."""

from __future__ import annotations

import random
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from personalize.domain.decisions import (
    DecisionContext,
    DecisionRecord,
    OfferCandidate,
    RecommendedItem,
)
from personalize.offers.arbitration import OfferDecision, arbitrate
from personalize.offers.synthetic import make_catalog, make_facts
from personalize.service.decide import _decision_records
from tests.offers_random import random_kwargs

CATALOGS = [make_catalog(200, 0), make_catalog(7, 2), make_catalog(0, 0)]
ENCODE = msgspec.json.Encoder().encode


def expected_records(record: DecisionRecord, decision: OfferDecision) -> tuple[bytes, bytes | None]:
    logged: list[OfferCandidate] = []
    blocked: list[OfferCandidate] = []
    for c in decision.candidates:
        (logged if c.eligible or c.offer_id is None else blocked).append(c)
    common: dict[str, Any] = {
        "candidates": logged[:50] + blocked[:10],
        "policy_version": decision.policy_version,
        "holdout": decision.holdout,
        "blocked_offers": len(blocked),
    }
    no_offer_p = next(c.probability for c in decision.candidates if c.offer_id is None)
    without = msgspec.structs.replace(
        record, probability=no_offer_p if decision.offer is None else 1.0, **common
    )
    if decision.offer is None:
        return ENCODE(without), None
    o = decision.offer.offer
    with_offer = msgspec.structs.replace(
        record,
        offer_id=o.id,
        offer_kind=o.kind,
        offer_value=float(o.value),
        probability=decision.probability,
        explored=decision.explored,
        **common,
    )
    return ENCODE(without), ENCODE(with_offer)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, len(CATALOGS) - 1))
def test_decision_records_are_the_bytes_of_the_full_split(seed: int, which: int) -> None:
    r = random.Random(seed)
    catalog = CATALOGS[which]
    kwargs = random_kwargs(r, catalog)
    kwargs["evaluate_all"] = False
    decision = arbitrate(catalog, make_facts(r), rng=r, **kwargs)
    record = DecisionRecord(
        decision_id="d1",
        timestamp=1_795_000_000.0,
        customer_id="u:1",
        context=DecisionContext(page_type="cart"),
        items=[RecommendedItem(item_id="i1", score=0.5, reason="because")],
    )
    without, with_offer = _decision_records(record, decision)
    assert (
        ENCODE(without),
        None if with_offer is None else ENCODE(with_offer),
    ) == expected_records(record, decision)
    assert _decision_records(record, None) == (record, None)


def test_more_than_fifty_eligible_offers_keep_the_first_fifty_with_no_offer() -> None:
    from personalize.offers.catalog import catalog_from_document

    offers = [
        {
            "id": f"o{i}",
            "name": f"o{i}",
            "kind": "message",
            "purpose": "service",
            "lever": 1 + i / 100,
        }
        for i in range(120)
    ]
    catalog = catalog_from_document({"offers": offers})
    decision = arbitrate(catalog, {}, now=1_795_000_000.0, rng=random.Random(0))
    record = DecisionRecord(decision_id="d1", timestamp=1.0, customer_id="u:1")
    without, with_offer = _decision_records(record, decision)
    assert (
        ENCODE(without),
        None if with_offer is None else ENCODE(with_offer),
    ) == expected_records(record, decision)
    logged = msgspec.json.decode(ENCODE(without))["candidates"]
    assert len(logged) == 50 and logged[0]["offer_id"] is None


def test_a_split_with_an_empty_side_still_encodes_a_list() -> None:
    decision = arbitrate(CATALOGS[2], {}, now=1_795_000_000.0, rng=random.Random(0))  # no offers
    record = DecisionRecord(decision_id="d1", timestamp=1.0, customer_id="u:1")
    assert (
        msgspec.json.decode(ENCODE(_decision_records(record, decision)[0]))["candidates"][0][
            "offer_id"
        ]
        is None
    )
    bare = OfferDecision(
        offer=None,
        probability=1.0,
        explored=False,
        holdout=False,
        explanation="",
        policy_version="v",
        eligible_candidates=[],
        blocked_candidates=(OfferCandidate(offer_id="o", eligible=False, failed=["x"]),),
    )
    logged = msgspec.json.decode(ENCODE(_decision_records(record, bare)[0]))["candidates"]
    assert [c["offer_id"] for c in logged] == ["o"]
