"""Candidate policies evaluated off-policy on the decision log, and the OPE input they give.

Actions are offers (``None`` = no offer). A policy maps one DecisionRecord to a
distribution over its candidates:
- ``greedy``: the eligible candidate with the highest priority;
- ``no-exploration``: the logging policy's most likely candidate (what it would do without
  exploring);
- ``uniform``: uniform over eligible candidates;
- ``logging``: the logging policy itself (a sanity check: estimates = on-policy mean);
- ``no-offer``: never show an offer (what the holdout gets);
- a JSON file ``{decision_id: {offer_id: probability}}`` (``""`` or ``"null"`` = no offer).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from personalize.domain.decisions import DecisionRecord
from personalize.reports.ope import OpeInput

Action = str | None
Distribution = dict[Action, float]
Policy = Callable[[DecisionRecord], Distribution]
BUILTIN_POLICIES = ("greedy", "no-exploration", "uniform", "logging", "no-offer")


def _actions(d: DecisionRecord) -> list[tuple[Action, float, float, bool]]:
    """(action, logging probability, priority, eligible); the logged action is always present."""
    acts = [(c.offer_id, c.probability, c.priority, c.eligible) for c in d.candidates]
    if not any(a == d.offer_id for a, *_ in acts):
        acts.append((d.offer_id, d.probability, 0.0, True))
    return acts


def greedy(d: DecisionRecord) -> Distribution:
    eligible = [a for a in _actions(d) if a[3]]
    best = max(eligible, key=lambda a: a[2])  # max keeps the first of equal priorities
    return {best[0]: 1.0}


def no_exploration(d: DecisionRecord) -> Distribution:
    best = max(_actions(d), key=lambda a: a[1])
    return {best[0]: 1.0}


def uniform(d: DecisionRecord) -> Distribution:
    eligible = [a[0] for a in _actions(d) if a[3]]
    return {a: 1.0 / len(eligible) for a in eligible}


def logging_policy(d: DecisionRecord) -> Distribution:
    return {a: p for a, p, *_ in _actions(d)}


def no_offer(d: DecisionRecord) -> Distribution:
    return {None: 1.0}


def from_json(path: Path) -> Policy:
    raw = json.loads(path.read_text())
    table: dict[str, Distribution] = {
        did: {(None if k in ("", "null") else k): float(p) for k, p in dist.items()}
        for did, dist in raw.items()
    }

    def policy(d: DecisionRecord) -> Distribution:
        return table.get(d.decision_id, {})

    return policy


def resolve(name_or_path: str) -> Policy:
    builtins: dict[str, Policy] = {
        "greedy": greedy,
        "no-exploration": no_exploration,
        "uniform": uniform,
        "logging": logging_policy,
        "no-offer": no_offer,
    }
    if name_or_path in builtins:
        return builtins[name_or_path]
    path = Path(name_or_path)
    if path.suffix == ".json" and path.exists():
        return from_json(path)
    raise ValueError(
        f"unknown policy {name_or_path!r}: use one of {', '.join(BUILTIN_POLICIES)} or a .json file"
    )


def ope_input(
    decisions: Sequence[DecisionRecord], rewards: dict[str, float], policy: Policy
) -> tuple[OpeInput, int]:
    """Build OPE arrays; the reward model is the per-action mean reward (global mean if unseen).

    Returns the input and the number of decisions skipped (logged probability 0 or missing).
    """
    usable = [d for d in decisions if d.probability > 0]
    skipped = len(decisions) - len(usable)
    r = np.array([rewards.get(d.decision_id, 0.0) for d in usable], dtype=float)
    sums: dict[Action, float] = defaultdict(float)
    counts: dict[Action, int] = defaultdict(int)
    for d, reward in zip(usable, r, strict=True):
        sums[d.offer_id] += float(reward)
        counts[d.offer_id] += 1
    overall = float(r.mean()) if len(r) else 0.0

    def q(a: Action) -> float:
        # Shrink toward the overall mean (5 pseudo-observations) so rare actions are not 0 or 1.
        return (sums.get(a, 0.0) + 5 * overall) / (counts.get(a, 0) + 5)

    target = np.empty(len(usable))
    q_logged = np.empty(len(usable))
    q_target = np.empty(len(usable))
    for i, d in enumerate(usable):
        dist = policy(d)
        target[i] = dist.get(d.offer_id, 0.0)
        q_logged[i] = q(d.offer_id)
        q_target[i] = sum(p * q(a) for a, p in dist.items())
    logging = np.array([d.probability for d in usable], dtype=float)
    return OpeInput(r, logging, target, q_logged, q_target), skipped
