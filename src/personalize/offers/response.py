"""The offer part of the ``POST /v1/decide`` response and of the decision record."""

from __future__ import annotations

from typing import Any

import msgspec

from personalize.offers.arbitration import OfferDecision


class OfferPayload(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What the storefront needs to render the offer (None in the response: show nothing)."""

    offer_id: str
    name: str
    kind: str
    value: float  # to the customer: percent, money or points depending on kind
    channels: list[str]
    expires_at: float  # unix seconds: the storefront hides the offer after this
    explanation: str
    probability: float
    explored: bool = False


def offer_payload(decision: OfferDecision, now: float) -> OfferPayload | None:
    compiled = decision.offer
    if compiled is None:
        return None
    offer = compiled.offer
    expires_at = now + offer.expires_in_hours * 3600.0
    if compiled.valid_until is not None:
        expires_at = min(expires_at, compiled.valid_until)
    return OfferPayload(
        offer_id=offer.id,
        name=offer.name,
        kind=offer.kind,
        value=offer.value,
        channels=list(offer.channels),
        expires_at=expires_at,
        explanation=decision.explanation,
        probability=decision.probability,
        explored=decision.explored,
    )


def decision_record_fields(
    decision: OfferDecision, *, all_candidates: bool = False
) -> dict[str, Any]:
    """Keyword arguments for ``DecisionRecord`` (offer part).

    By default only eligible candidates (with their probabilities) and the ineligible ones
    that failed on a rule or a contact cap are logged; offers failing static gates (channel,
    validity, marketing consent, holdout) are left out to keep the record small with large
    catalogs. ``all_candidates=True`` logs every offer.
    """
    static = {"channel", "validity", "consent:marketing", "holdout"}
    candidates = (
        decision.candidates
        if all_candidates
        else [c for c in decision.candidates if c.eligible or not static.intersection(c.failed)]
    )
    offer = decision.offer.offer if decision.offer else None
    return {
        "offer_id": offer.id if offer else None,
        "offer_kind": offer.kind if offer else None,
        "offer_value": offer.value if offer else None,
        "probability": decision.probability,
        "explored": decision.explored,
        "candidates": candidates,
        "policy_version": decision.policy_version,
        "holdout": decision.holdout,
    }
