"""The serving scorer: one loaded artifact answering "what to show this visitor" per page view.

Score of every catalog item for one request (all numpy, float32, no per-item Python loop):

    seen_weight  * recently-seen boost   (S-POP: items of this session, recency-decayed)
  + seq_weight   * sequential rules      (what people view next after the session's items)
  + knn_weight   * session co-occurrence (items sharing sessions with the session's items)
  + als_weight   * ALS                   (session + history folded into the item-factor space)
  + popularity_weight * decayed popularity (tie-breaker, and the answer for cold visitors)

Each component is divided by its maximum over the catalog for this request, so the weights
(``ScoringParams``, stored in the artifact's config.json) are comparable. Session items weigh
``session_decay ** rank`` (rank 0 = most recent), the item in view ``in_view_weight``, history
items ``history_weight * history_decay ** rank``. Top-k uses ``argpartition``.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import msgspec
import numpy as np
import numpy.typing as npt

from personalize.ml import kernels
from personalize.ml.artifact import ArtifactError, read_artifact

SOURCE_SESSION = "session"
SOURCE_SEQUENCE = "sequence"
SOURCE_ITEM_KNN = "item_knn"
SOURCE_ALS = "als"
SOURCE_POPULARITY = "popularity"

_KIND_IN_VIEW = kernels.KIND_IN_VIEW
_POPULAR_CANDIDATES = 100  # popular items always among the candidates (fillers, tie-breakers)


class Candidate(msgspec.Struct, frozen=True, kw_only=True):
    item_id: str
    score: float
    reason: str
    source: str


@dataclass(frozen=True, slots=True)
class ScoringParams:
    # Defaults: a compromise between YooChoose and Tmall holdouts; `personalize train` tunes them.
    seen_weight: float = 10.0
    seq_weight: float = 0.3
    knn_weight: float = 0.3
    als_weight: float = 0.3
    popularity_weight: float = 0.02
    session_decay: float = 0.5
    seen_decay: float = 0.85  # recency decay of the re-show boost (S-POP counts, recent first)
    history_weight: float = 0.3
    history_decay: float = 0.95
    in_view_weight: float = 1.5
    max_session_items: int = 50
    max_history_items: int = 50

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScoringParams:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


FloatVec = npt.NDArray[np.float32]


def _normalised(values: npt.NDArray[Any]) -> FloatVec:
    top = float(values.max()) if values.size else 0.0
    if top <= 0.0:
        return np.zeros(values.shape[0], dtype=np.float32)
    return (values * (1.0 / top)).astype(np.float32, copy=False)


@lru_cache(maxsize=16)
def _decay_powers(p: ScoringParams) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``decay ** rank`` per input rank (session, re-show boost, history), once per parameter set."""
    return (np.asarray([p.session_decay**r for r in range(p.max_session_items)], dtype=np.float64),
            np.asarray([p.seen_decay**r for r in range(p.max_session_items)], dtype=np.float64),
            np.asarray([p.history_decay**r for r in range(p.max_history_items)], dtype=np.float64))


