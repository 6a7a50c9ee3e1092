"""The deployment against hostile requests (loopback, free ports, a fixed seed):

* the shape lie that aborted Triton 2.51 over HTTP ([1, 2^40] declared, 50 values sent)
  gets 400 from the guard and the next valid request is answered;
* a seeded stream of malformed requests over HTTP and gRPC against `ensemble`, `ranker`,
  `recommend` and `events` (shape and datatype lies, truncated and random bodies,
  binary-size lies, shapes whose byte size wraps 64 bits, oversized strings, bad __lengths
  and __null_rows, extreme k, unknown and repeated inputs): every one answered with a
  client error, the server up, its memory bounded, and a valid request afterwards gets the
  same ids and scores as before;
* kill -9 of tritonserver under 4 clients and an events sender: the supervisor has it ready
  again on the same ports, the clients' retries see every request answered, and every
  event the server acknowledged is in the event log.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from shoprank.client import RankClient
from shoprank.serving import wire
from tests.serving.running import running_server

pytest.importorskip("merlin.models")
pytest.importorskip("pytriton")

SEED = 20261203
MODELS = ("ensemble", "ranker", "recommend")  # answers compared before and after
FUZZED = MODELS + ("events",)
FUZZ_HTTP, FUZZ_GRPC = 1_000, 250   # per model
LIST_INPUT = {"ensemble": "item_id", "ranker": "item_id", "recommend": "exclude",
              "events": "item_id"}
RSS_GROWTH_LIMIT = 150 << 20


@pytest.fixture(scope="module")
def served(dlrm, recommend_artifacts, tmp_path_factory):
    ranker, _, world = dlrm
    root = tmp_path_factory.mktemp("hostile")
    with running_server(recommend_artifacts, root / "repo", max_candidates=2_000,
                        events=root / "events") as server:
        server.events = root / "events"
        yield server, ranker
    assert server.process is None and server.guard is None


def valid_request(rng, n=300):
    user = {"user_id": 7, "device": "app", "context_category": "c003", "position": 0,
            "timestamp": np.datetime64("2024-03-20T10:00", "ms")}
    return user, rng.integers(0, 200, n)


def request_tensors(server, model, rng, protocol="http") -> dict:
    """A valid request's tensors for the model (a ranking or a recommendation request)."""
    url = server.http_url if protocol == "http" else server.grpc_url
    user, items = valid_request(rng, int(rng.integers(5, 50)))  # k = 5 fits
    with RankClient(url, protocol, model) as client:
        if model == "recommend":
            return client.recommend_tensors(user, 5, exclude=items.tolist(), candidates=60,
                                            relevance_weight=0.7, caps={"category": 2})
        if model == "events":  # the user's impressions of the items, in time order
            stamps = user["timestamp"] + np.arange(len(items)).astype("timedelta64[ms]")
            return client.events_tensors({"timestamp": stamps, "user_id": [7] * len(items),
                                          "item_id": items.tolist(), "device": ["app"] * len(items),
                                          "click": (items % 2).tolist()})
        return client.request_tensors(user, items, 5)


def answer(client, model, user, items):
    """The model's answer to a valid request (recommend: items are the exclusions)."""
    if model == "recommend":
        return client.recommend(user, 20, exclude=items.tolist(), relevance_weight=0.8)
    return client.rank(user, items, 20)


