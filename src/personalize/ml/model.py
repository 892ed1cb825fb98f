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

from personalize.ml.artifact import ArtifactError, read_artifact

SOURCE_SESSION = "session"
SOURCE_SEQUENCE = "sequence"
SOURCE_ITEM_KNN = "item_knn"
SOURCE_ALS = "als"
SOURCE_POPULARITY = "popularity"

_KIND_SESSION, _KIND_HISTORY, _KIND_IN_VIEW = 0, 1, 2
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
def _decay_powers(p: ScoringParams) -> tuple[list[float], list[float], list[float]]:
    """``decay ** rank`` per input rank (session, re-show boost, history), once per parameter set."""
    return ([p.session_decay**r for r in range(p.max_session_items)],
            [p.seen_decay**r for r in range(p.max_session_items)],
            [p.history_decay**r for r in range(p.max_history_items)])


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
        in_view: str | None,
    ) -> tuple[npt.NDArray[np.int64], FloatVec, npt.NDArray[np.int8], FloatVec]:
        p = self.params
        session_decay, seen_decay, history_decay = _decay_powers(p)
        rows: list[int] = []
        weights: list[float] = []
        kinds: list[int] = []
        seen: list[float] = []
        index = self._index
        for rank, (item, weight) in enumerate(session_items[: p.max_session_items]):
            i = index.get(item)
            if i is not None and weight > 0:
                rows.append(i)
                weights.append(weight * session_decay[rank])
                kinds.append(_KIND_SESSION)
                seen.append(weight * seen_decay[rank])
        if in_view is not None and (i := index.get(in_view)) is not None:
            rows.append(i)
            weights.append(p.in_view_weight)
            kinds.append(_KIND_IN_VIEW)
            seen.append(0.0)
        if p.history_weight > 0:
            history_weight = p.history_weight
            for rank, (item, weight) in enumerate(history_items[: p.max_history_items]):
                i = index.get(item)
                if i is not None and weight > 0:
                    rows.append(i)
                    weights.append(history_weight * weight * history_decay[rank])
                    kinds.append(_KIND_HISTORY)
                    seen.append(0.0)
        return (np.asarray(rows, dtype=np.int64), np.asarray(weights, dtype=np.float32),
                np.asarray(kinds, dtype=np.int8), np.asarray(seen, dtype=np.float32))

    def _scratch(self) -> _Scratch:
        """Per-thread catalog-sized buffers, left clean after every request (no 50k allocations)."""
        scratch: _Scratch | None = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = _Scratch(self.n_items)
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
        rows, weights, kinds, seen_weights = self._inputs(session_items, history_items, in_view)
        blocked = self._excluded_indices(exclude)
        if in_view is not None and (i := self._index.get(in_view)) is not None:
            blocked.append(i)
        if not allow_seen:
            blocked.extend(self._excluded_indices([item for item, _ in session_items]))
        if rows.size == 0:
            return Ranking.of(self.popular(n, category=category, exclude=[self.item_ids[i] for i in blocked]))

        # Score a candidate set, not the catalog: items with evidence (seen in this visit, or
        # sequential / co-occurrence neighbours of its items) plus the most popular. Dense
        # passes over 50k items cost ~2 ms a request; ALS is scored on the candidates and
        # normalised by their best. ALS-only items join the candidates when the evidence is
        # too thin to fill the list.
        n_items = self.n_items
        seen_acc: dict[int, float] = {}
        for row, value in zip(rows.tolist(), seen_weights.tolist()):
            if value > 0:
                seen_acc[row] = seen_acc.get(row, 0.0) + value
        seen_ids = np.fromiter(sorted(seen_acc), dtype=np.int64, count=len(seen_acc))
        if seen_acc and p.seen_weight > 0:
            seen_values = np.asarray([seen_acc[i] for i in seen_ids.tolist()])
            seen_values *= p.seen_weight / float(seen_values.max())
        else:
            seen_values = np.zeros(seen_ids.size)
        seen_score = dict(zip(seen_ids.tolist(), seen_values.tolist()))
        # Neighbours come from this visit (session items, the item in view); the longer
        # history speaks through the ALS fold-in. Expanding 50 history items' neighbour
        # lists made the candidate set ~10x larger for little gain.
        visit = kinds != _KIND_HISTORY
        if not visit.any():
            visit[:] = True  # a known customer between visits: their history is the evidence
        visit_index = np.flatnonzero(visit)  # neighbour-part row -> input row (for reasons)
        visit_rows, visit_weights = rows[visit_index], weights[visit_index]
        seq_part = _gather(self.seq, visit_rows, visit_weights, p.seq_weight)
        knn_part = _gather(self.knn, visit_rows, visit_weights, p.knn_weight)
        scratch = self._scratch()
        mask = scratch.mask
        for part in (seq_part, knn_part):
            if part is not None:
                mask[part[0]] = True
        mask[seen_ids] = True
        mask[self._popular_order[: _POPULAR_CANDIDATES + n]] = True
        blocked_arr = np.asarray(blocked, dtype=np.int64)
        # ALS on the candidates only (a gather, not a 50k x f gemv); the full gemv runs only
        # when evidence is too thin to fill the list.
        user: FloatVec | None = None
        if self.item_factors is not None and p.als_weight > 0:
            user = self._fold_in(rows, weights)
            if np.count_nonzero(mask) < 4 * n + blocked_arr.size:
                full = self.item_factors @ user
                k_als = min(n_items, 4 * n + blocked_arr.size)
                mask[np.argpartition(full, n_items - k_als)[n_items - k_als:]] = True
        cand = np.flatnonzero(mask)
        mask[cand] = False  # clean for the next request
        slot = scratch.slot
        slot[cand] = np.arange(cand.size, dtype=np.int32)
        try:
            seq_cand = _summed(seq_part, slot, cand.size)
            knn_cand = _summed(knn_part, slot, cand.size)
            blocked_slots = slot[blocked_arr] if blocked_arr.size else blocked_arr
        finally:
            slot[cand] = -1
        als_cand: FloatVec | None = None
        als_scale = 0.0
        if user is not None:
            als_cand = np.take(self.item_factors, cand, axis=0) @ user  # type: ignore[arg-type]
            als_top = float(als_cand.max()) if als_cand.size else 0.0
            if als_top > 0:
                als_scale = p.als_weight / als_top
            else:
                als_cand = None

        total = self._popularity_norm[cand] * np.float32(p.popularity_weight)
        if seen_ids.size:
            total[np.searchsorted(cand, seen_ids)] += seen_values.astype(np.float32)
        for summed in (seq_cand, knn_cand):
            if summed is not None:
                total += summed.astype(np.float32)
        if als_cand is not None:
            total += als_cand * np.float32(als_scale)
        if blocked_slots.size:
            total[blocked_slots[blocked_slots >= 0]] = -np.inf
        if category is not None:
            code = self._category_index.get(category, -2)
            total[self.item_category[cand] != code] = -np.inf
        k = min(n, cand.size)
        local = np.argpartition(total, cand.size - k)[cand.size - k:]
        local = local[np.argsort(-total[local], kind="stable")]
        local = local[np.isfinite(total[local])]
        if local.size == 0:
            return Ranking.of([])
        top = cand[local]
        top_total = total[local]

        zeros = np.zeros(top.size)
        parts = np.stack([
            np.asarray([seen_score.get(i, 0.0) for i in top.tolist()]),
            seq_cand[local] if seq_cand is not None else zeros,
            knn_cand[local] if knn_cand is not None else zeros,
            als_cand[local] * als_scale if als_cand is not None else zeros,
            self._popularity_norm[top] * p.popularity_weight,
        ])
        # Fillers with no positive evidence are reported as popularity, not as a weak signal.
        source_of = np.where(parts.max(axis=0) > 0, parts.argmax(axis=0), 4).tolist()
        items = self.item_ids
        return Ranking(
            [items[i] for i in top.tolist()], top_total.tolist(), [_SOURCES[s] for s in source_of],
            _Evidence(self, rows, weights, kinds, visit_index, seq_part, knn_part, top, source_of),
        )

    def _fold_in(self, rows: npt.NDArray[np.int64], weights: FloatVec) -> npt.NDArray[np.float32]:
        """The visitor's factor vector from the session/history items.

        ALS: the exact implicit-feedback least-squares solution for one new user (Hu, Koren &
        Volinsky 2008) with confidence 1 + alpha * weight; BPR: the weighted mean of item factors.
        """
        assert self.item_factors is not None
        factors = self.item_factors[rows].astype(np.float64)
        w = weights.astype(np.float64)
        if not self._fold_in_als or self._gram is None:
            return ((w @ factors) / float(w.sum())).astype(np.float32)
        confidence = self._als_alpha * w
        a = self._gram + (factors.T * confidence) @ factors
        b = factors.T @ (1.0 + confidence)
        return np.linalg.solve(a, b).astype(np.float32)


