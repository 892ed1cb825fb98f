"""SYNTHETIC A/B run: a decision log and an event log with known answers.

Nothing here is real data. Visitors are split 50/50 between a ``control`` and a
``treatment`` arm of one experiment (hash assignment, as in production); a share of
visitors is in the next-best-offer holdout. Each visitor converts at most once, with
probability ``rate[arm] * (offer_boost if treated else 1)``, so the true relative lift of
treatment over control is ``rate[treatment] / rate[control] - 1`` whatever the holdout mix.
Offers are chosen by an epsilon-greedy logging policy whose probabilities are logged,
and accepted with a known probability per offer, so OPE estimates have a known truth.
Some visitors log in (identify), some purchases carry no decision_id (window
attribution), and some purchases are sent twice (duplicates).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from personalize.domain.decisions import (
    DecisionContext,
    DecisionRecord,
    OfferCandidate,
    RecommendedItem,
)
from personalize.reports.experiments import Experiment, Variant, assign, assignment_unit
from personalize.reports.records import LoggedEvent

OFFERS: dict[str, dict[str, float]] = {
    # offer id -> priority (the greedy order) and true acceptance probability
    "free-shipping": {"priority": 3.0, "accept": 0.12},
    "ten-off": {"priority": 2.0, "accept": 0.20},
    "bundle": {"priority": 1.0, "accept": 0.05},
}
SLOTS = ("home-recs", "pdp-similar")


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    visitors: int = 4000
    days: int = 7
    start: float = 1_767_225_600.0  # 2026-01-01 00:00 UTC
    rate: tuple[float, float] = (0.08, 0.10)  # control, treatment visitor conversion
    offer_boost: float = 1.15
    holdout_share: float = 0.10
    epsilon: float = 0.2
    identify_share: float = 0.3
    decision_id_share: float = 0.5  # purchases that carry the decision id
    duplicate_share: float = 0.03
    seed: int = 7


@dataclass(slots=True)
class SimulatedRun:
    events: list[LoggedEvent]
    decisions: list[DecisionRecord]
    experiment: Experiment
    truth: dict[str, Any] = field(default_factory=dict)
    synthetic: bool = True


def experiment() -> Experiment:
    return Experiment(
        id="exp-recs-v2",
        description="SYNTHETIC: new recommendation model vs current",
        variants=[
            Variant(name="control", weight=0.5, model_version="m1", control=True),
            Variant(name="treatment", weight=0.5, model_version="m2"),
        ],
        salt="sim",
    )


def _logging_distribution(eps: float) -> dict[str | None, float]:
    """Epsilon-greedy over the three offers and "no offer"."""
    actions: list[str | None] = [*OFFERS, None]
    best = max(OFFERS, key=lambda o: OFFERS[o]["priority"])
    return {a: (1 - eps if a == best else 0.0) + eps / len(actions) for a in actions}


def simulate(cfg: SimulationConfig = SimulationConfig()) -> SimulatedRun:
    rng = np.random.default_rng(cfg.seed)
    exp = experiment()
    events: list[LoggedEvent] = []
    decisions: list[DecisionRecord] = []
    dist = _logging_distribution(cfg.epsilon)
    actions = list(dist)
    probs = np.array([dist[a] for a in actions])
    n_event = 0
    n_dec = 0

    def ev(cid: str, payload: dict[str, Any]) -> None:
        nonlocal n_event
        n_event += 1
        payload.setdefault("event_id", f"ev-{n_event}")
        events.append(LoggedEvent(customer_id=cid, event=payload, stream_id=""))

    for v in range(cfg.visitors):
        anon = f"anon{v}"
        user = f"user{v}" if rng.random() < cfg.identify_share else None
        arm = assign(exp, assignment_unit(None, anon)).name
        holdout = bool(rng.random() < cfg.holdout_share)
        t = cfg.start + rng.random() * (cfg.days - 1) * 86400
        session = f"s{v}"
        cid = f"a:{anon}"
        n_decisions = int(rng.integers(1, 4))
        my_decisions: list[DecisionRecord] = []
        for k in range(n_decisions):
            if user and k == 1:  # logs in after the first decision
                ev(
                    f"u:{user}",
                    {
                        "type": "identify",
                        "timestamp": t,
                        "user_id": user,
                        "anonymous_id": anon,
                        "session_id": session,
                    },
                )
                cid = f"u:{user}"
            n_dec += 1
            if holdout:
                offer, p, cands = (
                    None,
                    1.0,
                    [OfferCandidate(offer_id=None, eligible=True, probability=1.0)],
                )
            else:
                offer = actions[int(rng.choice(len(actions), p=probs))]
                p = dist[offer]
                cands = [
                    OfferCandidate(
                        offer_id=a,
                        eligible=True,
                        probability=dist[a],
                        priority=OFFERS[a]["priority"] if a else 0.0,
                    )
                    for a in actions
                ]
            items = [
                RecommendedItem(
                    item_id=f"i{int(rng.integers(0, 200))}",
                    score=1.0 - j / 10,
                    reason="sim",
                    slot=SLOTS[j % 2],
                )
                for j in range(4)
            ]
            d = DecisionRecord(
                decision_id=f"d{n_dec}",
                timestamp=t,
                customer_id=cid,
                user_id=user if cid.startswith("u:") else None,
                anonymous_id=anon,
                session_id=session,
                context=DecisionContext(page_type="home"),
                items=items,
                model_version="m1" if arm == "control" else "m2",
                offer_id=offer,
                offer_kind="discount" if offer else None,
                probability=p,
                explored=bool(offer != max(OFFERS, key=lambda o: OFFERS[o]["priority"]))
                and not holdout,
                candidates=cands,
                policy_version="nbo-1",
                experiment_id=exp.id,
                arm=arm,
                holdout=holdout,
            )
            decisions.append(d)
            my_decisions.append(d)
            if offer is not None:
                ev(
                    cid,
                    {
                        "type": "offer_impression",
                        "timestamp": t + 1,
                        "anonymous_id": anon,
                        "user_id": d.user_id,
                        "session_id": session,
                        "decision_id": d.decision_id,
                        "offer_id": offer,
                    },
                )
                if rng.random() < OFFERS[offer]["accept"]:
                    ev(
                        cid,
                        {
                            "type": "offer_accept",
                            "timestamp": t + 5,
                            "anonymous_id": anon,
                            "user_id": d.user_id,
                            "session_id": session,
                            "decision_id": d.decision_id,
                            "offer_id": offer,
                        },
                    )
                elif rng.random() < 0.3:
                    ev(
                        cid,
                        {
                            "type": "offer_dismiss",
                            "timestamp": t + 5,
                            "anonymous_id": anon,
                            "user_id": d.user_id,
                            "session_id": session,
                            "decision_id": d.decision_id,
                            "offer_id": offer,
                        },
                    )
            if rng.random() < 0.1:
                ev(
                    cid,
                    {
                        "type": "recommendation_click",
                        "timestamp": t + 8,
                        "anonymous_id": anon,
                        "user_id": d.user_id,
                        "session_id": session,
                        "decision_id": d.decision_id,
                        "item_id": items[int(rng.integers(0, 4))].item_id,
                    },
                )
            t += float(rng.uniform(600, 4 * 3600))
        rate = cfg.rate[0 if arm == "control" else 1] * (1.0 if holdout else cfg.offer_boost)
        if rng.random() < rate:
            last = my_decisions[-1]
            lines: list[dict[str, Any]] = [
                {
                    "item_id": last.items[0].item_id,
                    "price": round(float(rng.uniform(10, 60)), 2),
                    "quantity": 1,
                }
            ]
            if rng.random() < 0.5:
                lines.append(
                    {
                        "item_id": f"i{int(rng.integers(200, 400))}",
                        "price": round(float(rng.uniform(5, 40)), 2),
                        "quantity": 1,
                    }
                )
            total = round(sum(li["price"] * li["quantity"] for li in lines), 2)
            order = {
                "type": "purchase",
                "timestamp": t,
                "anonymous_id": anon,
                "user_id": last.user_id,
                "session_id": session,
                "order_id": f"o{v}",
                "lines": lines,
                "total": total,
                "shipping_fee": 0.0,
            }
            if rng.random() < cfg.decision_id_share:
                order["decision_id"] = last.decision_id
            ev(cid, order)
            if (
                rng.random() < cfg.duplicate_share
            ):  # the storefront retried: same order, new event id
                dup = dict(order)
                dup.pop("event_id")
                dup["timestamp"] = t + 30
                ev(cid, dup)
    events.sort(key=lambda e: e.timestamp)
    for i, e in enumerate(events):  # stream ids in arrival order (ms-seq), as Redis would give
        events[i] = LoggedEvent(
            e.customer_id,
            {k: v for k, v in e.event.items() if v is not None},
            f"{int(e.timestamp * 1000)}-{i}",
        )
    decisions.sort(key=lambda d: d.timestamp)
    accept = {a: (OFFERS[a]["accept"] if a else 0.0) for a in actions}
    treated_share = 1 - cfg.holdout_share
    truth = {
        "synthetic": True,
        "holdout_share": cfg.holdout_share,
        "conversion_rate": {
            "control": cfg.rate[0] * (cfg.holdout_share + treated_share * cfg.offer_boost),
            "treatment": cfg.rate[1] * (cfg.holdout_share + treated_share * cfg.offer_boost),
        },
        "relative_lift": cfg.rate[1] / cfg.rate[0] - 1,
        "holdout_relative_uplift": cfg.offer_boost - 1,
        # Per treated decision, acceptance reward: greedy always shows the top-priority offer.
        "accept_rate_greedy_treated": accept[max(OFFERS, key=lambda o: OFFERS[o]["priority"])],
        "accept_rate_logging_treated": sum(dist[a] * accept[a] for a in actions),
        "accept_rate_uniform_treated": sum(accept.values()) / len(actions),
    }
    return SimulatedRun(events, decisions, exp, truth)
