"""Device-array plumbing for the CUDA backends: checking, uploading, launching, copying back.

``"cuda"`` (the engine's kernels) works on CuPy arrays; ``"numba_cuda"`` on anything with
``__cuda_array_interface__`` through Numba. Both are imported only here, on first use.
"""

from __future__ import annotations

import numpy as np

from shoprank import _compat, _engine


def as_device_matrix(x, name: str, backend: str):
    """A C-contiguous float32 2-D device array for ``x`` (uploaded if it is on the host)."""
    if backend == "cuda":
        if not _compat.has_cupy():
            raise RuntimeError("backend 'cuda' needs CuPy (pip install cupy-cuda12x)")
        if _compat.engine_cuda_devices() == 0:
            raise _engine.DeviceError(
                "backend 'cuda': no CUDA device is usable by the engine "
                f"(built with CUDA: {_engine.cuda_built()})"
            )
        import cupy

        array = cupy.asarray(x)
    else:
        if not _compat.numba_cuda_available():
            raise _engine.DeviceError("backend 'numba_cuda': Numba finds no usable CUDA device")
        from numba import cuda

        array = cuda.as_cuda_array(x) if hasattr(x, "__cuda_array_interface__") else \
            cuda.to_device(np.asarray(x))
    if array.dtype != np.float32:
        raise TypeError(f"{name}: expected float32, got {array.dtype} (convert with .astype)")
    if array.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array, got {array.ndim}-D shape {array.shape}")
    if not array.flags["C_CONTIGUOUS"]:
        if backend != "cuda":
            raise ValueError(f"{name}: must be C-contiguous for backend 'numba_cuda'")
        import cupy

        array = cupy.ascontiguousarray(array)
    return array


def run(backend: str, op: str, arrays: list, k: int, offsets, indices):
    if backend == "numba_cuda":
        from numba import cuda

        from shoprank.selection import numba_cuda

        values, ids = getattr(numba_cuda, op)(*arrays, k, offsets, indices)
        if _compat.has_cupy() and type(arrays[0]).__module__.startswith("cupy"):
            import cupy

            return cupy.asarray(values), cupy.asarray(ids)
        return values, ids
    import cupy

    if k > _engine.CUDA_MAX_K:
        raise ValueError(f"k: the CUDA backend selects at most {_engine.CUDA_MAX_K}, got {k} "
                         "(use backend='cpp')")
    rows = arrays[0].shape[0]
    values = cupy.empty((rows, k), dtype=cupy.float32)
    ids = cupy.empty((rows, k), dtype=cupy.int64)
    ex_offsets = cupy.asarray(offsets) if offsets is not None else None
    ex_indices = cupy.asarray(indices) if offsets is not None else None
    pointers = dict(
        exclude_offsets_ptr=ex_offsets.data.ptr if ex_offsets is not None else 0,
        exclude_indices_ptr=ex_indices.data.ptr if ex_indices is not None and ex_indices.size else 0,
        out_values_ptr=values.data.ptr,
        out_indices_ptr=ids.data.ptr,
        stream=cupy.cuda.get_current_stream().ptr,
    )
    if op == "topk":
        (scores,) = arrays
        _engine.cuda_topk(scores.data.ptr, rows, scores.shape[1], k, **pointers)
    else:
        queries, items = arrays
        _engine.cuda_topk_inner_product(queries.data.ptr, rows, items.data.ptr, items.shape[0],
                                        queries.shape[1], k, **pointers)
    return values, ids


def to_host(array) -> np.ndarray:
    if hasattr(array, "get"):  # CuPy
        return array.get()
    return array.copy_to_host()  # Numba