class _Scratch:
    """Catalog-sized buffers reused by one thread's requests; every request leaves them clean."""

    def __init__(self, n_items: int) -> None:
        self.mask = np.zeros(n_items, dtype=bool)  # candidate membership
        self.slot = np.full(n_items, -1, dtype=np.int32)  # item -> candidate position, -1: none


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
    """What one scored request needs to explain its items: the inputs, the neighbour parts
    and each ranked item's strongest component (0 seen, 1 sequence, 2 knn, 3 ALS, 4 popular)."""

    __slots__ = ("kinds", "knn_part", "model", "rows", "seq_part", "source_of", "top", "visit_index", "weights")

    def __init__(
        self, model: RecommenderModel, rows: npt.NDArray[np.int64], weights: FloatVec, kinds: npt.NDArray[np.int8],
        visit_index: npt.NDArray[np.intp], seq_part: _Part | None, knn_part: _Part | None,
        top: npt.NDArray[np.intp], source_of: list[int],
    ) -> None:
        self.model = model
        self.rows = rows
        self.weights = weights
        self.kinds = kinds
        self.visit_index = visit_index
        self.seq_part = seq_part
        self.knn_part = knn_part
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
        slot = model._scratch().slot
        seq_best = _best_rows(self.seq_part, top, slot, source_of, 1)
        knn_best = _best_rows(self.knn_part, top, slot, source_of, 2)
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

    def _best_als_rows(self, top: npt.NDArray[np.intp]) -> list[int]:
        factors = self.model.item_factors
        if factors is None:
            return [-1] * top.size
        affinity = (factors[self.rows] @ factors[top].T) * self.weights[:, None]  # (m, k)
        return [int(b) for b in affinity.argmax(axis=0).tolist()]


