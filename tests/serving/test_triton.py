"""The real Triton Inference Server (from the nvidia-pytriton wheel) on free loopback
ports (tests/serving/conftest.py's `served`), serving a trained DLRM: the ensemble and the
one-step ranker model, over gRPC and
HTTP, answer exactly as the in-process Ranker on fresh random requests (ids equal, scores
within 1e-6); bad requests get an error naming what was wrong and the server serves the
next one; the server always stops, even when a test fails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shoprank.client import RankClient, RankError
from shoprank.serving import wire

pytest.importorskip("merlin.models")
pytest.importorskip("pytriton")

PROTOCOLS_AND_MODELS = [(p, m) for p in ("grpc", "http") for m in ("ensemble", "ranker")]


def client_for(server, protocol, model):
    url = server.grpc_url if protocol == "grpc" else server.http_url
    return RankClient(url, protocol, model)


def random_request(world, rng, candidates):
    """A user (known or not) and candidates: item ids alone, or ids with their features."""
    import pandas as pd

    items = pd.read_parquet(world / "logs" / "items.parquet", columns=["item_id"]).item_id
    user = {"user_id": int(rng.integers(0, 400)), "device": str(rng.choice(["app", "web", "tv"])),
            "context_category": f"c{rng.integers(0, 12):03d}", "position": int(rng.integers(0, 3)),
            "timestamp": np.datetime64("2024-03-01T00:00", "ms")
            + np.timedelta64(int(rng.integers(0, 10**9)), "ms")}
    ids = rng.choice(np.append(items.to_numpy(), [10**9, -1]), candidates)  # unknown ids among them
    if rng.random() < 0.5:
        return user, ids
    return user, {"item_id": ids, "price": rng.uniform(-1, 500, candidates),
                  "category": [f"cat{c}" for c in rng.integers(0, 30, candidates)],
                  "tags": [[f"t{t}" for t in rng.integers(0, 40, rng.integers(0, 4))]
                           for _ in range(candidates)]}


@pytest.mark.parametrize("protocol,model", PROTOCOLS_AND_MODELS)
def test_triton_answers_as_the_in_process_ranker(served, rng, protocol, model):
    server, ranker, world = served
    with client_for(server, protocol, model) as client:
        assert client.ready()
        for candidates in (1, 13, 300, 2_000):
            user, items = random_request(world, rng, candidates)
            k = int(rng.integers(1, candidates + 1))
            ids, scores = client.rank(user, items, k)
            expected_ids, expected_scores = ranker.rank(user, items, k)
            np.testing.assert_array_equal(ids, expected_ids)
            np.testing.assert_allclose(scores, expected_scores, rtol=0, atol=1e-6)
            assert ids.dtype == np.int64 and scores.dtype == np.float32


def _raw_infer(server, tensors: dict, model="ensemble", protocol="grpc"):
    """Sends tensors as given (no client-side checks; HTTP through the guard, binary data);
    returns the error text."""
    import tritonclient.grpc as grpc
    import tritonclient.http as http

    module, url = (grpc, server.grpc_url) if protocol == "grpc" else (http, server.http_url)
    with pytest.raises(Exception) as error:
        module.InferenceServerClient(url).infer(model, wire.infer_inputs(module, tensors))
    return str(error.value)


def bad_requests(good: dict, rng) -> tuple[dict, dict, dict]:
    """({error: tensors} the engine's request reader refuses, {error: tensors} the guard
    refuses before Triton reads them, {error: tensors} Triton refuses before any model runs,
    worded by Triton)."""
    def without(name):
        return {n: t for n, t in good.items() if n != name}

    engine = {
        "k must be between 1 and the number of candidates \\(20\\), got 21":
            {**good, "k": np.array([[21]], np.int64)},
        "k must be between 1 and the number of candidates \\(20\\), got 0":
            {**good, "k": np.array([[0]], np.int64)},
        "missing.*context_category": without("context_category"),  # ranker: Triton's words
        "missing .*k": without("k"),  # Triton's words where k is required (ranker)
        "[a-z_]+: one query per request, shaped \\[1, n\\]; got shape \\[2, 1\\]":
            {n: np.repeat(t, 2, axis=0) for n, t in good.items()},
        "tags: a list column needs tags__lengths too":
            {**without("tags__lengths"), "tags": np.array([[b"t1"]], dtype=object)},
        "6000 candidates in one request; this model takes at most 5000":
            {**good, "item_id": rng.integers(0, 50, (1, 6000))},
        "tags__lengths was sent without tags":
            {**without("tags"), "tags__lengths": np.zeros((1, 20), np.int64)},
        "tags__lengths: the lengths must be >= 0 and add up to the 2 elements of tags":
            {**good, "tags": np.array([[b"t1", b"t2"]], dtype=object),
             "tags__lengths": np.eye(1, 20, dtype=np.int64) * 3},
        "device: not UTF-8 text": {**good, "device": np.array([[b"\xff\xfe"]], dtype=object)},
    }
    guard = {
        "input 'price': datatype must be FP64, got \"FP32\"":
            {**good, "price": rng.random((1, 20)).astype(np.float32)},
        "unknown input 'colour'; the model reads: ": {**good, "colour": good["device"]},
    }
    triton = {"unexpected shape for input 'k'": {**good, "k": np.array([[1, 2]], np.int64)}}
    return engine, guard, triton


ENTRY_POINTS = ["in-process"] + [f"{p}-{m}" for p, m in PROTOCOLS_AND_MODELS]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_bad_requests_get_one_reason_at_every_entry_point(served, rng, entry):
    """The engine's request rules (request.h) answer in one wording wherever a request
    enters: in-process, the C++ backend (ranker) and the Python steps (ensemble), over gRPC
    and HTTP; the guard's over both, Triton's own over gRPC; the next good request is served."""
    import re

    server, ranker, world = served
    client = client_for(server, "grpc", "ranker")
    user, items = random_request(world, rng, 20)
    good = client.request_tensors(user, items, 5)
    engine, guard, triton = bad_requests(good, rng)
    if entry == "in-process":
        send = _in_process(ranker)
    else:
        protocol, model = entry.split("-")
        def send(tensors):
            return _raw_infer(server, tensors, model, protocol)
        engine = {**engine, **guard, **(triton if protocol == "grpc" else {})}
    for message, tensors in engine.items():
        reason = send(tensors)
        assert re.search(message, reason), (entry, message, reason)
        if entry == "in-process":  # the same reader answers the good request as rank()
            ids, scores = ranker.rank_request(good)
        else:
            ids, scores = client_for(server, protocol, model).rank(user, items, 5)  # served on
        want_ids, want_scores = ranker.rank(user, items, 5)
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_allclose(scores, want_scores, rtol=1e-6)
    with pytest.raises(ValueError, match="unknown input column\\(s\\): colour \\(the model reads: "):
        client.rank({**user, "colour": "red"}, items, 5)  # caught before sending
    with pytest.raises(RankError, match="no candidates to rank|k must be between"):
        client.rank(user, np.array([], np.int64), 1)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_the_baseline_answers_as_the_merlin_path(served, dlrm, rng, protocol):
    """The `baseline` model (the Merlin path inside Triton, for benchmarks) reads requests
    with the engine's reader too: the Merlin path's answer, and the engine's words for a bad k."""
    server, _, world = served
    merlin = dlrm[1]
    client = client_for(server, protocol, "baseline")
    import pandas as pd

    user, _ = random_request(world, rng, 30)
    # known users and items with every column: NVTabular's Categorify fails on a column null
    # in every row (a user without an age band) and on a null list (an unknown item's tags)
    complete = pd.read_parquet(world / "logs" / "users.parquet").dropna().user_id
    user["user_id"] = int(rng.choice(complete.to_numpy()))
    known = pd.read_parquet(world / "logs" / "items.parquet").dropna().item_id
    items = rng.choice(known.to_numpy(), 30)
    ids, scores = client.rank(user, items, 5)
    want_ids, want_scores = merlin.rank(user, items, 5)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-5)
    with pytest.raises(RankError, match="k must be between 1 and the number of candidates"):
        client.rank(user, items, 31)


