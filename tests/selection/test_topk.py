"""topk and topk_inner_product on every host backend against the oracle, exact where ties
are controlled (integer-valued data makes every float32 product and sum exact)."""

from __future__ import annotations

import numpy as np
import pytest

import shoprank
from tests.selection.oracle import topk_oracle

HOST_BACKENDS = ["cpp", "numba", "numpy"]


def tricky_scores(rng, rows, columns):
    """Integer-valued scores (many ties) salted with NaN, +-inf and -0.0."""
    scores = rng.integers(-5, 6, size=(rows, columns)).astype(np.float32)
    specials = np.array([np.nan, np.inf, -np.inf, -0.0], dtype=np.float32)
    mask = rng.random((rows, columns)) < 0.1
    scores[mask] = rng.choice(specials, size=int(mask.sum()))
    return scores


def random_exclude(rng, rows, columns):
    return [rng.integers(0, columns, size=rng.integers(0, columns // 2 + 1)) for _ in range(rows)]


def assert_same(result, expected):
    np.testing.assert_array_equal(result[1], expected[1])
    np.testing.assert_array_equal(result[0], expected[0])
    assert result[0].dtype == np.float32 and result[1].dtype == np.int64


@pytest.mark.parametrize("backend", HOST_BACKENDS)
@pytest.mark.parametrize("rows,columns,k", [(1, 1, 1), (7, 50, 5), (3, 40, 40), (5, 30, 45),
                                            (2, 5000, 100), (40, 257, 17)])
def test_topk_matches_oracle(backend, rows, columns, k, rng):
    scores = tricky_scores(rng, rows, columns)
    exclude = random_exclude(rng, rows, columns)
    assert_same(shoprank.topk(scores, k, backend=backend), topk_oracle(scores, k))
    assert_same(shoprank.topk(scores, k, exclude=exclude, backend=backend),
                topk_oracle(scores, k, exclude))


@pytest.mark.parametrize("backend", HOST_BACKENDS)
@pytest.mark.parametrize("rows,columns,dim,k", [(1, 10, 3, 4), (6, 100, 8, 10), (13, 1000, 33, 50),
                                                (64, 5000, 64, 100), (3, 20, 1, 30),
                                                # one or two queries: the engine's direct path
                                                (1, 5000, 64, 100), (2, 3000, 37, 20)])
def test_topk_inner_product_matches_oracle(backend, rows, columns, dim, k, rng):
    queries = rng.integers(-3, 4, size=(rows, dim)).astype(np.float32)
    items = rng.integers(-3, 4, size=(columns, dim)).astype(np.float32)
    scores = queries @ items.T  # exact: small integers
    exclude = random_exclude(rng, rows, columns)
    assert_same(shoprank.topk_inner_product(queries, items, k, backend=backend),
                topk_oracle(scores, k))
    assert_same(shoprank.topk_inner_product(queries, items, k, exclude=exclude, backend=backend),
                topk_oracle(scores, k, exclude))


@pytest.mark.parametrize("backend", HOST_BACKENDS)
def test_inner_product_on_real_valued_data(backend, rng):
    """Float rounding differs between backends: scores agree within 1e-5 relative and each
    returned index really has the returned score."""
    queries = rng.standard_normal((20, 48)).astype(np.float32)
    items = rng.standard_normal((3000, 48)).astype(np.float32)
    values, indices = shoprank.topk_inner_product(queries, items, 25, backend=backend)
    exact = queries.astype(np.float64) @ items.astype(np.float64).T
    expected = -np.sort(-exact, axis=1)[:, :25]
    np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.take_along_axis(exact, indices, 1), values, rtol=1e-5, atol=1e-5)


def test_long_rows_split_across_threads_and_many_query_groups(rng):
    """The C++ engine's parallel paths: a few long rows split into column chunks, and more
    queries than one query group (1024)."""
    scores = tricky_scores(rng, 1, 300_000)
    assert_same(shoprank.topk(scores, 64, num_threads=2), topk_oracle(scores, 64))
    queries = rng.integers(-2, 3, size=(1100, 4)).astype(np.float32)
    items = rng.integers(-2, 3, size=(700, 4)).astype(np.float32)
    assert_same(shoprank.topk_inner_product(queries, items, 7, num_threads=2),
                topk_oracle(queries @ items.T, 7))


@pytest.mark.parametrize("backend", HOST_BACKENDS)
def test_edge_cases(backend):
    scores = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, -np.inf]], dtype=np.float32)
    values, indices = shoprank.topk(scores, 0, backend=backend)
    assert values.shape == (2, 0) and indices.shape == (2, 0)
    values, indices = shoprank.topk(scores, 5, backend=backend)
    assert indices.tolist() == [[2, 0, 1, -1, -1], [2, 0, 1, -1, -1]]
    assert values[0, 3] == -np.inf and np.isnan(values[1, 1])
    # every column excluded: all padding
    values, indices = shoprank.topk(scores, 2, exclude=[[0, 1, 2, 2], [0, 1, 2]], backend=backend)
    assert (indices == -1).all() and (values == -np.inf).all()
    # no rows
    values, indices = shoprank.topk(np.zeros((0, 4), np.float32), 3, backend=backend)
    assert values.shape == (0, 3)


def test_exclude_as_csr_equals_list(rng):
    scores = tricky_scores(rng, 4, 30)
    lists = random_exclude(rng, 4, 30)
    offsets = np.concatenate([[0], np.cumsum([len(x) for x in lists])])
    csr = (offsets, np.concatenate(lists))
    assert_same(shoprank.topk(scores, 10, exclude=csr), shoprank.topk(scores, 10, exclude=lists))


def test_non_contiguous_input_is_copied(rng):
    scores = tricky_scores(rng, 6, 40)
    view = scores[::2, ::3]
    assert not view.flags.c_contiguous
    assert_same(shoprank.topk(view, 5), topk_oracle(np.ascontiguousarray(view), 5))
    queries = rng.integers(-3, 4, size=(8, 10)).astype(np.float32)
    items = rng.integers(-3, 4, size=(50, 10)).astype(np.float32)
    assert_same(shoprank.topk_inner_product(queries.T.copy().T, items[::2], 4),
                topk_oracle(queries @ items[::2].T, 4))


def test_threads_share_one_engine(rng):
    """Calls release the GIL; concurrent calls give the single-threaded answers."""
    from concurrent.futures import ThreadPoolExecutor

    queries = rng.standard_normal((16, 32)).astype(np.float32)
    items = rng.standard_normal((20000, 32)).astype(np.float32)
    expected = shoprank.topk_inner_product(queries, items, 10, num_threads=1)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: shoprank.topk_inner_product(queries, items, 10),
                                range(8)))
    for result in results:
        assert_same(result, expected)
