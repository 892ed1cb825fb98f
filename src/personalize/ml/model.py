"""The serving scorer: one loaded artifact answering "what to show this visitor" per page view.

Score of the candidate items of one request (float32; the per-request loops are compiled,
see ml/kernels.py):

    seen_weight  * recently-seen boost   (S-POP: items of this session, recency-decayed)
  + seq_weight   * sequential rules      (what people view next after the session's items)
  + knn_weight   * session co-occurrence (items sharing sessions with the session's items)
  + als_weight   * ALS                   (session + history folded into the item-factor space)
  + popularity_weight * decayed popularity (tie-breaker, and the answer for cold visitors)

Each component is divided by its maximum over the candidates for this request, so the
weights (``ScoringParams``, stored in the artifact's config.json) are comparable. Session
items weigh ``session_decay ** rank`` (rank 0 = most recent), the item in view
``in_view_weight``, history items ``history_weight * history_decay ** rank``. The candidates
are the items with evidence (this visit's items and their sequence / co-occurrence
neighbours) and the most popular; see :meth:`RecommenderModel.rank`.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
import numpy as np
import numpy.typing as npt

from personalize.ml.artifact import ArtifactError, read_artifact

if TYPE_CHECKING:
    from personalize.ml import kernels
else:
    # The compiled loops are imported with the first model (warm_kernels), not with this
    # module: numba costs ~150 ms of import and ~100 MB of mapped code, and the CLI and the
    # server's main process import this module without ever scoring.
    kernels = None

SOURCE_SESSION = "session"
SOURCE_SEQUENCE = "sequence"
SOURCE_ITEM_KNN = "item_knn"
SOURCE_ALS = "als"
SOURCE_POPULARITY = "popularity"

_KIND_IN_VIEW = 2  # kernels.KIND_IN_VIEW
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
        self._weights = _Weights(self.params, item_factors is not None)
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
        warm_kernels()

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
        clone._weights = _Weights(params, self.item_factors is not None)
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
    ) -> tuple[list[float], int]:
        """(item index, event weight, rank in its list) of the known session items, then of the
        history items, with a positive weight, flat; and how many values are the session's.
        The kernel turns them into input rows (see ``kernels.collect``)."""
        p = self.params
        get = self._index.get
        out: list[float] = []
        for rank, (item, weight) in enumerate(session_items[: p.max_session_items]):
            i = get(item)
            if i is not None and weight > 0:
                out += (i, weight, rank)
        n_session = len(out)
        if p.history_weight > 0:
            for rank, (item, weight) in enumerate(history_items[: p.max_history_items]):
                i = get(item)
                if i is not None and weight > 0:
                    out += (i, weight, rank)
        return out, n_session

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
        w = self._weights
        if w.params is not self.params:  # params reassigned: derive again
            w = self._weights = _Weights(self.params, self.item_factors is not None)
        inputs, n_session = self._inputs(session_items, history_items)
        in_view_row = self._index.get(in_view, -1) if in_view is not None else -1
        blocked = self._excluded_indices(exclude)
        if in_view_row >= 0:
            blocked.append(in_view_row)
        if not allow_seen:
            blocked.extend(self._excluded_indices([item for item, _ in session_items]))
        m = len(inputs) // 3 + (in_view_row >= 0)
        if m == 0:
            return Ranking.of(self.popular(n, category=category, exclude=[self.item_ids[i] for i in blocked]))

        # Score a candidate set, not the catalog: items with evidence (seen in this visit, or
        # sequential / co-occurrence neighbours of its items) plus the most popular. Dense
        # passes over 50k items cost ~2 ms a request; ALS is scored on the candidates and
        # normalised by their best. ALS-only items join the candidates when the evidence is
        # too thin to fill the list. Neighbours come from this visit (session items, the item
        # in view); the longer history speaks through the ALS fold-in (expanding 50 history
        # items' neighbour lists made the candidate set ~10x larger for little gain).
        # The loops are compiled (ml/kernels.py); numpy only for the rare paths below.
        n_items = self.n_items
        fold_in = w.fold_in
        thin_limit = 4 * n + len(blocked) if fold_in else -1
        s = self._scratch()
        s.ensure(min(n_items, m * self._neighbour_width + m + _POPULAR_CANDIDATES + n + max(thin_limit, 0)), m)
        factors = self._k_factors
        status, count, m, n_visit, seq_on, knn_on = kernels.collect(
            np.array(inputs, dtype=np.float64), n_session, in_view_row, w.in_view, w.history, w.session_decay,
            w.seen_decay, w.history_decay, w.seen,
            self._k_seq_ids, self._k_seq_scores, w.seq, self._k_knn_ids, self._k_knn_scores, w.knn,
            self._popular_order, _POPULAR_CANDIDATES + n,
            factors, self._k_gram, self._als_alpha, fold_in, self._fold_in_als, thin_limit,
            s.slot, s.cand, s.perm, s.acc, s.rows, s.weights, s.kinds, s.seen, s.visit, s.gram, s.user,
            s.tmp_cand, s.tmp_perm,
        )
        rows, weights, visit = s.rows[:m], s.weights[:m], s.visit[:n_visit]
        if status != kernels.READY:
            if status == kernels.FOLD_IN_FAILED:
                s.user[:] = self._fold_in_lapack(rows, weights)
            if count < thin_limit:
                full = factors @ s.user
                k_als = min(n_items, thin_limit)
                extra = np.argpartition(full, n_items - k_als)[n_items - k_als:]
                count = kernels.add_candidates(extra, s.slot, s.cand, s.acc, count)
            kernels.finish(count, s.slot, s.cand, s.perm, s.acc, s.tmp_cand, s.tmp_perm)
        code = kernels.NO_CATEGORY if category is None else self._category_index.get(category, -2)
        k, tied = kernels.score(
            count, s.cand, s.perm, s.acc, seq_on, w.seq, knn_on, w.knn,
            factors, s.user, s.block, s.als, fold_in, w.als, self._popularity_norm, w.popularity,
            np.array(blocked, dtype=np.int64), s.slot, self._k_item_category, code, n,
            s.total, s.local, s.source, s.scales,
            self._k_seq_ids, self._k_seq_scores, self._k_knn_ids, self._k_knn_scores, rows, weights, visit,
            s.best_seq, s.best_knn,
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
                            s.als, bool(scales[3]), np.float32(scales[2]), self._popularity_norm, w.popularity,
                            s.source)
            if seq_on:
                kernels.best_rows(self._k_seq_ids, self._k_seq_scores, rows, weights, visit, s.cand, local, k,
                                  s.slot, s.best_seq)
            if knn_on:
                kernels.best_rows(self._k_knn_ids, self._k_knn_scores, rows, weights, visit, s.cand, local, k,
                                  s.slot, s.best_knn)
        if k == 0:
            return Ranking.of([])
        positions = local[:k]
        top = s.cand[positions]
        evidence = _Evidence(self, rows.copy(), weights.copy(), s.kinds[:m].tolist(), visit.tolist(),
                             s.best_seq[:k].tolist() if seq_on else None, s.best_knn[:k].tolist() if knn_on else None,
                             top, s.source[:k].tolist())
        return Ranking.of_indices(self.item_ids, top.tolist(), s.total[positions].tolist(),
                                  [_SOURCES[j] for j in evidence.source_of], evidence)

    def _fold_in_lapack(self, rows: npt.NDArray[np.int64], weights: FloatVec) -> npt.NDArray[np.float32]:
        """The fold-in by LU (numpy), for a system the Cholesky kernel refused: it raises
        ``LinAlgError`` if singular, as the scorer always did."""
        assert self.item_factors is not None and self._gram is not None
        factors = self.item_factors[rows].astype(np.float64)
        confidence = self._als_alpha * weights.astype(np.float64)
        a = self._gram + (factors.T * confidence) @ factors
        b = factors.T @ (1.0 + confidence)
        return np.linalg.solve(a, b).astype(np.float32)


class _Weights:
    """The scoring parameters as the kernels take them, derived once per model and parameter set."""

    __slots__ = ("als", "fold_in", "history", "history_decay", "in_view", "knn", "params", "popularity", "seen",
                 "seen_decay", "seq", "session_decay")

    def __init__(self, p: ScoringParams, has_factors: bool) -> None:
        self.params = p
        self.seen, self.seq, self.knn, self.als = float(p.seen_weight), float(p.seq_weight), float(p.knn_weight), float(p.als_weight)
        self.popularity = np.float32(p.popularity_weight)
        self.in_view = float(p.in_view_weight)
        self.history = float(p.history_weight)
        self.fold_in = has_factors and p.als_weight > 0
        # decay ** rank per input rank (session, re-show boost, history)
        self.session_decay = np.asarray([p.session_decay**r for r in range(p.max_session_items)], dtype=np.float64)
        self.seen_decay = np.asarray([p.seen_decay**r for r in range(p.max_session_items)], dtype=np.float64)
        self.history_decay = np.asarray([p.history_decay**r for r in range(p.max_history_items)], dtype=np.float64)


_kernels_warm = False


def warm_kernels() -> None:
    """Import the kernels and compile them (or load their cached machine code) once per
    process, in whatever thread loads the first model, not in the first request: every
    path, on an 8-item model."""
    global _kernels_warm, kernels
    from personalize.ml import kernels as loaded

    kernels = loaded
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
        self.block = np.zeros((kernels.ALS_BLOCK, factors), dtype=np.float32)  # candidates' factor rows, gathered
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
            self.best_seq = np.zeros(capacity, dtype=np.int64)
            self.best_knn = np.zeros(capacity, dtype=np.int64)
            self.als = np.zeros(capacity, dtype=np.float32)
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
    explaining all of them cost a quarter of the scorer's time. Item ids are looked up on
    first use too (``item_id(j)`` one at a time)."""

    __slots__ = ("_explain", "_ids", "_indices", "_names", "scores", "sources")

    def __init__(self, item_ids: list[str], scores: list[float], sources: list[str], explain: _Reasons) -> None:
        self._ids: list[str] | None = item_ids
        self._names: list[str] = item_ids
        self._indices: list[int] | None = None
        self.scores = scores
        self.sources = sources
        self._explain = explain

    @classmethod
    def of(cls, candidates: Sequence[Candidate]) -> Ranking:
        """A ranking whose reasons are already written (popularity lists)."""
        return cls([c.item_id for c in candidates], [c.score for c in candidates], [c.source for c in candidates],
                   _Written([c.reason for c in candidates]))

    @classmethod
    def of_indices(cls, names: list[str], indices: list[int], scores: list[float], sources: list[str],
                   explain: _Reasons) -> Ranking:
        """A ranking of ``names[i] for i in indices``."""
        ranking = cls.__new__(cls)
        ranking._ids = None
        ranking._names = names
        ranking._indices = indices
        ranking.scores = scores
        ranking.sources = sources
        ranking._explain = explain
        return ranking

    @property
    def item_ids(self) -> list[str]:
        ids = self._ids
        if ids is None:
            names = self._names
            ids = self._ids = [names[i] for i in self._indices]  # type: ignore[union-attr]
        return ids

    def iter_item_ids(self) -> Iterator[str]:
        """The ids in rank order, looked up as they are read."""
        if self._ids is not None:
            return iter(self._ids)
        return map(self._names.__getitem__, self._indices)  # type: ignore[arg-type]

    def item_id(self, position: int) -> str:
        if self._ids is not None:
            return self._ids[position]
        return self._names[self._indices[position]]  # type: ignore[index]

    def __len__(self) -> int:
        return len(self.scores)

    def reasons(self, positions: Sequence[int]) -> list[str]:
        return self._explain.reasons(positions)

    def candidates(self, positions: Sequence[int]) -> list[Candidate]:
        reasons = self.reasons(positions)
        return [Candidate(item_id=self.item_id(j), score=self.scores[j], reason=reason, source=self.sources[j])
                for j, reason in zip(positions, reasons)]


