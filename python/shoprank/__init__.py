"""shoprank: a GPU feature and ranking engine for e-commerce recommendation.

``import shoprank`` needs only NumPy and the compiled engine; the pipeline's heavy stack
(NVTabular, Merlin, TensorFlow, Dask) and the kernels' (Numba, CuPy) load on first use.
"""

from shoprank import _engine
from shoprank._engine import DeviceError
from shoprank.selection.diversity import diversify
from shoprank.selection.topk import BACKENDS, topk, topk_inner_product
from shoprank.ranker.ranker import Ranker
from shoprank.recommend import Recommender

__version__ = _engine.build_info()["version"]


def merlin_score(model_dir, raw: dict):
    """Click probabilities of raw rows by the Merlin path: the saved NVTabular Workflow, then
    the TensorFlow model (needs the full install). The native Ranker's parity baseline."""
    from shoprank.models.merlin_ranker import merlin_score as score

    return score(model_dir, raw)


def build_info() -> dict:
    """What the native engine was compiled with, and which backends this process can use.

    Returns a dict: version, compiler, cxx_flags, openmp, openmp_max_threads, cuda,
    cuda_version, cuda_architectures, simd, and ``backends`` (name -> available).
    """
    from shoprank import _compat

    info = dict(_engine.build_info())
    info["backends"] = _compat.available_backends()
    return info


__all__ = [
    "BACKENDS",
    "DeviceError",
    "Ranker",
    "Recommender",
    "__version__",
    "build_info",
    "diversify",
    "merlin_score",
    "topk",
    "topk_inner_product",
]
