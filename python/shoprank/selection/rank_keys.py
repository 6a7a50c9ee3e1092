"""The order every backend follows, as unsigned 64-bit keys (larger key = better):
score descending, NaN below every number, ties to the lower index; 0 means "none".

Mirrors engine/topk/score_order.h.
"""

from __future__ import annotations

import numpy as np

_SIGN = np.uint32(0x80000000)


def score_keys(values: np.ndarray) -> np.ndarray:
    """float32 -> uint32, monotone; -0.0 == 0.0; NaN -> 0."""
    canonical = np.asarray(values, dtype=np.float32) + np.float32(0.0)
    bits = canonical.view(np.uint32)
    keys = np.where(bits & _SIGN, ~bits, bits | _SIGN).astype(np.uint32)
    keys[np.isnan(canonical)] = 0
    return keys


def rank_keys(values: np.ndarray, first_index: int = 0) -> np.ndarray:
    """Unique uint64 keys for values[..., j] at index first_index + j (indices < 2**32 - 1)."""
    columns = np.arange(first_index, first_index + values.shape[-1], dtype=np.uint64)
    high = (score_keys(values).astype(np.uint64) + np.uint64(1)) << np.uint64(32)
    return high | (np.uint64(0xFFFFFFFF) - columns)


def indices_from_keys(keys: np.ndarray) -> np.ndarray:
    return (np.uint64(0xFFFFFFFF) - (keys & np.uint64(0xFFFFFFFF))).astype(np.int64)
