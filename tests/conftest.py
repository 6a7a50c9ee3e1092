"""Shared fixtures. GPU availability is decided here, once: tests marked ``gpu`` skip
unless the engine or Numba sees a CUDA device."""

from __future__ import annotations

import secrets

import numpy as np
import pytest

pytest_plugins = ["tests.trained_models"]


def pytest_collection_modifyitems(config, items):
    from shoprank import _compat

    if _compat.has_gpu():
        return
    skip = pytest.mark.skip(reason="no CUDA device visible")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng(request):
    """Fresh random data every run; the seed is printed with any failure to replay it."""
    seed = secrets.randbits(32)
    request.node.user_properties.append(("seed", seed))
    print(f"random seed: {seed}")
    return np.random.default_rng(seed)
