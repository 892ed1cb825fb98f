"""Arbitration: which offer (if any) to show now, with the probability of that choice.

For every offer in the catalog:

1. **Eligible** only if it is inside its validity window, offered on this channel, the
   customer is not in the holdout, marketing consent is given for a marketing offer, the
   contact policy and budgets do not block it (``ContactState``), and every eligibility,
   applicability and suitability rule passes. Without personalization consent every rule
   that reads ``profile`` or ``scores`` fails (and the propensity falls back to the
   offer's ``default_propensity``): the decision then uses only non-personal facts.
2. **Priority** = propensity x store_value x context weight x lever, where

   * propensity: ``facts["scores"][propensity_key]`` clipped to [0, 1], or the value of a
     rule expression (clipped to >= 0), or ``default_propensity`` when missing;
   * store_value: the offer's worth to the store per acceptance (e.g. expected margin);
   * context weight: product of the offer's ``context_weights`` whose ``field:value``
     matches ``facts["context"]`` (1.0 when none match);
   * lever: the business weight.

   "No offer" is always eligible, with priority ``catalog.no_offer_priority``.
3. **Policy**: greedy picks the highest priority (ties: no-offer first, then catalog order).
   Epsilon-greedy gives every eligible candidate ``epsilon / n`` plus ``1 - epsilon`` to the
   greedy one; softmax gives ``exp((priority - max) / temperature)`` normalised. The chosen
   candidate is drawn with the injected ``random.Random``, and every candidate's
   probability is returned (they sum to 1; ineligible candidates get 0).

The holdout (``in_holdout``) is a deterministic hash of the customer id: held-out
customers are never offered anything, so their outcomes measure the uplift.

Logged candidates: no-offer first, then every catalog offer in order. Ineligible offers
carry ``failed`` (the policy gates that blocked them, or their first failing rule unless
``evaluate_all``) and priority/propensity 0: their priority is never computed.

Cost: per catalog and visitor kind (holdout, channel, consent, validity window) a plan is
compiled once: static gates resolved, the rules still able to decide flattened into one
``RuleSet`` (each distinct rule once; rules over the same facts share their lookups). A decision
evaluates that set into a mask of failing rules. The mask decides every offer's fate, so the
outcome (each blocked offer's logged candidate, shared; which offers are eligible; the "none
eligible" explanation) is remembered per mask, and only eligible offers are scored. The full
candidate list is built only when asked for; the log takes the eligible/blocked split. For the
200-offer synthetic catalog: ~25-30 us of CPU per decision with warm caches, ~55 us after item
scoring has left them cold (it was ~120 / ~200 us offer by offer). Logs are exactly those of
evaluating offer by offer (``tests/test_offers_plan.py`` pins it against a straightforward
reference).
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, cast

import msgspec

from personalize.domain.decisions import OfferCandidate
from personalize.offers.catalog import Catalog, CompiledOffer, NamedRule
from personalize.offers.contact import ContactState
from personalize.offers.rules import Rule, RuleSet

NO_OFFER: Final = None
HOLDOUT: Final = "holdout"
VALIDITY: Final = "validity"
CHANNEL: Final = "channel"
CONSENT_MARKETING: Final = "consent:marketing"
CONSENT_PERSONALIZATION: Final = "consent:personalization"


class ExplorationPolicy(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    mode: Literal["greedy", "epsilon_greedy", "softmax"] = "epsilon_greedy"
    epsilon: float = 0.05  # share of decisions explored (epsilon_greedy)
    temperature: float = 1.0  # softmax temperature, in priority units

    def __post_init__(self) -> None:
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {self.epsilon}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")

    @property
    def version(self) -> str:
        if self.mode == "greedy":
            return "greedy"
        if self.mode == "softmax":
            return f"softmax(t={self.temperature:g})"
        return f"epsilon_greedy(e={self.epsilon:g})"


@dataclass(frozen=True, slots=True)
class ConsentFlags:
    personalization: bool = True
    marketing: bool = False


DEFAULT_POLICY: Final = ExplorationPolicy()
FULL_CONSENT_NO_MARKETING: Final = ConsentFlags()
_CONSENTS: Final = {(p, m): ConsentFlags(p, m) for p in (False, True) for m in (False, True)}


def consent_flags(personalization: bool, marketing: bool) -> ConsentFlags:
    """The (immutable, shared) flags for these consents."""
    return _CONSENTS[personalization, marketing]


@dataclass(frozen=True, slots=True)
class OfferDecision:
    offer: CompiledOffer | None  # None: show no offer
    probability: float  # of the chosen candidate under the policy
    explored: bool  # the chosen candidate is not the greedy one
    holdout: bool
    explanation: str
    policy_version: str
    # The candidates as the decision log takes them, each part in catalog order: no-offer and the
    # eligible offers; the blocked offers. A tuple of blocked offers is shared by every decision
    # with the same outcome (never mutate it or its candidates; consumers may memoize what they
    # derive from it by identity); a list was made for this decision alone.
    eligible_candidates: list[OfferCandidate]
    blocked_candidates: Sequence[OfferCandidate]
    # ``candidates`` is built from these on first use: per offer in catalog order, None where
    # eligible; the eligible offers' positions.
    _template: Sequence[OfferCandidate | None] = field(default=(), repr=False, compare=False)
    _eligible_slots: Sequence[int] = field(default=(), repr=False, compare=False)
    _candidates: list[OfferCandidate] | None = field(default=None, repr=False, compare=False)

    @property
    def offer_id(self) -> str | None:
        return self.offer.id if self.offer else None

    @property
    def candidates(self) -> list[OfferCandidate]:
        """No-offer first, then every catalog offer in order. Built on first use: the decision
        path only needs the split above, and filling 200 references into a list per decision
        touches 200 shared objects (cache misses cost more than the copy)."""
        if self._candidates is None:
            out: list[OfferCandidate | None] = [self.eligible_candidates[0], *self._template]
            for slot, candidate in zip(self._eligible_slots, self.eligible_candidates[1:], strict=True):
                out[slot + 1] = candidate
            object.__setattr__(self, "_candidates", out)
        return cast(list[OfferCandidate], self._candidates)


def in_holdout(customer_id: str, share: float, salt: str = "holdout") -> bool:
    """Stable assignment: sha256(salt:customer_id) mapped to [0, 1) is below ``share``."""
    if share <= 0:
        return False
    if share >= 1:
        return True
    digest = hashlib.sha256(f"{salt}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 < share


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


@dataclass(slots=True)
class _Scored:
    """An eligible candidate with what the explanation needs."""

    offer: CompiledOffer | None
    candidate: OfferCandidate
    passed: Sequence[NamedRule]  # explained only for the winner: formatting costs more than rules
    context_weight: float = 1.0


def _static_failures(compiled: CompiledOffer, now: float, channel: str, marketing: bool, holdout: bool) -> tuple[str, ...]:
    """The gates that depend only on the visitor's holdout, channel and marketing consent and on
    the time window: holdout, validity, channel, marketing consent (in this order)."""
    failed: list[str] = []
    if holdout:
        failed.append(HOLDOUT)
    if (compiled.valid_from is not None and now < compiled.valid_from) or (
        compiled.valid_until is not None and now >= compiled.valid_until
    ):
        failed.append(VALIDITY)
    if channel not in compiled.channel_set:
        failed.append(CHANNEL)
    if compiled.needs_marketing_consent and not marketing:
        failed.append(CONSENT_MARKETING)
    return tuple(failed)


# One rule of an offer in a plan: its bit in the plan's failure mask, or None when it fails for
# want of personalization consent (a personal rule of a non-personalized decision).
_Check = tuple[int | None, NamedRule]


@dataclass(frozen=True, slots=True)
class _Entry:
    """One catalog offer as a plan sees it."""

    compiled: CompiledOffer
    static: tuple[str, ...]  # gates failed for this visitor kind
    shared: OfferCandidate | None  # logged when the static gates block it (its rules unread)
    checks: tuple[_Check, ...]  # its rules in order, up to the one that must fail
    weights: tuple[tuple[str, str, float], ...] = ()  # context_weights as (field, value, weight)


@dataclass(slots=True)
class _Outcome:
    """What a failure mask decides for every offer (visitors without contact-policy blocks)."""

    template: list[OfferCandidate | None]  # per offer in catalog order; None: eligible
    eligible: tuple[int, ...]  # positions of the eligible offers
    blocked: tuple[OfferCandidate, ...]  # the ineligible offers' candidates, in catalog order
    summary: str | None = None  # the explanation when none is eligible, made once


def _rule_failures(checks: Sequence[_Check], failures: int, failed: list[str], evaluate_all: bool) -> None:
    """Append the offer's failing rules to ``failed`` as evaluating them in order would: the
    first failure decides unless ``evaluate_all``; a personal rule without personalization
    consent fails, preceded (once) by ``consent:personalization``."""
    for bit, named in checks:
        if bit is None:
            if CONSENT_PERSONALIZATION not in failed:
                failed.append(CONSENT_PERSONALIZATION)
            failed.append(named.label)
        elif failures & bit:
            failed.append(named.label)
        if failed and not evaluate_all:
            return  # one failure decides; the log names the first failing rule


class _Plan:
    """Arbitration compiled for one catalog and visitor kind (holdout, channel, consent,
    validity window, ``evaluate_all``): static gates resolved, rules flattened into a RuleSet,
    outcomes remembered per failure mask. Derived from an immutable catalog, cached on it."""

    __slots__ = ("entries", "evaluate_all", "interned", "outcome_cap", "outcomes", "rules", "slots")

    def __init__(
        self, catalog: Catalog, now: float, channel: str, marketing: bool, holdout: bool,
        personalized: bool, evaluate_all: bool,
    ) -> None:
        self.evaluate_all = evaluate_all
        index: dict[Rule, int] = {}  # identical rules are one object (interned at compile)
        entries: list[_Entry] = []
        for compiled in catalog.offers.values():
            static = _static_failures(compiled, now, channel, marketing, holdout)
            shared = None
            checks: list[_Check] = []
            if static and not evaluate_all:
                shared = OfferCandidate(offer_id=compiled.offer.id, eligible=False, failed=list(static))
            else:
                for named in compiled.rules:
                    if named.rule.personal and not personalized:
                        checks.append((None, named))
                        if not evaluate_all:
                            break  # it fails: later rules are never read
                    else:
                        checks.append((1 << index.setdefault(named.rule, len(index)), named))
            weights = tuple(
                (name, expected, w)
                for key, w in compiled.offer.context_weights.items()
                for name, _, expected in (key.partition(":"),)
            )
            entries.append(_Entry(compiled, static, shared, tuple(checks), weights))
        self.entries = tuple(entries)
        self.slots = {entry.compiled.offer.id: i for i, entry in enumerate(entries)}
        self.rules = RuleSet(tuple(index)) if index else None
        self.outcomes: dict[int, _Outcome] = {}
        # ~1.6 kB per remembered outcome for 200 offers; bounded to ~200k references a plan.
        self.outcome_cap = max(16, 200_000 // max(len(entries), 1))
        self.interned: dict[tuple[int, tuple[str, ...]], OfferCandidate] = {}

    def candidate(self, slot: int, failures: int, contact_reasons: tuple[str, ...]) -> OfferCandidate | None:
        """The logged candidate of a blocked offer, None when it is eligible."""
        entry = self.entries[slot]
        if entry.shared is not None and not contact_reasons:
            return entry.shared
        failed = [*entry.static, *contact_reasons]
        # A policy-blocked offer's rules are only evaluated on request (complete logs).
        if not failed or self.evaluate_all:
            _rule_failures(entry.checks, failures, failed, self.evaluate_all)
        if not failed:
            return None
        if contact_reasons:  # per customer: not worth remembering
            return OfferCandidate(offer_id=entry.compiled.offer.id, eligible=False, failed=failed)
        key = (slot, tuple(failed))
        shared = self.interned.get(key)
        if shared is None:
            shared = self.interned[key] = OfferCandidate(offer_id=entry.compiled.offer.id, eligible=False, failed=failed)
        return shared

    def outcome(self, failures: int) -> _Outcome:
        outcome = self.outcomes.get(failures)
        if outcome is None:
            template = [self.candidate(slot, failures, ()) for slot in range(len(self.entries))]
            outcome = _Outcome(
                template,
                tuple(slot for slot, c in enumerate(template) if c is None),
                tuple(c for c in template if c is not None),
            )
            if len(self.outcomes) >= self.outcome_cap:
                del self.outcomes[next(iter(self.outcomes))]  # the oldest
            self.outcomes[failures] = outcome
        return outcome


_MAX_PLANS: Final = 64


def _plan(
    catalog: Catalog, now: float, channel: str, marketing: bool, holdout: bool, personalized: bool,
    evaluate_all: bool,
) -> _Plan:
    """The plan for this visitor kind, cached on the catalog per (holdout, channel, consent, time
    window between two validity boundaries, evaluate_all)."""
    cache = catalog.plans
    boundaries = cache.get("boundaries")
    if boundaries is None:
        edges = {t for c in catalog.offers.values() for t in (c.valid_from, c.valid_until) if t is not None}
        boundaries = cache["boundaries"] = sorted(edges)
    key = (holdout, channel, marketing, personalized, evaluate_all, bisect.bisect_right(boundaries, now))
    plan = cache.get(key)
    if plan is None:
        if len(cache) > _MAX_PLANS:  # channels come from facts: keep odd ones from piling up
            kept = {k: v for k, v in cache.items() if isinstance(k, str)}  # not per visitor kind
            cache.clear()
            cache.update(kept)
        plan = cache[key] = _Plan(catalog, now, channel, marketing, holdout, personalized, evaluate_all)
    return cast(_Plan, plan)


def facts_read(catalog: Catalog) -> dict[str, frozenset[str]]:
    """Per group of facts, the fields the catalog's rules and propensity expressions can read
    (``{"profile": {"orders", "segments"}, "cart": {"value"}, ...}``), so facts builders compute
    only those. Scores are read whole (``propensity_key`` names one); context weights read the
    context. Cached on the catalog."""
    reads = catalog.plans.get("reads")
    if reads is None:
        fields: dict[str, set[str]] = {}
        for compiled in catalog.offers.values():
            rules = [named.rule for named in compiled.rules]
            if compiled.propensity_expr is not None:
                rules.append(compiled.propensity_expr)
            for rule in rules:
                for name in rule.names:
                    group, _, rest = name.partition(".")
                    fields.setdefault(group, set()).add(rest.partition(".")[0])
        reads = catalog.plans["reads"] = {group: frozenset(f) for group, f in fields.items()}
    return cast(dict[str, frozenset[str]], reads)


def policy_probabilities(priorities: Sequence[float], policy: ExplorationPolicy) -> list[float]:
    """Probabilities of eligible candidates (index 0 = no-offer wins ties) under ``policy``."""
    return _probabilities(priorities, policy, _greedy(priorities))


def _greedy(priorities: Sequence[float]) -> int:
    """The highest priority; ties go to the first (no-offer, then catalog order)."""
    return max(range(len(priorities)), key=lambda i: (priorities[i], -i))


def _probabilities(priorities: Sequence[float], policy: ExplorationPolicy, best: int) -> list[float]:
    n = len(priorities)
    if policy.mode == "softmax":
        top = priorities[best]
        weights = [math.exp((p - top) / policy.temperature) for p in priorities]
        total = math.fsum(weights)
        return [w / total for w in weights]
    epsilon = policy.epsilon if policy.mode == "epsilon_greedy" else 0.0
    probs = [epsilon / n] * n
    probs[best] += 1.0 - epsilon
    return probs


def _single_probability(priority: float, policy: ExplorationPolicy) -> float:
    """``policy_probabilities([priority], policy)[0]``, which most decisions (no offer eligible)
    ask for: the same arithmetic without the lists."""
    if policy.mode == "softmax":
        return 1.0 if math.isfinite(priority) else policy_probabilities([priority], policy)[0]
    epsilon = policy.epsilon if policy.mode == "epsilon_greedy" else 0.0
    return epsilon / 1 + (1.0 - epsilon)


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
    return last_positive  # rounding left u above the last cumulative sum


def arbitrate(
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
) -> OfferDecision:
    """Choose an offer or none. Pure apart from drawing from ``rng``.

    ``facts``: the nested mapping described in ``personalize.offers.rules`` (profile,
    session, cart, context, scores, item). ``channel`` defaults to facts["context"]["channel"]
    or "web". ``evaluate_all`` also evaluates the rules of offers already blocked by a policy
    (complete logs, slower).
    """
    context = facts.get("context")
    if not isinstance(context, dict):
        context = {}
    if channel is None:
        channel = str(context.get("channel") or "web")
    personalized, marketing = consent.personalization, consent.marketing
    plan = _plan(catalog, now, channel, marketing, holdout, personalized, evaluate_all)
    contact_blocked = contact.blocked if contact is not None else {}
    global_reasons = contact.global_reasons if contact is not None else ()
    # The global cap blocks every offer before its rules are read (unless evaluate_all).
    rules = plan.rules if evaluate_all or not global_reasons else None
    failures = rules.failures(facts) if rules is not None else 0
    outcome: _Outcome | None = None
    if global_reasons:
        template: list[OfferCandidate | None] = [
            plan.candidate(slot, failures, global_reasons + tuple(contact_blocked.get(entry.compiled.offer.id, ())))
            for slot, entry in enumerate(plan.entries)
        ]
        eligible_slots: Sequence[int] = ()
    else:
        outcome = plan.outcome(failures)
        template, eligible_slots = outcome.template, outcome.eligible
        for offer_id, reasons in contact_blocked.items():  # the customer's own caps (a few offers)
            slot = plan.slots.get(offer_id)
            if slot is not None and reasons:
                if outcome is not None:  # first override: copy, never touch the remembered outcome
                    template, outcome = list(template), None
                template[slot] = plan.candidate(slot, failures, tuple(reasons))
        if outcome is None:
            eligible_slots = [slot for slot in eligible_slots if template[slot] is None]
    no_offer = _Scored(
        None,
        OfferCandidate(
            offer_id=None, eligible=True, priority=catalog.no_offer_priority, propensity=1.0
        ),
        (),
    )
    eligible = [no_offer]
    entries = plan.entries
    for slot in eligible_slots:
        entry = entries[slot]
        compiled = entry.compiled
        offer = compiled.offer
        propensity = propensity_of(compiled, facts, personalized)
        weight = 1.0  # the product of the weights whose field:value the context matches
        for name, expected, w in entry.weights:
            value = context.get(name)
            if value is not None and str(value) == expected:
                weight *= w
        candidate = OfferCandidate(
            offer_id=offer.id,
            eligible=True,
            propensity=round(propensity, 6),
            value=offer.store_value,
            priority=propensity * offer.store_value * weight * offer.lever,
        )
        eligible.append(_Scored(compiled, candidate, compiled.rules, weight))
    blocked: Sequence[OfferCandidate]
    if outcome is not None:
        blocked = outcome.blocked
    else:
        blocked = [c for c in template if c is not None]  # this decision's own: a list
    if len(eligible) == 1:  # only no-offer: it is drawn (one draw from rng, as always)
        no_offer.candidate.probability = _single_probability(no_offer.candidate.priority, policy)
        rng.random()
        chosen, explored = no_offer, False
        if holdout:
            explanation = "no offer: customer is in the holdout group"
        elif outcome is not None:
            if outcome.summary is None:
                outcome.summary = _none_eligible(blocked)
            explanation = outcome.summary
        else:
            explanation = _none_eligible(blocked)
    else:
        priorities = [s.candidate.priority for s in eligible]
        greedy_index = _greedy(priorities)
        probs = _probabilities(priorities, policy, greedy_index)
        for s, p in zip(eligible, probs, strict=True):
            s.candidate.probability = p
        chosen_index = _draw(probs, rng)
        chosen = eligible[chosen_index]
        explored = chosen_index != greedy_index
        explanation = explain(chosen, eligible, blocked, facts, explored=explored, holdout=holdout)
    return OfferDecision(
        offer=chosen.offer,
        probability=chosen.candidate.probability,
        explored=explored,
        holdout=holdout,
        explanation=explanation,
        policy_version=f"{catalog.version}/{policy.version}",
        eligible_candidates=[s.candidate for s in eligible],
        blocked_candidates=blocked,
        _template=template,
        _eligible_slots=eligible_slots,
    )


def _none_eligible(blocked: Sequence[OfferCandidate]) -> str:
    """Why no offer: the explanation when no offer is eligible (and no holdout)."""
    if not blocked:
        return "no offer: the catalog is empty"
    # Counter counts in C and keeps first-seen order, so ties rank as before.
    reasons = Counter(cand.failed[0] for cand in blocked if cand.failed)
    top = ", ".join(f"{r} ({n})" for r, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:3])
    return f"no offer: none of {len(blocked)} offers is eligible; first failures: {top}"


def explain(
    chosen: _Scored,
    eligible: Sequence[_Scored],
    blocked: Sequence[OfferCandidate],
    facts: Mapping[str, Any],
    *,
    explored: bool,
    holdout: bool,
) -> str:
    """One line for people: why this candidate, which rules passed, what it beat. ``blocked``:
    the candidates of the ineligible offers."""
    c = chosen.candidate
    others = sorted(
        (s for s in eligible if s is not chosen), key=lambda s: s.candidate.priority, reverse=True
    )
    if chosen.offer is None:
        if holdout:
            return "no offer: customer is in the holdout group"
        if not others:
            return _none_eligible(blocked)  # every offer is blocked
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
    weight = chosen.context_weight
    formula = (
        f"priority {c.priority:.2f} = propensity {c.propensity:.2f} x value {offer.store_value:.2f}"
        f" x context {weight:.2f} x lever {offer.lever:.2f}"
    )
    beaten = []
    for s in others[:2]:
        label = "no-offer" if s.offer is None else s.offer.offer.name
        beaten.append(f"{label} {s.candidate.priority:.2f}")
    if not any(s.offer is None for s in others[:2]):
        baseline = (
            next(s for s in others if s.offer is None)
            if any(s.offer is None for s in others)
            else None
        )
        if baseline is not None:
            beaten.append(f"no-offer {baseline.candidate.priority:.2f}")
    verb = "explored over" if explored else "beat"
    text = f"{offer.name}: {'; '.join(parts)}; {formula} {verb} {', '.join(beaten)}"
    if explored:
        text += f" (probability {c.probability:.3f})"
    return text
