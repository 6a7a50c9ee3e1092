"""The engine is a C++ library of its own: it builds with CMake alone (no Python, no
pybind11) and a C++ program linked to it ranks exactly as the Python API does."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

import shoprank
from tests.cpp_build import CMAKE, build_example


@pytest.mark.skipif(CMAKE is None, reason="cmake not found")
def test_cpp_example_ranks_like_python(tmp_path):
    program = build_example("rank_items", tmp_path / "build")
    n, b, d, k = 500, 3, 16, 5
    out = subprocess.run([str(program), str(n), str(b), str(d), str(k)], check=True,
                         capture_output=True, text=True, timeout=60).stdout
    rows = [line.split() for line in out.splitlines() if not line.startswith("#")]
    ids = np.array([[int(pair.split(":")[0]) for pair in row] for row in rows])

    items = (np.arange(n * d, dtype=np.int64) * 7919 % 7 - 3).astype(np.float32).reshape(n, d)
    users = (np.arange(b * d, dtype=np.int64) * 104729 % 5 - 2).astype(np.float32).reshape(b, d)
    np.testing.assert_array_equal(ids, shoprank.topk_inner_product(users, items, k, backend="numpy")[1])
