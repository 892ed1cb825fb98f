"""The numbers of the report (HTML, JSON and GET /v1/reports/summary), from logs (pure)."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from personalize.domain.decisions import DecisionRecord
from personalize.reports import ope, policies
from personalize.reports.attribution import AttributionReport, attribute, rewards_by_decision
from personalize.reports.experiments import Experiment, experiment_results, holdout_uplift
from personalize.reports.identity import IdentityMap
from personalize.reports.records import LoggedEvent

DAY = 86400.0


def json_safe(value: Any) -> Any:
    """NaN/inf -> None, recursively (JSON has no NaN; an undefined rate is null)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


def offer_funnel(
    events: Sequence[LoggedEvent], decisions: Sequence[DecisionRecord]
) -> list[dict[str, Any]]:
    """Per offer: decisions that chose it, impressions, accepts, dismissals and the rates."""
    counts: dict[str, dict[str, int]] = defaultdict(
        lambda: {"decisions": 0, "impressions": 0, "accepts": 0, "dismissals": 0}
    )
    for d in decisions:
        if d.offer_id:
            counts[d.offer_id]["decisions"] += 1
    kind = {
        "offer_impression": "impressions",
        "offer_accept": "accepts",
        "offer_dismiss": "dismissals",
    }
    seen: set[str] = set()
    for ev in events:
        if ev.type in kind and ev.event_id not in seen:
            seen.add(ev.event_id)
            offer = ev.event.get("offer_id")
            if offer:
                counts[str(offer)][kind[ev.type]] += 1
    rows = []
    for offer, c in sorted(counts.items()):
        imp = c["impressions"]
        rows.append(
            {
                "offer": offer,
                **c,
                "take_up_rate": c["accepts"] / imp if imp else math.nan,
                "dismissal_rate": c["dismissals"] / imp if imp else math.nan,
            }
        )
    return rows


def daily(
    attr: AttributionReport, decisions: Sequence[DecisionRecord], identity: IdentityMap
) -> list[dict[str, Any]]:
    """Per day and group (experiment arm, holdout): visitors with a decision that day, converters
    (of them, those with a purchase attributed to one of that day's decisions) and that revenue.
    Keyed by decision day so a day's rate compares like with like (a cohort, not a calendar mix)."""
    visitors: dict[tuple[str, str], set[str]] = defaultdict(set)
    converters: dict[tuple[str, str], set[str]] = defaultdict(set)
    revenue: dict[tuple[str, str], float] = defaultdict(float)

    def groups(d: DecisionRecord) -> list[str]:
        out = ["holdout" if d.holdout else "treated"]
        if d.experiment_id:
            out.append(f"{d.experiment_id}/{d.arm}")
        return out

    for d in decisions:
        for g in groups(d):
            visitors[(_day(d.timestamp), g)].add(identity.canonical(d.customer_id))
    for a in attr.attributions:
        if a.decision is None or a.outcome.kind != "purchase":
            continue
        for g in groups(a.decision):
            key = (_day(a.decision.timestamp), g)
            converters[key].add(a.outcome.customer_id)
            revenue[key] += a.outcome.revenue
    rows = []
    for key in sorted(set(visitors) | set(converters)):
        n = len(visitors.get(key, ()))
        x = len(converters.get(key, ()))
        rows.append(
            {
                "day": key[0],
                "group": key[1],
                "visitors": n,
                "converters": x,
                "conversion_rate": x / n if n else math.nan,
                "revenue": round(revenue.get(key, 0.0), 2),
            }
        )
    return rows


def ope_table(
    decisions: Sequence[DecisionRecord],
    attr: AttributionReport,
    candidate_policies: Sequence[str],
    reward: str,
    replicates: int = 500,
) -> list[dict[str, Any]]:
    rewards = rewards_by_decision(attr, reward)
    logged = [
        d for d in decisions if not d.holdout
    ]  # the holdout never gets offers: nothing to learn there
    rows = []
    for name in candidate_policies:
        data, skipped = policies.ope_input(logged, rewards, policies.resolve(name))
        for e in ope.estimate(data, replicates=replicates):
            rows.append({"policy": name, "reward": reward, "skipped": skipped, **e.as_dict()})
    return rows


def build_summary(
    events: Sequence[LoggedEvent],
    decisions: Sequence[DecisionRecord],
    experiments: Sequence[Experiment] = (),
    window_s: float = 24 * 3600.0,
    holdout_share: float | None = None,
    candidate_policies: Sequence[str] = ("logging", "greedy", "uniform", "no-offer"),
    ope_reward: str = "accept",
    ope_replicates: int = 500,
    source: str = "",
) -> dict[str, Any]:
    identity = IdentityMap.from_events(events)
    attr = attribute(events, decisions, window_s, identity)
    exp_ids = {d.experiment_id for d in decisions if d.experiment_id}
    known = {e.id for e in experiments}
    return {
        "source": source,
        "generated_at": time.time(),
        "counts": {
            "events": len(events),
            "decisions": len(decisions),
            "customers": len({identity.canonical(d.customer_id) for d in decisions}),
            "identity_merges": len(identity.aliases()),
        },
        "attribution": attr.as_dict(),
        "offers": offer_funnel(events, decisions),
        "daily": daily(attr, decisions, identity),
        "experiments": [
            experiment_results(e, decisions, events) for e in experiments if e.id in exp_ids
        ],
        "experiments_without_definition": sorted(exp_ids - known),
        "holdout": holdout_uplift(decisions, events, holdout_share)
        if any(d.holdout for d in decisions)
        else None,
        "ope": ope_table(decisions, attr, candidate_policies, ope_reward, ope_replicates)
        if decisions
        else [],
    }
