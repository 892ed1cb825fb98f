"""A straightforward arbitration, offer by offer and rule by rule: the reference the optimised
``personalize.offers.arbitration.arbitrate`` must match exactly (candidates, probabilities,
``failed`` reasons, explanation, draws from the rng). It is the algorithm the module docstring
describes, written for clarity, with no plan, mask or cache; it only shares the public pieces
(``Rule.passes`` and ``Rule.explain``)."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from personalize.domain.decisions import OfferCandidate
from personalize.offers.arbitration import (
    CHANNEL,
    CONSENT_MARKETING,
    CONSENT_PERSONALIZATION,
    DEFAULT_POLICY,
    FULL_CONSENT_NO_MARKETING,
    HOLDOUT,
    VALIDITY,
    ConsentFlags,
    ExplorationPolicy,
)
from personalize.offers.catalog import Catalog, CompiledOffer, NamedRule
from personalize.offers.contact import ContactState


@dataclass
class ReferenceDecision:
    offer: CompiledOffer | None
    probability: float
    explored: bool
    holdout: bool
    candidates: list[OfferCandidate]
    explanation: str
    policy_version: str


@dataclass
class _Scored:
    offer: CompiledOffer | None
    candidate: OfferCandidate
    passed: list[NamedRule]
    context_weight: float = 1.0


def _context_weight(offer: CompiledOffer, context: Mapping[str, Any]) -> float:
    weight = 1.0
    for key, w in offer.offer.context_weights.items():
        field, _, expected = key.partition(":")
        value = context.get(field)
        if value is not None and str(value) == expected:
            weight *= w
    return weight


def propensity_of(offer: CompiledOffer, facts: Mapping[str, Any], personalized: bool) -> float:
    default = offer.offer.default_propensity
    if offer.score_name is not None:
        if not personalized:
            return default
        scores = facts.get("scores")
        value = scores.get(offer.score_name) if isinstance(scores, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return min(max(float(value), 0.0), 1.0)
        return default
    if offer.propensity_expr is not None:
        if offer.propensity_expr.personal and not personalized:
            return default
        value = offer.propensity_expr.value(facts)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return max(float(value), 0.0)
        return default
    return default


def policy_probabilities(priorities: Sequence[float], policy: ExplorationPolicy) -> list[float]:
    """Probabilities of eligible candidates (index 0 = no-offer wins ties) under ``policy``."""
    n = len(priorities)
    best = max(range(n), key=lambda i: (priorities[i], -i))
    if policy.mode == "softmax":
        top = priorities[best]
        weights = [math.exp((p - top) / policy.temperature) for p in priorities]
        total = math.fsum(weights)
        return [w / total for w in weights]
    epsilon = policy.epsilon if policy.mode == "epsilon_greedy" else 0.0
    probs = [epsilon / n] * n
    probs[best] += 1.0 - epsilon
    return probs


def _draw(probs: Sequence[float], rng: random.Random) -> int:
    u = rng.random()
    cumulative = 0.0
    last_positive = 0
    for i, p in enumerate(probs):
        if p <= 0:
            continue
        last_positive = i
        cumulative += p
        if u < cumulative:
            return i
    return last_positive


def reference_arbitrate(
    catalog: Catalog,
    facts: Mapping[str, Any],
    *,
    now: float,
    rng: random.Random,
    policy: ExplorationPolicy = DEFAULT_POLICY,
    channel: str | None = None,
    consent: ConsentFlags = FULL_CONSENT_NO_MARKETING,
    contact: ContactState | None = None,
    holdout: bool = False,
    evaluate_all: bool = False,
) -> ReferenceDecision:
    context = facts.get("context")
    if not isinstance(context, dict):
        context = {}
    if channel is None:
        channel = str(context.get("channel") or "web")
    no_offer = _Scored(
        None,
        OfferCandidate(
            offer_id=None, eligible=True, priority=catalog.no_offer_priority, propensity=1.0
        ),
        [],
    )
    candidates = [no_offer.candidate]
    eligible = [no_offer]
    for compiled in catalog.offers.values():
        offer = compiled.offer
        failed: list[str] = []
        if holdout:
            failed.append(HOLDOUT)
        if (compiled.valid_from is not None and now < compiled.valid_from) or (
            compiled.valid_until is not None and now >= compiled.valid_until
        ):
            failed.append(VALIDITY)
        if channel not in offer.channels:
            failed.append(CHANNEL)
        if offer.purpose == "marketing" and not consent.marketing:
            failed.append(CONSENT_MARKETING)
        if contact is not None:
            failed.extend(contact.reasons(offer.id))
        passed: list[NamedRule] = []
        if not failed or evaluate_all:
            for named in compiled.rules:
                if named.rule.personal and not consent.personalization:
                    if CONSENT_PERSONALIZATION not in failed:
                        failed.append(CONSENT_PERSONALIZATION)
                    failed.append(f"{named.kind}: {named.rule.source}")
                elif named.rule.passes(facts):
                    passed.append(named)
                else:
                    failed.append(f"{named.kind}: {named.rule.source}")
                if failed and not evaluate_all:
                    break
        if failed:
            candidates.append(OfferCandidate(offer_id=offer.id, eligible=False, failed=failed))
            continue
        propensity = propensity_of(compiled, facts, consent.personalization)
        weight = _context_weight(compiled, context)
        candidate = OfferCandidate(
            offer_id=offer.id,
            eligible=True,
            propensity=round(propensity, 6),
            value=offer.store_value,
            priority=propensity * offer.store_value * weight * offer.lever,
        )
        candidates.append(candidate)
        eligible.append(_Scored(compiled, candidate, passed, weight))
    probs = policy_probabilities([s.candidate.priority for s in eligible], policy)
    for s, p in zip(eligible, probs, strict=True):
        s.candidate.probability = p
    chosen_index = _draw(probs, rng)
    greedy_index = max(range(len(eligible)), key=lambda i: (eligible[i].candidate.priority, -i))
    chosen = eligible[chosen_index]
    explored = chosen_index != greedy_index
    return ReferenceDecision(
        offer=chosen.offer,
        probability=chosen.candidate.probability,
        explored=explored,
        holdout=holdout,
        candidates=candidates,
        explanation=_explain(
            chosen, eligible, candidates, facts, explored=explored, holdout=holdout
        ),
        policy_version=f"{catalog.version}/{policy.version}",
    )


def _explain(
    chosen: _Scored,
    eligible: Sequence[_Scored],
    candidates: Sequence[OfferCandidate],
    facts: Mapping[str, Any],
    *,
    explored: bool,
    holdout: bool,
) -> str:
    c = chosen.candidate
    others = sorted(
        (s for s in eligible if s is not chosen), key=lambda s: s.candidate.priority, reverse=True
    )
    if chosen.offer is None:
        if holdout:
            return "no offer: customer is in the holdout group"
        if not others:
            blocked = candidates[1:]
            if not blocked:
                return "no offer: the catalog is empty"
            reasons: Counter[str] = Counter()
            for cand in blocked:  # first-seen order breaks ties
                if cand.failed:
                    reasons[cand.failed[0]] += 1
            top = ", ".join(
                f"{r} ({n})" for r, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:3]
            )
            return f"no offer: none of {len(blocked)} offers is eligible; first failures: {top}"
        best = others[0]
        name = best.offer.offer.name if best.offer else "?"
        text = f"no offer: priority {c.priority:.2f} beat {name} {best.candidate.priority:.2f}"
        return text + (f" (explored, probability {c.probability:.3f})" if explored else "")
    offer = chosen.offer.offer
    parts = [named.rule.explain(facts) for named in chosen.passed]
    score = chosen.offer.score_name or (
        chosen.offer.propensity_expr.source if chosen.offer.propensity_expr else None
    )
    parts.append(f"{score or 'default propensity'} {c.propensity:.2f}")
    formula = (
        f"priority {c.priority:.2f} = propensity {c.propensity:.2f} x value {offer.store_value:.2f}"
        f" x context {chosen.context_weight:.2f} x lever {offer.lever:.2f}"
    )
    beaten = []
    for s in others[:2]:
        label = "no-offer" if s.offer is None else s.offer.offer.name
        beaten.append(f"{label} {s.candidate.priority:.2f}")
    if not any(s.offer is None for s in others[:2]):
        baseline = next((s for s in others if s.offer is None), None)
        if baseline is not None:
            beaten.append(f"no-offer {baseline.candidate.priority:.2f}")
    verb = "explored over" if explored else "beat"
    text = f"{offer.name}: {'; '.join(parts)}; {formula} {verb} {', '.join(beaten)}"
    if explored:
        text += f" (probability {c.probability:.3f})"
    return text
