"""Top-k selection and fused inner-product top-k, behind one backend dispatch.

Semantics, identical on every backend:

* each row of the result is sorted best first; ties go to the lower index;
* NaN is never selected before a number (it ranks below -inf);
* when fewer than ``k`` items are eligible (``k > N``, or items excluded), the row is
  padded with index ``-1`` and score ``-inf``; ``k = 0`` gives empty ``(B, 0)`` arrays;
* indices are int64, scores float32;
* inputs must be float32 and 2-D; a non-contiguous input is copied to a contiguous one.

Backends: ``"cpp"`` (the C++ engine: multithreaded, the GIL released), ``"cuda"`` (the
engine's CUDA kernels, via CuPy arrays), ``"numba"`` (Numba CPU, ``parallel=True``),
``"numba_cuda"`` (Numba CUDA kernels), ``"numpy"`` (the plain reference). ``"auto"`` picks
``"cuda"`` for device arrays (CuPy, or anything with ``__cuda_array_interface__``) and
``"cpp"`` for host arrays.
"""

from __future__ import annotations

import operator

import numpy as np

from shoprank import _compat, _engine
from shoprank.selection.exclude import ExcludeArg, exclude_to_csr

BACKENDS = ("auto", "cpp", "cuda", "numba", "numba_cuda", "numpy")
_DEVICE_BACKENDS = ("cuda", "numba_cuda")


def topk(scores, k: int, *, exclude: ExcludeArg = None, backend: str = "auto",
         num_threads: int = 0):
    """The ``k`` largest scores of every row, sorted descending.

    Parameters
    ----------
    scores : array, float32, shape (B, N)
        A NumPy array, or a device array for the CUDA backends.
    k : int
        How many to keep per row (>= 0).
    exclude : tuple (offsets, indices) or list of arrays, optional
        Per row, column indices that must not be returned (items already bought or seen):
        CSR as a tuple, or a list with one array per row.
    backend : str
        One of ``shoprank.BACKENDS`` (see the module docstring).
    num_threads : int
        Threads for the ``"cpp"`` backend (0: all cores).

    Returns
    -------
    (values, indices) : float32 (B, k) and int64 (B, k), on the device for device input.

    Examples
    --------
    >>> import numpy as np, shoprank
    >>> values, indices = shoprank.topk(np.array([[0.5, 2.0, 2.0, np.nan]], np.float32), 3)
    >>> indices.tolist(), values.tolist()
    ([[1, 2, 0]], [[2.0, 2.0, 0.5]])
    """
    k = _check_k(k)
    backend = _choose_backend(backend, scores)
    if backend in _DEVICE_BACKENDS:
        return _on_device(backend, "topk", {"scores": scores}, k, exclude)
    scores = _host_matrix(scores, "scores")
    offsets, indices = exclude_to_csr(exclude, *scores.shape)
    if backend == "cpp":
        return _engine.topk(scores, k, exclude_offsets=offsets, exclude_indices=indices,
                            num_threads=num_threads)
    return _host_kernels(backend).topk(scores, k, offsets, indices)


def topk_inner_product(queries, items, k: int, *, exclude: ExcludeArg = None,
                       backend: str = "auto", num_threads: int = 0):
    """Scores every query against every item by inner product and keeps the ``k`` best.

    Fused: scoring and selection run tile by tile, so the (B, N) score matrix is never
    materialised (except by the ``"numpy"`` reference, which is one matmul).

    Parameters
    ----------
    queries : array, float32, shape (B, d)
    items : array, float32, shape (N, d)
    k, exclude, backend, num_threads
        As for :func:`topk`; ``exclude`` holds item indices per query.

    Returns
    -------
    (scores, indices) : float32 (B, k) and int64 (B, k).

    Examples
    --------
    >>> import numpy as np, shoprank
    >>> items = np.array([[1, 0], [0, 1], [2, 2]], np.float32)
    >>> shoprank.topk_inner_product(np.array([[1, 0]], np.float32), items, 2)[1].tolist()
    [[2, 0]]
    """
    k = _check_k(k)
    backend = _choose_backend(backend, queries)
    if backend in _DEVICE_BACKENDS:
        return _on_device(backend, "topk_inner_product", {"queries": queries, "items": items}, k,
                          exclude)
    queries = _host_matrix(queries, "queries")
    items = _host_matrix(items, "items")
    _check_dims(queries.shape, items.shape)
    offsets, indices = exclude_to_csr(exclude, queries.shape[0], items.shape[0])
    if backend == "cpp":
        return _engine.topk_inner_product(queries, items, k, exclude_offsets=offsets,
                                          exclude_indices=indices, num_threads=num_threads)
    return _host_kernels(backend).topk_inner_product(queries, items, k, offsets, indices)


def _check_k(k) -> int:
    if isinstance(k, bool):
        raise TypeError("k: expected an integer, got a bool")
    try:
        k = operator.index(k)
    except TypeError:
        raise TypeError(f"k: expected an integer, got {type(k).__name__}") from None
    if k < 0:
        raise ValueError(f"k: must be >= 0, got {k}")
    return k


def _check_dims(query_shape, item_shape) -> None:
    if query_shape[1] != item_shape[1]:
        raise ValueError(
            f"items: dimension d={item_shape[1]} does not match queries' d={query_shape[1]}"
        )


def _is_device_array(x) -> bool:
    return hasattr(x, "__cuda_array_interface__")


def _choose_backend(backend: str, first_input) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        return "cuda" if _is_device_array(first_input) else "cpp"
    if _is_device_array(first_input) and backend not in _DEVICE_BACKENDS:
        raise ValueError(
            f"backend: {backend!r} runs on the host but the input is a device array; "
            "use 'cuda' or 'numba_cuda', or copy it to the host"
        )
    return backend


def _host_matrix(x, name: str) -> np.ndarray:
    array = np.asarray(x)
    if array.dtype != np.float32:
        raise TypeError(f"{name}: expected float32, got {array.dtype} (convert with .astype)")
    if array.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array, got {array.ndim}-D shape {array.shape}")
    return np.ascontiguousarray(array)  # copies only when not C-contiguous


def _host_kernels(backend: str):
    if backend == "numpy":
        from shoprank.selection import reference

        return reference
    if not _compat.has_numba():
        raise RuntimeError("backend 'numba' needs Numba: pip install 'shoprank[kernels]'")
    from shoprank.selection import numba_cpu

    return numba_cpu


def _on_device(backend: str, op: str, inputs: dict, k: int, exclude: ExcludeArg):
    """Runs a CUDA backend; host inputs are uploaded and their results copied back."""
    from shoprank.selection import device

    arrays = {name: device.as_device_matrix(x, name, backend) for name, x in inputs.items()}
    shapes = [a.shape for a in arrays.values()]
    if op == "topk_inner_product":
        _check_dims(*shapes)
    rows, columns = shapes[0][0], shapes[-1][0] if op == "topk_inner_product" else shapes[0][1]
    offsets, indices = exclude_to_csr(exclude, rows, columns)
    values, ids = device.run(backend, op, list(arrays.values()), k, offsets, indices)
    if not any(_is_device_array(x) for x in inputs.values()):
        return device.to_host(values), device.to_host(ids)
    return values, ids
