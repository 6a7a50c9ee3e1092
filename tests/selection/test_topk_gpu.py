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


# The fused kernels: the CUDA backend in both of its arithmetics, and numba_cuda.
FUSED = ["cuda-tf32x3", "cuda-fma", "numba_cuda"]


@pytest.fixture
def fused_backend(request, monkeypatch):
    """The backend name for shoprank, with SHOPRANK_CUDA_TOPK_MATH set for the CUDA ones."""
    backend, _, math = request.param.partition("-")
    if math:
        monkeypatch.setenv("SHOPRANK_CUDA_TOPK_MATH", math)
    return backend


@pytest.mark.parametrize("fused_backend", FUSED, indirect=True)
# Row counts on both sides of each tile height (16, 64, 128) and of the few-queries path
# (up to 4 rows, dimensions up to 64 / 128 / 256); dimensions that are not a multiple of 8
# (a partial last chunk) or of 4 (no 16-byte loads); one query over 100k items (the widening
# slabs). (2000, 16500, 4, 1024): more rows than one group of the row state
# holds at this k, so a tile straddles the group boundary.
@pytest.mark.parametrize("rows,columns,dim,k", [(1, 10, 3, 4), (70, 1000, 33, 50),
                                                (130, 40000, 64, 100), (3, 20, 1, 30),
                                                (1, 100_000, 64, 100), (16, 5000, 32, 10),
                                                (17, 3000, 36, 20), (64, 2000, 7, 5),
                                                (65, 3000, 64, 64), (2, 5000, 130, 20),
                                                (4, 3000, 100, 7), (5, 3000, 256, 9),
                                                (2000, 16500, 4, 1024)])
def test_fused_on_device_matches_oracle(fused_backend, rows, columns, dim, k, rng, cupy):
    if fused_backend == "numba_cuda" and k > 256:
        pytest.skip("numba_cuda selects at most 256")
    queries = rng.integers(-3, 4, size=(rows, dim)).astype(np.float32)
    items = rng.integers(-3, 4, size=(columns, dim)).astype(np.float32)
    exclude = random_exclude(rng, rows, columns)
    values, indices = shoprank.topk_inner_product(cupy.asarray(queries), cupy.asarray(items), k,
                                                  exclude=exclude, backend=fused_backend)
    want = topk_oracle(queries @ items.T, k, exclude)
    np.testing.assert_array_equal(cupy.asnumpy(indices), want[1])
    np.testing.assert_array_equal(cupy.asnumpy(values), want[0])


@pytest.mark.parametrize("fused_backend", FUSED[:2], indirect=True)
def test_fused_reads_rows_that_are_not_16_byte_aligned(fused_backend, rng, cupy):
    queries = rng.integers(-3, 4, size=(20, 16)).astype(np.float32)
    items = rng.integers(-3, 4, size=(3000, 16)).astype(np.float32)

    def one_float_in(array):  # the same values, starting 4 bytes into an allocation
        buffer = cupy.empty(array.size + 1, cupy.float32)
        buffer[1:] = cupy.asarray(array).ravel()
        return buffer[1:].reshape(array.shape)

    values, indices = shoprank.topk_inner_product(one_float_in(queries), one_float_in(items), 30,
                                                  backend=fused_backend)
    want = topk_oracle(queries @ items.T, 30, None)
    np.testing.assert_array_equal(cupy.asnumpy(indices), want[1])
    np.testing.assert_array_equal(cupy.asnumpy(values), want[0])


@pytest.mark.parametrize("fused_backend", FUSED[:2], indirect=True)
@pytest.mark.parametrize("rows", [3, 20])
def test_fused_scores_infinities_as_float32_does(fused_backend, rows, rng, cupy):
    queries = rng.integers(-3, 4, size=(rows, 8)).astype(np.float32)
    items = rng.integers(-3, 4, size=(300, 8)).astype(np.float32)
    items[rng.random(items.shape) < 0.02] = np.inf
    items[rng.random(items.shape) < 0.02] = -np.inf
    # IEEE products and sums one by one (0 x inf = NaN, inf - inf = NaN): exact on this data.
    with np.errstate(invalid="ignore"):
        scores = np.einsum("id,jd->ij", queries.astype(np.float64), items.astype(np.float64),
                           optimize=False).astype(np.float32)
    values, indices = shoprank.topk_inner_product(cupy.asarray(queries), cupy.asarray(items), 40,
                                                  backend=fused_backend)
    want = topk_oracle(scores, 40, None)
    np.testing.assert_array_equal(cupy.asnumpy(indices), want[1])
    np.testing.assert_array_equal(cupy.asnumpy(values), want[0])


@pytest.mark.parametrize("fused_backend", FUSED[:2], indirect=True)
@pytest.mark.parametrize("rows", [1, 16, 64, 256])
def test_gpu_equals_cpu_on_real_valued_data(fused_backend, rows, rng, cupy):
    queries = rng.standard_normal((rows, 64)).astype(np.float32)
    items = rng.standard_normal((100_000, 64)).astype(np.float32)
    cpu = shoprank.topk_inner_product(queries, items, 100, backend="cpp")
    gpu = shoprank.topk_inner_product(queries, items, 100, backend="cuda")  # host in, host out
    np.testing.assert_allclose(gpu[0], cpu[0], rtol=1e-5, atol=1e-4)
    assert (gpu[1] == cpu[1]).mean() > 0.99  # only near-ties may swap


def test_an_unknown_tile_math_is_named(monkeypatch, cupy):
    monkeypatch.setenv("SHOPRANK_CUDA_TOPK_MATH", "fp16")
    with pytest.raises(ValueError, match='SHOPRANK_CUDA_TOPK_MATH: expected "fma" or "tf32x3"'):
        shoprank.topk_inner_product(cupy.ones((2, 4), cupy.float32),
                                    cupy.ones((9, 4), cupy.float32), 3, backend="cuda")


def test_auto_picks_cuda_for_device_arrays(cupy):
    scores = cupy.asarray(np.arange(12, dtype=np.float32).reshape(3, 4))
    values, indices = shoprank.topk(scores, 2)
    assert isinstance(indices, cupy.ndarray)
    assert cupy.asnumpy(indices).tolist() == [[3, 2]] * 3


def test_k_above_the_device_limit_is_a_clear_error(cupy):
    from shoprank import _engine

    with pytest.raises(ValueError, match="at most"):
        shoprank.topk(cupy.zeros((1, 5000), cupy.float32), _engine.CUDA_MAX_K + 1, backend="cuda")