class _Written:
    __slots__ = ("_reasons",)

    def __init__(self, reasons: list[str]) -> None:
        self._reasons = reasons

    def reasons(self, positions: Sequence[int]) -> list[str]:
        return [self._reasons[j] for j in positions]


class _Evidence:
    """What one scored request needs to explain its items: the input rows, the visit's rows
    (indices into them), per ranked item its strongest component (0 seen, 1 sequence, 2 knn,
    3 ALS, 4 popular) and the visit row behind its sequence / co-occurrence part (None: the
    part is off), as the kernel found them."""

    __slots__ = ("best_knn", "best_seq", "kinds", "model", "rows", "source_of", "top", "visit", "weights")

    def __init__(
        self, model: RecommenderModel, rows: npt.NDArray[np.int64], weights: FloatVec, kinds: list[int],
        visit: list[int], best_seq: list[int] | None, best_knn: list[int] | None, top: npt.NDArray[np.int64],
        source_of: list[int],
    ) -> None:
        self.model = model
        self.rows = rows
        self.weights = weights
        self.kinds = kinds
        self.visit = visit
        self.best_seq = best_seq
        self.best_knn = best_knn
        self.top = top
        self.source_of = source_of

    def reasons(self, positions: Sequence[int]) -> list[str]:
        # Each item's reason depends on that item alone, so explaining a subset gives the
        # same reasons as explaining the whole ranking.
        source_of = self.source_of
        sources = [source_of[j] for j in positions]
        # ALS reasons by one product over all the asked items, as always (BLAS's last bit
        # depends on the matrix shape, and the best row on that bit when two rows tie)
        als_best = self._best_als_rows(self.top[np.asarray(positions, dtype=np.intp)]) if 3 in sources else []
        model = self.model
        names, rows, kinds, visit = model.item_ids, self.rows.tolist(), self.kinds, self.visit
        best_seq, best_knn = self.best_seq, self.best_knn
        out: list[str] = []
        for t, (j, source) in enumerate(zip(positions, sources)):
            if source == 0:
                out.append("you viewed this recently")
                continue
            if source == 4:
                out.append("popular")
                continue
            if source == 3:
                best, prefix = als_best[t], "because you viewed"
            else:
                part = best_seq if source == 1 else best_knn
                v = part[j] if part is not None else -1
                best = visit[v] if v >= 0 else -1
                prefix = model._sequence_prefix if source == 1 else "because you viewed"
            if best < 0:
                out.append("popular")
            elif kinds[best] == _KIND_IN_VIEW:
                out.append("similar to the item in view")
            else:
                out.append(f"{prefix} {names[rows[best]]}")
        return out

    def _best_als_rows(self, top: npt.NDArray[np.int64]) -> list[int]:
        factors = self.model.item_factors
        if factors is None:
            return [-1] * top.size
        affinity = (factors[self.rows] @ factors[top].T) * self.weights[:, None]  # (m, k)
        return [int(b) for b in affinity.argmax(axis=0).tolist()]


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
