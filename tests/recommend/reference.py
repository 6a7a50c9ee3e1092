"""The NumPy reference of the recommender's first step and of its order rules
(engine/include/shoprank/recommender.h, retrieval/retriever.h, topk/topk.h): retrieval is
the best n catalogue positions by inner product of the user's vector with every item's (the
most train clicks for a user without a vector), excluded positions never kept, ties to the
lower position; the ranker's order is stable descending by score (ties to the lower
retrieved position)."""

from __future__ import annotations

import numpy as np


def retrieval_scores(user_vector, item_vectors, clicks) -> np.ndarray:
    """One float64 score per catalogue position: the inner product, or the train clicks
    when the user has no vector (user_vector is None)."""
    if user_vector is None:
        return np.asarray(clicks, np.float64)
    return np.asarray(item_vectors, np.float64) @ np.asarray(user_vector, np.float64)


def top_positions(scores, n: int, excluded=()) -> np.ndarray:
    """The n best positions outside `excluded`, best first, ties to the lower position."""
    keep = np.setdiff1d(np.arange(len(scores)), np.asarray(excluded, np.int64))
    return keep[np.argsort(-np.asarray(scores)[keep], kind="stable")][:n]


def in_retrieval_order(positions, scores) -> np.ndarray:
    """The positions ordered as retrieval hands them on: best score first, ties to the
    lower position."""
    positions = np.sort(np.asarray(positions, np.int64))
    return positions[np.argsort(-np.asarray(scores)[positions], kind="stable")]


def best_first(scores) -> np.ndarray:
    """Indices of the scores, stable descending (ties to the lower index)."""
    return np.argsort(-np.asarray(scores), kind="stable")
