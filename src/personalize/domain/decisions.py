"""The decision record: what was shown, why, and with what probability.

One record per POST /v1/decide, appended to the decision stream (field ``d``,
JSON). Attribution, experiments and off-policy evaluation read only this and
the event stream, so the record must be self-contained.
"""

from __future__ import annotations

import msgspec


class DecisionContext(msgspec.Struct, kw_only=True, omit_defaults=True):
    page_type: str | None = None
    item_id: str | None = None
    category: str | None = None
    channel: str = "web"


class RecommendedItem(msgspec.Struct, kw_only=True, omit_defaults=True):
    item_id: str
    score: float
    reason: str
    slot: str = "recommendations"


class OfferCandidate(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One offer considered (``offer_id`` None is the always-present "no offer")."""

    offer_id: str | None
    eligible: bool
    failed: list[str] = []  # names of the rules / policies that blocked it
    propensity: float = 0.0
    value: float = 0.0
    priority: float = 0.0
    probability: float = 0.0  # probability of choosing it under the logging policy


class DecisionRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    decision_id: str
    timestamp: float
    customer_id: str  # "u:<user_id>" or "a:<anonymous_id>"
    user_id: str | None = None
    anonymous_id: str | None = None
    session_id: str | None = None
    context: DecisionContext = msgspec.field(default_factory=DecisionContext)
    items: list[RecommendedItem] = []
    model_version: str | None = None
    fallback: str | None = None
    offer_id: str | None = None
    offer_kind: str | None = None
    offer_value: float | None = None
    probability: float = 1.0  # probability of the chosen offer (or of no offer) under the policy
    explored: bool = False
    candidates: list[OfferCandidate] = []
    blocked_offers: int = 0  # ineligible offers in all; the first few are in candidates, with why
    policy_version: str | None = None
    propensity_version: str | None = None
    experiment_id: str | None = None
    arm: str | None = None
    holdout: bool = False