def _in_process(ranker):
    def send(tensors):
        with pytest.raises(ValueError) as error:
            ranker.rank_request(tensors, max_candidates=5_000)
        return str(error.value)
    return send


@pytest.mark.parametrize("model", ["ensemble", "ranker"])
def test_non_finite_values_and_unknown_ids_are_ranked_as_in_process(served, rng, model):
    """The documented result is the in-process Ranker's, exactly: NaN is a null price
    (filled as the Workflow fills it); +-inf goes through the Workflow's log and normalise
    as in NVTabular and may give a NaN score, which ranks after every number; an unknown
    user or item id takes the unseen / null ids."""
    server, ranker, world = served
    user, candidates = random_request(world, rng, 40)
    user["user_id"] = 10**9
    if not isinstance(candidates, dict):
        candidates = {"item_id": candidates}
    candidates["item_id"][:3] = [10**9, -7, 0]
    price = rng.uniform(0, 100, 40)
    price[:4] = [np.nan, np.inf, -np.inf, np.nan]
    candidates["price"] = price
    with client_for(server, "http", model) as client:
        ids, scores = client.rank(user, candidates, 40)
    expected_ids, expected_scores = ranker.rank(user, candidates, 40)
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_allclose(scores, expected_scores, rtol=0, atol=1e-6)  # NaN == NaN
    nan = int(np.isnan(scores).sum())
    assert np.all(np.isnan(scores[len(scores) - nan:]))  # last


