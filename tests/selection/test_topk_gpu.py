"""The CUDA backends against the oracle, on device arrays (skipped without a GPU)."""

from __future__ import annotations

import numpy as np
import pytest

import shoprank
from tests.selection.oracle import topk_oracle
from tests.selection.test_topk import random_exclude, tricky_scores

pytestmark = pytest.mark.gpu
DEVICE_BACKENDS = ["cuda", "numba_cuda"]


@pytest.fixture
def cupy():
    return pytest.importorskip("cupy")


@pytest.mark.parametrize("backend", DEVICE_BACKENDS)
@pytest.mark.parametrize("rows,columns,k", [(1, 1, 1), (7, 50, 5), (5, 30, 45), (3, 40000, 100),
                                            (70000, 3, 2)])
def test_topk_on_device_matches_oracle(backend, rows, columns, k, rng, cupy):
    scores = tricky_scores(rng, rows, columns)
    exclude = random_exclude(rng, rows, columns) if rows < 100 else None
    values, indices = shoprank.topk(cupy.asarray(scores), k, exclude=exclude, backend=backend)
    want = topk_oracle(scores, k, exclude)
    np.testing.assert_array_equal(cupy.asnumpy(indices), want[1])
    np.testing.assert_array_equal(cupy.asnumpy(values), want[0])


@pytest.mark.parametrize("backend", DEVICE_BACKENDS)
# (2000, 16500, 4, 1024): more rows than one group of the CUDA kernel's row state holds at
# this k, so a tile straddles the group boundary.
@pytest.mark.parametrize("rows,columns,dim,k", [(1, 10, 3, 4), (70, 1000, 33, 50),
                                                (130, 40000, 64, 100), (3, 20, 1, 30),
                                                (2000, 16500, 4, 1024)])
def test_fused_on_device_matches_oracle(backend, rows, columns, dim, k, rng, cupy):
    if backend == "numba_cuda" and k > 256:
        pytest.skip("numba_cuda selects at most 256")
    queries = rng.integers(-3, 4, size=(rows, dim)).astype(np.float32)
    items = rng.integers(-3, 4, size=(columns, dim)).astype(np.float32)
    exclude = random_exclude(rng, rows, columns)
    values, indices = shoprank.topk_inner_product(cupy.asarray(queries), cupy.asarray(items), k,
                                                  exclude=exclude, backend=backend)
    want = topk_oracle(queries @ items.T, k, exclude)
    np.testing.assert_array_equal(cupy.asnumpy(indices), want[1])
    np.testing.assert_array_equal(cupy.asnumpy(values), want[0])


def test_gpu_equals_cpu_on_real_valued_data(rng, cupy):
    queries = rng.standard_normal((256, 64)).astype(np.float32)
    items = rng.standard_normal((100_000, 64)).astype(np.float32)
    cpu = shoprank.topk_inner_product(queries, items, 100, backend="cpp")
    gpu = shoprank.topk_inner_product(queries, items, 100, backend="cuda")  # host in, host out
    np.testing.assert_allclose(gpu[0], cpu[0], rtol=1e-5, atol=1e-4)
    assert (gpu[1] == cpu[1]).mean() > 0.99  # only near-ties may swap


def test_auto_picks_cuda_for_device_arrays(cupy):
    scores = cupy.asarray(np.arange(12, dtype=np.float32).reshape(3, 4))
    values, indices = shoprank.topk(scores, 2)
    assert isinstance(indices, cupy.ndarray)
    assert cupy.asnumpy(indices).tolist() == [[3, 2]] * 3


def test_k_above_the_device_limit_is_a_clear_error(cupy):
    from shoprank import _engine

    with pytest.raises(ValueError, match="at most"):
        shoprank.topk(cupy.zeros((1, 5000), cupy.float32), _engine.CUDA_MAX_K + 1, backend="cuda")
