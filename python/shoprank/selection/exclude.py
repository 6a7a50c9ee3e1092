"""Normalises the ``exclude`` argument of the top-k functions to checked, sorted CSR."""

from __future__ import annotations

from typing import Sequence, Tuple, Union

import numpy as np

ExcludeArg = Union[None, Tuple[np.ndarray, np.ndarray], Sequence[np.ndarray]]


def exclude_to_csr(exclude: ExcludeArg, rows: int, columns: int):
    """Returns ``(offsets, indices)`` as int64 with each row sorted and de-duplicated, or
    ``(None, None)``.

    ``exclude`` is either a tuple ``(offsets, indices)`` (CSR: row r owns
    ``indices[offsets[r]:offsets[r + 1]]``) or a list with one array of indices per row.
    """
    if exclude is None:
        return None, None
    if isinstance(exclude, tuple):
        if len(exclude) != 2:
            raise ValueError(
                "exclude: a tuple is read as CSR (offsets, indices); got a tuple of "
                f"{len(exclude)} items (pass a list for one array per query)"
            )
        offsets = _int_vector(exclude[0], "exclude offsets")
        indices = _int_vector(exclude[1], "exclude indices")
        if offsets.shape[0] != rows + 1:
            raise ValueError(
                f"exclude: offsets need {rows + 1} entries (one per query, plus one), "
                f"got {offsets.shape[0]}"
            )
        if offsets[0] != 0 or np.any(np.diff(offsets) < 0) or offsets[-1] != indices.shape[0]:
            raise ValueError(
                "exclude: offsets must start at 0, never decrease, and end at "
                f"len(indices)={indices.shape[0]}"
            )
        rows_of = [indices[offsets[r] : offsets[r + 1]] for r in range(rows)]
    else:
        rows_of = [_int_vector(row, f"exclude[{r}]") for r, row in enumerate(exclude)]
        if len(rows_of) != rows:
            raise ValueError(f"exclude: expected one array per query ({rows}), got {len(rows_of)}")
    for r, row in enumerate(rows_of):
        if row.size and (row.min() < 0 or row.max() >= columns):
            bad = row[(row < 0) | (row >= columns)][0]
            raise ValueError(
                f"exclude: index {bad} for query {r} is out of range [0, {columns})"
            )
    uniques = [np.unique(row) for row in rows_of]
    offsets = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum([u.size for u in uniques], out=offsets[1:])
    indices = np.concatenate(uniques).astype(np.int64, copy=False) if uniques else np.zeros(0, np.int64)
    return offsets, indices


def _int_vector(values, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name}: expected a 1-D array of integers, got {array.dtype} {array.shape}")
    return array.astype(np.int64, copy=False)
