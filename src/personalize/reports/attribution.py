"""Outcome join: purchases, offer accepts and recommendation clicks -> decisions.

Rules (documented in the report too):
- An outcome carrying a ``decision_id`` that is in the decision log goes to that decision.
- Otherwise it goes to the customer's latest decision at or before the outcome, at most
  ``window_s`` earlier (last touch). Customers are compared after identity merges, so a
  decision made for an anonymous visitor counts for the user they later became.
- "Influenced": every decision of the customer inside the window (plus the explicit one).
- Duplicates are counted once: the same event_id twice, or the same order_id twice for
  purchases (the first by event time wins, so a late copy changes nothing).
- Revenue of a purchase is its ``total``. Slot rows get item-level revenue: the order lines
  whose item was recommended in that slot by the attributed decision.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from personalize.domain.decisions import DecisionRecord
from personalize.reports.identity import IdentityMap
from personalize.reports.records import LoggedEvent

OUTCOME_TYPES = ("purchase", "offer_accept", "recommendation_click")
Dimension = Literal["offer", "slot", "model_version", "policy_version", "arm", "holdout"]
DIMENSIONS: tuple[Dimension, ...] = (
    "offer",
    "slot",
    "model_version",
    "policy_version",
    "arm",
    "holdout",
)
NONE_LABEL = "(none)"


@dataclass(frozen=True, slots=True)
class Outcome:
    event_id: str
    kind: str
    customer_id: str  # canonical (after identity merges)
    timestamp: float
    decision_id: str | None = None
    offer_id: str | None = None
    item_id: str | None = None
    order_id: str | None = None
    revenue: float = 0.0
    lines: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Attribution:
    outcome: Outcome
    decision: DecisionRecord | None
    how: Literal["decision_id", "window", "none"]
    influenced_by: tuple[DecisionRecord, ...] = ()


@dataclass(slots=True)
class GroupStats:
    orders: int = 0
    revenue: float = 0.0
    accepts: int = 0
    clicks: int = 0
    influenced_orders: int = 0
    influenced_revenue: float = 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "orders": self.orders,
            "revenue": round(self.revenue, 2),
            "accepts": self.accepts,
            "clicks": self.clicks,
            "influenced_orders": self.influenced_orders,
            "influenced_revenue": round(self.influenced_revenue, 2),
        }


@dataclass(slots=True)
class AttributionReport:
    attributions: list[Attribution]
    groups: dict[str, dict[str, GroupStats]]
    totals: dict[str, float | int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "totals": self.totals,
            "groups": {
                dim: {
                    k: v.as_dict() for k, v in sorted(rows.items(), key=lambda kv: -kv[1].revenue)
                }
                for dim, rows in self.groups.items()
            },
        }


def collect_outcomes(
    events: Iterable[LoggedEvent], identity: IdentityMap
) -> tuple[list[Outcome], int]:
    """Outcomes in event-time order, duplicates removed; returns (outcomes, duplicates dropped)."""
    candidates = [ev for ev in events if ev.type in OUTCOME_TYPES]
    candidates.sort(key=lambda ev: (ev.timestamp, ev.stream_id))
    seen_events: set[str] = set()
    seen_orders: set[str] = set()
    out: list[Outcome] = []
    dropped = 0
    for ev in candidates:
        e = ev.event
        if ev.event_id in seen_events:
            dropped += 1
            continue
        seen_events.add(ev.event_id)
        order_id = e.get("order_id")
        if ev.type == "purchase":
            if order_id in seen_orders:
                dropped += 1
                continue
            seen_orders.add(str(order_id))
        lines = tuple(
            (str(line["item_id"]), float(line.get("price", 0.0)) * int(line.get("quantity", 1)))
            for line in e.get("lines") or ()
        )
        out.append(
            Outcome(
                event_id=ev.event_id,
                kind=ev.type,
                customer_id=identity.canonical(ev.customer_id),
                timestamp=ev.timestamp,
                decision_id=e.get("decision_id"),
                offer_id=e.get("offer_id"),
                item_id=e.get("item_id"),
                order_id=str(order_id) if order_id is not None else None,
                revenue=float(e.get("total", 0.0)) if ev.type == "purchase" else 0.0,
                lines=lines,
            )
        )
    return out, dropped


class DecisionIndex:
    """Decisions by id and, per canonical customer, sorted by time (for window lookups)."""

    def __init__(self, decisions: Iterable[DecisionRecord], identity: IdentityMap) -> None:
        self.by_id: dict[str, DecisionRecord] = {}
        per_customer: dict[str, list[DecisionRecord]] = defaultdict(list)
        for d in decisions:
            if d.decision_id in self.by_id:  # a re-delivered log entry
                continue
            self.by_id[d.decision_id] = d
            per_customer[identity.canonical(d.customer_id)].append(d)
        self._times: dict[str, list[float]] = {}
        self._decisions: dict[str, list[DecisionRecord]] = {}
        for cid, ds in per_customer.items():
            ds.sort(key=lambda d: d.timestamp)
            self._decisions[cid] = ds
            self._times[cid] = [d.timestamp for d in ds]

    def in_window(self, customer_id: str, at: float, window_s: float) -> list[DecisionRecord]:
        times = self._times.get(customer_id)
        if not times:
            return []
        hi = bisect.bisect_right(times, at)
        lo = bisect.bisect_left(times, at - window_s)
        return self._decisions[customer_id][lo:hi]


def attribute(
    events: Sequence[LoggedEvent],
    decisions: Sequence[DecisionRecord],
    window_s: float = 24 * 3600.0,
    identity: IdentityMap | None = None,
) -> AttributionReport:
    identity = identity or IdentityMap.from_events(events)
    index = DecisionIndex(decisions, identity)
    outcomes, dropped = collect_outcomes(events, identity)
    attributions: list[Attribution] = []
    for o in outcomes:
        window = index.in_window(o.customer_id, o.timestamp, window_s)
        explicit = index.by_id.get(o.decision_id) if o.decision_id else None
        if explicit is not None:
            influenced = tuple(window) if explicit in window else (*window, explicit)
            attributions.append(Attribution(o, explicit, "decision_id", influenced))
        elif window:
            attributions.append(Attribution(o, window[-1], "window", tuple(window)))
        else:
            attributions.append(Attribution(o, None, "none", ()))
    groups = _tally(attributions)
    totals: dict[str, float | int] = {
        "outcomes": len(outcomes),
        "duplicates_dropped": dropped,
        "purchases": sum(1 for o in outcomes if o.kind == "purchase"),
        "revenue": round(sum(o.revenue for o in outcomes), 2),
        "attributed_by_decision_id": sum(1 for a in attributions if a.how == "decision_id"),
        "attributed_by_window": sum(1 for a in attributions if a.how == "window"),
        "unattributed": sum(1 for a in attributions if a.how == "none"),
        "attributed_revenue": round(
            sum(a.outcome.revenue for a in attributions if a.decision is not None), 2
        ),
        "influenced": sum(1 for a in attributions if a.influenced_by),
        "influenced_revenue": round(
            sum(a.outcome.revenue for a in attributions if a.influenced_by), 2
        ),
        "window_h": window_s / 3600.0,
    }
    return AttributionReport(attributions, groups, totals)


def dimension_value(d: DecisionRecord, dim: Dimension, outcome: Outcome | None = None) -> str:
    if dim == "offer":
        if outcome is not None and outcome.offer_id:
            return outcome.offer_id
        return d.offer_id or "(no offer)"
    if dim == "model_version":
        return d.model_version or NONE_LABEL
    if dim == "policy_version":
        return d.policy_version or NONE_LABEL
    if dim == "arm":
        return f"{d.experiment_id}/{d.arm}" if d.experiment_id else "(no experiment)"
    if dim == "holdout":
        return "holdout" if d.holdout else "treated"
    raise ValueError(dim)


def _slot_revenue(d: DecisionRecord, o: Outcome) -> dict[str, float]:
    slot_of = {it.item_id: it.slot for it in d.items}
    out: dict[str, float] = defaultdict(float)
    for item_id, amount in o.lines:
        if item_id in slot_of:
            out[slot_of[item_id]] += amount
    return out


def _tally(attributions: Iterable[Attribution]) -> dict[str, dict[str, GroupStats]]:
    groups: dict[str, dict[str, GroupStats]] = {dim: defaultdict(GroupStats) for dim in DIMENSIONS}
    for a in attributions:
        o, d = a.outcome, a.decision
        if d is not None:
            for dim in DIMENSIONS:
                if dim == "slot":
                    continue
                row = groups[dim][dimension_value(d, dim, o)]
                if o.kind == "purchase":
                    row.orders += 1
                    row.revenue += o.revenue
                elif o.kind == "offer_accept":
                    row.accepts += 1
                elif o.kind == "recommendation_click":
                    row.clicks += 1
            if o.kind == "purchase":
                for slot, amount in _slot_revenue(d, o).items():
                    groups["slot"][slot].orders += 1
                    groups["slot"][slot].revenue += amount
            elif o.kind == "recommendation_click":
                slot = next((it.slot for it in d.items if it.item_id == o.item_id), "(unknown)")
                groups["slot"][slot].clicks += 1
        if o.kind != "purchase" or not a.influenced_by:
            continue
        for dim in DIMENSIONS:
            if dim == "slot":
                slot_amounts: dict[str, float] = defaultdict(float)
                for item_id, amount in o.lines:
                    slots = {
                        it.slot
                        for dd in a.influenced_by
                        for it in dd.items
                        if it.item_id == item_id
                    }
                    for slot in slots:
                        slot_amounts[slot] += amount
                for slot, amount in slot_amounts.items():
                    groups["slot"][slot].influenced_orders += 1
                    groups["slot"][slot].influenced_revenue += amount
                continue
            for value in {dimension_value(dd, dim) for dd in a.influenced_by}:
                groups[dim][value].influenced_orders += 1
                groups[dim][value].influenced_revenue += o.revenue
    return {dim: dict(rows) for dim, rows in groups.items()}


def rewards_by_decision(report: AttributionReport, reward: str = "conversion") -> dict[str, float]:
    """Per decision id: the reward OPE uses (last-touch attributed outcomes).

    ``conversion``: 1 if a purchase was attributed; ``revenue``: attributed order totals;
    ``accept``: 1 if the decision's offer was accepted.
    """
    out: dict[str, float] = {}
    for a in report.attributions:
        if a.decision is None:
            continue
        did = a.decision.decision_id
        o = a.outcome
        if reward == "conversion" and o.kind == "purchase":
            out[did] = 1.0
        elif reward == "revenue" and o.kind == "purchase":
            out[did] = out.get(did, 0.0) + o.revenue
        elif reward == "accept" and o.kind == "offer_accept":
            out[did] = 1.0
    return out
