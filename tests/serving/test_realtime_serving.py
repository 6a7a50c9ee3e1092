"""Real-time features served: events sent to the `events` model reach the state the
shoprank backend's models share, so the next request to `ranker` sees them (scores equal
to an in-process Ranker that observed the same events); malformed requests to `observe`
are client errors that change nothing; after a kill -9 the restarted server rebuilds the
state from the event log and answers the same again."""

from __future__ import annotations

import os
import re
import signal

import numpy as np
import pytest

pytest.importorskip("merlin.models")
pytest.importorskip("pytriton")

NOW = np.datetime64("2024-03-05T12:00:00", "ms")


def request(user):
    return ({"user_id": user, "timestamp": NOW, "device": "app", "context_category": "c001"},
            {"item_id": list(range(30)), "position": [0] * 30})


def test_events_reach_the_next_request_and_survive_a_restart(realtime_world, tmp_path):
    import shoprank
    from shoprank.client import RankClient, RankError
    from tests.serving.running import running_server

    local = shoprank.Ranker.load(realtime_world / "artifacts")
    events = {"timestamp": [NOW - np.timedelta64(m, "m") for m in (40, 30, 20, 10)],
              "user_id": [7, 7, 7, 9], "item_id": [3, 4, 3, 3], "click": [1, 1, 0, 1],
              "device": ["app"] * 4, "context_category": ["c001"] * 4, "position": [0] * 4,
              "session_id": [70] * 4, "purchase": [0] * 4}
    with running_server(realtime_world / "artifacts", tmp_path / "repo", max_candidates=1000,
                        events=tmp_path / "events") as server:
        assert not (tmp_path / "repo" / "ensemble").exists()  # its transform keeps no state
        with RankClient(server.grpc_url, "grpc", model="ranker") as client:
            before = client.rank(*request(7), k=30)
            assert client.log_events(events) == 4
            after = client.rank(*request(7), k=30)
        local.observe({k: events[k] for k in ("timestamp", "user_id", "item_id", "click")})
        want = local.rank(*request(7), k=30)
        np.testing.assert_array_equal(after[0], want[0])
        np.testing.assert_allclose(after[1], want[1], rtol=0, atol=1e-6)
        assert not np.allclose(np.sort(before[1]), np.sort(after[1]))

        hostile_observe_requests(server)
        with RankClient(server.grpc_url, "grpc", model="ranker") as client:
            with pytest.raises(RankError, match="no candidates to rank"):  # once a crash
                client.rank(request(7)[0], {"item_id": [], "position": []}, k=1)
            # without a timestamp, served as in process: the engine says what it needs
            untimed = {k: v for k, v in request(7)[0].items() if k != "timestamp"}
            with pytest.raises(ValueError) as in_process:
                local.rank(untimed, request(7)[1], k=30)
            with pytest.raises(RankError, match=re.escape(str(in_process.value))):
                client.rank(untimed, request(7)[1], k=30)
            assert client.rank(*request(7), k=30)[0].tolist() == want[0].tolist()

        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait()
        server.restart()
        with RankClient(server.grpc_url, "grpc", model="ranker") as client:
            again = client.rank(*request(7), k=30)
        np.testing.assert_array_equal(again[0], want[0])
        np.testing.assert_allclose(again[1], want[1], rtol=0, atol=1e-6)
        assert any("real-time state rebuilt from 4 logged events" in line
                   for line in server.log_lines)


def hostile_observe_requests(server, count=300):
    """Seeded malformed requests to `observe` over HTTP (test_hostile.py's mutations of a
    valid request: each must break it) and gRPC (shape and datatype lies): client errors."""
    import random

    import tritonclient.grpc as grpc
    from tritonclient.utils import InferenceServerException

    from shoprank.serving import wire
    from tests.serving.test_hostile import http_mutations, post

    kinds = {"user_id": "int64", "item_id": "int64", "timestamp": "timestamp_ms", "click": "int64"}
    valid = {"user_id": [5, 5], "item_id": [1, 2], "timestamp": [10, 11], "click": [9, 9]}
    tensors = {}
    for name, kind in kinds.items():
        tensors.update(wire.encode_column(name, kind, valid[name]))
    inputs = [{"name": n, "shape": list(a.shape), "datatype": wire.datatype(a),
               "data": a.reshape(-1).tolist()} for n, a in tensors.items()]
    chance, statuses = random.Random(20261204), {}
    for _ in range(count):
        body, headers = http_mutations(inputs, chance)
        status = post(server, "observe", body, headers)[0]
        statuses[status] = statuses.get(status, 0) + 1
    client = grpc.InferenceServerClient(server.grpc_url)
    try:
        for lie in ("shape", "datatype", "missing"):
            sent = []
            for name, array in tensors.items():
                if lie == "missing" and name == "click":
                    continue
                tensor = grpc.InferInput(name, list(array.shape),
                                         "FP32" if lie == "datatype" and name == "user_id"
                                         else wire.datatype(array))
                tensor.set_data_from_numpy(array.astype(np.float32) if lie == "datatype" and
                                           name == "user_id" else array)
                if lie == "shape" and name == "item_id":
                    tensor.set_shape([1, 10 ** 12])
                sent.append(tensor)
            with pytest.raises(InferenceServerException) as error:
                client.infer("observe", sent)
            assert error.value.status() == "StatusCode.INVALID_ARGUMENT"
    finally:
        client.close()
    assert server.process.poll() is None
    # a mutation may leave a valid request (a repeated input, data still in range): its clicks
    # are label 9 > 0, but on items 1 and 2 of user 5 only, never seen by user 7's request
    assert set(statuses) <= {200, 400, 413}, statuses