class RecommenderModel:
    """An immutable, verified model. Safe to share between requests and threads."""

    def __init__(
        self,
        version: str,
        item_ids: list[str],
        popularity: FloatVec,
        item_category: npt.NDArray[np.int32],
        categories: list[str],
        item_factors: FloatVec | None = None,
        seq: tuple[npt.NDArray[np.int32], FloatVec] | None = None,
        knn: tuple[npt.NDArray[np.int32], FloatVec] | None = None,
        params: ScoringParams | None = None,
        config: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> None:
        self.version = version
        self.item_ids = item_ids
        self._index = {item: i for i, item in enumerate(item_ids)}
        self.n_items = len(item_ids)
        self.popularity = popularity
        self._popularity_norm = _normalised(popularity)
        self._popular_order = np.argsort(-popularity, kind="stable").astype(np.int32)
        self.item_category = item_category
        self.categories = categories
        self._category_index = {name: i for i, name in enumerate(categories)}
        # item id -> category name, built once: the decide path asks for every ranked item.
        self._category_of = {
            item: categories[code] for item, code in zip(item_ids, item_category.tolist()) if code >= 0
        }
        # Per-category popularity order, computed once: popular(n, category) is a slice.
        by_category = item_category[self._popular_order]
        self._popular_by_category = {
            c: self._popular_order[by_category == c] for c in np.unique(item_category) if c >= 0
        }
        self.item_factors = item_factors
        self.seq = seq
        self.knn = knn
        self.params = params or ScoringParams()
        self.config = config or {}
        self.metrics = metrics or {}
        self._sequence_prefix = f"often {self.config.get('sequence_verb', 'viewed')} after"
        self._local = threading.local()
        training = self.config.get("training", {})
        self._als_alpha = float(training.get("alpha", 20.0)) if isinstance(training, dict) else 20.0
        regularization = float(training.get("regularization", 0.05)) if isinstance(training, dict) else 0.05
        self._fold_in_als = self.config.get("factor_model", "als") == "als"
        # Y^T Y + lambda I, computed once: folding a session in is then one small f x f solve.
        self._gram: FloatVec | None = None
        if item_factors is not None:
            f = item_factors.shape[1]
            gram = item_factors.T.astype(np.float64) @ item_factors.astype(np.float64)
            self._gram = (gram + regularization * np.eye(f)).astype(np.float64)
        # The kernels' views of the arrays: C-contiguous, fixed dtypes, empty when absent (one
        # compiled signature for every model), neighbour ids checked (the kernels do not).
        self._k_factors = _kernel_array(item_factors, np.float32, 2)
        self._k_gram = _kernel_array(self._gram, np.float64, 2).reshape(-1)  # flat, row-major
        self._k_item_category = _kernel_array(item_category, np.int32, 1)
        self._k_seq_ids, self._k_seq_scores = _kernel_neighbours(seq, self.n_items)
        self._k_knn_ids, self._k_knn_scores = _kernel_neighbours(knn, self.n_items)
        self._neighbour_width = self._k_seq_ids.shape[1] + self._k_knn_ids.shape[1]
        _warm_kernels()

    # ------------------------------------------------------------------ lookups
    def index_of(self, item_id: str) -> int | None:
        return self._index.get(item_id)

    def category_of(self, item_id: str) -> str | None:
        return self._category_of.get(item_id)

    def with_params(self, params: ScoringParams) -> RecommenderModel:
        """The same model scored with other weights (evaluation and tuning)."""
        clone = object.__new__(RecommenderModel)
        clone.__dict__.update(self.__dict__)
        clone.params = params
        return clone

    def _excluded_indices(self, exclude: Collection[str]) -> list[int]:
        index = self._index
        return [i for i in (index.get(item) for item in exclude) if i is not None]

    # ------------------------------------------------------------------ popularity
    def popular(
        self, n: int, category: str | None = None, exclude: Collection[str] = ()
    ) -> list[Candidate]:
        if n <= 0:
            return []
        if category is None:
            order = self._popular_order
            reason = "popular"
        else:
            code = self._category_index.get(category)
            if code is None:
                return []
            order = self._popular_by_category.get(code, self._popular_order[:0])
            reason = "popular in category"
        blocked = set(self._excluded_indices(exclude))
        out: list[Candidate] = []
        for i in order[: n + len(blocked)].tolist():
            if i in blocked:
                continue
            out.append(Candidate(item_id=self.item_ids[i], score=float(self._popularity_norm[i]),
                                 reason=reason, source=SOURCE_POPULARITY))
            if len(out) == n:
                break
        return out

    # ------------------------------------------------------------------ scoring
    def _inputs(
        self,
        session_items: Sequence[tuple[str, float]],
        history_items: Sequence[tuple[str, float]],
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """(item index, weight, rank) of the known session and history items with a positive
        weight; the kernel turns them into input rows (see ``kernels.collect``)."""
        p = self.params
        index = self._index
        session = [(i, weight, rank) for rank, (item, weight) in enumerate(session_items[: p.max_session_items])
                   if (i := index.get(item)) is not None and weight > 0]
        history = [(i, weight, rank) for rank, (item, weight) in enumerate(history_items[: p.max_history_items])
                   if (i := index.get(item)) is not None and weight > 0] if p.history_weight > 0 else []
        return (np.array(session, dtype=np.float64).reshape(-1, 3) if session else _NO_ROWS,
                np.array(history, dtype=np.float64).reshape(-1, 3) if history else _NO_ROWS)

    def _scratch(self) -> _Scratch:
        """Per-thread catalog-sized buffers, left clean after every request (no 50k allocations)."""
        scratch: _Scratch | None = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = _Scratch(self.n_items, self._k_factors.shape[1])
        return scratch

    def recommend(
        self,
        session_items: Sequence[tuple[str, float]],
        history_items: Sequence[tuple[str, float]] = (),
        in_view: str | None = None,
        n: int = 20,
        exclude: Collection[str] = (),
        allow_seen: bool = True,
        category: str | None = None,
    ) -> list[Candidate]:
        """Top ``n`` items for this visitor, best first, each with its reason (see :meth:`rank`)."""
        ranking = self.rank(session_items, history_items, in_view, n, exclude, allow_seen, category)
        return ranking.candidates(range(len(ranking.item_ids)))

    def rank(
        self,
        session_items: Sequence[tuple[str, float]],
        history_items: Sequence[tuple[str, float]] = (),
        in_view: str | None = None,
        n: int = 20,
        exclude: Collection[str] = (),
        allow_seen: bool = True,
        category: str | None = None,
    ) -> Ranking:
        """Top ``n`` items for this visitor, best first; reasons are written on request.

        ``session_items``/``history_items``: (item_id, event weight), most recent first.
        ``in_view`` is never returned itself; ``exclude`` never; with ``allow_seen=False`` the
        session's items are not re-shown either. ``category`` restricts results to one category.
        Unknown items are ignored; with nothing known, decayed popularity is returned.
        """
        if n <= 0:
            return Ranking.of([])
        p = self.params
        session, history = self._inputs(session_items, history_items)
        in_view_row = self._index.get(in_view, -1) if in_view is not None else -1
        blocked = self._excluded_indices(exclude)
        if in_view_row >= 0:
            blocked.append(in_view_row)
        if not allow_seen:
            blocked.extend(self._excluded_indices([item for item, _ in session_items]))
        m = session.shape[0] + history.shape[0] + (in_view_row >= 0)
        if m == 0:
            return Ranking.of(self.popular(n, category=category, exclude=[self.item_ids[i] for i in blocked]))

        # Score a candidate set, not the catalog: items with evidence (seen in this visit, or
        # sequential / co-occurrence neighbours of its items) plus the most popular. Dense
        # passes over 50k items cost ~2 ms a request; ALS is scored on the candidates and
        # normalised by their best. ALS-only items join the candidates when the evidence is
        # too thin to fill the list. Neighbours come from this visit (session items, the item
        # in view); the longer history speaks through the ALS fold-in (expanding 50 history
        # items' neighbour lists made the candidate set ~10x larger for little gain).
        # The loops are compiled (ml/kernels.py); BLAS scores the candidates' ALS part.
        n_items = self.n_items
        fold_in = self.item_factors is not None and p.als_weight > 0
        thin_limit = 4 * n + len(blocked) if fold_in else -1
        cap = min(n_items, m * self._neighbour_width + m + _POPULAR_CANDIDATES + n + max(thin_limit, 0))
        s = self._scratch()
        s.ensure(cap, m)
        factors = self._k_factors
        session_decay, seen_decay, history_decay = _decay_powers(p)
        status, count, m, n_visit, seq_on, knn_on = kernels.collect(
            session, in_view_row, float(p.in_view_weight), history, float(p.history_weight),
            session_decay, seen_decay, history_decay, float(p.seen_weight),
            self._k_seq_ids, self._k_seq_scores, float(p.seq_weight), self._k_knn_ids, self._k_knn_scores,
            float(p.knn_weight), self._popular_order, _POPULAR_CANDIDATES + n,
            factors, self._k_gram, self._als_alpha, fold_in, self._fold_in_als, thin_limit,
            s.slot, s.cand, s.perm, s.acc, s.rows, s.weights, s.kinds, s.seen, s.visit, s.gram, s.user,
            s.tmp_cand, s.tmp_perm, s.gathered,
        )
        rows, weights, kinds = s.rows[:m].copy(), s.weights[:m].copy(), s.kinds[:m].copy()
        user = s.user
        if status != kernels.READY:
            if status == kernels.FOLD_IN_FAILED:
                user[:] = self._fold_in_lapack(rows, weights)
            if count < thin_limit:
                full = factors @ user
                k_als = min(n_items, thin_limit)
                extra = np.argpartition(full, n_items - k_als)[n_items - k_als:]
                count = kernels.add_candidates(extra, s.slot, s.cand, s.acc, count)
            kernels.finish(count, s.slot, s.cand, s.perm, s.acc, factors, fold_in, s.tmp_cand, s.tmp_perm,
                           s.gathered)
        als = s.gathered[:count] @ user if fold_in else _NO_ALS
        code = kernels.NO_CATEGORY if category is None else self._category_index.get(category, -2)
        pop_weight = np.float32(p.popularity_weight)
        k, tied = kernels.score(
            count, s.cand, s.perm, s.acc, seq_on, float(p.seq_weight), knn_on, float(p.knn_weight),
            als, fold_in, float(p.als_weight), self._popularity_norm, pop_weight,
            np.asarray(blocked, dtype=np.int64), s.slot, self._k_item_category, code, n,
            s.total, s.local, s.source, s.scales,
        )
        local = s.local
        if tied:  # equal scores among the best: numpy's selection decides their order, as it always did
            total = s.total[:count]
            local = np.argpartition(total, count - k)[count - k:]
            local = local[np.argsort(-total[local], kind="stable")]
            local = local[np.isfinite(total[local])]
            k = local.size
            scales = s.scales
            kernels.sources(local, k, s.cand, s.perm, s.acc, seq_on, float(scales[0]), knn_on, float(scales[1]),
                            als, bool(scales[3]), np.float32(scales[2]), self._popularity_norm, pop_weight,
                            s.source)
        if k == 0:
            return Ranking.of([])
        positions = local[:k]
        top = s.cand[positions]
        source_of = s.source[:k].tolist()
        items = self.item_ids
        return Ranking(
            [items[i] for i in top.tolist()], s.total[positions].tolist(), [_SOURCES[j] for j in source_of],
            _Evidence(self, rows, weights, kinds, s.visit[:n_visit].copy(), seq_on, knn_on, top, source_of),
        )

    def _fold_in_lapack(self, rows: npt.NDArray[np.int64], weights: FloatVec) -> npt.NDArray[np.float32]:
        """The fold-in by LU (numpy), for a system the Cholesky kernel refused: it raises
        ``LinAlgError`` if singular, as the scorer always did."""
        assert self.item_factors is not None and self._gram is not None
        factors = self.item_factors[rows].astype(np.float64)
        confidence = self._als_alpha * weights.astype(np.float64)
        a = self._gram + (factors.T * confidence) @ factors
        b = factors.T @ (1.0 + confidence)
        return np.linalg.solve(a, b).astype(np.float32)


_NO_ALS = np.zeros(0, dtype=np.float32)
_NO_ROWS = np.zeros((0, 3), dtype=np.float64)
_kernels_warm = False


def _warm_kernels() -> None:
    """Compile the kernels (or load their cached machine code) once per process, in whatever
    thread loads the first model, not in the first request: every path, on an 8-item model."""
    global _kernels_warm
    if _kernels_warm:
        return
    _kernels_warm = True
    rng = np.random.default_rng(0)
    n, f, width = 8, 4, 3
    model = RecommenderModel(
        "warm-up", [f"w{i}" for i in range(n)], np.ones(n, dtype=np.float32), np.zeros(n, dtype=np.int32), ["c"],
        item_factors=rng.standard_normal((n, f)).astype(np.float32),
        seq=(rng.integers(0, n, (n, width), dtype=np.int32), rng.random((n, width), dtype=np.float32)),
        knn=(rng.integers(0, n, (n, width), dtype=np.int32), rng.random((n, width), dtype=np.float32)),
    )
    popularity_only = model.with_params(ScoringParams(seen_weight=0, seq_weight=0, knn_weight=0, als_weight=0))
    for scorer, allow_seen in ((model, True), (model, False), (popularity_only, True)):  # thin, scored, tied
        ranking = scorer.rank([("w0", 1.0), ("w1", 1.0)], [("w2", 1.0)], in_view="w3", n=3, allow_seen=allow_seen)
        ranking.reasons(range(len(ranking.item_ids)))
    model.rank([("w0", 1.0)], n=1, category="c")


def _kernel_array(array: npt.NDArray[Any] | None, dtype: type[np.generic], ndim: int) -> npt.NDArray[Any]:
    if array is None:
        return np.zeros((0,) * ndim, dtype=dtype)
    return np.ascontiguousarray(array, dtype=dtype)


def _kernel_neighbours(
    arrays: tuple[npt.NDArray[np.int32], FloatVec] | None, n_items: int
) -> tuple[npt.NDArray[np.int32], FloatVec]:
    if arrays is None:
        return np.zeros((0, 0), dtype=np.int32), np.zeros((0, 0), dtype=np.float32)
    ids, scores = _kernel_array(arrays[0], np.int32, 2), _kernel_array(arrays[1], np.float32, 2)
    if ids.shape != scores.shape or ids.ndim != 2:
        raise ValueError(f"neighbour ids {ids.shape} and scores {scores.shape} differ")
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= n_items):
        raise ValueError(f"neighbour ids outside 0..{n_items - 1}")
    return ids, scores


class _Scratch:
    """Buffers reused by one thread's requests (no catalog-sized allocation per request).
    ``slot`` (item -> candidate position) is catalog-sized and left all -1 after every call;
    the others are sized for the largest request so far."""

    def __init__(self, n_items: int, factors: int) -> None:
        self.slot = np.full(n_items, -1, dtype=np.int32)
        self.user = np.zeros(factors, dtype=np.float32)
        self.gram = np.zeros(factors * factors, dtype=np.float64)  # the fold-in's system, flat
        self.scales = np.zeros(4, dtype=np.float64)
        self._factors = factors
        self.capacity = self.max_rows = 0
        self.ensure(1024, 128)

    def ensure(self, capacity: int, rows: int) -> None:
        if capacity > self.capacity:
            capacity = max(capacity, 2 * self.capacity)
            self.cand = np.zeros(capacity, dtype=np.int64)
            self.perm = np.zeros(capacity, dtype=np.int64)
            self.tmp_cand = np.zeros(capacity, dtype=np.int64)
            self.tmp_perm = np.zeros(capacity, dtype=np.int64)
            self.acc = np.zeros((capacity, 3), dtype=np.float64)
            self.total = np.zeros(capacity, dtype=np.float32)
            self.local = np.zeros(capacity, dtype=np.int64)
            self.source = np.zeros(capacity, dtype=np.int8)
            self.gathered = np.zeros((capacity, self._factors), dtype=np.float32)
            self.capacity = capacity
        if rows > self.max_rows:
            size = max(rows, 2 * self.max_rows)
            self.rows = np.zeros(size, dtype=np.int64)
            self.weights = np.zeros(size, dtype=np.float32)
            self.kinds = np.zeros(size, dtype=np.int8)
            self.seen = np.zeros(size, dtype=np.float32)
            self.visit = np.zeros(size, dtype=np.int64)
            self.max_rows = size


_SOURCES = (SOURCE_SESSION, SOURCE_SEQUENCE, SOURCE_ITEM_KNN, SOURCE_ALS, SOURCE_POPULARITY)


class _Reasons(Protocol):
    def reasons(self, positions: Sequence[int]) -> list[str]: ...


class Ranking:
    """One request's ranked items, best first. Reasons are written only for the positions
    asked for: a page shows fewer items than the scorer ranks (exclusions, diversity), and
    explaining all of them cost a quarter of the scorer's time."""

    __slots__ = ("_explain", "item_ids", "scores", "sources")

    def __init__(self, item_ids: list[str], scores: list[float], sources: list[str], explain: _Reasons) -> None:
        self.item_ids = item_ids
        self.scores = scores
        self.sources = sources
        self._explain = explain

    @classmethod
    def of(cls, candidates: Sequence[Candidate]) -> Ranking:
        """A ranking whose reasons are already written (popularity lists)."""
        return cls([c.item_id for c in candidates], [c.score for c in candidates], [c.source for c in candidates],
                   _Written([c.reason for c in candidates]))

    def reasons(self, positions: Sequence[int]) -> list[str]:
        return self._explain.reasons(positions)

    def candidates(self, positions: Sequence[int]) -> list[Candidate]:
        reasons = self.reasons(positions)
        return [Candidate(item_id=self.item_ids[j], score=self.scores[j], reason=reason, source=self.sources[j])
                for j, reason in zip(positions, reasons)]


class _Written:
    __slots__ = ("_reasons",)

    def __init__(self, reasons: list[str]) -> None:
        self._reasons = reasons

    def reasons(self, positions: Sequence[int]) -> list[str]:
        return [self._reasons[j] for j in positions]


class _Evidence:
    """What one scored request needs to explain its items: the inputs, which neighbour parts
    scored, the visit's rows and each ranked item's strongest component (0 seen, 1 sequence,
    2 knn, 3 ALS, 4 popular)."""

    __slots__ = ("kinds", "knn_on", "model", "rows", "seq_on", "source_of", "top", "visit_index", "weights")

    def __init__(
        self, model: RecommenderModel, rows: npt.NDArray[np.int64], weights: FloatVec, kinds: npt.NDArray[np.int8],
        visit_index: npt.NDArray[np.int64], seq_on: bool, knn_on: bool, top: npt.NDArray[np.int64],
        source_of: list[int],
    ) -> None:
        self.model = model
        self.rows = rows
        self.weights = weights
        self.kinds = kinds
        self.visit_index = visit_index
        self.seq_on = seq_on
        self.knn_on = knn_on
        self.top = top
        self.source_of = source_of

    def reasons(self, positions: Sequence[int]) -> list[str]:
        # Each item's reason depends on that item alone, so explaining a subset gives the
        # same reasons as explaining the whole ranking.
        if not len(positions):
            return []
        model = self.model
        top = self.top[np.asarray(positions, dtype=np.intp)]
        source_of = [self.source_of[j] for j in positions]
        seq_best = self._best_rows(self.seq_on, model._k_seq_ids, model._k_seq_scores, top, source_of, 1)
        knn_best = self._best_rows(self.knn_on, model._k_knn_ids, model._k_knn_scores, top, source_of, 2)
        als_best = self._best_als_rows(top) if 3 in source_of else []
        visit_index = self.visit_index
        out: list[str] = []
        for j, source in enumerate(source_of):
            if source == 0:
                out.append("you viewed this recently")
            elif source == 1:
                out.append(self._reason(_visit_row(visit_index, seq_best[j]), model._sequence_prefix))
            elif source == 2:
                out.append(self._reason(_visit_row(visit_index, knn_best[j]), "because you viewed"))
            elif source == 3:
                out.append(self._reason(als_best[j], "because you viewed"))
            else:
                out.append("popular")
        return out

    def _reason(self, best: int, prefix: str) -> str:
        if best < 0:
            return "popular"
        if self.kinds[best] == _KIND_IN_VIEW:
            return "similar to the item in view"
        return f"{prefix} {self.model.item_ids[int(self.rows[best])]}"

    def _best_rows(
        self, on: bool, ids: npt.NDArray[np.int32], scores: FloatVec, top: npt.NDArray[np.int64],
        source_of: list[int], source: int,
    ) -> list[int]:
        """For each top item, the visit row contributing most to this part (-1: none; ties: the
        earlier row); computed only when some item's reason comes from this part."""
        if not on or source not in source_of:
            return [-1] * top.size
        best = np.empty(top.size, dtype=np.int64)
        kernels.best_rows(ids, scores, self.rows, self.weights, self.visit_index, top, self.model._scratch().slot, best)
        return best.tolist()  # type: ignore[no-any-return]

    def _best_als_rows(self, top: npt.NDArray[np.int64]) -> list[int]:
        factors = self.model.item_factors
        if factors is None:
            return [-1] * top.size
        affinity = (factors[self.rows] @ factors[top].T) * self.weights[:, None]  # (m, k)
        return [int(b) for b in affinity.argmax(axis=0).tolist()]


def _visit_row(visit_index: npt.NDArray[np.int64], best: int) -> int:
    return int(visit_index[best]) if best >= 0 else -1


def load_artifact(path: Path | str, params: ScoringParams | None = None) -> RecommenderModel:
    """Load and verify ``models/<version>/``; raises :class:`ArtifactError` if anything is off."""
    manifest, arrays, documents = read_artifact(Path(path))
    config: dict[str, Any] = documents["config.json"] if isinstance(documents["config.json"], dict) else {}
    scoring = config.get("scoring", {})
    if not isinstance(scoring, dict):
        raise ArtifactError("config.json: 'scoring' must be an object")
    try:
        stored_params = ScoringParams.from_dict(scoring)
    except TypeError as exc:
        raise ArtifactError(f"config.json: bad scoring parameters ({exc})") from exc
    seq = (arrays["seq_ids.npy"], arrays["seq_scores.npy"]) if "seq_ids.npy" in arrays else None
    knn = (arrays["knn_ids.npy"], arrays["knn_scores.npy"]) if "knn_ids.npy" in arrays else None
    metrics = documents["metrics.json"] if isinstance(documents["metrics.json"], dict) else {}
    return RecommenderModel(
        version=str(manifest.get("version", Path(path).name)),
        item_ids=documents["item_ids.json"],
        popularity=arrays["popularity.npy"],
        item_category=arrays["item_category.npy"],
        categories=[str(c) for c in documents["categories.json"]],
        item_factors=arrays.get("item_factors.npy"),
        seq=seq,
        knn=knn,
        params=params or stored_params,
        config=config,
        metrics=metrics,
    )
