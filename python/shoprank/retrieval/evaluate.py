"""How well a retrieval stage finds what each user clicks next, over the whole catalogue.

Per user: the items they clicked in the train window are excluded from what is retrieved
(a recommender does not offer them again) and from what counts as found; recall@k and
NDCG@k (binary relevance) are then taken over the test window's other clicks, averaged over
the users who have any. Items are the ETL's categorified ids (0 .. n_items - 1), the rows
of an item-vector table. Exhaustive: every query is scored against every item
(``shoprank.topk_inner_product``), the exact answer an approximate index is measured against.
"""

from __future__ import annotations

import numpy as np


def clicked_items(users, items, labels) -> dict[int, np.ndarray]:
    """{user: the sorted distinct items they clicked}."""
    users, items = np.asarray(users, np.int64), np.asarray(items, np.int64)
    labels = np.asarray(labels)
    if not users.shape == items.shape == labels.shape:
        raise ValueError(f"clicked_items: {users.size} users, {items.size} items, "
                         f"{labels.size} labels: one of each per row")
    clicked = labels != 0
    pairs = np.unique(np.stack([users[clicked], items[clicked]], axis=1), axis=0)
    starts = np.flatnonzero(np.r_[True, pairs[1:, 0] != pairs[:-1, 0]]) if len(pairs) else []
    return {int(pairs[s, 0]): pairs[s:e, 1]
            for s, e in zip(starts, [*starts[1:], len(pairs)])}


def popularity(items, labels, n_items: int) -> np.ndarray:
    """Clicks per item (float32, (n_items,)): the popularity peer's one score per item."""
    items = np.asarray(items, np.int64)
    if items.size and (items.min() < 0 or items.max() >= n_items):
        raise ValueError(f"popularity: item ids must be in 0..{n_items - 1}, got "
                         f"{items.min()}..{items.max()}")
    weights = (np.asarray(labels) != 0).astype(np.float64)
    return np.bincount(items, weights=weights, minlength=n_items).astype(np.float32)


def retrieve(queries, item_vectors, k: int, exclude) -> np.ndarray:
    """Each query's k best items by inner product (int64 (users, k), -1 where fewer are
    left), the excluded ones never returned."""
    import shoprank

    _, indices = shoprank.topk_inner_product(np.ascontiguousarray(queries, np.float32),
                                             np.ascontiguousarray(item_vectors, np.float32),
                                             k, exclude=exclude)
    return indices


def retrieval_metrics(retrieved, relevant, k: int) -> dict:
    """recall@k and NDCG@k of retrieved item ids (users x >= k, best first, -1 padding)
    against each user's relevant items (a list of arrays, one per row of ``retrieved``);
    users without relevant items are left out of the means."""
    retrieved = np.asarray(retrieved)
    if k < 1 or retrieved.ndim != 2 or retrieved.shape[1] < k:
        raise ValueError(f"retrieval_metrics: need k >= 1 and a (users, >= k) array, got "
                         f"k={k} and shape {retrieved.shape}")
    if len(relevant) != len(retrieved):
        raise ValueError(f"retrieval_metrics: {len(relevant)} relevant lists for "
                         f"{len(retrieved)} users")
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    recall, ndcg = [], []
    for top, wanted in zip(retrieved[:, :k], relevant):
        if len(wanted) == 0:
            continue
        hits = np.isin(top, wanted) & (top >= 0)
        recall.append(hits.sum() / len(wanted))
        ndcg.append((hits * discount).sum() / discount[:min(len(wanted), k)].sum())
    if not recall:
        raise ValueError("retrieval_metrics: no user has a relevant item")
    return {f"recall@{k}": float(np.mean(recall)), f"ndcg@{k}": float(np.mean(ndcg)),
            "users": len(recall)}


def judged_users(train, test) -> tuple[list[int], list[np.ndarray], list[np.ndarray]]:
    """(the users with a test click, each one's train clicks (never offered), each one's
    test clicks beyond those (what counts as found)), from (users, items, labels) triples."""
    before, after = clicked_items(*train), clicked_items(*test)
    users = sorted(after)
    exclude = [before.get(u, np.zeros(0, np.int64)) for u in users]
    return users, exclude, [np.setdiff1d(after[u], seen) for u, seen in zip(users, exclude)]


def evaluate_retrieval(train, test, k: int, *, query_vectors=None, item_vectors=None,
                       n_items: int | None = None) -> dict:
    """recall@k and NDCG@k on ``test`` of a retrieval stage: users' query vectors
    (``query_vectors[user]``) against ``item_vectors``; without them, the popularity peer
    (every user gets the train window's most clicked items). ``train`` and ``test`` are
    (users, items, labels) column triples."""
    users, exclude, relevant = judged_users(train, test)
    if query_vectors is None:
        if n_items is None:
            raise ValueError("evaluate_retrieval: the popularity peer needs n_items")
        item_vectors = popularity(train[1], train[2], n_items)[:, None]
        queries = np.ones((len(users), 1), np.float32)
    else:
        if item_vectors is None:
            raise ValueError("evaluate_retrieval: query_vectors need item_vectors")
        queries = np.asarray(query_vectors)[users]
    retrieved = retrieve(queries, item_vectors, k, exclude)
    return retrieval_metrics(retrieved, relevant, k)
