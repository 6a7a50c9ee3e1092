"""A C++ service ranks with the engine's header alone (engine/examples/rank_request.cpp,
built with CMake, no Python): the same items and scores as shoprank.Ranker.rank."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from tests.cpp_build import CMAKE, build_example


@pytest.mark.skipif(CMAKE is None, reason="cmake not found")
def test_cpp_ranks_like_python(dlrm, tmp_path):
    ranker, _, world = dlrm
    program = build_example("rank_request", tmp_path / "build")
    stamp = np.datetime64("2024-02-20T10:00:00", "ms")
    user = {"user_id": 3, "device": "app", "context_category": "c001", "timestamp": stamp,
            "position": 0}
    items = np.arange(0, 120, 3)
    ids, scores = ranker.rank(user, items, k=7)
    args = [f"user_id=3", "device=app", "context_category=c001",
            f"timestamp={stamp.astype(np.int64)}", "position=0"]
    out = subprocess.run([str(program), str(world / "dlrm-artifacts"), "7", *args,
                          *map(str, items)], check=True, capture_output=True, text=True,
                         timeout=60).stdout
    lines = [line.split() for line in out.splitlines()]
    assert [int(i) for i, _ in lines] == ids.tolist()
    np.testing.assert_allclose([float(s) for _, s in lines], scores, rtol=1e-7, atol=0)
    bad = subprocess.run([str(program), str(world / "dlrm-artifacts"), "3", "colour=red", "1"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown column colour" in bad.stderr
