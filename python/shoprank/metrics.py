"""Quality metrics on NumPy arrays (no framework needed)."""

from __future__ import annotations

import numpy as np


def auc(labels, scores) -> float:
    """Area under the ROC curve: the chance a random positive outscores a random negative
    (ties count half). Rank-based, O(n log n)."""
    labels, scores = np.asarray(labels).ravel(), np.asarray(scores, dtype=np.float64).ravel()
    if labels.shape != scores.shape:
        raise ValueError(f"auc: {labels.size} labels but {scores.size} scores")
    positives = int(np.count_nonzero(labels))
    negatives = labels.size - positives
    if positives == 0 or negatives == 0:
        raise ValueError("auc: needs both positive and negative labels")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(labels.size, dtype=np.float64)
    # average rank over runs of equal scores
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], labels.size]
    average = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(average, ends - starts)
    rank_sum = ranks[labels != 0].sum()
    return float((rank_sum - positives * (positives + 1) / 2) / (positives * negatives))


def log_loss(labels, probabilities, eps: float = 1e-7) -> float:
    labels = np.asarray(labels, dtype=np.float64).ravel()
    p = np.clip(np.asarray(probabilities, dtype=np.float64).ravel(), eps, 1 - eps)
    if labels.shape != p.shape:
        raise ValueError(f"log_loss: {labels.size} labels but {p.size} probabilities")
    return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log1p(-p)))
