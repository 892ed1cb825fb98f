"""Choosing the scorer's weights on a time-based holdout (coordinate search, no test data).

Shops differ: on YooChoose the next click follows the last one (fast recency decay wins), on
Tmall visitors return to items they viewed several times (count-like decay wins). A fixed set
of weights cannot serve both, so ``personalize train`` tunes them on its own newest sessions.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from personalize.ml import evaluate as ev
from personalize.ml.events import EventLog
from personalize.ml.model import RecommenderModel, ScoringParams
from personalize.ml.split import session_last_seen

# One coordinate at a time, in this order; each list holds the values tried.
SEARCH_GRID: dict[str, tuple[float, ...]] = {
    "seen_decay": (0.3, 0.5, 0.7, 0.85, 0.95, 0.98, 1.0),  # 0.98: S-POP (count, then recency)
    "session_decay": (0.3, 0.5, 0.7, 0.85),
    "seen_weight": (0.0, 1.0, 3.0, 10.0),  # 0: never re-show (baskets: the next line is new)
    "seq_weight": (0.1, 0.3, 0.6, 1.0),
    "knn_weight": (0.1, 0.3, 0.6),
    "als_weight": (0.0, 0.1, 0.3, 0.6),
    "popularity_weight": (0.02, 0.1, 0.3, 1.0, 3.0),  # how much popularity fills thin evidence
}
OBJECTIVE = "HR@k + 2 * MRR@k"


def holdout_split(log: EventLog, fraction: float) -> tuple[EventLog, list[ev.Case]] | None:
    """Older sessions to fit on, next-item cases of the newest ``fraction`` of sessions.

    Holdout events on items unknown to the older part are dropped (session-rec's preprocessing).
    """
    rows = np.flatnonzero(log.item_id != "")
    if rows.size == 0:
        return None
    inverse, last_seen = session_last_seen(log, rows)
    n_sessions = last_seen.shape[0]
    n_holdout = int(n_sessions * fraction)
    if n_holdout < 1 or n_holdout >= n_sessions:
        return None
    newest = np.argsort(last_seen, kind="stable")[-n_holdout:]
    is_holdout_session = np.zeros(n_sessions, dtype=bool)
    is_holdout_session[newest] = True
    in_holdout = np.zeros(len(log), dtype=bool)
    in_holdout[rows] = is_holdout_session[inverse]
    fit_log = log.take(np.flatnonzero(~in_holdout))
    known = set(fit_log.item_id.tolist())
    holdout_rows = np.flatnonzero(in_holdout)
    keep = np.asarray([item in known for item in log.item_id[holdout_rows]], dtype=bool)
    holdout = log.take(holdout_rows[keep]) if keep.any() else log.take(holdout_rows[:0])
    return fit_log, ev.session_cases(holdout)


def _score(model: RecommenderModel, params: ScoringParams, cases: Sequence[ev.Case], k: int,
           percentiles: dict[str, float]) -> tuple[float, float]:
    result = ev.evaluate({"m": ev.served(model.with_params(params))}, cases, k, percentiles, model.n_items)[0]
    return result.hr, result.mrr


def search(
    model: RecommenderModel,
    cases: Sequence[ev.Case],
    fit_log: EventLog,
    k: int = 20,
    start: ScoringParams | None = None,
    max_cases: int = 2_000,
    seed: int = 0,
    progress: Callable[[str, int], Callable[[int], None]] | None = None,
    grid: dict[str, tuple[float, ...]] | None = None,
) -> tuple[ScoringParams, dict[str, Any]]:
    """One pass of coordinate search maximising HR@k + 2*MRR@k on (a sample of) the cases."""
    grid = grid or SEARCH_GRID
    sample = list(cases)
    if len(sample) > max_cases:
        sample = random.Random(seed).sample(sample, max_cases)
    percentiles = ev.popularity_percentiles(fit_log.item_id)
    best = start or ScoringParams()
    advance = progress("tuning", 1 + sum(len(v) for v in grid.values())) if progress else (lambda _s: None)
    default_hr, default_mrr = _score(model, best, sample, k, percentiles)
    advance(1)
    best_hr, best_mrr = default_hr, default_mrr
    for name, values in grid.items():
        for value in values:
            advance(1)
            if getattr(best, name) == value:
                continue
            changes: dict[str, Any] = {name: value}
            candidate = replace(best, **changes)
            hr, mrr = _score(model, candidate, sample, k, percentiles)
            if hr + 2 * mrr > best_hr + 2 * best_mrr + 1e-9:
                best, best_hr, best_mrr = candidate, hr, mrr
    report = {
        "objective": OBJECTIVE, "k": k, "holdout_cases": len(cases), "cases_used": len(sample),
        "start": {"hr": default_hr, "mrr": default_mrr},
        "tuned": {"hr": best_hr, "mrr": best_mrr},
        "params": best.to_dict(),
    }
    return best, report
