"""The decision use case: what to show this visitor on this page view.

Path of one decision (the whole of it is in this file, store/decision_io.py and the
model's ``rank``):
  1. one pipelined read: profile, session, history, purchases, cart, shown-counters,
     batch scores, contact-policy state, offer budgets (and live popularity when no
     model is loaded);
  2. items: the published model scores the catalog from this session and history;
     purchased, in-cart and out-of-stock items are excluded, a per-category cap keeps
     the list diverse, items shown repeatedly without a click are demoted;
  3. offer: eligible offers are arbitrated (propensity x value x context x lever vs
     "no offer"), with logged exploration; holdout customers never get one;
  4. one write round trip: reserve the offer under the contact policy and budgets and
     append the decision record (atomically, in one script), bump shown-counters.
Deadlines: past PERSONALIZE_REDIS_DECIDE_TIMEOUT_MS the read falls back to the model's
popularity list and the response says ``fallback: "store_timeout"``.
"""

from __future__ import annotations

import heapq
import logging
import math
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any

import msgspec
import redis.asyncio as aioredis
from msgspec import Meta

from personalize.clock import Clock
from personalize.domain.decisions import (
    DecisionContext,
    DecisionRecord,
    OfferCandidate,
    RecommendedItem,
)
from personalize.domain.events import Channel, CustomerId, Id, PageType, ShortText
from personalize.domain.facts import build_facts, session_with_totals
from personalize.domain.profile import ProfileView, build_profile, cart_item_ids, consent_given
from personalize.domain.state_ops import parse_item_entry
from personalize.metrics import DECISIONS, REDIS_ERRORS
from personalize.ml.model import Candidate, Ranking, RecommenderModel
from personalize.offers.arbitration import (
    ExplorationPolicy,
    OfferDecision,
    arbitrate,
    consent_flags,
    facts_read,
    in_holdout,
)
from personalize.offers.catalog import Catalog
from personalize.offers.contact import (
    budget_counts_from_values,
    budget_keys_to_read,
    contact_state_from_fields,
    no_contact_state,
)
from personalize.reports.experiments import Experiment, Variant, assign, assignment_unit
from personalize.store.catalog import CatalogCache
from personalize.store.client import StoreUnavailable, with_deadline
from personalize.store.contact_policy import reserve_args
from personalize.store.decision_io import DecisionInputs, DecisionStore, WriteScript
from personalize.store.keys import Keys, customer_id
from personalize.store.resp import MultiplexedConnection, Script
from personalize.store.scripts import lua_source

log = logging.getLogger("personalize.decide")

REPEAT_FREE_SHOWS = 2  # an item may be shown this often without a click before demotion
REPEAT_DEMOTION = 0.5  # each further show halves its score
WIDE_CANDIDATES = 300  # ranked items read when the first ones cannot fill the page within the category cap


