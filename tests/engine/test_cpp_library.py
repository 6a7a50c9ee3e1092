"""The engine is a C++ library of its own: it builds with CMake alone (no Python, no
pybind11) and a C++ program linked to it ranks exactly as the Python API does."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import shoprank

ROOT = Path(__file__).resolve().parents[2]
# The venv's cmake/ninja (from PyPI) first: a fresh machine may have none of its own.
TOOLS = str(Path(sys.executable).parent)
CMAKE = shutil.which("cmake", path=TOOLS) or shutil.which("cmake")
NINJA = shutil.which("ninja", path=TOOLS) or shutil.which("ninja")


@pytest.mark.skipif(CMAKE is None, reason="cmake not found")
def test_cpp_example_ranks_like_python(tmp_path):
    build = tmp_path / "build"
    configure = [CMAKE, "-S", str(ROOT), "-B", str(build), "-DSHOPRANK_CUDA=OFF",
                 "-DSHOPRANK_BUILD_EXAMPLES=ON", "-DCMAKE_BUILD_TYPE=Release"]
    if NINJA:
        configure += ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={NINJA}"]
    subprocess.run(configure, check=True, capture_output=True, text=True, timeout=300)
    subprocess.run([CMAKE, "--build", str(build), "--target", "rank_items"], check=True,
                   capture_output=True, text=True, timeout=600)
    n, b, d, k = 500, 3, 16, 5
    out = subprocess.run([str(build / "rank_items"), str(n), str(b), str(d), str(k)], check=True,
                         capture_output=True, text=True, timeout=60).stdout
    rows = [line.split() for line in out.splitlines() if not line.startswith("#")]
    ids = np.array([[int(pair.split(":")[0]) for pair in row] for row in rows])

    items = (np.arange(n * d, dtype=np.int64) * 7919 % 7 - 3).astype(np.float32).reshape(n, d)
    users = (np.arange(b * d, dtype=np.int64) * 104729 % 5 - 2).astype(np.float32).reshape(b, d)
    np.testing.assert_array_equal(ids, shoprank.topk_inner_product(users, items, k, backend="numpy")[1])

