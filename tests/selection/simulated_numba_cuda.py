"""Run by test_numba_cuda_simulator.py with NUMBA_ENABLE_CUDASIM=1 (tiny sizes: the
simulator runs every CUDA thread as a Python thread)."""

from __future__ import annotations

import os

import numpy as np
import pytest

import shoprank
from tests.selection.oracle import topk_oracle
from tests.selection.test_topk import random_exclude, tricky_scores

pytestmark = pytest.mark.skipif(os.environ.get("NUMBA_ENABLE_CUDASIM") != "1",
                                reason="needs NUMBA_ENABLE_CUDASIM=1")


@pytest.mark.parametrize("rows,columns,k", [(1, 1, 1), (3, 20, 4), (2, 9, 12), (2, 150, 6)])
def test_topk(rows, columns, k, rng):
    scores = tricky_scores(rng, rows, columns)
    exclude = random_exclude(rng, rows, columns)
    for ex in (None, exclude):
        values, indices = shoprank.topk(scores, k, exclude=ex, backend="numba_cuda")
        want = topk_oracle(scores, k, ex)
        np.testing.assert_array_equal(indices, want[1])
        np.testing.assert_array_equal(values, want[0])


@pytest.mark.parametrize("rows,columns,dim,k", [(2, 10, 3, 4), (3, 100, 5, 7)])
def test_topk_inner_product(rows, columns, dim, k, rng):
    queries = rng.integers(-3, 4, size=(rows, dim)).astype(np.float32)
    items = rng.integers(-3, 4, size=(columns, dim)).astype(np.float32)
    exclude = random_exclude(rng, rows, columns)
    values, indices = shoprank.topk_inner_product(queries, items, k, exclude=exclude,
                                                  backend="numba_cuda")
    want = topk_oracle(queries @ items.T, k, exclude)
    np.testing.assert_array_equal(indices, want[1])
    np.testing.assert_array_equal(values, want[0])


def test_k_limit():
    with pytest.raises(ValueError, match="at most 256"):
        shoprank.topk(np.zeros((1, 300), np.float32), 257, backend="numba_cuda")
