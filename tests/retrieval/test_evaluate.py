"""Retrieval metrics over the whole catalogue: hand-made logs with known answers, and the
exhaustive retrieval against a NumPy brute force on random vectors."""

from __future__ import annotations

import numpy as np
import pytest

from shoprank.retrieval.evaluate import (clicked_items, evaluate_retrieval, popularity,
                                         retrieval_metrics)

# user, item, click: user 0 clicked 2 twice (one pair), user 1 only looked; item 2 the most
# clicked, then 1
TRAIN = ([0, 0, 0, 1, 2, 2, 3], [2, 2, 1, 4, 2, 1, 2], [1, 1, 0, 0, 1, 1, 1])


def test_clicked_items_are_distinct_sorted_and_clicked_only():
    clicked = clicked_items(*TRAIN)
    assert sorted(clicked) == [0, 2, 3]  # user 1 clicked nothing
    np.testing.assert_array_equal(clicked[0], [2])
    np.testing.assert_array_equal(clicked[2], [1, 2])
    assert clicked_items([], [], []) == {}
    with pytest.raises(ValueError, match="one of each per row"):
        clicked_items([0, 1], [0], [1, 1])


def test_popularity_counts_clicks_per_item():
    np.testing.assert_array_equal(popularity(TRAIN[1], TRAIN[2], 6), [0, 1, 4, 0, 0, 0])
    with pytest.raises(ValueError, match="item ids must be in 0..5"):
        popularity([0, 6], [1, 1], 6)


def test_metrics_known_values():
    retrieved = np.array([[3, 1, 2], [5, -1, -1], [7, 8, 9]])
    relevant = [np.array([1]), np.array([5, 6]), np.array([], np.int64)]
    metrics = retrieval_metrics(retrieved, relevant, k=3)
    assert metrics["users"] == 2  # the third has nothing to find
    assert metrics["recall@3"] == pytest.approx((1 + 0.5) / 2)
    ndcg_first = (1 / np.log2(3)) / 1.0
    ndcg_second = 1.0 / (1 + 1 / np.log2(3))
    assert metrics["ndcg@3"] == pytest.approx((ndcg_first + ndcg_second) / 2)
    with pytest.raises(ValueError, match="no user has a relevant item"):
        retrieval_metrics(retrieved[2:], relevant[2:], k=3)
    with pytest.raises(ValueError, match="k >= 1 and a"):
        retrieval_metrics(retrieved, relevant, k=4)
    with pytest.raises(ValueError, match="2 relevant lists for 3 users"):
        retrieval_metrics(retrieved, relevant[:2], k=3)


def test_popularity_peer_never_offers_what_a_user_clicked_before():
    # user 0 clicked 2 before and clicks 2 and 1 now: 2 is neither offered nor counted
    test = ([0, 0, 2, 4], [2, 1, 3, 0], [1, 1, 1, 1])
    metrics = evaluate_retrieval(TRAIN, test, k=1, n_items=6)
    # offered: user 0 -> 1 (hit), user 2 -> 0 (1 and 2 excluded; ties to the lower id;
    # misses 3), user 4 (new) -> 2 (misses 0)
    assert metrics == {"recall@1": pytest.approx(1 / 3), "ndcg@1": pytest.approx(1 / 3),
                       "users": 3}
    with pytest.raises(ValueError, match="needs n_items"):
        evaluate_retrieval(TRAIN, test, k=1)


def test_exhaustive_retrieval_equals_brute_force(rng):
    users, items, d, k = 40, 300, 8, 10
    queries = rng.standard_normal((users, d)).astype(np.float32)
    vectors = rng.standard_normal((items, d)).astype(np.float32)
    train = (rng.integers(0, users, 2000), rng.integers(0, items, 2000), rng.random(2000) < 0.3)
    test = (rng.integers(0, users, 500), rng.integers(0, items, 500), rng.random(500) < 0.5)
    got = evaluate_retrieval(train, test, k, query_vectors=queries, item_vectors=vectors)

    before, after = clicked_items(*train), clicked_items(*test)
    retrieved, relevant = [], []
    for user in sorted(after):
        scores = (queries[user].astype(np.float64) @ vectors.T.astype(np.float64))
        seen = before.get(user, [])
        scores[seen] = -np.inf
        retrieved.append(np.argsort(-scores, kind="stable")[:k])
        relevant.append(np.setdiff1d(after[user], seen))
    want = retrieval_metrics(np.array(retrieved), relevant, k)
    assert got["users"] == want["users"]
    assert got["recall@10"] == pytest.approx(want["recall@10"])
    assert got["ndcg@10"] == pytest.approx(want["ndcg@10"])
