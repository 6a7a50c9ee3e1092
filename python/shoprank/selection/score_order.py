"""The order every top-k backend follows, written once for Python: score descending, NaN
below every number (-inf included), -0.0 equal to 0.0, ties to the lower index.

A (score, index) pair becomes one uint64 rank key, larger = better; 0 is never a key and
stands for "none" (excluded, padding). Indices must be below 2**32 - 1.
Mirrors engine/topk/score_order.h.

Plain NumPy, so one body serves everywhere: NumPy calls rank_key (branch-free) on whole
arrays (reference.py) and Numba compiles the same functions for scalars (numba_cpu.py with
``njit``, numba_cuda.py with ``cuda.jit(device=True)``). Numba compiles only the function
it is handed, so no function here calls another. numba_cpu caches its compiled kernels and
does not see edits to this file: after one, delete selection/__pycache__/*.nb[ic].
"""

from __future__ import annotations

import numpy as np


def rank_key(value, index):
    """float32 ``value`` at ``index`` (scalars, or arrays of one shape) -> its uint64 key."""
    # -0.0 + 0.0 == +0.0: one key for zero. (Numba views only a value wrapped in np.float32.)
    bits = np.float32(value + np.float32(0.0)).view(np.uint32)
    negative = bits >> np.uint32(31)
    # Monotone float -> uint32: a negative number has every bit flipped (a larger magnitude
    # sorts lower), any other gets its sign bit set (above every negative).
    score = bits ^ (negative * np.uint32(0x7FFFFFFF) | np.uint32(0x80000000))
    score = score * np.uint32(value == value)  # NaN: 0, below -inf's key
    return (np.uint64(score) + np.uint64(1)) << np.uint64(32) | (
        np.uint64(0xFFFFFFFF) - np.uint64(index))


def index_of_key(key):
    return np.int64(np.uint64(0xFFFFFFFF) - (key & np.uint64(0xFFFFFFFF)))


def score_of_key(key):
    """The float32 score a (scalar) key was made from (NaN for every NaN)."""
    score = np.uint32((key >> np.uint64(32)) - np.uint64(1))
    if score == 0:
        return np.float32(np.nan)
    if score & np.uint32(0x80000000):
        return np.uint32(score & np.uint32(0x7FFFFFFF)).view(np.float32)
    return np.uint32(~score).view(np.float32)
