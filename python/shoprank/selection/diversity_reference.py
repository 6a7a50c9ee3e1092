"""The NumPy reference of the diversity re-rank (greedy MMR with label caps): one plain loop
over the picks, each a vectorised pass over the candidates. The engine's side is
engine/diversity/mmr.cpp; semantics in shoprank.selection.diversity.

Inputs are assumed checked (shoprank.diversify does it).
"""

from __future__ import annotations

import numpy as np

from shoprank.selection.score_order import index_of_key, rank_key


def unit_rows(vectors) -> np.ndarray:
    """Rows scaled to length 1 in float64; a zero row stays zero (similarity 0 to all)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.sqrt((vectors * vectors).sum(axis=1))
    return vectors / np.where(norms > 0, norms, 1.0)[:, None]


def diversify(scores, embeddings, k, relevance_weight, caps=()):
    n = scores.shape[0]
    w = float(relevance_weight)
    values = np.full(k, -np.inf, dtype=np.float32)
    indices = np.full(k, -1, dtype=np.int64)
    unit = unit_rows(embeddings)
    scores64 = scores.astype(np.float64)
    # At w = 0 a number counts 0 (0 * inf would be NaN); NaN stays NaN.
    relevance = w * scores64 if w > 0 else np.where(np.isnan(scores64), np.nan, 0.0)
    max_sim = np.zeros(n)  # the penalty before the first pick
    open_ = np.ones(n, dtype=bool)  # neither picked nor blocked by a cap
    picked_per_label = [{} for _ in caps]
    for slot in range(k):
        objective = (relevance - (1 - w) * max_sim).astype(np.float32)
        keys = np.where(open_, rank_key(objective, np.arange(n)), np.uint64(0))
        if not keys.any():
            break  # fewer than k eligible: the rest stays padding
        pick = int(index_of_key(keys.max()))
        indices[slot], values[slot] = pick, scores[pick]
        open_[pick] = False
        for (labels, max_per_label), counts in zip(caps, picked_per_label):
            label = int(labels[pick])
            if label < 0:
                continue
            counts[label] = counts.get(label, 0) + 1
            if counts[label] == max_per_label:
                open_[labels == label] = False
        sim = (unit * unit[pick]).sum(axis=1)
        max_sim = sim if slot == 0 else np.maximum(max_sim, sim)
    return values, indices
