"""Top-k kernels outside the C++ engine: the NumPy reference and the Numba CPU/CUDA kernels.

The Numba modules import Numba when they are imported; load them only when used.
"""
