"""Top-k selection, everything behind ``shoprank.topk`` and ``shoprank.topk_inner_product``:
the backend dispatch (topk.py), the ``exclude`` argument (exclude.py), device arrays
(device.py), the score order (score_order.py), the NumPy reference and the Numba CPU/CUDA
kernels. The engine's side is engine/topk.

Named ``selection``, not ``topk``: ``shoprank.topk`` is the function callers import.
The Numba modules import Numba when they are imported; load them only when used.
"""
