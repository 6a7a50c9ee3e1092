"""A model of a user's own ratings log (tests/user_logs.py) served by Triton: for logs
without side tables (every column travels with the request), for tables the ETL derived
(a request names the user and the items by id) and for text item ids, both models over
both protocols return the candidates' item ids and the in-process Ranker's scores (and
`recommend` the in-process Recommender's, for text ids)."""

from __future__ import annotations

import numpy as np
import pytest

from shoprank.client import RankClient
from tests.serving.running import running_server

pytest.importorskip("merlin.models")
pytest.importorskip("pytriton")


@pytest.fixture(scope="module", params=["no tables", "derived tables", "text ids"])
def served(request, user_logs_model, text_ids_world, tmp_path_factory):
    import shoprank
    derived = request.param != "no tables"
    if request.param == "text ids":
        artifacts, raw = text_ids_world[0] / "artifacts", text_ids_world[0] / "raw"
    else:
        _, artifacts, raw = user_logs_model("dlrm", "fused", lists=True, continuous=False,
                                            derived=derived)
    repo = tmp_path_factory.mktemp("serving-user-logs") / "repo"
    recommender = (shoprank.Recommender.load(artifacts) if request.param == "text ids"
                   else None)  # its artifacts have MF retrieval too
    with running_server(artifacts, repo, max_candidates=1_000) as server:
        yield server, shoprank.Ranker.load(artifacts), raw, derived, recommender


def request_for(raw, derived, rng):
    import pandas as pd

    frame = pd.read_parquet(raw / "ratings")
    items = frame.drop_duplicates("item_id").sample(40, random_state=int(rng.integers(1000)))
    row = frame.iloc[int(rng.integers(len(frame)))]
    if derived:
        return {"user_id": int(row["user_id"])}, items["item_id"].to_numpy()
    user = {c: row[c] for c in ("gender", "age", "occupation")}
    user["user_id"] = int(row["user_id"])
    return user, {"item_id": items["item_id"].to_numpy(),
                  "genres": items["genres"].map(list).tolist()}


@pytest.mark.parametrize("protocol", ["grpc", "http"])
@pytest.mark.parametrize("model", ["ensemble", "ranker"])
def test_triton_returns_item_ids_as_the_in_process_ranker(served, rng, protocol, model):
    server, ranker, raw, derived, recommender = served
    url = server.grpc_url if protocol == "grpc" else server.http_url
    with RankClient(url, protocol, model) as client:
        for _ in range(3):
            user, candidates = request_for(raw, derived, rng)
            ids, scores = client.rank(user, candidates, 10)
            want_ids, want_scores = ranker.rank(user, candidates, 10)
            np.testing.assert_array_equal(ids, want_ids)
            np.testing.assert_allclose(scores, want_scores, rtol=0, atol=1e-6)
            given = candidates if derived else candidates["item_id"]
            assert set(ids) <= set(given.tolist())
        # a null column travels as its null rows (NAME__null_rows): the answer in process
        user, candidates = request_for(raw, derived, rng)
        user = {"user_id": None} if derived else {**user, "age": None}
        ids, scores = client.rank(user, candidates, 10)
        want_ids, want_scores = ranker.rank(user, candidates, 10)
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_allclose(scores, want_scores, rtol=0, atol=1e-6)
        if recommender is not None:
            for user in (request_for(raw, derived, rng)[0], {"user_id": None}):  # a new user
                np.testing.assert_array_equal(client.recommend(user, 5)[0],
                                              recommender.recommend(user, 5)[0])
