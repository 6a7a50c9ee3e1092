"""The `recommend` ensemble (retrieve -> score_candidates -> rerank, each in the C++
backend) on the real Triton server of tests/serving/conftest.py: over gRPC and HTTP it
answers as the in-process Recommender on fresh random requests (ids equal, scores within
1e-6: the same engine code on the same float32 values), with every knob; each bad input
gets a defined answer or an error naming it, and the next request is served."""

from __future__ import annotations

import json

import numpy as np
import pytest

import shoprank
from shoprank.client import RankClient, RankError

pytest.importorskip("merlin.models")
pytest.importorskip("pytriton")

PROTOCOLS = ("grpc", "http")


@pytest.fixture(scope="module")
def recommender(recommend_artifacts):
    return shoprank.Recommender.load(recommend_artifacts)


def client_for(server, protocol):
    return RankClient(server.grpc_url if protocol == "grpc" else server.http_url, protocol)


def random_user(rng, known: bool = True) -> dict:
    return {"user_id": int(rng.integers(0, 300)) if known else 10**9 + int(rng.integers(0, 9)),
            "device": str(rng.choice(["app", "web", "tv"])),
            "context_category": f"c{rng.integers(0, 12):03d}", "position": int(rng.integers(0, 3)),
            "timestamp": np.datetime64("2024-03-01T00:00", "ms")
            + np.timedelta64(int(rng.integers(0, 10**9)), "ms")}


def assert_same(got, want):
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], rtol=0, atol=1e-6)
    assert got[0].dtype == np.int64 and got[1].dtype == np.float32


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_recommend_answers_as_the_in_process_chain(served, recommender, rng, protocol):
    server = served[0]
    items = recommender.items
    with client_for(server, protocol) as client:
        assert client.ready()
        for trial in range(12):
            user = random_user(rng, known=trial % 4 != 3)  # a new user now and then
            options = {"exclude": rng.integers(0, 400, int(rng.integers(0, 30))).tolist()}
            if trial % 2:
                options["candidates"] = int(rng.integers(1, items + 50))
            if trial % 3 == 1:
                options["relevance_weight"] = float(rng.choice([0.0, 0.3, 0.9]))
            if trial % 3 == 2:
                options["caps"] = {"category": int(rng.integers(1, 3)),
                                   "brand": int(rng.integers(1, 4))}
            k = int(rng.integers(1, 30))
            assert_same(client.recommend(user, k, **options),
                        recommender.recommend(user, k, **options))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_recommend_bad_input_gets_a_defined_answer_or_a_reason(served, recommender, rng,
                                                              protocol):
    server = served[0]
    user, items = random_user(rng), recommender.items
    with client_for(server, protocol) as client:
        # an empty exclude list is no exclusion; excluding everything answers nothing;
        # leaving three items answers those three
        assert_same(client.recommend(user, 10, exclude=[]), recommender.recommend(user, 10))
        everything = list(range(-10, 1_000))
        ids, scores = client.recommend(user, 10, exclude=everything)
        assert ids.shape == scores.shape == (0,) and ids.dtype == np.int64
        catalogue = recommender.recommend(user, items, candidates=items)[0]
        left = set(catalogue[:3].tolist())
        ids, _ = client.recommend(user, 5, exclude=[i for i in everything if i not in left])
        assert set(ids.tolist()) == left
        # a new user: retrieved by popularity, ranked for them (the same as in-process)
        new = random_user(rng, known=False)
        assert recommender.is_new_user(new)
        assert_same(client.recommend(new, 7), recommender.recommend(new, 7))
        for options, reason in [
                ({"k": 0}, f"k must be between 1 and the catalogue's {items} items, got 0"),
                ({"k": items + 1}, f"the catalogue's {items} items, got {items + 1}"),
                ({"k": 5, "candidates": 0}, "candidates must be >= 1, got 0"),
                ({"k": 5, "candidates": 6_000}, "6000 candidates in one request; this model "
                                                "takes at most 5000"),
                ({"k": 5, "exclude": list(range(6_000))}, "6000 excluded items in one request"),
                ({"k": 5, "relevance_weight": 1.5}, "relevance_weight must be in \\[0, 1\\]"),
                ({"k": 5, "caps": {"category": 0}}, "max_per_category must be >= 1, got 0")]:
            with pytest.raises(RankError, match=reason):
                client.recommend(user, **options)
        with pytest.raises(ValueError, match="caps: no labels for item column\\(s\\) \\['colour'\\]"):
            client.recommend(user, 5, caps={"colour": 1})  # caught before sending
        with pytest.raises(ValueError, match="request column\\(s\\) \\['category'\\]"):
            client.recommend({**user, "category": "cat1"}, 5)
        assert_same(client.recommend(user, 10), recommender.recommend(user, 10))  # served on


def test_recommend_request_tensors_read_in_process_as_served(served, recommender, rng):
    """The in-process twin of the ensemble (recommend_request: the engine's reader of the
    same tensors) answers as the ensemble does."""
    server = served[0]
    user = random_user(rng)
    with client_for(server, "grpc") as client:
        tensors = client.recommend_tensors(user, 8, exclude=[1, 2, 3], candidates=50,
                                           relevance_weight=0.5, caps={"brand": 1})
        assert_same(recommender.recommend_request(tensors),
                    client.recommend(user, 8, exclude=[1, 2, 3], candidates=50,
                                     relevance_weight=0.5, caps={"brand": 1}))


def test_the_command_line_asks_the_server_as_it_asks_the_engine(served, recommend_artifacts,
                                                                capsys):
    from tests.cli.test_cli_recommend import recommend

    server = served[0]
    _, local = recommend(capsys, "--artifacts", str(recommend_artifacts), "--k", "4")
    code, captured = recommend(capsys, "--url", server.grpc_url, "--k", "4")
    assert code == 0, captured.err
    assert json.loads(captured.out)["item_ids"] == json.loads(local.out)["item_ids"]
    assert "recommend at" in captured.err


def test_the_steps_asked_directly_keep_the_candidate_limit(served):
    """score_candidates and rerank read what retrieve gave, but a client can call them
    directly: the same --max-candidates bound (5,000 here)."""
    import tritonclient.grpc as grpc
    from tritonclient.utils import InferenceServerException

    from shoprank.serving import wire

    server = served[0]
    n = 6_000
    direct = {"rerank": {wire.CANDIDATE_ITEMS: np.zeros((1, n), np.int64),
                         wire.CANDIDATE_SCORES: np.zeros((1, n), np.float32),
                         wire.K: np.array([[5]], np.int64)},
              "score_candidates": {"item_id": np.zeros((1, n), np.int64),
                                   "user_id": np.array([[7]], np.int64)}}
    client = grpc.InferenceServerClient(server.grpc_url)
    for model, tensors in direct.items():
        with pytest.raises(InferenceServerException, match="6000 candidates in one request"):
            client.infer(model, wire.infer_inputs(grpc, tensors))
    client.close()
