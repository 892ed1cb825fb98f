"""Training: events -> interaction matrix -> ALS / BPR / item-item models -> artifact directory."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from personalize.ml.artifact import write_artifact
from personalize.ml.events import EventLog
from personalize.ml.interactions import (
    DEFAULT_WEIGHTS,
    MAX_WEIGHT,
    build_interactions,
    item_categories,
    item_popularity,
)
from personalize.ml.model import RecommenderModel, ScoringParams, load_artifact
from personalize.ml.neighbors import sequential_rules, session_cooccurrence, top_k_per_row

ALGORITHMS = ("als", "bpr", "itemknn")
# Item factors beyond this are no better and need items x factors x 4 bytes (MemoryError).
MAX_FACTORS = 1024

# (stage name, total steps) -> advance(steps); lets the CLI draw progress bars.
ProgressHook = Callable[[str, int], Callable[[int], None]]


def _no_progress(_stage: str, _total: int) -> Callable[[int], None]:
    return lambda _steps: None


@dataclass(frozen=True, slots=True)
class TrainConfig:
    algorithms: tuple[str, ...] = ALGORITHMS
    factors: int = 64
    iterations: int = 15
    regularization: float = 0.05
    alpha: float = 20.0  # ALS confidence = 1 + alpha * weight
    bpr_learning_rate: float = 0.05
    bpr_iterations: int = 60
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    half_life_days: float | None = 30.0
    neighbors: int = 100
    max_gap: int = 10
    seed: int = 0
    scoring: ScoringParams = field(default_factory=ScoringParams)
    # Scoring weights differ per shop (YooChoose wants recency, Tmall counts): tune them on a
    # holdout of the newest sessions unless told not to.
    tune: bool = False
    tune_fraction: float = 0.1
    tune_min_cases: int = 200
    tune_max_cases: int = 2_000

    def __post_init__(self) -> None:
        unknown = set(self.algorithms) - set(ALGORITHMS)
        if unknown:
            raise ValueError(f"unknown algorithm(s) {sorted(unknown)}; choose from {', '.join(ALGORITHMS)}")
        if not self.algorithms:
            raise ValueError(f"no algorithm given; choose from {', '.join(ALGORITHMS)}")
        if not 1 <= self.factors <= MAX_FACTORS:
            raise ValueError(f"factors must be between 1 and {MAX_FACTORS} (got {self.factors})")
        if self.neighbors < 1 or self.iterations < 1:
            raise ValueError("neighbors and iterations must be at least 1")
        if self.half_life_days is not None and not 0 <= self.half_life_days < float("inf"):
            raise ValueError(f"half_life_days must be 0 (no decay) or positive (got {self.half_life_days:g})")
        bad = [f"{t}={w:g}" for t, w in self.weights.items() if not 0 <= w <= MAX_WEIGHT]
        if bad:
            raise ValueError(f"event weights must be between 0 and {MAX_WEIGHT:g}: {', '.join(bad)}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["algorithms"] = list(self.algorithms)
        data["weights"] = dict(self.weights)
        data["scoring"] = self.scoring.to_dict()
        return data


def default_version(config: TrainConfig, now: datetime | None = None) -> str:
    """Sortable: ``20261123-161500-als64`` (UTC time, first factor model, factors)."""
    now = now or datetime.now(UTC)
    tag = next((a for a in config.algorithms if a in ("als", "bpr")), "knn")
    suffix = f"{tag}{config.factors}" if tag != "knn" else "knn"
    return f"{now:%Y%m%d-%H%M%S}-{suffix}"


@dataclass(slots=True)
class TrainResult:
    path: Path
    version: str
    summary: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)


def _fit_factors(
    kind: str, matrix: Any, config: TrainConfig, progress: ProgressHook
) -> npt.NDArray[np.float32]:
    # implicit's CPU classes directly: no GPU probing, no pickling anywhere.
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    if kind == "als":
        advance = progress("ALS", config.iterations)
        als = AlternatingLeastSquares(
            factors=config.factors, regularization=config.regularization,
            iterations=config.iterations, random_state=config.seed, num_threads=1,
        )
        als.fit((matrix * config.alpha).astype(np.float32).tocsr(), show_progress=False,
                callback=lambda *_: advance(1))
        return np.ascontiguousarray(als.item_factors, dtype=np.float32)
    advance = progress("BPR", config.bpr_iterations)
    bpr = BayesianPersonalizedRanking(
        factors=config.factors, learning_rate=config.bpr_learning_rate,
        regularization=config.regularization, iterations=config.bpr_iterations,
        random_state=config.seed, num_threads=1,
    )
    bpr.fit(matrix.tocsr(), show_progress=False, callback=lambda *_: advance(1))
    return np.ascontiguousarray(bpr.item_factors, dtype=np.float32)


@dataclass(slots=True)
class _Fitted:
    arrays: dict[str, npt.NDArray[Any]]
    item_ids: list[str]
    categories: list[str]
    summary: dict[str, Any]


def _fit(log: EventLog, config: TrainConfig, progress: ProgressHook) -> _Fitted:
    started = time.perf_counter()
    inter = build_interactions(log, config.weights, config.half_life_days)
    matrix = inter.owner_item_matrix()
    arrays: dict[str, npt.NDArray[Any]] = {"popularity.npy": item_popularity(inter)}
    categories, per_item = item_categories(inter)
    arrays["item_category.npy"] = per_item
    timings: dict[str, float] = {}

    for kind in ("als", "bpr"):
        if kind in config.algorithms:
            t0 = time.perf_counter()
            factors = _fit_factors(kind, matrix, config, progress)
            arrays["item_factors.npy" if kind == "als" else "bpr_item_factors.npy"] = factors
            timings[kind] = time.perf_counter() - t0
    if "als" not in config.algorithms and "bpr_item_factors.npy" in arrays:
        # The scorer folds sessions into whichever factor model exists.
        arrays["item_factors.npy"] = arrays.pop("bpr_item_factors.npy")
    if "itemknn" in config.algorithms:
        t0 = time.perf_counter()
        advance = progress("item-item", 2)
        seq_ids, seq_scores = top_k_per_row(sequential_rules(inter, config.max_gap), config.neighbors)
        advance(1)
        knn_ids, knn_scores = top_k_per_row(session_cooccurrence(inter), config.neighbors)
        advance(1)
        arrays.update({"seq_ids.npy": seq_ids, "seq_scores.npy": seq_scores,
                       "knn_ids.npy": knn_ids, "knn_scores.npy": knn_scores})
        timings["itemknn"] = time.perf_counter() - t0
    summary: dict[str, Any] = {
        "events": len(log),
        "item_events": int(inter.item_index.shape[0]),
        "items": inter.n_items,
        "sessions": int(inter.session_index.max()) + 1,
        "owners": inter.n_owners,
        "matrix_nnz": int(matrix.nnz),
        "categories": len(categories),
        "seconds": {k: round(v, 3) for k, v in timings.items()},
        "total_seconds": round(time.perf_counter() - started, 3),
    }
    return _Fitted(arrays, inter.item_ids, categories, summary)


def _config_doc(config: TrainConfig, scoring: ScoringParams, log: EventLog, version: str,
                source: str) -> dict[str, Any]:
    return {
        "version": version,
        "synthetic": False,
        "source": source,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "training": config.to_dict(),
        "scoring": scoring.to_dict(),
        "sequence_verb": _sequence_verb(log, config.weights),
        "factor_model": "als" if "als" in config.algorithms else ("bpr" if "bpr" in config.algorithms else None),
    }


def _in_memory_model(fitted: _Fitted, doc: dict[str, Any]) -> RecommenderModel:
    arrays = fitted.arrays
    seq = (arrays["seq_ids.npy"], arrays["seq_scores.npy"]) if "seq_ids.npy" in arrays else None
    knn = (arrays["knn_ids.npy"], arrays["knn_scores.npy"]) if "knn_ids.npy" in arrays else None
    return RecommenderModel(
        version=str(doc["version"]), item_ids=fitted.item_ids, popularity=arrays["popularity.npy"],
        item_category=arrays["item_category.npy"], categories=fitted.categories,
        item_factors=arrays.get("item_factors.npy"), seq=seq, knn=knn,
        params=ScoringParams.from_dict(doc["scoring"]), config=doc,
    )


def _tune(log: EventLog, config: TrainConfig, progress: ProgressHook) -> tuple[ScoringParams, dict[str, Any]] | None:
    """Choose scoring weights on a time-based holdout: fit on the older sessions, search the
    weights on the next-item cases of the newest ones, return the best (or None if too little data)."""
    from personalize.ml import tuning

    split = tuning.holdout_split(log, config.tune_fraction)
    if split is None:
        return None
    fit_log, cases = split
    if len(cases) < config.tune_min_cases:
        return None
    fitted = _fit(fit_log, config, progress)
    model = _in_memory_model(fitted, _config_doc(config, config.scoring, fit_log, "holdout", ""))
    return tuning.search(model, cases, fit_log, k=20, start=config.scoring,
                         max_cases=config.tune_max_cases, seed=config.seed, progress=progress)


def train(
    log: EventLog,
    out_root: Path,
    config: TrainConfig | None = None,
    version: str | None = None,
    progress: ProgressHook = _no_progress,
    source: str = "",
) -> TrainResult:
    """Train every requested model and write ``out_root/<version>/``.

    With ``config.tune`` the scoring weights are first chosen on a time-based holdout (models
    fitted on the older sessions), then every model is refitted on all events.
    """
    config = config or TrainConfig()
    version = version or default_version(config)
    scoring = config.scoring
    tuned = _tune(log, config, progress) if config.tune else None
    fitted = _fit(log, config, progress)
    metrics: dict[str, Any] = {"training": fitted.summary}
    if tuned is not None:
        scoring, metrics["tuning"] = tuned
    documents = {
        "item_ids.json": fitted.item_ids,
        "categories.json": fitted.categories,
        "config.json": _config_doc(config, scoring, log, version, source),
        "metrics.json": metrics,
    }
    path = write_artifact(Path(out_root) / version, fitted.arrays, documents, version)
    return TrainResult(path=path, version=version, summary=fitted.summary, metrics=metrics)


def _sequence_verb(log: EventLog, weights: Mapping[str, float]) -> str:
    """'bought' when purchases carry most of the training weight, else 'viewed'."""
    has_item = log.item_id != ""
    types, counts = np.unique(log.event_type[has_item].astype(str), return_counts=True)
    mass = {str(t): float(c) * weights.get(str(t), 0.0) for t, c in zip(types, counts)}
    total = sum(mass.values())
    return "bought" if total > 0 and mass.get("purchase", 0.0) / total > 0.5 else "viewed"


def train_model(log: EventLog, out_root: Path, config: TrainConfig | None = None,
                version: str | None = None) -> RecommenderModel:
    """Train and load back (tests and evaluation)."""
    result = train(log, out_root, config, version)
    return load_artifact(result.path)
