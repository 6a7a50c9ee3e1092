"""The obviously-correct top-k the backends are tested against: a full lexicographic sort
by (NaN last, score descending, index ascending), with excluded columns removed first."""

from __future__ import annotations

import numpy as np


def topk_oracle(scores: np.ndarray, k: int, exclude=None):
    rows, columns = scores.shape
    values = np.full((rows, k), -np.inf, dtype=np.float32)
    indices = np.full((rows, k), -1, dtype=np.int64)
    for r in range(rows):
        keep = np.ones(columns, dtype=bool)
        if exclude is not None:
            keep[np.asarray(exclude[r], dtype=np.int64)] = False
        candidates = np.flatnonzero(keep)
        row = scores[r, candidates].astype(np.float64)
        is_nan = np.isnan(row)
        order = np.lexsort((candidates, -np.where(is_nan, 0.0, row), is_nan))[:k]
        indices[r, : order.size] = candidates[order]
        values[r, : order.size] = scores[r, candidates[order]]
    return values, indices
