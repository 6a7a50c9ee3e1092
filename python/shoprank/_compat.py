"""Which optional accelerators this process can use, decided in one place.

Every check is lazy and cached: importing shoprank never imports Numba or CuPy.
"""

from __future__ import annotations

import functools
import importlib.util

from shoprank import _engine


@functools.lru_cache(maxsize=None)
def has_numba() -> bool:
    return importlib.util.find_spec("numba") is not None


@functools.lru_cache(maxsize=None)
def has_cupy() -> bool:
    return importlib.util.find_spec("cupy") is not None


@functools.lru_cache(maxsize=None)
def engine_cuda_devices() -> int:
    """CUDA devices the native engine can use (0 if it was built without CUDA)."""
    return _engine.cuda_device_count() if _engine.cuda_built() else 0


@functools.lru_cache(maxsize=None)
def numba_cuda_available() -> bool:
    if not has_numba():
        return False
    from numba import cuda

    try:
        return bool(cuda.is_available())
    except Exception:  # a broken driver install reads as "no GPU", never as a crash
        return False


def has_gpu() -> bool:
    """True when a CUDA device is usable by the engine or by Numba."""
    return engine_cuda_devices() > 0 or numba_cuda_available()


def available_backends() -> dict[str, bool]:
    return {
        "cpp": True,
        "numpy": True,
        "numba": has_numba(),
        "cuda": engine_cuda_devices() > 0 and has_cupy(),
        "numba_cuda": numba_cuda_available(),
    }
