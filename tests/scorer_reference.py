"""The scorer as straightforward numpy: what ``RecommenderModel.rank`` computed before its loops
moved into compiled kernels (ml/kernels.py), kept to pin the kernels' behaviour.

``reference_rank(model, ...)`` returns (item ids, scores, sources, reasons of every position),
using only the model's arrays and parameters. It follows the old code operation for operation
(same float32/float64 steps, ``np.bincount`` sums, LU fold-in, ``argpartition`` top-k), so on
the same BLAS the kernels must give the same ids, order, sources and reasons, and scores equal
to float32 precision (bit-equal here).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from personalize.ml.model import _POPULAR_CANDIDATES, RecommenderModel

SESSION, HISTORY, IN_VIEW = 0, 1, 2
SOURCES = ("session", "sequence", "item_knn", "als", "popularity")

Result = tuple[list[str], list[float], list[str], list[str]]


def reference_rank(
    model: RecommenderModel,
    session_items: Sequence[tuple[str, float]],
    history_items: Sequence[tuple[str, float]] = (),
    in_view: str | None = None,
    n: int = 20,
    exclude: Collection[str] = (),
    allow_seen: bool = True,
    category: str | None = None,
) -> Result:
    if n <= 0:
        return [], [], [], []
    p = model.params
    index = model._index
    rows_l: list[int] = []
    weights_l: list[float] = []
    kinds_l: list[int] = []
    seen_l: list[float] = []
    for rank, (item, weight) in enumerate(session_items[: p.max_session_items]):
        i = index.get(item)
        if i is not None and weight > 0:
            rows_l.append(i)
            weights_l.append(weight * p.session_decay**rank)
            kinds_l.append(SESSION)
            seen_l.append(weight * p.seen_decay**rank)
    if in_view is not None and (i := index.get(in_view)) is not None:
        rows_l.append(i)
        weights_l.append(p.in_view_weight)
        kinds_l.append(IN_VIEW)
        seen_l.append(0.0)
    if p.history_weight > 0:
        for rank, (item, weight) in enumerate(history_items[: p.max_history_items]):
            i = index.get(item)
            if i is not None and weight > 0:
                rows_l.append(i)
                weights_l.append(p.history_weight * weight * p.history_decay**rank)
                kinds_l.append(HISTORY)
                seen_l.append(0.0)
    rows = np.asarray(rows_l, dtype=np.int64)
    weights = np.asarray(weights_l, dtype=np.float32)
    kinds = np.asarray(kinds_l, dtype=np.int8)
    seen_weights = np.asarray(seen_l, dtype=np.float32)
    blocked = [i for i in (index.get(item) for item in exclude) if i is not None]
    if in_view is not None and (i := index.get(in_view)) is not None:
        blocked.append(i)
    if not allow_seen:
        blocked.extend(i for i in (index.get(item) for item, _ in session_items) if i is not None)
    if rows.size == 0:
        popular = model.popular(n, category=category, exclude=[model.item_ids[i] for i in blocked])
        return ([c.item_id for c in popular], [c.score for c in popular], [c.source for c in popular],
                [c.reason for c in popular])

    n_items = model.n_items
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
    visit = kinds != HISTORY
    if not visit.any():
        visit[:] = True
    visit_index = np.flatnonzero(visit)
    visit_rows, visit_weights = rows[visit_index], weights[visit_index]
    seq_part = _gather(model.seq, visit_rows, visit_weights, p.seq_weight)
    knn_part = _gather(model.knn, visit_rows, visit_weights, p.knn_weight)
    mask = np.zeros(n_items, dtype=bool)
    for part in (seq_part, knn_part):
        if part is not None:
            mask[part[0]] = True
    mask[seen_ids] = True
    mask[model._popular_order[: _POPULAR_CANDIDATES + n]] = True
    blocked_arr = np.asarray(blocked, dtype=np.int64)
    factors = model.item_factors
    user = None
    if factors is not None and p.als_weight > 0:
        user = _fold_in(model, rows, weights)
        if np.count_nonzero(mask) < 4 * n + blocked_arr.size:
            full = factors @ user
            k_als = min(n_items, 4 * n + blocked_arr.size)
            mask[np.argpartition(full, n_items - k_als)[n_items - k_als:]] = True
    cand = np.flatnonzero(mask)
    slot = np.full(n_items, -1, dtype=np.int32)
    slot[cand] = np.arange(cand.size, dtype=np.int32)
    seq_cand = _summed(seq_part, slot, cand.size)
    knn_cand = _summed(knn_part, slot, cand.size)
    blocked_slots = slot[blocked_arr] if blocked_arr.size else blocked_arr
    als_cand = None
    als_scale = 0.0
    if user is not None:
        assert factors is not None
        als_cand = np.take(factors, cand, axis=0) @ user
        als_top = float(als_cand.max()) if als_cand.size else 0.0
        if als_top > 0:
            als_scale = p.als_weight / als_top
        else:
            als_cand = None
    total = model._popularity_norm[cand] * np.float32(p.popularity_weight)
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
        code = model._category_index.get(category, -2)
        total[model.item_category[cand] != code] = -np.inf
    k = min(n, cand.size)
    local = np.argpartition(total, cand.size - k)[cand.size - k:]
    local = local[np.argsort(-total[local], kind="stable")]
    local = local[np.isfinite(total[local])]
    if local.size == 0:
        return [], [], [], []
    top = cand[local]
    zeros = np.zeros(top.size)
    parts = np.stack([
        np.asarray([seen_score.get(i, 0.0) for i in top.tolist()]),
        seq_cand[local] if seq_cand is not None else zeros,
        knn_cand[local] if knn_cand is not None else zeros,
        als_cand[local] * als_scale if als_cand is not None else zeros,
        model._popularity_norm[top] * p.popularity_weight,
    ])
    source_of = np.where(parts.max(axis=0) > 0, parts.argmax(axis=0), 4).tolist()
    reasons = _reasons(model, rows, weights, kinds, visit_index, seq_part, knn_part, top, source_of)
    return ([model.item_ids[i] for i in top.tolist()], total[local].tolist(), [SOURCES[s] for s in source_of],
            reasons)


_Part = tuple[npt.NDArray[np.int32], npt.NDArray[np.float32], float]


def _gather(arrays: Any, rows: npt.NDArray[np.int64], weights: npt.NDArray[np.float32], weight: float) -> _Part | None:
    if arrays is None or rows.size == 0 or weight <= 0:
        return None
    ids, scores = arrays
    contrib = scores[rows] * weights[:, None]
    if float(contrib.max()) <= 0:
        return None
    return ids[rows], contrib, weight


def _summed(part: _Part | None, slot: npt.NDArray[np.int32], size: int) -> npt.NDArray[np.float64] | None:
    if part is None:
        return None
    neighbor, contrib, weight = part
    summed = np.bincount(slot[neighbor].ravel(), weights=contrib.ravel(), minlength=size).astype(np.float64)
    return summed * (weight / float(summed.max()))


def _fold_in(model: RecommenderModel, rows: npt.NDArray[np.int64], weights: npt.NDArray[np.float32]) -> Any:
    assert model.item_factors is not None
    factors = model.item_factors[rows].astype(np.float64)
    w = weights.astype(np.float64)
    if not model._fold_in_als or model._gram is None:
        return ((w @ factors) / float(w.sum())).astype(np.float32)
    confidence = model._als_alpha * w
    a = model._gram + (factors.T * confidence) @ factors
    b = factors.T @ (1.0 + confidence)
    return np.linalg.solve(a, b).astype(np.float32)


def _reasons(
    model: RecommenderModel, rows: npt.NDArray[np.int64], weights: npt.NDArray[np.float32], kinds: npt.NDArray[np.int8],
    visit_index: npt.NDArray[np.intp], seq_part: _Part | None, knn_part: _Part | None, top: npt.NDArray[np.intp],
    source_of: list[int],
) -> list[str]:
    seq_best = _best_rows(seq_part, top, model.n_items)
    knn_best = _best_rows(knn_part, top, model.n_items)
    als_best: list[int] = []
    if 3 in source_of and model.item_factors is not None:
        factors = model.item_factors
        als_best = (factors[rows] @ factors[top].T * weights[:, None]).argmax(axis=0).tolist()

    def reason(best: int, prefix: str) -> str:
        if best < 0:
            return "popular"
        if kinds[best] == IN_VIEW:
            return "similar to the item in view"
        return f"{prefix} {model.item_ids[int(rows[best])]}"

    out = []
    for j, source in enumerate(source_of):
        if source == 0:
            out.append("you viewed this recently")
        elif source == 1:
            out.append(reason(int(visit_index[seq_best[j]]) if seq_best[j] >= 0 else -1, model._sequence_prefix))
        elif source == 2:
            out.append(reason(int(visit_index[knn_best[j]]) if knn_best[j] >= 0 else -1, "because you viewed"))
        elif source == 3:
            out.append(reason(int(als_best[j]), "because you viewed"))
        else:
            out.append("popular")
    return out


def _best_rows(part: _Part | None, top: npt.NDArray[np.intp], n_items: int) -> list[int]:
    if part is None:
        return [-1] * top.size
    neighbor, contrib, _ = part
    slot = np.full(n_items, -1, dtype=np.int64)
    slot[top] = np.arange(top.size)
    pos = slot[neighbor]
    hit_rows, hit_cols = np.nonzero((pos >= 0) & (contrib > 0))
    best_value = np.zeros((top.size, neighbor.shape[0]))
    np.maximum.at(best_value, (pos[hit_rows, hit_cols], hit_rows), contrib[hit_rows, hit_cols])
    best = best_value.argmax(axis=1)
    return np.where(best_value.max(axis=1) > 0, best, -1).tolist()  # type: ignore[no-any-return]