class PageContext(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    type: PageType | None = None
    item_id: Id | None = None
    category: ShortText | None = None
    # For offer rules and context weights (context.device, "device:mobile", context.country)
    device: Annotated[str, Meta(max_length=32)] | None = None
    country: Annotated[str, Meta(min_length=2, max_length=2)] | None = None


class DecideRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    user_id: CustomerId | None = None
    anonymous_id: CustomerId | None = None
    session_id: CustomerId | None = None
    page: PageContext = msgspec.field(default_factory=PageContext)
    count: Annotated[int, Meta(ge=1, le=100)] = 10
    category: ShortText | None = None  # only recommend items of this category
    max_per_category: Annotated[int, Meta(ge=1, le=100)] | None = None
    allow_seen: bool = True  # may re-show items of this session (it helps: see README)
    exclude: Annotated[list[Id], Meta(max_length=500)] = []
    channel: Channel = "web"
    offers: bool = True


class ItemOut(msgspec.Struct, kw_only=True):
    item_id: str
    score: float
    reason: str
    source: str
    category: str | None = None


class OfferOut(msgspec.Struct, kw_only=True):
    offer_id: str
    kind: str
    name: str | None
    value: float
    expires_at: float | None
    explanation: str
    probability: float
    explored: bool


class DecideResponse(msgspec.Struct, kw_only=True):
    decision_id: str
    model_version: str | None
    fallback: str | None
    items: list[ItemOut]
    offer: OfferOut | None
    offer_explanation: str | None
    holdout: bool
    personalized: bool
    experiment_id: str | None = None
    arm: str | None = None


@dataclass
class OfferPolicyConfig:
    exploration: ExplorationPolicy
    holdout_share: float


class DecideService:
    def __init__(
        self,
        client: aioredis.Redis,
        conn: MultiplexedConnection,
        keys: Keys,
        clock: Clock,
        catalog_cache: CatalogCache,
        read_timeout_ms: int,
        write_timeout_ms: int,
        decision_stream_maxlen: int,
        policy: OfferPolicyConfig,
        rng: random.Random | None = None,
        session_ttl_s: int = 1800,
        anonymous_ttl_s: int = 0,
    ) -> None:
        self._client = client
        self._keys = keys
        self._clock = clock
        self._catalog_cache = catalog_cache
        self._store = DecisionStore(conn, keys, session_ttl_s=session_ttl_s, anonymous_ttl_s=anonymous_ttl_s)
        self._read_timeout_ms = read_timeout_ms
        self._write_timeout_ms = write_timeout_ms
        self._stream_maxlen = decision_stream_maxlen
        self.policy = policy
        self._rng = rng or random.Random()
        self.model: RecommenderModel | None = None
        self.variant_models: dict[str, RecommenderModel] = {}  # versions named by running experiments
        self.experiments: list[Experiment] = []
        self.offers: Catalog | None = None
        self.purchase_propensity: Any = None  # PurchasePropensity when one is loaded
        self.budget_counts: dict[str, tuple[int, int]] = {}  # offer -> (granted today, in total)
        self.exhausted_offers: frozenset[str] = frozenset()

    async def close(self) -> None:
        await self._store.close()

    async def refresh_budgets(self) -> None:
        """Read every offer's budget counters (one MGET) for the decision pre-filter."""
        now = self._clock.now()
        offers = self.offers
        if offers is None or not len(offers):
            self.budget_counts, self.exhausted_offers = {}, frozenset()
            return
        ids = list(offers.offers)
        values = await with_deadline(self._client.mget(budget_keys_to_read(self._keys, ids, now)), self._write_timeout_ms)
        counts = budget_counts_from_values(ids, values)
        exhausted = set()
        for offer_id, (today, total) in counts.items():
            policy = offers.offers[offer_id].policy
            if (policy.budget_per_day is not None and today >= policy.budget_per_day) or (
                policy.budget_total is not None and total >= policy.budget_total
            ):
                exhausted.add(offer_id)
        self.budget_counts, self.exhausted_offers = counts, frozenset(exhausted)

    # ------------------------------------------------------------------ the use case
    async def decide(self, req: DecideRequest) -> DecideResponse:
        if not req.user_id and not req.anonymous_id:
            raise ValueError("user_id|user_id or anonymous_id is required")
        now = self._clock.now()
        model = self.model  # one reference for the whole request: never two versions
        offers = self.offers if req.offers else None
        cid = customer_id(req.user_id, req.anonymous_id)
        decision_id = _new_decision_id(now)
        fallback: str | None = None
        try:
            inputs, budgets = await self._read(cid, req, model, offers, now)
            if inputs.alias and not req.user_id:
                cid = inputs.alias  # a merged visitor: their state lives on the user now
                inputs, budgets = await self._read(cid, req, model, offers, now)
        except StoreUnavailable:
            REDIS_ERRORS.labels(operation="decide_read").inc()
            inputs, budgets, fallback = _EMPTY, {}, "store_timeout"

        # The full customer view (segments, RFM, stage...) only feeds offer rules: an items-only
        # decision reads just the consent and the cart from the raw hashes.
        personalized = consent_given(inputs.profile, "personalization") is not False
        if not personalized:
            fallback = fallback or "no_personalization_consent"
        # The unit of assignment is the visitor's first anonymous id when known, so arms and
        # the holdout survive login (identify) and new sessions.
        unit = assignment_unit(req.user_id, req.anonymous_id, inputs.profile.get("first_anon"))
        experiment, variant = self._experiment_arm(unit, now)
        req, model, exploration, offers = self._apply_variant(variant, req, model, offers)
        items, item_fallback = self._items(req, model, inputs, personalized)
        fallback = fallback or item_fallback

        holdout = in_holdout(unit, self.policy.holdout_share)
        offer_decision = None
        if offers is not None and len(offers) and fallback != "store_timeout":
            profile = build_profile(cid, inputs.profile, inputs.cart, inputs.scores, now)
            offer_decision = self._arbitrate(req, offers, inputs, profile, budgets, personalized, holdout, now, exploration)

        record = DecisionRecord(
            decision_id=decision_id,
            timestamp=now,
            customer_id=cid,
            user_id=req.user_id,
            anonymous_id=req.anonymous_id,
            session_id=req.session_id,
            context=DecisionContext(page_type=req.page.type, item_id=req.page.item_id, category=req.page.category, channel=req.channel),
            items=[RecommendedItem(item_id=i.item_id, score=round(i.score, 6), reason=i.reason) for i in items],
            model_version=model.version if model else None,
            fallback=fallback,
            holdout=holdout,
            experiment_id=experiment.id if experiment else None,
            arm=variant.name if variant else None,
        )
        offer_out = None
        if fallback != "store_timeout":
            offer_out = await self._write(cid, decision_id, record, offer_decision, [i.item_id for i in items], now)
        DECISIONS.labels(fallback=fallback or "none", offer="yes" if offer_out else "no").inc()
        return DecideResponse(
            decision_id=decision_id,
            model_version=record.model_version,
            fallback=fallback,
            items=items,
            offer=offer_out,
            offer_explanation=offer_decision.explanation if offer_decision else None,
            holdout=holdout,
            personalized=personalized,
            experiment_id=experiment.id if experiment else None,
            arm=variant.name if variant else None,
        )

    # ------------------------------------------------------------------ steps
    def _experiment_arm(self, unit: str, now: float) -> tuple[Experiment | None, Variant | None]:
        """The first running experiment (by id) decides this visitor's arm."""
        for experiment in self.experiments:
            if experiment.active(now):
                return experiment, assign(experiment, unit)
        return None, None

    def _apply_variant(
        self, variant: Variant | None, req: DecideRequest, model: RecommenderModel | None, offers: Catalog | None
    ) -> tuple[DecideRequest, RecommenderModel | None, ExplorationPolicy, Catalog | None]:
        """What an arm may change: the model version, exploration, offers on/off, list shape."""
        exploration = self.policy.exploration
        if variant is None:
            return req, model, exploration, offers
        if variant.model_version and variant.model_version in self.variant_models:
            model = self.variant_models[variant.model_version]
        params = variant.parameters
        if "epsilon" in params:
            exploration = ExplorationPolicy(mode=exploration.mode, epsilon=float(params["epsilon"]), temperature=exploration.temperature)
        if params.get("offers") is False:
            offers = None
        changes: dict[str, Any] = {}
        if "max_per_category" in params and req.max_per_category is None:
            changes["max_per_category"] = int(params["max_per_category"])
        if "allow_seen" in params:
            changes["allow_seen"] = bool(params["allow_seen"])
        return (msgspec.structs.replace(req, **changes) if changes else req), model, exploration, offers

    async def _read(
        self, cid: str, req: DecideRequest, model: RecommenderModel | None, offers: Catalog | None, now: float
    ) -> tuple[DecisionInputs, dict[str, tuple[int, int]]]:
        # Live popularity: without a model, or for a category filter the model never saw
        # (items it cannot rank; the page is topped up from the category's live popularity).
        unranked = model is not None and req.category is not None and req.category not in model.categories
        popular_n = 0 if model is not None and not unranked else req.count * 4 + 20
        category = req.category or req.page.category
        inputs = await with_deadline(
            self._store.read(cid, req.session_id, now, popular_n=popular_n, category=category),
            self._read_timeout_ms,
        )
        # Budgets are global counters: read by the refresher every poll, not per decision.
        # The pre-filter may be a poll interval stale; the reservation script is exact.
        return inputs, self.budget_counts

    def _items(
        self, req: DecideRequest, model: RecommenderModel | None, inputs: DecisionInputs, personalized: bool
    ) -> tuple[list[ItemOut], str | None]:
        oos = self._catalog_cache.out_of_stock
        categories = self._catalog_cache.categories
        exclude = set(req.exclude) | inputs.purchased | cart_item_ids(inputs.cart)
        if req.page.item_id:
            exclude.add(req.page.item_id)
        category_filter = req.category
        live_categories = categories.get
        model_category_of = model.category_of if model is not None else _no_category

        def category_of(item: str) -> str | None:
            return live_categories(item) or model_category_of(item)

        cap = req.max_per_category or max(2, math.ceil(req.count * 0.4))
        strict = req.max_per_category is not None  # the caller's own cap is a limit, the default a preference
        want = req.count * 3 + 10
        if category_filter is not None and model is not None and category_filter not in model.categories:
            want = max(want, 200)  # the live catalog filters below: a wider list compensates
        rankings, fallback = self._rankings(req, model, inputs, personalized, exclude, want)
        chosen = _choose_page(rankings, req.count, cap, strict, exclude, oos, category_filter, category_of, inputs.shown)
        if model is not None and want < WIDE_CANDIDATES and _short_within_cap(chosen, req.count, cap):
            # One category dominates the first candidates: read further down the ranking
            # before over-filling the cap (or, with the caller's cap, showing fewer items).
            rankings, fallback = self._rankings(req, model, inputs, personalized, exclude, WIDE_CANDIDATES)
            chosen = _choose_page(rankings, req.count, cap, strict, exclude, oos, category_filter, category_of,
                                  inputs.shown)
        if model is not None and category_filter is not None and len(chosen) < req.count and inputs.popular_in_category:
            chosen, fallback = _topped_up(chosen, rankings, inputs.popular_in_category, req.count, exclude, oos,
                                          category_filter, fallback)
        if len(rankings) == 1:
            ranking = rankings[0]
            item_id, sources = ranking.item_id, ranking.sources
            reasons = ranking.reasons([j for _, _, j, _ in chosen])
            out = [ItemOut(item_id=item_id(j), score=round(score, 6), reason=reason, source=sources[j], category=cat)
                   for (score, _, j, cat), reason in zip(chosen, reasons)]
            return out, fallback
        written: dict[tuple[int, int], str] = {}
        for r, ranking in enumerate(rankings):
            positions = [j for _, rr, j, _ in chosen if rr == r]
            written.update(zip(((r, j) for j in positions), ranking.reasons(positions)))
        out = [
            ItemOut(item_id=rankings[r].item_id(j), score=round(score, 6), reason=written[r, j],
                    source=rankings[r].sources[j], category=cat)
            for score, r, j, cat in chosen
        ]
        return out, fallback

    def _rankings(
        self, req: DecideRequest, model: RecommenderModel | None, inputs: DecisionInputs, personalized: bool,
        exclude: set[str], want: int,
    ) -> tuple[list[Ranking], str | None]:
        """The ranked lists to fill the page from (best first), and the fallback they amount to."""
        if model is None:
            ranked = inputs.popular_in_category if req.page.category and inputs.popular_in_category else inputs.popular
            reason = "popular in category" if ranked is inputs.popular_in_category and ranked else "popular"
            n = len(ranked)
            return [Ranking.of([Candidate(item_id=i, score=round(1.0 - r / max(n, 1), 6), reason=reason,
                                          source="popularity") for r, i in enumerate(ranked)])], "no_model"
        if personalized:
            session_items = _weighted(inputs.session_items)
            history = _weighted(inputs.history)
            in_view = req.page.item_id
        else:
            session_items, history, in_view = [], [], None
        # The model filters by category only if it learnt that category; else the live
        # catalog's categories filter in _choose_page.
        model_category = req.category if req.category in model.categories else None
        rankings = [model.rank(session_items, history, in_view=in_view, n=want, exclude=exclude,
                               allow_seen=req.allow_seen, category=model_category)]
        if not session_items and not history and req.page.category and req.category is None:
            in_category = model.popular(want, category=req.page.category, exclude=exclude)
            if in_category:
                rankings.insert(0, Ranking.of(in_category))
        fallback = None if any(s != "popularity" for r in rankings for s in r.sources) else "popularity"
        if not personalized:
            fallback = "no_personalization_consent"
        return rankings, fallback

    def _arbitrate(
        self, req: DecideRequest, offers: Catalog, inputs: DecisionInputs, profile: ProfileView,
        budgets: dict[str, tuple[int, int]], personalized: bool, holdout: bool, now: float,
        exploration: ExplorationPolicy,
    ) -> OfferDecision:
        scores: dict[str, float] = {k: v for k, v in profile.propensities.items() if isinstance(v, float)}
        # Facts only for what the catalog's rules read; the session totals are folded in while
        # reading the stored hash unless the purchase model wants the hash with totals itself.
        reads = facts_read(offers)
        session, raw_session = inputs.session, True
        if self.purchase_propensity is not None and personalized:
            session, raw_session = session_with_totals(inputs.session, profile.cart.value), False
            try:
                scores["p_purchase"] = float(self.purchase_propensity.predict_from_session(session, inputs.profile))
            except Exception:  # a broken score must not break the decision
                log.exception("purchase propensity failed")
        item = None
        if req.page.item_id:
            item = {"in_stock": req.page.item_id not in self._catalog_cache.out_of_stock,
                    "category": self._catalog_cache.categories.get(req.page.item_id),
                    "price": self._catalog_cache.prices.get(req.page.item_id)}
        context = {"page_type": req.page.type, "channel": req.channel, "item_id": req.page.item_id,
                   "category": req.page.category, "device": req.page.device, "country": req.page.country}
        facts = build_facts(profile, session, context, scores, item, personalized, reads=reads, raw_session=raw_session)
        # Only offers this customer has a contact record for (or whose budget ran out) can be
        # blocked by the policy; checking the other 200 per decision cost milliseconds.
        contacts = inputs.contacts
        touched = {name.split(":", 1)[1] for name in contacts if ":" in name} if contacts else set()
        ids = [o for o in touched | self.exhausted_offers if o in offers.offers] if touched or self.exhausted_offers else []
        if contacts or ids:
            contact = contact_state_from_fields(contacts, offers, now, offer_ids=ids, budgets=budgets)
        else:  # most visitors: the same answer, made once per catalog
            contact = no_contact_state(offers)
        consent = consent_flags(personalized, profile.consent.marketing is True)
        return arbitrate(offers, facts, now=now, rng=self._rng, policy=exploration, channel=req.channel,
                         consent=consent, contact=contact, holdout=holdout)

    async def _write(
        self, cid: str, decision_id: str, record: DecisionRecord, decision: OfferDecision | None,
        shown: Sequence[str], now: float,
    ) -> OfferOut | None:
        without_offer, with_offer = _decision_records(record, decision)
        offered = with_offer is not None and decision is not None and decision.offer is not None
        script = None
        if offered:
            assert decision is not None and decision.offer is not None and with_offer is not None
            script_keys, argv = reserve_args(self._keys, cid, decision.offer.id, decision.offer.policy, now)
            script = WriteScript(
                _decision_write_script(),
                [*script_keys, self._keys.decision_stream],
                [*argv, self._stream_maxlen, _json.encode(with_offer), _json.encode(without_offer)],
            )
        try:
            replies = await with_deadline(
                self._store.write(cid, decision_id, None if offered else _json.encode(without_offer), shown, now,
                                  self._stream_maxlen, script),
                self._write_timeout_ms,
            )
        except StoreUnavailable:
            REDIS_ERRORS.labels(operation="decide_write").inc()
            raise
        if with_offer is None or decision is None or decision.offer is None:
            return None
        reserve = replies[-1]
        if int(reserve[0]) != 1:
            return None
        o = decision.offer.offer
        return OfferOut(
            offer_id=o.id, kind=o.kind, name=o.name, value=float(o.value),
            expires_at=decision.offer.expires_at(now), explanation=decision.explanation,
            probability=round(decision.probability, 6), explored=decision.explored,
        )


_json = msgspec.json.Encoder()
_EMPTY = DecisionInputs({}, {}, [], [], set(), {}, {}, {}, {}, None, [], [])
LOGGED_CANDIDATES = 50  # no-offer and the eligible offers, with their probabilities (OPE reads them)
# Blocked offers logged with why (the rest are counted in ``blocked_offers``): with 50, a decision
# on a 200-offer catalog logged ~6.5 KB, the AOF grew ~3 MB/s at 1,000 decisions/s and was
# rewritten every ~20-30 s (a fork and a core for a second each time).
LOGGED_BLOCKED = 10
_BLOCKED_JSON: dict[int, tuple[Sequence[OfferCandidate], bytes]] = {}
_BLOCKED_JSON_CAP = 1024


def _blocked_json(blocked: Sequence[OfferCandidate]) -> bytes:
    """The first ``LOGGED_BLOCKED`` blocked candidates, encoded, without the brackets of the
    array (b"" for none). Arbitration shares one tuple of them between the decisions with the
    same outcome (most decisions): its encoding is remembered by identity (the entry holds the
    tuple, so the id is not reused), which spares reading ~200 shared, cache-cold objects per
    decision. Lists are per decision: not kept."""
    entry = _BLOCKED_JSON.get(id(blocked))
    if entry is not None and entry[0] is blocked:
        return entry[1]
    data = _json.encode(blocked[:LOGGED_BLOCKED])[1:-1]
    if isinstance(blocked, tuple):
        if len(_BLOCKED_JSON) >= _BLOCKED_JSON_CAP:
            del _BLOCKED_JSON[next(iter(_BLOCKED_JSON))]  # the oldest
        _BLOCKED_JSON[id(blocked)] = (blocked, data)
    return data


def _decision_records(record: DecisionRecord, decision: OfferDecision | None) -> tuple[DecisionRecord, DecisionRecord | None]:
    """The decision record as logged without the offer and, when one is chosen, with it (the
    write script keeps one, depending on the reservation). Candidates: no-offer and the eligible
    offers (the first ``LOGGED_CANDIDATES``), then the first ``LOGGED_BLOCKED`` blocked ones, in
    catalog order, and how many were blocked in all. The
    arbitration hands them over already split, and they are encoded once for both records
    (``msgspec.Raw``: the same bytes as encoding the list in each); the blocked part is usually
    an encoding remembered for the arbitration outcome (see ``_blocked_json``)."""
    if decision is None:
        return record, None
    eligible = decision.eligible_candidates
    parts = [_json.encode(eligible[:LOGGED_CANDIDATES])[1:-1], _blocked_json(decision.blocked_candidates)]
    candidates = msgspec.Raw(b"[" + b",".join(part for part in parts if part) + b"]")
    common = {"candidates": candidates, "policy_version": decision.policy_version, "holdout": decision.holdout,
              "blocked_offers": len(decision.blocked_candidates)}
    no_offer_p = eligible[0].probability if eligible else 1.0  # no-offer is always first
    without_offer = msgspec.structs.replace(record, probability=no_offer_p if decision.offer is None else 1.0, **common)
    if decision.offer is None:
        return without_offer, None
    o = decision.offer.offer
    with_offer = msgspec.structs.replace(
        record, offer_id=o.id, offer_kind=o.kind, offer_value=float(o.value),
        probability=decision.probability, explored=decision.explored, **common,
    )
    return without_offer, with_offer


@lru_cache(maxsize=1)
def _decision_write_script() -> Script:
    return Script(lua_source("decision_write").replace("%RESERVE%", lua_source("contact_policy")))


def _weighted(entries: Sequence[str]) -> list[tuple[str, float]]:
    out = []
    for raw in entries:
        try:
            item, _type, weight, _ts = parse_item_entry(raw)
        except ValueError:
            continue
        out.append((item, weight))
    return out


_Chosen = tuple[float, int, int, str | None]  # (score after demotion, ranking, position, category)


def _no_category(item: str) -> str | None:
    return None


def _demoted(score: float, item: str, shown: dict[str, int]) -> float:
    shows = shown.get(item, 0)
    if shows > REPEAT_FREE_SHOWS:
        score *= REPEAT_DEMOTION ** (shows - REPEAT_FREE_SHOWS)
    return score


class _Page:
    """The page being filled, in page order: at most ``cap`` items per category; unless
    ``strict``, the capped ones are kept and come last if the page is short (a short list of
    the default cap's preference beats an empty one; a cap the caller set is a limit)."""

    __slots__ = ("cap", "chosen", "count", "overflow", "per_category", "strict")

    def __init__(self, count: int, cap: int, strict: bool = False) -> None:
        self.count, self.cap, self.strict = count, cap, strict
        self.per_category: dict[str | None, int] = {}
        self.chosen: list[_Chosen] = []
        self.overflow: list[_Chosen] = []

    def take(self, entry: _Chosen) -> bool:
        """Place the next item; True when the page is full."""
        cat = entry[3]
        if cat is not None and self.per_category.get(cat, 0) >= self.cap:
            self.overflow.append(entry)
            return False
        self.per_category[cat] = self.per_category.get(cat, 0) + 1
        self.chosen.append(entry)
        return len(self.chosen) == self.count

    def items(self) -> list[_Chosen]:
        if self.strict:
            return self.chosen
        return self.chosen + self.overflow[: self.count - len(self.chosen)]


_NOT_SHOWN = object()  # _admission's answer for an item the page may not show


def _admission(
    exclude: set[str], oos: frozenset[str] | set[str], category_filter: str | None,
    category_of: Callable[[str], str | None],
) -> Callable[[str], Any]:
    """item -> its category, or _NOT_SHOWN if excluded, out of stock, outside the category
    filter or already admitted (the first ranking that has an item wins)."""
    seen_ids: set[str] = set()

    def admit(item: str) -> Any:
        if item in exclude or item in oos or item in seen_ids:
            return _NOT_SHOWN
        cat = category_of(item)
        if category_filter is not None and cat != category_filter:
            return _NOT_SHOWN
        seen_ids.add(item)
        return cat

    return admit


def _topped_up(
    chosen: list[_Chosen], rankings: list[Ranking], popular: Sequence[str], count: int, exclude: set[str],
    oos: frozenset[str] | set[str], category: str, fallback: str | None,
) -> tuple[list[_Chosen], str | None]:
    """A short page filtered to a category, filled from that category's live popularity (items
    the model has not learnt yet); ``rankings`` gets the list the added entries point into."""
    taken = {rankings[r].item_id(j) for _, r, j, _ in chosen}
    fill = [i for i in popular if i not in taken and i not in exclude and i not in oos][: count - len(chosen)]
    if not fill:
        return chosen, fallback
    n = len(popular)
    rankings.append(Ranking.of([Candidate(item_id=i, score=round(1.0 - popular.index(i) / n, 6),
                                          reason="popular in category", source="popularity") for i in fill]))
    r = len(rankings) - 1
    added: list[_Chosen] = [(rankings[r].scores[j], r, j, category) for j in range(len(fill))]
    return chosen + added, fallback or ("popularity" if not chosen else None)


def _choose_page(
    rankings: Sequence[Ranking], count: int, cap: int, strict: bool, exclude: set[str],
    oos: frozenset[str] | set[str], category_filter: str | None, category_of: Callable[[str], str | None],
    shown: dict[str, int],
) -> list[_Chosen]:
    """(score, ranking, position in it, category) of the page's items; reasons are written for
    the chosen only (by the caller)."""
    chosen = None
    if len(rankings) == 1:
        chosen = _choose_in_rank_order(rankings[0], count, cap, exclude, oos, category_filter, category_of, shown,
                                       strict)
    if chosen is None:
        chosen = _choose(rankings, count, cap, exclude, oos, category_filter, category_of, shown, strict)
    return chosen


def _short_within_cap(chosen: Sequence[_Chosen], count: int, cap: int) -> bool:
    """Fewer than ``count`` items fit under the category cap (over-cap fillers included or not)."""
    per_category: dict[str, int] = {}
    within = 0
    for _, _, _, cat in chosen:
        if cat is None:
            within += 1
            continue
        per_category[cat] = per_category.get(cat, 0) + 1
        within += per_category[cat] <= cap
    return within < count


def _choose(
    rankings: Sequence[Ranking], count: int, cap: int, exclude: set[str], oos: frozenset[str] | set[str],
    category_filter: str | None, category_of: Callable[[str], str | None], shown: dict[str, int],
    strict: bool = False,
) -> list[_Chosen]:
    """The page's items: every ranked item that may be shown (not excluded, out of stock,
    repeated or outside the category filter), demoted by repeated shows, best first (ties:
    ranking order); at most ``cap`` per category, the capped ones after the rest if the list
    is short."""
    admit = _admission(exclude, oos, category_filter, category_of)
    scored: list[_Chosen] = []
    for r, ranking in enumerate(rankings):
        for j, (item, score) in enumerate(zip(ranking.item_ids, ranking.scores)):
            cat = admit(item)
            if cat is not _NOT_SHOWN:
                scored.append((_demoted(score, item, shown), r, j, cat))
    scored.sort(key=lambda sc: -sc[0])
    page = _Page(count, cap, strict)
    for entry in scored:
        if page.take(entry):
            break
    return page.items()


def _choose_in_rank_order(
    ranking: Ranking, count: int, cap: int, exclude: set[str], oos: frozenset[str] | set[str],
    category_filter: str | None, category_of: Callable[[str], str | None], shown: dict[str, int],
    strict: bool = False,
) -> list[_Chosen] | None:
    """:func:`_choose` for one ranking whose scores never increase, looking only at as many
    items as it needs (a page of 10 from a ranking of 40 usually reads ~12): items come in
    rank order, and a demoted item waits in a heap until no later item can beat it (later
    items score at most the current one). None if the scores are not in order."""
    admit = _admission(exclude, oos, category_filter, category_of)
    page = _Page(count, cap, strict)
    waiting: list[tuple[float, int, str | None]] = []  # (-demoted score, position, category)
    shows = shown.get
    previous = math.inf
    full = False
    for j, (item, score) in enumerate(zip(ranking.iter_item_ids(), ranking.scores)):
        if score > previous:
            return None
        previous = score
        cat = admit(item)
        if cat is _NOT_SHOWN:
            continue
        while waiting and -waiting[0][0] >= score:
            negative, jj, cc = heapq.heappop(waiting)
            if page.take((-negative, 0, jj, cc)):
                full = True
                break
        if full:
            break
        if shows(item, 0) > REPEAT_FREE_SHOWS:
            heapq.heappush(waiting, (-_demoted(score, item, shown), j, cat))
        elif page.take((score, 0, j, cat)):
            full = True
            break
    while waiting and not full:
        negative, jj, cc = heapq.heappop(waiting)
        full = page.take((-negative, 0, jj, cc))
    return page.items()


def _new_decision_id(now: float) -> str:
    # Time-ordered and unique: milliseconds + 64 random bits.
    return f"d{int(now * 1000):x}{os.urandom(8).hex()}"


