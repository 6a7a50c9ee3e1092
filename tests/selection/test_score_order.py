"""The one Python score order (shoprank.selection.score_order): the same keys from a whole
array (the NumPy reference's call) and from one scalar at a time (the Numba kernels' call),
in the oracle's order, and decoded back to the score and index they were made from."""

from __future__ import annotations

import numpy as np

from shoprank.selection import score_order
from tests.selection.oracle import topk_oracle
from tests.selection.test_topk import tricky_scores


def test_keys_from_an_array_equal_keys_one_at_a_time(rng):
    values = tricky_scores(rng, 1, 300)[0]
    index = np.arange(values.size)
    keys = score_order.rank_key(values, index)
    assert keys.dtype == np.uint64 and np.all(keys > 0)
    assert keys.tolist() == [int(score_order.rank_key(v, i)) for v, i in zip(values, index)]


def test_keys_sort_in_the_oracles_order(rng):
    values = tricky_scores(rng, 1, 500)
    keys = score_order.rank_key(values[0], np.arange(values.shape[1]))
    want = topk_oracle(values, values.shape[1])[1][0]
    np.testing.assert_array_equal(score_order.index_of_key(np.sort(keys)[::-1]), want)


def test_keys_decode_to_their_score_and_index(rng):
    values = np.concatenate([tricky_scores(rng, 1, 200)[0],
                             rng.standard_normal(200).astype(np.float32)])
    for index, value in enumerate(values):
        key = score_order.rank_key(value, index)
        assert score_order.index_of_key(key) == index
        decoded = score_order.score_of_key(key)
        assert decoded == value or (np.isnan(decoded) and np.isnan(value))
