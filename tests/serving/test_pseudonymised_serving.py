"""Artifacts with pseudonymised ids served (tests/personal_logs.py's log, etl --key-file):
`shoprank serve` refuses them without their key before starting Triton; with it, callers
send raw ids and every model (ranker, events -> observe, recommend) answers as the
in-process engine loaded with the same key does."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("merlin.models")
pytest.importorskip("pytriton")

NOW = np.datetime64("2023-11-20T00:00", "ms")  # after the log's last event


def test_served_models_hash_raw_ids_with_the_key(pseudonymised_world, tmp_path, monkeypatch):
    import shoprank
    from shoprank.client import RankClient
    from shoprank.serving.repository import ServingOptions, export_triton
    from shoprank.serving.server import ServerError, TritonServer
    from tests.serving.running import running_server

    root, values = pseudonymised_world
    monkeypatch.delenv("SHOPRANK_KEY_FILE", raising=False)
    export_triton(root / "artifacts", tmp_path / "bare", ServingOptions())
    with pytest.raises(ServerError, match="its models pseudonymise personal ids; give the key"):
        TritonServer(tmp_path / "bare")

    key = root / "key"
    ranker = shoprank.Ranker.load(root / "artifacts", key_file=key)
    recommender = shoprank.Recommender.load(root / "artifacts", key_file=key)
    user = {"user_id": values["user_id"][3], "device_id": values["device_id"][3],
            "timestamp": NOW}
    candidates = {"item_id": list(range(20))}
    events = {"timestamp": [NOW - np.timedelta64(m, "m") for m in (30, 20, 10)],
              "user_id": [user["user_id"]] * 3, "item_id": [4, 5, 4], "clicked": [1, 1, 1],
              "device_id": [user["device_id"]] * 3}
    with running_server(root / "artifacts", tmp_path / "repo", max_candidates=1000,
                        events=tmp_path / "events", key_file=key) as server:
        with RankClient(server.grpc_url, "grpc", model="ranker") as client:
            served_recommendation = client.recommend(user, 5)  # before any event
            before = client.rank(user, candidates, k=20)
            np.testing.assert_array_equal(before[0], ranker.rank(user, candidates, k=20)[0])
            assert client.log_events(events) == 3
            after = client.rank(user, candidates, k=20)
        ranker.observe({k: events[k] for k in ("timestamp", "user_id", "item_id", "clicked")})
        want = ranker.rank(user, candidates, k=20)
        np.testing.assert_array_equal(after[0], want[0])
        np.testing.assert_allclose(after[1], want[1], rtol=0, atol=1e-6)
        assert not np.allclose(np.sort(before[1]), np.sort(after[1]))  # the events counted
    assert not recommender.is_new_user(user)
    local = recommender.recommend(user, 5)
    np.testing.assert_array_equal(served_recommendation[0], local[0])
