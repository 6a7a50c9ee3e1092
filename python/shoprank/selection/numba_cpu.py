"""Top-k on the CPU with Numba: ``njit(parallel=True)``, rows (or blocks of queries) in
parallel.

Each row streams its columns in tiles; a tile's scores become rank keys (score_order.py),
those above the row's current k-th best are kept, and the kept set is cut back to k with a
partition. The fused variant scores a tile of items for a block of queries at a time, so the
B x N score matrix never exists.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from shoprank.selection import score_order

_TILE = 4096
_QUERY_BLOCK = 16

_rank_key = njit(cache=True, inline="always")(score_order.rank_key)
_index_of_key = njit(cache=True, inline="always")(score_order.index_of_key)
_score_of_key = njit(cache=True)(score_order.score_of_key)


@njit(cache=True, inline="always")
def _is_excluded(excluded, column):
    if excluded.size == 0:
        return False
    at = np.searchsorted(excluded, column)
    return at < excluded.size and excluded[at] == column


@njit(cache=True)
def _offer_tile(values, first_index, excluded, kept, count, threshold, k):
    """Keeps the keys of `values` (indices first_index + j) that beat `threshold`, then cuts
    the kept set back to k; returns (count, threshold)."""
    for j in range(values.size):
        key = _rank_key(values[j], first_index + j)
        if key > threshold and not _is_excluded(excluded, first_index + j):
            kept[count] = key
            count += 1
    if count <= k:
        return count, (kept[:count].min() if count == k else np.uint64(0))
    kth = np.partition(kept[:count], count - k)[count - k]
    write = 0
    for i in range(count):
        if kept[i] >= kth:
            kept[write] = kept[i]
            write += 1
    return write, kth


@njit(cache=True)
def _write_row(kept, count, k, out_values, out_indices, scores_row):
    """Best first; values from `scores_row` when given (size > 0), else decoded from keys."""
    best = np.sort(kept[:count])[::-1]
    for i in range(k):
        if i < count:
            index = _index_of_key(best[i])
            out_indices[i] = index
            out_values[i] = scores_row[index] if scores_row.size else _score_of_key(best[i])
        else:
            out_indices[i] = -1
            out_values[i] = -np.inf


@njit(parallel=True, cache=True)
def _topk_rows(scores, k, exclude_offsets, exclude_indices, out_values, out_indices):
    rows, columns = scores.shape
    for r in prange(rows):
        excluded = exclude_indices[exclude_offsets[r] : exclude_offsets[r + 1]]
        kept = np.empty(k + _TILE, dtype=np.uint64)
        count, threshold = 0, np.uint64(0)
        for start in range(0, columns, _TILE):
            tile = scores[r, start : min(columns, start + _TILE)]
            count, threshold = _offer_tile(tile, start, excluded, kept, count, threshold, k)
        _write_row(kept, count, k, out_values[r], out_indices[r], scores[r])


@njit(parallel=True, cache=True, fastmath={"reassoc", "contract"})
def _topk_inner_product_rows(queries, items, k, exclude_offsets, exclude_indices, out_values,
                             out_indices):
    rows, dim = queries.shape
    columns = items.shape[0]
    no_scores = np.empty(0, dtype=np.float32)
    for b in prange((rows + _QUERY_BLOCK - 1) // _QUERY_BLOCK):
        q0 = b * _QUERY_BLOCK
        nq = min(rows, q0 + _QUERY_BLOCK) - q0
        kept = np.empty((nq, k + _TILE), dtype=np.uint64)
        counts = np.zeros(nq, dtype=np.int64)
        thresholds = np.zeros(nq, dtype=np.uint64)
        tile = np.empty((nq, _TILE), dtype=np.float32)
        for start in range(0, columns, _TILE):
            width = min(columns, start + _TILE) - start
            for j in range(width):  # one item row serves the whole block while in L1
                for q in range(nq):
                    acc = np.float32(0.0)
                    for t in range(dim):
                        acc += queries[q0 + q, t] * items[start + j, t]
                    tile[q, j] = acc
            for q in range(nq):
                excluded = exclude_indices[exclude_offsets[q0 + q] : exclude_offsets[q0 + q + 1]]
                counts[q], thresholds[q] = _offer_tile(
                    tile[q, :width], start, excluded, kept[q], counts[q], thresholds[q], k
                )
        for q in range(nq):
            _write_row(kept[q], counts[q], k, out_values[q0 + q], out_indices[q0 + q], no_scores)


def topk(scores, k, exclude_offsets, exclude_indices):
    return _run(_topk_rows, (scores,), scores.shape[0], k, exclude_offsets, exclude_indices)


def topk_inner_product(queries, items, k, exclude_offsets, exclude_indices):
    return _run(_topk_inner_product_rows, (queries, items), queries.shape[0], k, exclude_offsets,
                exclude_indices)


def _run(kernel, inputs, rows, k, exclude_offsets, exclude_indices):
    if exclude_offsets is None:
        exclude_offsets, exclude_indices = np.zeros(rows + 1, np.int64), np.zeros(0, np.int64)
    values = np.empty((rows, k), dtype=np.float32)
    indices = np.empty((rows, k), dtype=np.int64)
    if k and rows:
        kernel(*inputs, k, exclude_offsets, exclude_indices, values, indices)
    return values, indices
