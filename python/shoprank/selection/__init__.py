"""Top-k selection, everything behind ``shoprank.topk`` and ``shoprank.topk_inner_product``:
the backend dispatch (topk.py), the ``exclude`` argument (exclude.py), device arrays
(device.py), the score order (score_order.py), the NumPy reference and the Numba CPU/CUDA
kernels. The engine's side is engine/topk.

Also the diversity re-rank behind ``shoprank.diversify`` (diversity.py, its reference
diversity_reference.py; the engine's side engine/diversity).

Named ``selection``, not ``topk``: ``shoprank.topk`` is the function callers import.
The Numba modules import Numba when they are imported; load them only when used.
"""

from shoprank.selection.diversity import diversify

__all__ = ["diversify"]