def test_a_batch_over_the_limit_and_a_malformed_body_are_refused(served, rng):
    import json
    import urllib.error
    import urllib.request

    server, ranker, world = served
    client = client_for(server, "grpc", "ranker")
    user, items = random_request(world, rng, 5)
    good = client.request_tensors(user, items, 2)
    over = {n: np.repeat(t, 17, axis=0) for n, t in good.items()}  # max_batch_size is 16
    assert ("input 'k': shape [17,1] declares more than the model's limit of 16 elements"
            in _raw_infer(server, over, "ranker"))  # the guard's words (k is [batch, 1])
    request = urllib.request.Request(f"http://{server.http_url}/v2/models/ensemble/infer",
                                     data=b'{"inputs": [ {"name": "k", ', method="POST")
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=30)
    assert error.value.code == 400  # the guard's (Triton 2.51 itself answers 500)
    assert "error" in json.loads(error.value.read())  # with its reason
    ids, _ = client.rank(user, items, 2)  # and the server serves on
    np.testing.assert_array_equal(ids, ranker.rank(user, items, 2)[0])


def test_the_ranker_reports_its_timings_to_triton(served, rng):
    """The C++ backend's per-request statistics: what bench_serving's breakdown reads."""
    import json
    import urllib.request

    server, ranker, world = served
    with client_for(server, "http", "ranker") as client:
        for _ in range(3):
            client.rank(*random_request(world, rng, 30), 3)
    with urllib.request.urlopen(f"http://{server.http_url}/v2/models/ranker/stats") as answer:
        stats = json.loads(answer.read())["model_stats"][0]
    assert stats["inference_count"] >= 3 and stats["execution_count"] >= 1
    infer = stats["inference_stats"]
    assert infer["success"]["count"] >= 3
    for step in ("compute_input", "compute_infer", "compute_output"):
        assert int(infer[step]["ns"]) > 0, step


@pytest.mark.parametrize("model", ["ensemble", "ranker"])
def test_a_request_for_one_output_gets_that_one(served, rng, model):
    import tritonclient.grpc as grpc

    server, ranker, world = served
    user, items = random_request(world, rng, 25)
    tensors = client_for(server, "grpc", model).request_tensors(user, items, 4)
    answer = grpc.InferenceServerClient(server.grpc_url).infer(
        model, wire.infer_inputs(grpc, tensors), outputs=[grpc.InferRequestedOutput(wire.ITEM_IDS)])
    assert [o.name for o in answer.get_response().outputs] == [wire.ITEM_IDS]
    np.testing.assert_array_equal(answer.as_numpy(wire.ITEM_IDS)[0], ranker.rank(user, items, 4)[0])


def test_a_client_without_a_server_is_not_ready_and_says_why():
    from shoprank.serving.server import free_port

    client = RankClient(f"127.0.0.1:{free_port()}", "http", retry_for_s=1)
    assert not client.ready()
    with pytest.raises(RankError, match=r"cannot read model 'ensemble'.*no server answered "
                                        r"after \d+ tries"):
        client.rank({"user_id": 1}, [1, 2], 1)
    with pytest.raises(ValueError, match="protocol"):
        RankClient(protocol="udp")


