"""Property tests (hypothesis): every host backend equals the oracle over shapes, k, ties,
NaN, infinities and exclude lists."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import shoprank
from tests.selection.oracle import topk_oracle

# Few distinct values so that ties are common; NaN and infinities included.
values = st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.5, np.inf, -np.inf, np.nan, 2.0**-126, -3e38]).map(np.float32)


@st.composite
def problems(draw):
    rows = draw(st.integers(0, 6))
    columns = draw(st.integers(1, 70))
    scores = draw(hnp.arrays(np.float32, (rows, columns), elements=values))
    k = draw(st.integers(0, columns + 5))
    exclude = draw(st.none() | st.lists(st.lists(st.integers(0, columns - 1), max_size=columns),
                                        min_size=rows, max_size=rows))
    return scores, k, exclude


def check(backend, problem):
    scores, k, exclude = problem
    got = shoprank.topk(scores, k, exclude=exclude, backend=backend)
    want = topk_oracle(scores, k, exclude)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])


@settings(max_examples=150, deadline=None)
@given(problems())
def test_cpp_equals_oracle(problem):
    check("cpp", problem)


@settings(max_examples=60, deadline=None)
@given(problems())
def test_numba_equals_oracle(problem):
    check("numba", problem)


@settings(max_examples=60, deadline=None)
@given(problems())
def test_numpy_equals_oracle(problem):
    check("numpy", problem)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_fused_equals_scores_then_topk(data):
    rows = data.draw(st.integers(1, 8))
    columns = data.draw(st.integers(1, 80))
    dim = data.draw(st.integers(1, 20))
    ints = st.integers(-3, 3).map(float)
    queries = data.draw(hnp.arrays(np.float32, (rows, dim), elements=ints))
    items = data.draw(hnp.arrays(np.float32, (columns, dim), elements=ints))
    k = data.draw(st.integers(0, columns + 3))
    backend = data.draw(st.sampled_from(["cpp", "numba", "numpy"]))
    got = shoprank.topk_inner_product(queries, items, k, backend=backend)
    want = topk_oracle(queries @ items.T, k)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])
