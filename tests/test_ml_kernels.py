"""The compiled scorer (ml/kernels.py) against the numpy formulation it replaced.

``tests/scorer_reference.py`` is the old numpy ``rank``; every model shape and parameter set
below is ranked by both on random visitors: same ids in the same order, same sources and
reasons, scores equal to float32 precision. Then the kernels' own pieces on known answers.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from pathlib import Path
from typing import Protocol, TypedDict, cast

import numpy as np
import pytest

from personalize.ml import kernels
from personalize.ml.model import RecommenderModel, ScoringParams, load_artifact
from personalize.ml.synthetic import write_synthetic_model
from tests.scorer_reference import reference_rank


class _Compiled(Protocol):
    """A numba dispatcher: kernels.py types its kernels as the Python functions they compile."""

    @property
    def signatures(self) -> list[tuple[object, ...]]: ...


KERNELS = cast(tuple[_Compiled, ...], (kernels.collect, kernels.add_candidates, kernels.finish, kernels.score,
                                       kernels.sources, kernels.best_rows))


class RankCall(TypedDict):
    """The arguments of one RecommenderModel.rank call (and of reference_rank)."""

    session_items: list[tuple[str, float]]
    history_items: list[tuple[str, float]]
    in_view: str | None
    n: int
    exclude: Collection[str]
    allow_seen: bool
    category: str | None


class ParamOverrides(TypedDict, total=False):
    """ScoringParams fields to replace."""

    seen_weight: float
    seq_weight: float
    knn_weight: float
    als_weight: float
    popularity_weight: float
    session_decay: float
    seen_decay: float
    history_weight: float
    history_decay: float
    in_view_weight: float
    max_session_items: int
    max_history_items: int


def _random_calls(model: RecommenderModel, seed: int, count: int) -> list[RankCall]:
    rng = np.random.default_rng(seed)
    ids = model.item_ids
    popular: list[str] = [ids[i] for i in model._popular_order[:30].tolist()]

    def pick() -> str:
        x = rng.random()
        if x < 0.05:
            return f"unknown-{rng.integers(3)}"
        if x < 0.35:
            return popular[int(rng.integers(len(popular)))]
        return ids[int(rng.integers(len(ids)))]

    calls: list[RankCall] = []
    for _ in range(count):
        weights = (1.0, 1.0, 0.5, 2.0, 4.0, 8.0, 0.0, -1.0)
        session = [(pick(), float(rng.choice(weights))) for _ in range(int(rng.choice([0, 1, 2, 3, 8, 20, 60])))]
        if session and rng.random() < 0.2:
            session += session[: int(rng.integers(1, len(session) + 1))]  # repeated views
        history = [(pick(), float(rng.choice((1.0, 2.0, 8.0, 0.0)))) for _ in range(int(rng.choice([0, 0, 1, 5, 30, 70])))]
        calls.append({
            "session_items": session,
            "history_items": history,
            "in_view": pick() if rng.random() < 0.4 else None,
            "n": int(rng.choice([1, 3, 10, 40, 60, 200])),
            "exclude": [pick() for _ in range(int(rng.choice([0, 0, 2, 10])))],
            "allow_seen": bool(rng.random() < 0.7),
            "category": (str(rng.choice(model.categories + ["no-such"])) if model.categories and rng.random() < 0.15
                         else None),
        })
    return calls


def _assert_same(model: RecommenderModel, calls: list[RankCall]) -> None:
    for call in calls:
        ranking = model.rank(**call)
        ids, scores, sources, reasons = reference_rank(model, **call)
        assert ranking.item_ids == ids, call
        assert ranking.sources == sources, call
        assert ranking.reasons(range(len(ids))) == reasons, call
        np.testing.assert_allclose(ranking.scores, scores, rtol=2e-7, atol=0, err_msg=str(call))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> RecommenderModel:
    path = write_synthetic_model(tmp_path_factory.mktemp("models") / "syn", n_items=3_000, factors=16, seed=5,
                                 neighbors=40, n_categories=6)
    return load_artifact(path)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> RecommenderModel:
    """40 items: few candidates, so ALS neighbours join them (the thin path) and n exceeds them."""
    path = write_synthetic_model(tmp_path_factory.mktemp("models") / "tiny", n_items=40, factors=4, seed=6,
                                 neighbors=8, n_categories=3)
    return load_artifact(path)


PARAMS: dict[str, ParamOverrides] = {
    "defaults": {},
    "no ALS (popularity ties)": {"als_weight": 0.0},
    "popularity only": {"seen_weight": 0.0, "seq_weight": 0.0, "knn_weight": 0.0, "als_weight": 0.0},
    "no re-show boost": {"seen_weight": 0.0},
    "no neighbours": {"seq_weight": 0.0, "knn_weight": 0.0},
    "no history": {"history_weight": 0.0},
    "short session": {"max_session_items": 3, "session_decay": 1.0},
    "in view weightless": {"in_view_weight": 0.0},
}


@pytest.mark.parametrize("params", list(PARAMS.values()), ids=list(PARAMS))
def test_rank_matches_the_numpy_scorer(synthetic: RecommenderModel, params: ParamOverrides) -> None:
    model = synthetic.with_params(replace(synthetic.params, **params))
    _assert_same(model, _random_calls(model, seed=len(params), count=150))


TINY_PARAMS: list[ParamOverrides] = [{}, {"als_weight": 0.0}, {"seen_weight": 0.0, "popularity_weight": 0.0}]


@pytest.mark.parametrize("params", TINY_PARAMS)
def test_rank_matches_on_a_tiny_catalog(tiny: RecommenderModel, params: ParamOverrides) -> None:
    model = tiny.with_params(replace(tiny.params, **params))
    _assert_same(model, _random_calls(model, seed=7, count=300))


def test_rank_matches_with_bpr_fold_in_and_without_factors_or_neighbours(synthetic: RecommenderModel) -> None:
    s = synthetic
    common = {"version": "v", "item_ids": s.item_ids, "popularity": s.popularity, "item_category": s.item_category,
              "categories": s.categories}
    bpr = RecommenderModel(**common, item_factors=s.item_factors, seq=s.seq, knn=s.knn,  # type: ignore[arg-type]
                           config={"factor_model": "bpr"})
    neighbours_only = RecommenderModel(**common, seq=s.seq, knn=s.knn)  # type: ignore[arg-type]
    factors_only = RecommenderModel(**common, item_factors=s.item_factors)  # type: ignore[arg-type]
    for seed, model in enumerate((bpr, neighbours_only, factors_only)):
        _assert_same(model, _random_calls(model, seed=10 + seed, count=120))


def test_rank_matches_on_the_checkerboard(tmp_path: Path) -> None:
    from personalize.ml.train import TrainConfig, train_model
    from tests.test_ml_model import _checkerboard_log

    config = TrainConfig(factors=8, iterations=10, bpr_iterations=10, half_life_days=None, neighbors=20)
    model = train_model(_checkerboard_log(), tmp_path, config, version="checkerboard")
    calls: list[RankCall] = [{"session_items": [(f"{g}{i}", 1.0), (f"{h}{j}", 2.0)], "history_items": [(f"{h}{i}", 1.0)],
              "in_view": f"{g}{j}", "n": n, "exclude": (), "allow_seen": allow_seen, "category": None}
             for g in "ab" for h in "ab" for i in range(6) for j in range(6) for n in (3, 12) for allow_seen in (True, False)]
    _assert_same(model, calls)


def test_kernels_are_compiled_when_a_model_loads_not_on_the_first_request(tiny: RecommenderModel) -> None:
    assert all(fn.signatures for fn in KERNELS)
    before = [len(fn.signatures) for fn in KERNELS]
    for call in _random_calls(tiny, seed=3, count=50):
        ranking = tiny.rank(**call)
        ranking.reasons(range(min(3, len(ranking))))
        tiny.with_params(ScoringParams(als_weight=0.0)).rank(**call)
    assert [len(fn.signatures) for fn in KERNELS] == before


def test_scratch_buffers_are_left_clean(synthetic: RecommenderModel) -> None:
    for call in _random_calls(synthetic, seed=4, count=30):
        ranking = synthetic.rank(**call)
        ranking.reasons([0, 0] if len(ranking) else [])
    assert (synthetic._scratch().slot == -1).all()


def test_a_position_asked_twice_gets_its_reason_twice(synthetic: RecommenderModel) -> None:
    session = [(f"item-{i}", 1.0) for i in range(0, 60, 7)]
    ranking = synthetic.rank(session, n=20)
    everything = ranking.reasons(range(20))
    assert ranking.reasons([5, 5, 2, 5]) == [everything[5], everything[5], everything[2], everything[5]]


# ---------------------------------------------------------------------------- pieces
def _top_k(values: list[float], k: int) -> tuple[list[int], bool]:
    total = np.asarray(values, dtype=np.float32)
    local = np.zeros(len(values), dtype=np.int64)
    found, tied = kernels._top_k(total, total.size, k, local)
    return local[:found].tolist(), tied


@pytest.mark.parametrize("pad", [0, 100])  # k <= 48: bounded insertion; larger k: partition then sort
def test_top_k_sorts_drops_excluded_and_reports_ties(pad: int) -> None:
    def top(values: list[float], k: int) -> tuple[list[int] | None, bool]:
        """Positions (None when tied: the caller then asks numpy) and whether tied."""
        filler = [100.0 + i for i in range(pad)]  # better than all values: the first `pad` places
        positions, tied = _top_k(values + filler, k + pad)
        if tied:
            return None, True
        assert positions[:pad] == [len(values) + i for i in reversed(range(pad))]
        return positions[pad:], False

    assert top([0.5, 2.0, -np.inf, 1.0, 3.0, -np.inf], 4) == ([4, 1, 3, 0], False)
    assert top([1.0, -np.inf, -np.inf], 3) == ([0], False)  # fewer finite than k: -inf dropped
    assert top([1.0, 2.0, 2.0, 0.5], 3)[1]  # a tie among the best
    assert top([3.0, 1.0, 2.0, 1.0], 3)[1]  # a tie at the cut
    assert top([3.0, 1.0, 1.0, 2.0], 2) == ([0, 3], False)  # equal below the cut only


@pytest.mark.parametrize("n_items", [1, 2, 255, 256, 3_000, 65_536, 1 << 21])
def test_radix_sort_sorts_and_carries_the_first_seen_order(n_items: int) -> None:
    rng = np.random.default_rng(n_items)
    values = rng.choice(n_items, size=min(n_items, 2_000), replace=False).astype(np.int64)
    cand, perm = values.copy(), np.zeros_like(values)
    kernels._radix_sort(cand, perm, values.size, n_items, np.zeros_like(values), np.zeros_like(values))
    assert cand.tolist() == sorted(values.tolist())
    assert (values[perm] == cand).all()


def test_fold_in_solves_the_normal_equations() -> None:
    rng = np.random.default_rng(0)
    factors = rng.standard_normal((200, 8)).astype(np.float32)
    gram = factors.T.astype(np.float64) @ factors.astype(np.float64) + 0.05 * np.eye(8)
    rows = rng.choice(200, 12).astype(np.int64)
    weights = rng.random(12).astype(np.float32) * 4
    user = np.zeros(8, dtype=np.float32)
    work = np.zeros(64)
    assert kernels._fold_in(factors, gram.reshape(-1), rows, weights, 20.0, True, work, user)
    y = factors[rows].astype(np.float64)
    c = 20.0 * weights.astype(np.float64)
    expected = np.linalg.solve(gram + (y.T * c) @ y, y.T @ (1 + c))
    np.testing.assert_allclose(user, expected, rtol=1e-6)
    assert kernels._fold_in(factors, gram.reshape(-1), rows, weights, 20.0, False, work, user)  # BPR: weighted mean
    np.testing.assert_allclose(user, weights.astype(np.float64) @ y / weights.sum(), rtol=1e-6)
    assert not kernels._fold_in(factors, -gram.reshape(-1), rows, weights, 20.0, True, work, user)  # not SPD


def test_numba_is_imported_with_the_first_model_not_with_the_cli() -> None:
    import subprocess
    import sys

    code = ("import sys, personalize.cli.main, personalize.ml.model as m; assert 'numba' not in sys.modules; "
            "assert m._KIND_IN_VIEW == 2")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert kernels.KIND_IN_VIEW == 2
