"""Bad input: a clear exception naming the argument, never a crash."""

from __future__ import annotations

import numpy as np
import pytest

import shoprank
from shoprank import _engine

GOOD = np.ones((2, 5), dtype=np.float32)


@pytest.mark.parametrize("backend", ["cpp", "numba", "numpy"])
@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda b: shoprank.topk(GOOD.astype(np.float64), 2, backend=b), TypeError, "scores: expected float32"),
        (lambda b: shoprank.topk(GOOD[0], 2, backend=b), ValueError, "scores: expected a 2-D"),
        (lambda b: shoprank.topk([[1, 2]], 1, backend=b), TypeError, "scores"),
        (lambda b: shoprank.topk(GOOD, -1, backend=b), ValueError, "k: must be >= 0"),
        (lambda b: shoprank.topk(GOOD, 1.5, backend=b), TypeError, "k: expected an integer"),
        (lambda b: shoprank.topk(GOOD, True, backend=b), TypeError, "k: expected an integer"),
        (lambda b: shoprank.topk(GOOD, 2, exclude=[[0], [5]], backend=b), ValueError, "out of range"),
        (lambda b: shoprank.topk(GOOD, 2, exclude=[[-1], []], backend=b), ValueError, "out of range"),
        (lambda b: shoprank.topk(GOOD, 2, exclude=[[0]], backend=b), ValueError, "one array per query"),
        (lambda b: shoprank.topk(GOOD, 2, exclude=[[0.5], []], backend=b), ValueError, "integers"),
        (lambda b: shoprank.topk(GOOD, 2, exclude=(np.array([0, 1]), np.array([1])), backend=b),
         ValueError, "offsets need 3 entries"),
        (lambda b: shoprank.topk(GOOD, 2, exclude=(np.array([0, 2, 1]), np.array([1])), backend=b),
         ValueError, "never decrease"),
        (lambda b: shoprank.topk_inner_product(GOOD, np.ones((4, 3), np.float32), 2, backend=b),
         ValueError, "items: dimension d=3 does not match queries' d=5"),
        (lambda b: shoprank.topk_inner_product(GOOD, np.ones((4, 5), np.int32), 2, backend=b),
         TypeError, "items: expected float32"),
    ],
)
def test_bad_input_names_the_argument(backend, call, error, words):
    with pytest.raises(error, match=words):
        call(backend)


def test_unknown_backend():
    with pytest.raises(ValueError, match="backend: expected one of"):
        shoprank.topk(GOOD, 1, backend="gpu")


def test_device_array_on_a_host_backend():
    class FakeDeviceArray:
        __cuda_array_interface__ = {"shape": (2, 5), "typestr": "<f4", "data": (0, False), "version": 3}

    with pytest.raises(ValueError, match="device array"):
        shoprank.topk(FakeDeviceArray(), 1, backend="cpp")


def test_engine_bindings_check_their_arguments():
    with pytest.raises(ValueError, match="scores: expected float32"):
        _engine.topk(GOOD.astype(np.float64), 1)
    with pytest.raises(ValueError, match="scores: must be C-contiguous"):
        _engine.topk(np.ones((4, 4), np.float32)[:, ::2], 1)
    with pytest.raises(ValueError, match="k: must be >= 0"):
        _engine.topk(GOOD, -3)
    with pytest.raises(ValueError, match=r"out_values: expected shape \(2, 2\)"):
        _engine.topk(GOOD, 2, out_values=np.empty((2, 3), np.float32))
    with pytest.raises(ValueError, match="exclude: give both"):
        _engine.topk(GOOD, 2, exclude_offsets=np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="exclude: index 9 in row 1 is out of range"):
        _engine.topk(GOOD, 2, exclude_offsets=np.array([0, 0, 1]), exclude_indices=np.array([9]))
    with pytest.raises(ValueError, match="items: dimension"):
        _engine.topk_inner_product(GOOD, np.ones((3, 2), np.float32), 1)


def test_engine_writes_into_given_buffers():
    values = np.empty((2, 3), np.float32)
    indices = np.empty((2, 3), np.int64)
    out = _engine.topk(np.arange(10, dtype=np.float32).reshape(2, 5), 3, out_values=values,
                       out_indices=indices)
    assert out[0] is values or np.shares_memory(out[0], values)
    assert indices.tolist() == [[4, 3, 2], [4, 3, 2]]


def test_cuda_backend_without_a_device_is_a_clear_error():
    from shoprank import _compat

    if _compat.has_gpu():
        pytest.skip("a GPU is present")
    with pytest.raises((RuntimeError, shoprank.DeviceError)):
        shoprank.topk(GOOD, 1, backend="cuda")
