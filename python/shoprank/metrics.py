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


def ranking_metrics(groups, labels, scores, k: int) -> dict:
    """NDCG@k and recall@k over groups (e.g. each user's impressions), clicks as relevance,
    averaged over the groups that have at least one positive."""
    import pandas as pd

    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    frame = pd.DataFrame({"group": np.asarray(groups), "label": np.asarray(labels, np.float64),
                          "score": np.asarray(scores, np.float64)})
    positives = frame.groupby("group")["label"].transform("sum")
    frame = frame[positives > 0]
    if frame.empty:
        raise ValueError("ranking metrics: no group has a positive label")
    discount = 1.0 / np.log2(np.arange(2, k + 2))

    def at_k(order_by: list[str], ascending: list[bool]):
        ranked = frame.sort_values(["group", *order_by], ascending=[True, *ascending],
                                   kind="mergesort")
        rank = ranked.groupby("group").cumcount().to_numpy()
        top = rank < k
        gain = np.where(top, ranked["label"].to_numpy() * discount[np.minimum(rank, k - 1)], 0.0)
        hits = np.where(top, ranked["label"].to_numpy(), 0.0)
        keys = ranked["group"].to_numpy()
        return (pd.Series(gain).groupby(keys).sum(), pd.Series(hits).groupby(keys).sum())

    dcg, hits = at_k(["score"], [False])
    ideal, _ = at_k(["label"], [False])
    totals = frame.groupby("group")["label"].sum()
    return {f"ndcg@{k}": float((dcg / ideal).mean()),
            f"recall@{k}": float((hits / totals.loc[hits.index]).mean()),
            "groups": int(len(totals))}


def intra_list_diversity(embeddings_of_list) -> float:
    """Mean cosine distance ``1 - cos(a, b)`` over the pairs of a list's items (rows of
    ``embeddings_of_list``, shape (m, d)); 0 for lists shorter than 2. A zero vector has
    similarity 0 (distance 1) with everything, as in ``shoprank.diversify``."""
    from shoprank.selection.diversity_reference import unit_rows

    vectors = np.asarray(embeddings_of_list, dtype=np.float64)
    if vectors.ndim != 2:
        raise ValueError(f"intra_list_diversity: expected a 2-D (items, dim) array, "
                         f"got shape {vectors.shape}")
    m = vectors.shape[0]
    if m < 2:
        return 0.0
    unit = unit_rows(vectors)
    pairs = np.triu_indices(m, 1)
    return float(np.mean(1.0 - (unit @ unit.T)[pairs]))


def coverage(labels_of_list) -> float:
    """Distinct labels >= 0 among a list's items over the list's length (0 for an empty
    list); a label < 0 ("no label") covers nothing but still counts in the length. Pass the
    picked items only: drop ``diversify``'s padding (index -1) before looking labels up."""
    labels = np.asarray(labels_of_list).ravel()
    if labels.size == 0:
        return 0.0
    if labels.dtype.kind not in "iu":
        raise ValueError(f"coverage: expected integer labels, got {labels.dtype}")
    return np.unique(labels[labels >= 0]).size / labels.size