# A neighbour part of one request: the visit's (m, K) neighbour ids, their contributions
# (neighbour score x input weight) and the part's weight (what its best item scores).
_Part = tuple[npt.NDArray[np.int32], FloatVec, float]


def _gather(
    arrays: tuple[npt.NDArray[np.int32], FloatVec] | None, rows: npt.NDArray[np.int64], weights: FloatVec,
    weight: float,
) -> _Part | None:
    if arrays is None or rows.size == 0 or weight <= 0:
        return None
    ids, scores = arrays
    contrib = scores[rows] * weights[:, None]
    if float(contrib.max()) <= 0:
        return None  # neighbour scores are >= 0 (ids padded with 0 / score 0): nothing scores
    return ids[rows], contrib, weight


def _summed(part: _Part | None, slot: npt.NDArray[np.int32], size: int) -> npt.NDArray[np.float64] | None:
    """The part's score of every candidate (summed over the visit's items), scaled so the best
    gets the part's weight. Every neighbour is a candidate, so the best candidate is the
    catalog's best."""
    if part is None:
        return None
    neighbor, contrib, weight = part
    summed = np.bincount(slot[neighbor].ravel(), weights=contrib.ravel(), minlength=size).astype(np.float64, copy=False)
    return summed * (weight / float(summed.max()))


def _best_rows(
    part: _Part | None, top: npt.NDArray[np.intp], slot: npt.NDArray[np.int32], source_of: list[int], source: int,
) -> list[int]:
    """For each top item, the visit row contributing most to this part (-1: none; ties: the
    earlier row); computed only when some item's reason comes from this part."""
    if part is None or source not in source_of:
        return [-1] * top.size
    neighbor, contrib, _ = part
    slot[top] = np.arange(top.size, dtype=np.int32)
    try:
        pos = slot[neighbor]  # (m, K): top position of each neighbour, -1 if not in the top
    finally:
        slot[top] = -1
    hit_rows, hit_cols = np.nonzero((pos >= 0) & (contrib > 0))
    best_value = np.zeros((top.size, neighbor.shape[0]))
    np.maximum.at(best_value, (pos[hit_rows, hit_cols], hit_rows), contrib[hit_rows, hit_cols])
    best = best_value.argmax(axis=1)
    return np.where(best_value.max(axis=1) > 0, best, -1).tolist()  # type: ignore[no-any-return]


def _visit_row(visit_index: npt.NDArray[np.intp], best: int) -> int:
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
