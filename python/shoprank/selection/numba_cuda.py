"""Top-k on a CUDA device with Numba (also runs, slowly, under NUMBA_ENABLE_CUDASIM=1).

Two kernels: every thread of a row's block keeps a sorted local top-k of a strided share of
the columns; then one thread per row merges its block's lists. Order: that of the rank keys
(score_order.py): larger score first, NaN below every number, ties to the lower index.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, float32, int64

from shoprank.selection import score_order

MAX_K = 256  # the local lists are fixed-size arrays
_PARTS = 64  # threads (column shares) per row

_rank_key = cuda.jit(device=True, inline=True)(score_order.rank_key)


@cuda.jit(device=True, inline=True)
def _better(v1, i1, v2, i2):
    return _rank_key(v1, i1) > _rank_key(v2, i2)


@cuda.jit(device=True, inline=True)
def _is_excluded(offsets, indices, row, column):
    lo = offsets[row]
    hi = offsets[row + 1]
    while lo < hi:
        mid = (lo + hi) // 2
        if indices[mid] == column:
            return True
        if indices[mid] < column:
            lo = mid + 1
        else:
            hi = mid
    return False


@cuda.jit(device=True, inline=True)
def _insert(values, ids, count, k, value, index):
    """Inserts into the sorted list values/ids[:count]; returns the new count."""
    if count == k and not _better(value, index, values[k - 1], ids[k - 1]):
        return count
    at = count if count < k else k - 1
    while at > 0 and _better(value, index, values[at - 1], ids[at - 1]):
        values[at] = values[at - 1]
        ids[at] = ids[at - 1]
        at -= 1
    values[at] = value
    ids[at] = index
    return count + 1 if count < k else count


@cuda.jit(device=True, inline=True)
def _store(values, ids, count, k, out_values, out_ids, out_counts, row, part):
    for i in range(count):
        out_values[row, part, i] = values[i]
        out_ids[row, part, i] = ids[i]
    out_counts[row, part] = count


@cuda.jit
def _partial_topk_scores(scores, k, ex_offsets, ex_indices, out_values, out_ids, out_counts):
    row = cuda.blockIdx.x
    part = cuda.threadIdx.x
    values = cuda.local.array(MAX_K, float32)
    ids = cuda.local.array(MAX_K, int64)
    count = 0
    for column in range(part, scores.shape[1], cuda.blockDim.x):
        if not _is_excluded(ex_offsets, ex_indices, row, column):
            count = _insert(values, ids, count, k, scores[row, column], column)
    _store(values, ids, count, k, out_values, out_ids, out_counts, row, part)


@cuda.jit
def _partial_topk_inner_product(queries, items, k, ex_offsets, ex_indices, out_values, out_ids,
                                out_counts):
    row = cuda.blockIdx.x
    part = cuda.threadIdx.x
    values = cuda.local.array(MAX_K, float32)
    ids = cuda.local.array(MAX_K, int64)
    count = 0
    for column in range(part, items.shape[0], cuda.blockDim.x):
        if _is_excluded(ex_offsets, ex_indices, row, column):
            continue
        score = float32(0.0)
        for t in range(queries.shape[1]):
            score += queries[row, t] * items[column, t]
        count = _insert(values, ids, count, k, score, column)
    _store(values, ids, count, k, out_values, out_ids, out_counts, row, part)


@cuda.jit
def _merge_parts(part_values, part_ids, part_counts, k, out_values, out_ids):
    row = cuda.grid(1)
    if row >= out_values.shape[0]:
        return
    heads = cuda.local.array(_PARTS, int64)
    parts = part_counts.shape[1]
    for p in range(parts):
        heads[p] = 0
    for i in range(k):
        best = -1
        for p in range(parts):
            if heads[p] < part_counts[row, p]:
                if best < 0 or _better(part_values[row, p, heads[p]], part_ids[row, p, heads[p]],
                                       part_values[row, best, heads[best]],
                                       part_ids[row, best, heads[best]]):
                    best = p
        if best < 0:
            out_values[row, i] = -math.inf
            out_ids[row, i] = -1
        else:
            out_values[row, i] = part_values[row, best, heads[best]]
            out_ids[row, i] = part_ids[row, best, heads[best]]
            heads[best] += 1


def _select(partial_kernel, inputs, rows, columns, k, exclude_offsets, exclude_indices):
    if k > MAX_K:
        raise ValueError(f"k: the numba_cuda backend selects at most {MAX_K}, got {k}")
    if columns >= 2**32 - 1:  # rank keys hold the index in 32 bits, as the engine's do
        raise ValueError(f"number of items: at most 2^32 - 2, got {columns}")
    out_values = cuda.device_array((rows, k), dtype=np.float32)
    out_ids = cuda.device_array((rows, k), dtype=np.int64)
    if k == 0 or rows == 0:
        return out_values, out_ids
    if exclude_offsets is None or exclude_indices.size == 0:
        # device arrays cannot be empty here: one unused slot stands in for "none"
        exclude_offsets, exclude_indices = np.zeros(rows + 1, np.int64), np.zeros(1, np.int64)
    offsets, indices = cuda.to_device(exclude_offsets), cuda.to_device(exclude_indices)
    parts = max(1, min(_PARTS, columns))
    part_values = cuda.device_array((rows, parts, k), dtype=np.float32)
    part_ids = cuda.device_array((rows, parts, k), dtype=np.int64)
    part_counts = cuda.device_array((rows, parts), dtype=np.int64)
    partial_kernel[rows, parts](*inputs, k, offsets, indices, part_values, part_ids, part_counts)
    threads = 64
    _merge_parts[(rows + threads - 1) // threads, threads](
        part_values, part_ids, part_counts, k, out_values, out_ids
    )
    cuda.synchronize()
    return out_values, out_ids


def topk(scores, k, exclude_offsets, exclude_indices):
    """`scores`: a device array (anything with __cuda_array_interface__), float32 (B, N).
    Returns Numba device arrays."""
    return _select(_partial_topk_scores, (scores,), scores.shape[0], scores.shape[1], k,
                   exclude_offsets, exclude_indices)


def topk_inner_product(queries, items, k, exclude_offsets, exclude_indices):
    return _select(_partial_topk_inner_product, (queries, items), queries.shape[0],
                   items.shape[0], k, exclude_offsets, exclude_indices)
