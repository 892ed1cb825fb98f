"""Next-item evaluation (session-rec protocol) and the baselines the served model must beat.

Protocol: for every test session (events sorted by time) and every position p but the last,
recommend k items from the prefix ``items[:p+1]`` and check the true next item ``items[p+1]``.
Items of the prefix are *not* filtered out of the lists (re-showing them is legitimate).

Metrics over all cases (single relevant item per case):
HR@k (hit rate), MRR@k (1/rank, 0 if absent), NDCG@k (1/log2(rank+1)), catalog coverage
(distinct recommended items / training catalog) and popularity bias (mean popularity percentile
of recommended items among training items, 1.0 = the most popular item).
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from personalize.ml.events import EventFileError, EventLog
from personalize.ml.model import RecommenderModel

Recommender = Callable[[Sequence[str], int], list[str]]


@dataclass(frozen=True, slots=True)
class Case:
    session_id: str
    position: int  # index of the last prefix event within its session
    prefix: tuple[str, ...]  # chronological
    target: str


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    cases: int
    hr: float
    mrr: float
    ndcg: float
    coverage: float
    popularity_bias: float

    def as_dict(self) -> dict[str, float | int | str]:
        return {"name": self.name, "cases": self.cases, "hr": self.hr, "mrr": self.mrr,
                "ndcg": self.ndcg, "coverage": self.coverage, "popularity_bias": self.popularity_bias}


def session_cases(log: EventLog) -> list[Case]:
    """Every (prefix, next item) of every session in the log (item events only)."""
    rows = np.flatnonzero(log.item_id != "")
    sessions, items = log.session_id[rows], log.item_id[rows]
    cases: list[Case] = []
    start = 0
    for end in range(1, len(rows) + 1):
        if end == len(rows) or sessions[end] != sessions[start]:
            seq = tuple(str(i) for i in items[start:end])
            for p in range(len(seq) - 1):
                cases.append(Case(str(sessions[start]), p, seq[: p + 1], seq[p + 1]))
            start = end
    return cases


TMALL_COLUMNS = ("case_id", "prefix", "target")
REFERENCE_COLUMNS = ("SessionId", "Position", "Recommendations")


def _rows(path: Path, expected: Sequence[str], delimiter: str, what: str) -> Iterable[tuple[int, dict[str, str]]]:
    """(row number, row) of a CSV that must have ``expected`` columns (an error names them)."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        missing = [c for c in expected if c not in (reader.fieldnames or [])]
        if missing:
            raise EventFileError(
                f"{path}: not {what}: expected the columns {(delimiter).join(expected)} "
                f"({delimiter!r}-separated), found {delimiter.join(reader.fieldnames or []) or 'no header'}"
            )
        yield from enumerate(reader, start=1)


def tmall_cases(path: Path) -> list[Case]:
    """tmall/test_cases.csv: ``case_id,prefix,target`` with a space-separated prefix."""
    cases: list[Case] = []
    for number, row in _rows(path, TMALL_COLUMNS, ",", "Tmall test cases"):
        prefix = tuple((row["prefix"] or "").split())
        if not prefix or not row["target"]:
            raise EventFileError(f"{path}: row {number}: empty prefix or target")
        cases.append(Case(row["case_id"], len(prefix) - 1, prefix, row["target"]))
    return cases


def read_reference_lists(path: Path) -> dict[tuple[str, int], list[str]]:
    """session-rec's stored lists: ``SessionId;Position;Recommendations;Scores``."""
    lists: dict[tuple[str, int], list[str]] = {}
    for number, row in _rows(path, REFERENCE_COLUMNS, ";", "a session-rec reference list"):
        try:
            position = int(row["Position"])
        except (TypeError, ValueError):
            raise EventFileError(f"{path}: row {number}: Position {row['Position']!r} is not a number") from None
        lists[(row["SessionId"], position)] = (row["Recommendations"] or "").split(",")
    return lists