def test_a_request_the_server_dropped_twice_is_not_sent_again():
    """The retry rule on the failures tritonclient raises (their messages as a kill -9 of
    tritonserver in the middle of a request gave them): a request the server went away from
    twice while answering it may be what stops it, so it is given up rather than sent into
    every restart; one that finds no server, or the guard's 503, is tried on."""
    from tritonclient.utils import InferenceServerException

    from shoprank.serving.server import free_port

    def sending(*outcomes):
        outcomes = iter(outcomes)

        def send():
            outcome = next(outcomes)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        return send

    lost = InferenceServerException("Socket closed", status="StatusCode.UNAVAILABLE")
    refused = InferenceServerException(
        "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: Failed to "
        "connect to remote host: connect: Connection refused (111)", status="StatusCode.UNAVAILABLE")
    restarting = InferenceServerException("Triton is not answering (restarting?)", status="503")
    guard_lost = [InferenceServerException("the connection closed while Triton answered it",
                                           status=status)
                  for status in ("503", "StatusCode.UNAVAILABLE")]  # the guard's words
    client = RankClient(f"127.0.0.1:{free_port()}", "grpc", retry_for_s=10)
    with pytest.raises(RankError, match="went away 2 times while answering this request .Socket"):
        client._retrying(sending(lost, refused, refused, lost, "answer"))
    for lost_there in guard_lost:
        with pytest.raises(RankError, match="went away 2 times"):
            client._retrying(sending(lost_there, restarting, lost_there, "answer"))
    with pytest.raises(RankError, match="went away 2 times"):
        client._retrying(sending(ConnectionResetError("reset by peer"), BrokenPipeError(), "x"))
    assert client._retrying(sending(refused, lost, refused, restarting, "answer")) == "answer"
    assert client._retrying(sending(restarting, restarting, restarting, "answer")) == "answer"


def test_a_server_that_cannot_start_says_why_and_leaves_nothing(served, tmp_path):
    import socket

    from shoprank.serving.server import ServerError, TritonServer, free_port

    with pytest.raises(FileNotFoundError, match="not a model repository"):
        TritonServer(tmp_path)
    with socket.socket() as taken:  # a port in use: said before anything starts
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for guard, ports in ((False, dict(http_port=port, grpc_port=free_port())),
                             (True, dict(http_port=port, grpc_port=free_port())),
                             (True, dict(http_port=free_port(), grpc_port=port))):
            what = "HTTP" if ports["http_port"] == port else "gRPC"
            server = TritonServer(served[0].repo, metrics_port=free_port(), guard=guard,
                                  **ports)
            with pytest.raises(ServerError, match=f"the {what} port 127.0.0.1:{port} is in use"):
                server.start()
            assert server.process is None and server._workspace is None
    broken = tmp_path / "broken"  # a model Triton cannot read: it exits, and says why
    (broken / "ranker").mkdir(parents=True)
    (broken / "ranker" / "config.pbtxt").write_text("this is not a model config")
    server = TritonServer(broken, http_port=free_port(), grpc_port=free_port(),
                          metrics_port=free_port())
    with server, pytest.raises(ServerError, match="exited .* before it was ready"):
        server.wait_ready(timeout_s=60)
    assert server.process is None and server.guard is None


def test_serve_command_answers_then_stops_on_sigterm(served, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from shoprank.cli.main import main
    from shoprank.serving.server import free_port

    repo = served[0].repo
    http, grpc, metrics = free_port(), free_port(), free_port()
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "shoprank.cli.main", "serve", "--repo", str(repo),
             "--http-port", str(http), "--grpc-port", str(grpc), "--metrics-port", str(metrics)],
            stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while "shoprank serve: ready" not in log.read_text():  # HTTP's guard up too
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        code = main(["query", "--url", f"127.0.0.1:{http}", "--protocol", "http", "--model",
                     "ranker", "--user", '{"user_id": 3, "device": "app", "context_category": '
                     '"c001", "timestamp": "2024-03-01T10:00", "position": 0}',
                     "--items", "1,2,3,4,5", "--k", "2"])
        assert code == 0
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = log.read_text()
    assert "shoprank serve: ready" in text and "SIGTERM: stopping" in text
    assert "stopped (tritonserver exit code 0)" in text


def test_a_server_whose_owner_dies_stops_too(served, tmp_path):
    import subprocess
    import sys
    import time

    repo = served[0].repo
    owner = ("import os\n"
             "from shoprank.serving.server import TritonServer, free_port\n"
             f"s = TritonServer({str(repo)!r}, http_port=free_port(), grpc_port=free_port(), "
             "metrics_port=free_port())\n"
             "s.start(); s.wait_ready(); print(s.process.pid, flush=True)\n"
             "os._exit(0)\n")  # dies without stopping it
    out = subprocess.run([sys.executable, "-c", owner], capture_output=True, text=True,
                         timeout=180, check=True)
    pid = int(out.stdout.split()[-1])
    deadline = time.monotonic() + 60
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _alive(pid), "tritonserver outlived its owner"


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper has stopped)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status