def post(server, model, body: bytes, headers=None, url=None) -> tuple[int, bytes]:
    """(status, response body) from the server's HTTP port (or url)."""
    request = urllib.request.Request(f"http://{url or server.http_url}/v2/models/{model}/infer",
                                     data=body, method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wrapped_shape(array) -> list[int]:
    """A [1, n] array's shape, lying: n + 2^64 / itemsize elements, whose byte size wraps
    64 bits to the n * itemsize bytes the array carries."""
    return [1, array.shape[1] + 2**64 // array.itemsize]


def json_inputs(server, model, rng, tensors=None) -> list[dict]:
    """A valid request's inputs (or the tensors') as Triton's JSON (what a hand-written
    client sends)."""
    tensors = request_tensors(server, model, rng) if tensors is None else tensors
    return [{"name": name, "shape": list(array.shape), "datatype": wire.datatype(array),
             "data": [v.decode("utf-8", "replace") if isinstance(v, bytes) else v
                      for v in array.reshape(-1).tolist()]}
            for name, array in tensors.items()]


def test_a_json_request_is_answered_as_the_same_binary_one(served, rng):
    """The guard re-writes a JSON-only request as it read it (what it checked is what
    Triton reads): the answer is the binary request's."""
    import tritonclient.http as http

    server, _ = served
    client = http.InferenceServerClient(server.http_url)
    for model in MODELS:
        tensors = request_tensors(server, model, rng)
        status, body = post(server, model, json.dumps(
            {"inputs": json_inputs(server, model, rng, tensors)}).encode())
        assert status == 200, body
        answer = {o["name"]: o["data"] for o in json.loads(body)["outputs"]}
        binary = client.infer(model, wire.infer_inputs(http, tensors))
        assert answer[wire.ITEM_IDS] == binary.as_numpy(wire.ITEM_IDS).reshape(-1).tolist()
        np.testing.assert_allclose(answer[wire.SCORES],
                                   binary.as_numpy(wire.SCORES).reshape(-1), rtol=1e-6)


def test_the_shape_lie_gets_400_and_the_next_request_is_answered(served, rng):
    server, ranker = served
    for model in MODELS:
        inputs = json_inputs(server, model, rng)
        for entry in inputs:
            if entry["name"] == LIST_INPUT[model]:
                entry["shape"], entry["data"] = [1, 1099511627776], list(range(50))
        status, body = post(server, model, json.dumps({"inputs": inputs}).encode())
        assert status == 400 and LIST_INPUT[model].encode() in body
        with RankClient(server.http_url, "http", model) as client:
            user, items = valid_request(rng)
            ids, _ = answer(client, model, user, items)
            assert len(ids) == 20
    assert server.process.poll() is None


def test_a_grpc_shape_whose_byte_size_wraps_is_refused_before_any_model(served, rng):
    """[1, 2^61 + n] INT64 values carrying 8n bytes pass Triton 2.51's own size check (the
    byte count wraps) and killed the Python stub they reached (the ensemble's transform:
    the watchdog reloaded it, the ensemble was gone meanwhile): the guard refuses
    them, for every model, the steps a client can call directly included."""
    import tritonclient.grpc as grpc
    from tritonclient.utils import InferenceServerException

    server, _ = served
    reloads = list(server.reloads)
    client = grpc.InferenceServerClient(server.grpc_url)
    for model in FUZZED + ("transform",):
        tensors = request_tensors(server, "ensemble" if model == "transform" else model, rng,
                                  "grpc")
        listed = LIST_INPUT.get(model, "item_id")
        inputs = wire.infer_inputs(grpc, tensors)
        for tensor in inputs:
            if tensor.name() == listed:
                tensor.set_shape(wrapped_shape(tensors[listed]))
        with pytest.raises(InferenceServerException,
                           match=f"input '{listed}': shape .* declares more than") as refused:
            client.infer(model, inputs)
        assert refused.value.status() == "StatusCode.INVALID_ARGUMENT"
        if model == "ranker":  # behind the guard, the C++ backend refuses it too
            n = tensors[listed].shape[1]
            with pytest.raises(InferenceServerException,
                               match=f"{listed}: {8 * n} bytes for {n + 2**61} values") as refused:
                grpc.InferenceServerClient(server.triton_grpc_url).infer(model, inputs)
            assert refused.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert server.reloads == reloads and server.process.poll() is None
    assert all(client.is_model_ready(model) for model in FUZZED + ("transform",))


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (its key, its length, its bytes)."""
    def varint(value):
        out = b""
        while value >= 0x80:
            out, value = out + bytes([value & 0x7F | 0x80]), value >> 7
        return out + bytes([value])
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def test_the_grpc_guard_reads_protobuf_as_triton_does(served, rng):
    """The message as protobuf reads it: a shape given in two pieces is one shape, the last
    model name counts, negative sizes are negative; compressed messages are refused."""
    import grpc
    from tritonclient.grpc import service_pb2
    from tritonclient.utils import serialize_byte_tensor

    server, _ = served
    tensors = request_tensors(server, "ranker", rng, "grpc")
    lying = "item_id"

    def request(model="ranker", shape_pieces=None) -> bytes:
        """ModelInferRequest's bytes: the tensors as raw contents, `lying` last (its
        InferInputTensor written in pieces, each with a part of its shape)."""
        message = service_pb2.ModelInferRequest(model_name=model)
        for name, array in tensors.items():
            if name != lying:
                message.inputs.add(name=name, datatype=wire.datatype(array), shape=array.shape)
                message.raw_input_contents.append(
                    serialize_byte_tensor(array).item() if array.dtype == object
                    else array.tobytes())
        pieces = shape_pieces or [list(tensors[lying].shape)]
        tensor = b"".join(service_pb2.ModelInferRequest.InferInputTensor(
            name=lying, datatype="INT64", shape=piece).SerializeToString() for piece in pieces)
        return (message.SerializeToString() + _field(5, tensor)
                + _field(7, tensors[lying].tobytes()))

    infer = grpc.insecure_channel(server.grpc_url).unary_unary(
        "/inference.GRPCInferenceService/ModelInfer")
    n = tensors[lying].shape[1]
    assert infer(request(), timeout=30)  # answered: the hand-written message is valid
    refusals = {
        "input 'item_id': shape .* declares more than": request(shape_pieces=[[1], [n + 2**61]]),
        "input 'item_id': shape must be a list of 2 sizes": request(shape_pieces=[[1], [n], [1]]),
        r"input 'item_id': shape sizes must be integers >= 0, got \[1,-5\]":
            request(shape_pieces=[[1, -5]]),
        "unknown model 'nope'": request() + _field(1, b"nope"),
    }
    for message, body in refusals.items():
        with pytest.raises(grpc.RpcError) as refused:
            infer(body, timeout=30)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert re.search(message, refused.value.details()), refused.value.details()
    with pytest.raises(grpc.RpcError, match="compressed gRPC messages are not accepted"):
        infer(request(), timeout=30, compression=grpc.Compression.Gzip)
    assert server.process.poll() is None


def test_a_body_over_the_cap_is_refused_over_both_protocols(served, rng, tmp_path):
    """A guard of its own (a 4 kB cap) in front of the served Triton."""
    import tritonclient.grpc as grpc
    from tritonclient.utils import InferenceServerException

    from shoprank.serving.guard import Guard
    from shoprank.serving.server import free_port

    server, _ = served
    guard = Guard(tmp_path, host="127.0.0.1", http_port=free_port(), grpc_port=free_port(),
                  triton_url=server.admin_url, triton_grpc_url=server.triton_grpc_url,
                  max_body_bytes=4096).start()
    http_url, grpc_url = f"127.0.0.1:{guard.http_port}", f"127.0.0.1:{guard.grpc_port}"
    try:
        user, items = valid_request(rng, 1000)  # 16 kB of item ids and positions
        with RankClient(server.grpc_url, "grpc", "ranker") as client:
            big = client.request_tensors(user, items, 5)
        body = json.dumps({"inputs": json_inputs(server, "ranker", rng, big)}).encode()
        status, answer = post(server, "ranker", body, url=http_url)
        assert status == 413 and b"over 4096 bytes" in answer
        with pytest.raises(InferenceServerException, match="over 4096 bytes") as refused:
            grpc.InferenceServerClient(grpc_url).infer("ranker", wire.infer_inputs(grpc, big))
        assert refused.value.status() == "StatusCode.RESOURCE_EXHAUSTED"
        for url, protocol in ((http_url, "http"), (grpc_url, "grpc")):  # the rest passes
            with RankClient(url, protocol, "ranker") as client:
                assert len(client.rank(user, items[:20], 5)[0]) == 5
    finally:
        guard.stop()


def test_grpc_streams_are_refused_and_other_calls_pass(served, rng):
    import contextlib
    import queue

    import tritonclient.grpc as grpc
    from tritonclient.utils import InferenceServerException

    server, _ = served
    client = grpc.InferenceServerClient(server.grpc_url)
    errors = queue.Queue()
    inputs = wire.infer_inputs(grpc, request_tensors(server, "ranker", rng, "grpc"))
    client.start_stream(callback=lambda result, error: errors.put(error))
    try:  # (the guard may answer as the stream opens: the request then finds it closed)
        with contextlib.suppress(InferenceServerException):
            client.async_stream_infer("ranker", inputs)
        error = errors.get(timeout=30)
    finally:
        client.stop_stream()
    assert error.status() == "StatusCode.UNIMPLEMENTED" and "use ModelInfer" in error.message()
    assert client.is_server_ready() and client.get_model_metadata("ranker").name == "ranker"


def http_mutations(inputs: list[dict], chance: random.Random) -> tuple[bytes, dict]:
    """One malformed HTTP request built from valid inputs."""
    inputs = json.loads(json.dumps(inputs))
    target = chance.choice(inputs)
    kind = chance.randrange(13)
    headers = {}
    if kind == 0:    # shape lie: more, fewer, huge, negative, fractional, wrong rank
        target["shape"] = chance.choice([[1, 10**12], [10**9, 3], [1, len(target["data"]) + 1],
                                         [1, max(len(target["data"]) - 1, 0)], [-1, 5],
                                         [1.5, 2], [len(target["data"])], [1, 1, 1, 1, 1, 1],
                                         "big", [2**53, 2**53]])
    elif kind == 1:  # datatype lie
        target["datatype"] = chance.choice(["FP32", "INT128", "BYTES", "INT64", "BOOL", "", 7])
    elif kind == 2:  # an unknown, empty or repeated input
        inputs.append(chance.choice([{**target, "name": "nope"}, {**target, "name": ""},
                                     dict(target)]))
    elif kind == 3:  # oversized or wrongly typed elements
        target["data"] = [chance.choice(["x" * chance.choice([10_000, 70_000]), None, {}, 1e308,
                                         True, "2"]) for _ in target["data"]]
    elif kind == 4:  # __lengths that lie: negative, too long, not summing up
        for entry in inputs:
            if entry["name"].endswith(wire.LENGTHS):
                entry["data"] = [chance.choice([-5, 10**9, 3, 0]) for _ in entry["data"]]
    elif kind == 5:  # extreme k
        for entry in inputs:
            if entry["name"] == wire.K:
                entry["data"] = [chance.choice([0, -1, 2**62, 10**6])]
                entry["shape"] = chance.choice([[1, 1], [1, 2], [2, 1]])
                entry["data"] *= entry["shape"][0] * entry["shape"][1]
    elif kind == 6:  # no inputs, or something else than a list of inputs
        return json.dumps(chance.choice([{}, {"inputs": []}, {"inputs": "x"}, [],
                                         {"inputs": [None, 3]}])).encode(), headers
    elif kind == 7:  # deeply nested data (written as text: Python's json recurses)
        depth = chance.choice([3, 5_000])
        target["data"] = "NESTED"
        nested = "[" * depth + json.dumps(inputs[inputs.index(target)]["shape"]) + "]" * depth
        return json.dumps({"inputs": inputs}).replace('"NESTED"', nested).encode(), headers
    elif kind == 8:  # random bytes
        return bytes(chance.getrandbits(8) for _ in range(chance.randrange(1, 400))), headers
    elif kind == 9:  # binary data that lies about its size
        body = json.dumps({"inputs": [{**target, "data": None,
                                       "parameters": {"binary_data_size": chance.choice(
                                           [8, 10**12, -3, 4])}}]}).encode()
        headers["Inference-Header-Content-Length"] = str(chance.choice(
            [len(body), len(body) + 100, -1, "x"]))
        return body + bytes(chance.randrange(0, 16)), headers
    elif kind == 10:  # missing data
        del target["data"]
    elif kind == 12:  # null rows that lie: past the column, negative, of an unknown column
        rows = [chance.choice([-1, 0, 10**9, 2**62]) for _ in range(chance.randrange(1, 4))]
        column = chance.choice([target["name"], "nope"])
        inputs.append({"name": column + wire.NULL_ROWS, "datatype": "INT64",
                       "shape": [1, len(rows)], "data": rows})
    body = json.dumps({"inputs": inputs}).encode()
    if kind == 11:   # truncated JSON
        body = body[:chance.randrange(1, len(body))]
    return body, headers


def grpc_mutation(server, model, rng, chance: random.Random):
    """One malformed gRPC request; returns the error's status (or "OK")."""
    import tritonclient.grpc as grpc
    from tritonclient.utils import InferenceServerException

    tensors = request_tensors(server, model, rng, "grpc")
    listed = LIST_INPUT[model]
    kind = chance.randrange(6)
    wrapped = chance.choice(sorted(n for n, a in tensors.items() if a.dtype != object))
    inputs = []
    for name, array in tensors.items():
        if kind == 0 and name.endswith(wire.LENGTHS):
            array = np.full_like(array, chance.choice([-3, 10**9, 7]))
            if chance.random() < 0.5:  # and null rows past the column
                extra = np.array([[chance.choice([-1, 10**9])]], np.int64)
                null_rows = grpc.InferInput(listed + wire.NULL_ROWS, [1, 1], "INT64")
                null_rows.set_data_from_numpy(extra)
                inputs.append(null_rows)
        if kind == 1 and name == wire.K:
            array = np.array([[chance.choice([0, -1, 2**62])]], np.int64)
        if kind == 2 and array.dtype == object:
            array = np.array([["y" * 70_000] * array.shape[1]], dtype=object)
        tensor = grpc.InferInput(name, list(array.shape), wire.datatype(array))
        tensor.set_data_from_numpy(array)
        if kind == 3 and name == listed:
            tensor.set_shape([1, 10**12])  # the shape lie
        if kind == 4 and name == listed:
            tensor = grpc.InferInput(name, list(array.shape), "FP32")
            tensor.set_data_from_numpy(array.astype(np.float32))
        if kind == 5 and name == wrapped:
            tensor.set_shape(wrapped_shape(array))
        inputs.append(tensor)
    client = grpc.InferenceServerClient(server.grpc_url)
    try:
        client.infer(model, inputs)
        return "OK"
    except InferenceServerException as error:
        return error.status()
    finally:
        client.close()


def server_rss(server) -> int:
    """Resident bytes of tritonserver and its stubs."""
    pids = [server.process.pid] + [int(p.name) for p in Path("/proc").glob("[0-9]*")
                                   if _parent(p) == server.process.pid]
    total = 0
    for pid in pids:
        try:
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def _parent(proc) -> int:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


@pytest.mark.slow
def test_a_stream_of_malformed_requests_is_answered_and_changes_nothing(served, rng):
    server, _ = served
    chance = random.Random(SEED)
    print(f"fuzz seed {SEED}")
    user, items = valid_request(np.random.default_rng(SEED))
    before = {m: answer(RankClient(server.grpc_url, "grpc", m), m, user, items) for m in MODELS}
    rss_before = server_rss(server)
    statuses, examples = {}, {}
    start = time.monotonic()
    for model in FUZZED:
        inputs = json_inputs(server, model, rng)
        for _ in range(FUZZ_HTTP):
            request = http_mutations(inputs, chance)
            status, body = post(server, model, *request)
            statuses.setdefault(("http", model, status), 0)
            statuses[("http", model, status)] += 1
            examples.setdefault(status, (request[0][:300], body[:300]))
        for _ in range(FUZZ_GRPC):
            status = grpc_mutation(server, model, rng, chance)
            statuses.setdefault(("grpc", model, status), 0)
            statuses[("grpc", model, status)] += 1
    print(f"{sum(statuses.values())} requests in {time.monotonic() - start:.1f} s:", statuses)
    assert server.process.poll() is None, "tritonserver died"
    growth = server_rss(server) - rss_before
    assert growth < RSS_GROWTH_LIMIT, f"the server grew by {growth >> 20} MiB"
    client_errors = {200, 400, 413, "OK", "StatusCode.INVALID_ARGUMENT"}
    others = {key: n for key, n in statuses.items() if key[2] not in client_errors}
    assert others == {}, [examples.get(key[2]) for key in others]
    for model in MODELS:
        ids, scores = answer(RankClient(server.grpc_url, "grpc", model), model, user, items)
        np.testing.assert_array_equal(ids, before[model][0])
        np.testing.assert_array_equal(scores, before[model][1])


@pytest.mark.slow
def test_kill_9_under_load_is_recovered_without_a_failed_request(served, rng):
    from shoprank.serving.server import supervise

    server, ranker = served
    said = []
    supervisor = threading.Thread(target=supervise, args=(server, said.append), daemon=True)
    supervisor.start()
    stop, answered, failed = threading.Event(), [0], []
    user, items = valid_request(rng)
    expected = ranker.rank(user, items, 10)[0]

    def load(protocol, model):
        url = server.grpc_url if protocol == "grpc" else server.http_url
        with RankClient(url, protocol, model, retry_for_s=30) as client:
            while not stop.is_set():
                try:
                    ids, _ = client.rank(user, items, 10)
                    assert np.array_equal(ids, expected)
                    answered[0] += 1
                except Exception as error:  # noqa: BLE001 - counted and shown
                    failed.append(repr(error))

    acknowledged = []  # session ids of the events the server said it wrote

    def send_events():
        with RankClient(server.grpc_url, "grpc", retry_for_s=30) as client:
            while not stop.is_set():
                first = len(acknowledged) * 5
                stamps = np.datetime64("2024-03-20T10:00", "ms") + np.arange(first, first + 5)
                try:
                    client.log_events({"timestamp": stamps, "user_id": [7] * 5,
                                       "item_id": [3] * 5, "click": [0] * 5,
                                       "session_id": list(range(first, first + 5))})
                    acknowledged.extend(range(first, first + 5))
                except Exception as error:  # noqa: BLE001 - counted and shown
                    failed.append(repr(error))

    clients = [threading.Thread(target=load, args=pm) for pm in
               [("grpc", "ranker"), ("http", "ranker"), ("grpc", "ensemble"),
                ("http", "ensemble")]] + [threading.Thread(target=send_events)]
    for thread in clients:
        thread.start()
    time.sleep(2)
    before, killed = answered[0], time.monotonic()
    os.kill(server.process.pid, signal.SIGKILL)
    while not (said and said[-1].startswith("shoprank serve: ready again")):
        assert time.monotonic() - killed < 60, said
        time.sleep(0.05)
    ready_after = time.monotonic() - killed
    time.sleep(2)
    stop.set()
    for thread in clients:
        thread.join(timeout=60)
    print(f"kill -9: ready again after {ready_after:.1f} s; {answered[0]} requests answered "
          f"({before} before the kill), {len(failed)} failed; supervisor: {said}")
    assert failed == []
    assert answered[0] > before
    assert "killed by SIGKILL" in said[0]
    from shoprank.events import EventLog

    logged = set(EventLog(server.events).read().session_id)
    print(f"events: {len(acknowledged)} acknowledged, {len(logged)} logged")
    assert acknowledged and set(acknowledged) <= logged  # a resent batch may be there twice
    assert ready_after < 30  # the 10 s target is measured in benchmarks/README.md
    lost, away = guard_answers_when_triton_dies(server, rng)
    assert lost == ["the connection closed while Triton answered it"] * 2
    assert away == ["Triton is not answering (restarting?)"] * 2
    while len([s for s in said if s.startswith("shoprank serve: ready again")]) < 2:
        assert time.monotonic() - killed < 120, said
        time.sleep(0.05)


def guard_answers_when_triton_dies(server, rng) -> tuple[list, list]:
    """The guard's answers (HTTP, gRPC) to requests Triton had when it was killed, then to
    requests sent once it was gone (Triton is stopped first, so that they wait in it)."""
    import tritonclient.grpc as grpc
    from tritonclient.utils import InferenceServerException

    body = json.dumps({"inputs": json_inputs(server, "ranker", rng)}).encode()
    inputs = wire.infer_inputs(grpc, request_tensors(server, "ranker", rng, "grpc"))

    def both() -> tuple[list, list]:
        answers = [None, None]

        def http():
            status, text = post(server, "ranker", body)
            answers[0] = json.loads(text)["error"] if status == 503 else status

        def grpc_call():
            try:
                grpc.InferenceServerClient(server.grpc_url).infer("ranker", inputs)
            except InferenceServerException as error:
                answers[1] = (error.message() if error.status() == "StatusCode.UNAVAILABLE"
                              else error.status())
        threads = [threading.Thread(target=http), threading.Thread(target=grpc_call)]
        for thread in threads:
            thread.start()
        return threads, answers

    pid = server.process.pid
    os.kill(pid, signal.SIGSTOP)
    threads, lost = both()
    time.sleep(1)  # both in Triton's sockets
    os.kill(pid, signal.SIGKILL)
    for thread in threads:
        thread.join(timeout=30)
    threads, away = both()  # long before the supervisor has it up again
    for thread in threads:
        thread.join(timeout=30)
    return lost, away


def test_model_control_is_for_the_owner_only(served):
    import tritonclient.grpc as grpc
    import tritonclient.http as http
    from tritonclient.utils import InferenceServerException

    server, _ = served
    status, body = post(server, "ranker", b"{}")  # the guard's path works: the next does not
    assert status == 400
    request = urllib.request.Request(
        f"http://{server.http_url}/v2/repository/models/ranker/unload", data=b"{}",
        method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    client = grpc.InferenceServerClient(server.grpc_url)
    with pytest.raises(InferenceServerException, match="(?i)restricted|denied|header"):
        client.get_model_repository_index()
    assert client.get_model_repository_index(headers=server.admin_grpc_headers)
    assert http.InferenceServerClient(server.admin_url).get_model_repository_index()
    assert server.process.poll() is None