# ---------------------------------------------------------------------------- metrics
def score_lists(
    name: str,
    cases: Sequence[Case],
    lists: Iterable[list[str]],
    k: int,
    popularity_percentile: dict[str, float],
    catalog_size: int,
) -> Result:
    hits = rr = ndcg = bias = 0.0
    shown = 0
    distinct: set[str] = set()
    n = 0
    for case, ranked in zip(cases, lists):
        n += 1
        top = ranked[:k]
        distinct.update(top)
        for item in top:
            bias += popularity_percentile.get(item, 0.0)
        shown += len(top)
        try:
            rank = top.index(case.target) + 1
        except ValueError:
            continue
        hits += 1.0
        rr += 1.0 / rank
        ndcg += 1.0 / math.log2(rank + 1)
    if n == 0:
        return Result(name, 0, 0.0, 0.0, 0.0, 0.0, 0.0)
    return Result(
        name=name, cases=n, hr=hits / n, mrr=rr / n, ndcg=ndcg / n,
        coverage=len(distinct & popularity_percentile.keys()) / max(catalog_size, 1),
        popularity_bias=bias / max(shown, 1),
    )


def evaluate(
    recommenders: dict[str, Recommender],
    cases: Sequence[Case],
    k: int,
    popularity_percentile: dict[str, float],
    catalog_size: int,
    on_case: Callable[[], None] | None = None,
) -> list[Result]:
    results = []
    for name, recommend in recommenders.items():
        def lists(rec: Recommender = recommend) -> Iterable[list[str]]:
            for case in cases:
                if on_case is not None:
                    on_case()
                yield rec(case.prefix, k)
        results.append(score_lists(name, cases, lists(), k, popularity_percentile, catalog_size))
    return results


def popularity_percentiles(train_items: npt.NDArray[np.object_]) -> dict[str, float]:
    """Item -> percentile of its training event count (ties share the higher value)."""
    counts = Counter(str(i) for i in train_items if i != "")
    values = np.asarray(sorted(counts.values()), dtype=np.float64)
    n = values.size
    return {item: float(np.searchsorted(values, c, side="right")) / n for item, c in counts.items()}


# ---------------------------------------------------------------------------- recommenders
def served(model: RecommenderModel, allow_seen: bool = True) -> Recommender:
    """The served scorer, fed the prefix as a session (most recent first, weight 1)."""
    def recommend(prefix: Sequence[str], k: int) -> list[str]:
        session = [(item, 1.0) for item in reversed(prefix)]
        return model.rank(session, (), None, k, (), allow_seen=allow_seen).item_ids  # ids only: no reasons
    return recommend


def pop_baseline(train_items: npt.NDArray[np.object_], k_max: int | None = None) -> Recommender:
    """The most popular training items; every item by default, so any k gets k items."""
    ranked = [item for item, _ in Counter(str(i) for i in train_items if i != "").most_common(k_max)]

    def recommend(prefix: Sequence[str], k: int) -> list[str]:
        return ranked[:k]
    return recommend


def spop_baseline(train_items: npt.NDArray[np.object_], k_max: int | None = None) -> Recommender:
    """Session popularity: prefix items by count in the prefix (ties: more recent first),
    then globally popular items."""
    popular = pop_baseline(train_items, k_max)

    def recommend(prefix: Sequence[str], k: int) -> list[str]:
        counts: dict[str, tuple[int, int]] = {}
        for position, item in enumerate(prefix):
            counts[item] = (counts.get(item, (0, 0))[0] + 1, position)
        ranked = sorted(counts, key=lambda i: counts[i], reverse=True)[:k]
        seen = set(ranked)
        ranked.extend(i for i in popular(prefix, k + len(seen)) if i not in seen)
        return ranked[:k]
    return recommend


def item_knn_baseline(model: RecommenderModel, train_items: npt.NDArray[np.object_]) -> Recommender:
    """session-rec's item-kNN: cosine neighbors (session co-occurrence) of the last item,
    padded with popular items."""
    popular = pop_baseline(train_items)
    if model.knn is None:
        raise ValueError("the model has no item-kNN arrays (train with itemknn)")
    knn_ids, knn_scores = model.knn

    def recommend(prefix: Sequence[str], k: int) -> list[str]:
        index = model.index_of(prefix[-1])
        ranked: list[str] = []
        if index is not None:
            row = knn_ids[index][knn_scores[index] > 0]
            ranked = [model.item_ids[i] for i in row[:k].tolist()]
        seen = set(ranked)
        ranked.extend(i for i in popular(prefix, k + len(seen)) if i not in seen)
        return ranked[:k]
    return recommend


def reference_recommender(lists: dict[tuple[str, int], list[str]]) -> Callable[[Case, int], list[str]]:
    def recommend(case: Case, k: int) -> list[str]:
        return lists.get((case.session_id, case.position), [])[:k]
    return recommend
