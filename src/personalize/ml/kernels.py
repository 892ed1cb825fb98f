"""Compiled (numba) loops of the serving scorer: one request's candidates, sums, fold-in and top-k.

``RecommenderModel.rank`` (ml/model.py) documents what is computed; these kernels compute it
with the same floating-point operations in the same order as the numpy formulation they
replace (tests/scorer_reference.py keeps it), so rankings and scores are unchanged:

* neighbour contributions are float32 products ``score * input weight``, summed per item in
  float64 in row-major (input row, neighbour) order, as ``np.bincount`` did;
* the final score is accumulated in float32 in the same order (popularity, re-show boost,
  sequence, co-occurrence, ALS);
* the candidates' ALS scores stay with BLAS: their factor rows are gathered ``ALS_BLOCK`` at
  a time and multiplied with the user vector by ``np.dot`` (sgemv, through scipy's
  OpenBLAS), which gives the bits numpy's ``take(...) @ user`` gave. An own dot product
  rounds differently in ~2/3 of the scores (BLAS itself differs in the last bit with a
  row's position in the matrix) and moved ~0.1 % of rankings between near-ties;
* the top-k is unique when no two finite scores tie; on a tie (rare but real: fillers of equal
  popularity in a model without factors) the caller redoes it with ``np.argpartition`` so tie
  order stays numpy's;
* the fold-in solves the same normal equations with a Cholesky factorisation instead of LU
  (the system is symmetric positive definite); the float32 user vector is the same up to a
  rounding of the float64 solution.

Candidates are kept in first-seen order while collecting (``slot``: item -> that index, -1 for
none) and then radix-sorted by item index, the order the numpy version scored them in.
Every kernel leaves the per-thread scratch arrays as it found them (``slot`` all -1).

Compiled with ``cache=True``: the machine code (~14 s of compiling) is written next to this
file, or to the user's cache directory when the package is read-only, and reused by later
processes (~0.5 s to load); with neither writable, each process compiles for itself.
ml/model.py imports this module and warms every kernel when the first model is built.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np

F = TypeVar("F", bound=Callable[..., Any])

KIND_SESSION, KIND_HISTORY, KIND_IN_VIEW = 0, 1, 2
NO_CATEGORY = -3  # category filter off (codes are >= -1; -2 means "a category the model lacks")

# collect() status
READY, THIN, FOLD_IN_FAILED = 0, 1, 2


def _cache_available() -> bool:
    """numba refuses ``cache=True`` when neither the package directory nor the user's cache
    directory is writable; then every process compiles for itself."""
    try:
        numba.njit(cache=True)(lambda: None)
    except RuntimeError:
        return False
    return True


_CACHE = _cache_available()


def _jit(fn: F) -> F:
    return cast(F, numba.njit(nogil=True, boundscheck=False, error_model="numpy", cache=_CACHE)(fn))


@_jit
def _add(item: int, slot: Any, cand: Any, acc: Any, count: int) -> int:
    """Make ``item`` a candidate (if it is not one yet); returns the new candidate count."""
    if slot[item] < 0:
        slot[item] = count
        cand[count] = item
        acc[count, 0] = 0.0
        acc[count, 1] = 0.0
        acc[count, 2] = 0.0
        return count + 1
    return count


@_jit
def _neighbours(
    ids: Any, scores: Any, rows: Any, weights: Any, visit: Any, n_visit: int, column: int,
    slot: Any, cand: Any, acc: Any, count: int,
) -> tuple[bool, int]:
    """One neighbour part (sequence or co-occurrence) of the visit's rows: False when no
    contribution is positive (the part is then off and adds no candidates)."""
    width = ids.shape[1]
    top = np.float32(-np.inf)
    for v in range(n_visit):
        r = visit[v]
        row = rows[r]
        w = weights[r]
        for j in range(width):
            c = scores[row, j] * w
            top = max(top, c)
    if not top > 0:
        return False, count
    for v in range(n_visit):
        r = visit[v]
        row = rows[r]
        w = weights[r]
        for j in range(width):
            item = ids[row, j]
            count = _add(item, slot, cand, acc, count)
            acc[slot[item], column] += np.float64(scores[row, j] * w)
    return True, count


@_jit
def _axpy(y: Any, y_at: Any, x: Any, x_at: Any, u: float, n: int) -> None:
    """y[y_at:y_at+n] -= u * x[x_at:x_at+n] on 1-d arrays (unsigned offsets: no negative-index
    wraparound in the loop, so LLVM vectorises it)."""
    for j in range(n):
        y[y_at + np.uint64(j)] -= u * x[x_at + np.uint64(j)]


@_jit
def _copy(y: Any, y_at: Any, x: Any, x_at: Any, n: int) -> None:
    for j in range(n):
        y[y_at + np.uint64(j)] = x[x_at + np.uint64(j)]


@_jit
def _fold_in(
    factors: Any, gram: Any, rows: Any, weights: Any, alpha: float, als: bool, a: Any, user: Any,
) -> bool:
    """The visitor's float32 factor vector into ``user``; False if the system is not positive
    definite (the caller then solves it with LAPACK, which raises as before if singular).

    ALS: (Y^T Y + lambda I + Y_u^T C_u Y_u) x = Y_u^T (1 + C_u), C_u = alpha * weights; only the
    upper triangle of the f x f system is built (``gram`` and ``a`` are flat, row-major) and
    factorised, A = U^T U. BPR: the weighted mean of the rows."""
    f = factors.shape[1]
    m = rows.shape[0]
    y = np.empty(f)
    if not als:
        total = 0.0
        for r in range(m):
            total += np.float64(weights[r])
        for j in range(f):
            s = 0.0
            for r in range(m):
                s += np.float64(weights[r]) * np.float64(factors[rows[r], j])
            user[j] = np.float32(s / total)
        return True
    b = np.zeros(f)
    u = np.empty(f)
    for i in range(f * f):
        a[i] = gram[i]
    for r in range(m):
        row = rows[r]
        c = alpha * np.float64(weights[r])
        for j in range(f):
            y[j] = np.float64(factors[row, j])
        for i in range(f):
            b[i] += y[i] * (1.0 + c)
            _axpy(a, np.uint64(i * f + i), y, np.uint64(i), -(c * y[i]), f - i)
    for k in range(f):
        at = k * f
        d = a[at + k]
        if not d > 0.0:
            return False
        d = math.sqrt(d)
        a[at + k] = d
        for j in range(k + 1, f):
            a[at + j] /= d
            u[j] = a[at + j]
        for i in range(k + 1, f):
            _axpy(a, np.uint64(i * f + i), u, np.uint64(i), u[i], f - i)
    for k in range(f):  # U^T y = b, by rows of U
        y[k] = b[k] / a[k * f + k]
        _axpy(b, np.uint64(k + 1), a, np.uint64(k * f + k + 1), y[k], f - k - 1)
    for i in range(f - 1, -1, -1):  # U x = y
        at = i * f
        s = y[i]
        for k in range(i + 1, f):
            s -= a[at + k] * y[k]
        y[i] = s / a[at + i]
    for i in range(f):
        user[i] = np.float32(y[i])
    return True


@_jit
def _radix_sort(cand: Any, perm: Any, count: int, n_items: int, tmp_cand: Any, tmp_perm: Any) -> None:
    """Sort cand[:count] ascending (two LSD passes), carrying perm[:count] along; values < n_items."""
    for c in range(count):
        perm[c] = c
    bits = 1
    while (1 << bits) < n_items:
        bits += 1
    low = (bits + 1) // 2
    buckets = 1 << max(bits - low, low)
    counts = np.empty(buckets, np.int64)
    src_c, src_p, dst_c, dst_p = cand, perm, tmp_cand, tmp_perm
    for shift in (0, low):
        digit_mask = (1 << (low if shift == 0 else bits - low)) - 1
        counts[:] = 0
        for c in range(count):
            counts[(src_c[c] >> shift) & digit_mask] += 1
        start = 0
        for d in range(digit_mask + 1):
            n = counts[d]
            counts[d] = start
            start += n
        for c in range(count):
            d = (src_c[c] >> shift) & digit_mask
            dst_c[counts[d]] = src_c[c]
            dst_p[counts[d]] = src_p[c]
            counts[d] += 1
        src_c, src_p, dst_c, dst_p = dst_c, dst_p, src_c, src_p
    # two passes: the sorted data is back in cand/perm


@_jit
def collect(
    inputs: Any, n_session: int, in_view_row: int, in_view_weight: float, history_weight: float,
    session_decay: Any, seen_decay: Any, history_decay: Any, seen_weight: float,
    seq_ids: Any, seq_scores: Any, seq_weight: float, knn_ids: Any, knn_scores: Any, knn_weight: float,
    popular_order: Any, n_popular: int,
    factors: Any, gram: Any, alpha: float, fold_in: bool, als_fold_in: bool, thin_limit: int,
    slot: Any, cand: Any, perm: Any, acc: Any, rows: Any, weights: Any, kinds: Any, seen: Any, visit: Any,
    a: Any, user: Any, tmp_cand: Any, tmp_perm: Any,
) -> tuple[int, int, int, int, bool, bool]:
    """Candidates of one request and their evidence.

    The inputs: ``inputs`` holds (item index, event weight, rank in its list) of the known
    items with a positive weight, flat, the session's first (``n_session`` values), then the
    history's; ``in_view_row`` is the item in view (-1: none). They become rows[:m],
    weights[:m] (session: weight x session_decay[rank]; in view: in_view_weight; history:
    history_weight x weight x history_decay[rank]), kinds[:m] and seen[:m] (the re-show boost:
    weight x seen_decay[rank] for session rows).

    acc[first-seen index] = (re-show boost, sequence sum, co-occurrence sum); visit[:n_visit]
    = the input rows whose neighbours count (this visit's; all rows if it has none). With
    ``fold_in``, ``user`` gets the visitor's factors; when the candidates are fewer than
    ``thin_limit`` the call stops there (status THIN, candidates unsorted) for the caller to
    add ALS neighbours and call :func:`finish`; otherwise the candidates are sorted.
    Returns (status, candidate count, m, n_visit, sequence part on, co-occurrence part on)."""
    m = 0
    for t in range(0, n_session, 3):
        w = inputs[t + 1]
        rank = np.int64(inputs[t + 2])
        rows[m] = np.int64(inputs[t])
        weights[m] = np.float32(w * session_decay[rank])
        kinds[m] = KIND_SESSION
        seen[m] = np.float32(w * seen_decay[rank])
        m += 1
    if in_view_row >= 0:
        rows[m] = in_view_row
        weights[m] = np.float32(in_view_weight)
        kinds[m] = KIND_IN_VIEW
        seen[m] = 0.0
        m += 1
    for t in range(n_session, inputs.shape[0], 3):
        rows[m] = np.int64(inputs[t])
        weights[m] = np.float32(history_weight * inputs[t + 1] * history_decay[np.int64(inputs[t + 2])])
        kinds[m] = KIND_HISTORY
        seen[m] = 0.0
        m += 1
    rows = rows[:m]
    weights = weights[:m]
    count = 0
    # re-show boost: this session's items, summed per item in input order, scaled to seen_weight
    top = 0.0
    for r in range(m):
        if seen[r] > 0:
            count = _add(rows[r], slot, cand, acc, count)
            s = slot[rows[r]]
            acc[s, 0] += np.float64(seen[r])
    n_seen = count
    if n_seen:
        for s in range(n_seen):
            top = max(top, acc[s, 0])
        if seen_weight > 0:
            scale = seen_weight / top
            for s in range(n_seen):
                acc[s, 0] *= scale
        else:
            for s in range(n_seen):
                acc[s, 0] = 0.0
    n_visit = 0
    for r in range(m):
        if kinds[r] != KIND_HISTORY:
            visit[n_visit] = r
            n_visit += 1
    if n_visit == 0:  # a known customer between visits: their history is the evidence
        for r in range(m):
            visit[r] = r
        n_visit = m
    seq_on = False
    knn_on = False
    if seq_weight > 0 and seq_ids.shape[1] > 0:
        seq_on, count = _neighbours(seq_ids, seq_scores, rows, weights, visit, n_visit, 1, slot, cand, acc, count)
    if knn_weight > 0 and knn_ids.shape[1] > 0:
        knn_on, count = _neighbours(knn_ids, knn_scores, rows, weights, visit, n_visit, 2, slot, cand, acc, count)
    for i in range(min(n_popular, popular_order.shape[0])):
        count = _add(popular_order[i], slot, cand, acc, count)
    if fold_in:
        if not _fold_in(factors, gram, rows, weights, alpha, als_fold_in, a, user):
            return FOLD_IN_FAILED, count, m, n_visit, seq_on, knn_on
        if count < thin_limit:
            return THIN, count, m, n_visit, seq_on, knn_on
    finish(count, slot, cand, perm, acc, tmp_cand, tmp_perm)
    return READY, count, m, n_visit, seq_on, knn_on


@_jit
def add_candidates(items: Any, slot: Any, cand: Any, acc: Any, count: int) -> int:
    for i in range(items.shape[0]):
        count = _add(items[i], slot, cand, acc, count)
    return count


@_jit
def finish(count: int, slot: Any, cand: Any, perm: Any, acc: Any, tmp_cand: Any, tmp_perm: Any) -> None:
    """Sort the candidates by item; slot[item] becomes its sorted position."""
    _radix_sort(cand, perm, count, slot.shape[0], tmp_cand, tmp_perm)
    for c in range(count):
        slot[cand[c]] = c


ALS_BLOCK = 512  # rows gathered per sgemv call: the block stays in L1/L2


@_jit
def _als_scores(factors: Any, cand: Any, count: int, user: Any, block: Any, out: Any) -> None:
    """out[c] = factors[cand[c]] . user by BLAS, block by block."""
    f = factors.shape[1]
    for start in range(0, count, ALS_BLOCK):
        n = min(ALS_BLOCK, count - start)
        for c in range(n):
            row = factors[cand[start + c]]
            dst = block[c]
            for j in range(f):
                dst[j] = row[j]
        out[start:start + n] = np.dot(block[:n], user)


INSERTION_K = 48  # up to this k, a bounded insertion; beyond, a partition then a sort


@_jit
def _top_k(total: Any, count: int, k: int, local: Any) -> tuple[int, bool]:
    """The k best of total[:count] into local (positions, best first, -inf dropped): (how many,
    tied). ``tied`` when two finite values among them are equal or one equals a value left out:
    the answer then depends on the selection algorithm and the caller uses numpy's."""
    if k <= INSERTION_K:
        # Values leave the list smallest first and the k-th only grows, so a tie seen on the
        # way matters only if its value is still >= the final k-th.
        filled = 0
        tie = -np.inf
        for c in range(count):
            v = total[c]
            if filled == k and not v > total[local[k - 1]]:
                if v == total[local[k - 1]] and v > tie:
                    tie = v
                continue
            i = filled if filled < k else k - 1
            while i > 0 and v > total[local[i - 1]]:
                local[i] = local[i - 1]
                i -= 1
            if i > 0 and v == total[local[i - 1]] and v > tie:
                tie = v
            if filled < k:
                filled += 1
            local[i] = c
        finite = 0
        while finite < filled and total[local[finite]] > -np.inf:
            finite += 1
        return finite, tie > -np.inf and (filled < k or tie >= total[local[k - 1]])
    values = total[:count]
    cut = np.partition(values, count - k)[count - k]
    chosen = 0
    for c in range(count):
        v = values[c]
        if v > cut or (v == cut and v > -np.inf):
            if chosen < k:
                local[chosen] = c
            chosen += 1
    if chosen > k:
        return k, True  # a tie at the cut
    order = np.argsort(-values[local[:chosen]])
    picked = local[:chosen][order]
    for t in range(chosen):
        local[t] = picked[t]
        if t > 0 and values[picked[t]] == values[picked[t - 1]]:
            return chosen, True
    return chosen, False


@_jit
def score(
    count: int, cand: Any, perm: Any, acc: Any, seq_on: bool, seq_weight: float, knn_on: bool, knn_weight: float,
    factors: Any, user: Any, block: Any, als: Any, als_on: bool, als_weight: float, popularity: Any,
    popularity_weight: Any,
    blocked: Any, slot: Any, item_category: Any, category: int, n: int,
    total: Any, local: Any, source: Any, scales: Any,
    seq_ids: Any, seq_scores: Any, knn_ids: Any, knn_scores: Any, rows: Any, weights: Any, visit: Any,
    best_seq: Any, best_knn: Any,
) -> tuple[int, bool]:
    """Scores of the sorted candidates into total[:count] (with ``als_on``, their ALS scores
    into als[:count] first); the best n (finite, best first) into
    local[:k] (candidate positions) with their strongest component in source[:k]
    (0 re-show, 1 sequence, 2 co-occurrence, 3 ALS, 4 popularity) and, for the neighbour
    parts that are on, the visit row behind each (best_seq/best_knn, see :func:`best_rows`).
    Returns (k, tied): when two finite scores among the best tie, or tie at the cut, the order
    is numpy's business (the caller re-ranks total with argpartition and calls
    :func:`sources` and :func:`best_rows`). Clears ``slot``."""
    seq_scale = 0.0
    knn_scale = 0.0
    if seq_on:  # the part's best over the candidates (acc rows: all of them, first-seen order)
        top = -np.inf
        for p in range(count):
            top = max(top, acc[p, 1])
        seq_scale = seq_weight / top
    if knn_on:
        top = -np.inf
        for p in range(count):
            top = max(top, acc[p, 2])
        knn_scale = knn_weight / top
    als_scale32 = np.float32(0.0)
    if als_on:
        _als_scores(factors, cand, count, user, block, als)
        top32 = np.float32(-np.inf)
        for c in range(count):
            top32 = max(top32, als[c])
        if top32 > 0:
            als_scale32 = np.float32(als_weight / np.float64(top32))
        else:
            als_on = False
    scales[0] = seq_scale
    scales[1] = knn_scale
    scales[2] = np.float64(als_scale32)
    scales[3] = 1.0 if als_on else 0.0
    for c in range(count):
        p = perm[c]
        t = popularity[cand[c]] * popularity_weight
        t = t + np.float32(acc[p, 0])
        if seq_on:
            t = t + np.float32(acc[p, 1] * seq_scale)
        if knn_on:
            t = t + np.float32(acc[p, 2] * knn_scale)
        if als_on:
            t = t + als[c] * als_scale32
        total[c] = t
    for i in range(blocked.shape[0]):
        s = slot[blocked[i]]
        if s >= 0:
            total[s] = -np.inf
    for c in range(count):
        slot[cand[c]] = -1
    if category != NO_CATEGORY:
        for c in range(count):
            if item_category[cand[c]] != category:
                total[c] = -np.inf
    k = min(n, count)
    finite, tied = _top_k(total, count, k, local)
    if tied:
        return k, True
    sources(local, finite, cand, perm, acc, seq_on, seq_scale, knn_on, knn_scale, als, als_on, als_scale32,
            popularity, popularity_weight, source)
    if seq_on:
        best_rows(seq_ids, seq_scores, rows, weights, visit, cand, local, finite, slot, best_seq)
    if knn_on:
        best_rows(knn_ids, knn_scores, rows, weights, visit, cand, local, finite, slot, best_knn)
    return finite, False


@_jit
def sources(
    local: Any, k: int, cand: Any, perm: Any, acc: Any, seq_on: bool, seq_scale: float, knn_on: bool,
    knn_scale: float, als: Any, als_on: bool, als_scale32: Any, popularity: Any, popularity_weight: Any, source: Any,
) -> None:
    """Strongest component of each ranked candidate (ties: the first); fillers with no positive
    evidence are popularity."""
    for t in range(k):
        c = local[t]
        p = perm[c]
        best = 0
        value = acc[p, 0]
        if seq_on and acc[p, 1] * seq_scale > value:
            best, value = 1, acc[p, 1] * seq_scale
        if knn_on and acc[p, 2] * knn_scale > value:
            best, value = 2, acc[p, 2] * knn_scale
        if als_on and np.float64(als[c] * als_scale32) > value:
            best, value = 3, np.float64(als[c] * als_scale32)
        pop = np.float64(popularity[cand[c]] * popularity_weight)
        if pop > value:
            best, value = 4, pop
        source[t] = best if value > 0 else 4


@_jit
def best_rows(
    ids: Any, scores: Any, rows: Any, weights: Any, visit: Any, cand: Any, local: Any, k: int, slot: Any,
    best: Any,
) -> None:
    """For each ranked item cand[local[t]], t < k, the visit row (index into ``visit``) whose
    neighbours give it the largest positive contribution to this part (ties: the earlier row),
    -1 if none, into best[t]. ``slot`` is used and left clean."""
    n_visit = visit.shape[0]
    value = np.zeros((k, n_visit))
    for t in range(k):
        slot[cand[local[t]]] = t
    width = ids.shape[1]
    for v in range(n_visit):
        r = visit[v]
        row = rows[r]
        w = weights[r]
        for j in range(width):
            t = slot[ids[row, j]]
            if t >= 0:
                c = np.float64(scores[row, j] * w)
                value[t, v] = max(value[t, v], c)
    for t in range(k):
        slot[cand[local[t]]] = -1
        b = -1
        top_value = 0.0
        for v in range(n_visit):
            if value[t, v] > top_value:
                b = v
                top_value = value[t, v]
        best[t] = b
