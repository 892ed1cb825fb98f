"""Item-to-item models learned from sessions, stored as fixed-width neighbor arrays.

* Sequential rules (session-rec's SR): item j after item i in the same session, weighted
  1/gap for gaps up to ``max_gap``; captures "what people look at next".
* Session co-occurrence (the item-kNN of session-rec): cosine of the session-incidence vectors,
  i.e. how often two items share a session, normalised by both items' session counts.

Both are kept as (n_items, K) int32 ids + float32 scores, padded with id 0 / score 0, so the
serving scorer can gather and scatter them without Python loops.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from personalize.ml.interactions import Interactions

NeighborArrays = tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]


def top_k_per_row(matrix: sp.csr_matrix, k: int) -> NeighborArrays:
    """Keep the k highest entries of every row (ties by lower column id), padded to width k."""
    coo = matrix.tocoo()
    n_rows = matrix.shape[0]
    ids = np.zeros((n_rows, k), dtype=np.int32)
    scores = np.zeros((n_rows, k), dtype=np.float32)
    if coo.nnz == 0:
        return ids, scores
    order = np.lexsort((coo.col, -coo.data, coo.row))
    rows, cols, data = coo.row[order], coo.col[order], coo.data[order]
    starts = np.searchsorted(rows, np.arange(n_rows))
    rank = np.arange(rows.shape[0]) - starts[rows]
    keep = rank < k
    ids[rows[keep], rank[keep]] = cols[keep]
    scores[rows[keep], rank[keep]] = data[keep]
    return ids, scores


def sequential_rules(inter: Interactions, max_gap: int = 10) -> sp.csr_matrix:
    """SR transition weights: sum over sessions of 1/gap for j following i within max_gap."""
    item, session = inter.item_index, inter.session_index
    rows: list[npt.NDArray[np.int32]] = []
    cols: list[npt.NDArray[np.int32]] = []
    vals: list[npt.NDArray[np.float32]] = []
    for gap in range(1, max_gap + 1):
        same = session[:-gap] == session[gap:]
        src, dst = item[:-gap][same], item[gap:][same]
        distinct = src != dst  # repeats are handled by the session boost, not as a rule
        rows.append(src[distinct])
        cols.append(dst[distinct])
        vals.append(np.full(int(distinct.sum()), 1.0 / gap, dtype=np.float32))
    n = inter.n_items
    matrix = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n), dtype=np.float32
    )
    matrix.sum_duplicates()
    return matrix


def session_cooccurrence(inter: Interactions) -> sp.csr_matrix:
    """Cosine similarity of items over binary session incidence (diagonal removed)."""
    n_sessions = int(inter.session_index.max()) + 1
    incidence = sp.csr_matrix(
        (np.ones(inter.item_index.shape[0], dtype=np.float32), (inter.session_index, inter.item_index)),
        shape=(n_sessions, inter.n_items),
    )
    incidence.data[:] = 1.0  # sum_duplicates first would add; re-binarise after
    incidence.sum_duplicates()
    incidence.data[:] = 1.0
    counts = np.asarray(incidence.sum(axis=0)).ravel().astype(np.float32)
    co = (incidence.T @ incidence).tocsr()
    co.setdiag(0)
    co.eliminate_zeros()
    norm = np.sqrt(np.maximum(counts, 1.0))
    co = sp.diags(1.0 / norm) @ co @ sp.diags(1.0 / norm)
    return sp.csr_matrix(co, dtype=np.float32)
