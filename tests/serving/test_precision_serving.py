"""Artifacts at half width served: the world's DLRM exported with an fp16 embedding table
and bf16 MLP kernels answers over gRPC and HTTP (ranker and ensemble) exactly as the
in-process engine on the same folder does (int8 tables are served in test_reliability)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("merlin.models")
pytest.importorskip("pytriton")

STAMP = np.datetime64("2024-02-20T10:00:00", "ms")


def test_half_width_artifacts_serve_as_in_process(dlrm, tmp_path, rng):
    import shoprank
    from shoprank.client import RankClient
    from shoprank.export.artifacts import export_ranker
    from tests.serving.running import running_server

    _, _, world = dlrm
    folder = tmp_path / "artifacts"
    export_ranker(world / "dlrm", folder, precision="fp16", weights="bf16")
    local = shoprank.Ranker.load(folder)
    requests = []
    for _ in range(4):
        n = int(rng.integers(5, 60))
        requests.append(({"user_id": int(rng.integers(0, 300)), "device": "app",
                          "context_category": "c001", "timestamp": STAMP},
                         {"item_id": rng.choice(200, n, replace=False).tolist(),
                          "position": rng.integers(0, 10, n).tolist()}, min(n, 7)))
    with running_server(folder, tmp_path / "repo", max_candidates=1000) as server:
        for url, protocol in ((server.grpc_url, "grpc"), (server.http_url, "http")):
            for model in ("ranker", "ensemble"):
                with RankClient(url, protocol, model=model) as client:
                    for user, candidates, k in requests:
                        ids, scores = client.rank(user, candidates, k)
                        want_ids, want_scores = local.rank(user, candidates, k)
                        np.testing.assert_array_equal(ids, want_ids)
                        np.testing.assert_allclose(scores, want_scores, rtol=0, atol=1e-6)
