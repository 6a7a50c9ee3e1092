"""The NumPy backend: plain, vectorised, and the reference the other backends are held to."""

from __future__ import annotations

import numpy as np

from shoprank.selection.score_order import index_of_key, rank_key


def topk(scores, k, exclude_offsets=None, exclude_indices=None):
    rows, columns = scores.shape
    values = np.full((rows, k), -np.inf, dtype=np.float32)
    indices = np.full((rows, k), -1, dtype=np.int64)
    if k == 0:
        return values, indices
    columns_index = np.arange(columns)
    for r in range(rows):
        keys = rank_key(scores[r], columns_index)
        if exclude_offsets is not None:
            keys[exclude_indices[exclude_offsets[r] : exclude_offsets[r + 1]]] = 0
        eligible = int(np.count_nonzero(keys))
        take = min(k, eligible)
        if take == 0:
            continue
        best = np.argpartition(keys, columns - take)[columns - take :] if take < columns else np.arange(columns)
        best = best[np.argsort(keys[best])[::-1]][:take]
        indices[r, :take] = index_of_key(keys[best])
        values[r, :take] = scores[r, indices[r, :take]]
    return values, indices


def topk_inner_product(queries, items, k, exclude_offsets=None, exclude_indices=None):
    """Scores with one float32 matmul (BLAS), then selects: the B x N matrix is materialised."""
    return topk(queries @ items.T, k, exclude_offsets, exclude_indices)
