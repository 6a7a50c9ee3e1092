"""Users' own logs of another shape than the generator's (tests/user_logs.py: ids,
categorical attributes, a genre list, no numeric column, no side tables, tied timestamps):
every combination of list feature / none x continuous feature / none x DLRM / DCN-v2 x
fused / per-feature tables trains, exports, and the native engine equals the Merlin path
(NVTabular + TensorFlow): scores within 1e-5, and rank() returns the candidates' item ids,
for logs without tables and for tables the ETL derived from the joined logs."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

pytest.importorskip("merlin.models")

SCORE_ATOL = 1e-5


def latest_rows(raw_dir, inputs, rows=300) -> dict:
    frame = pd.read_parquet(raw_dir / "ratings").tail(rows)
    return {c: frame[c].tolist() if frame[c].dtype == object else frame[c].to_numpy()
            for c in inputs if c in frame}


def catalogue(raw_dir) -> pd.DataFrame:
    """Every item once, in an order unlike its ids (so row numbers and ids differ)."""
    frame = pd.read_parquet(raw_dir / "ratings").drop_duplicates("item_id")
    return frame.sample(frac=1.0, random_state=3).reset_index(drop=True)


# (lists, continuous, architecture, tables): not all 16 shapes (5 of CI's minutes) but every
# pair of two factors' values at least once (a pairwise covering set), and the shapes where
# issue 24's defects lay (a list and no continuous feature on DLRM, either kind of table)
COMBINATIONS = [(True, False, "dlrm", "fused"), (True, False, "dlrm", "per-feature"),
                (True, True, "dcn", "per-feature"), (False, True, "dlrm", "per-feature"),
                (False, False, "dcn", "fused"), (True, True, "dlrm", "fused"),
                (True, False, "dcn", "per-feature")]


@pytest.mark.slow
@pytest.mark.parametrize("lists,continuous,architecture,tables", COMBINATIONS,
                         ids=[f"{'list' if lst else 'nolist'}-{'cont' if c else 'nocont'}-{a}-{t}"
                              for lst, c, a, t in COMBINATIONS])
def test_every_shape_trains_exports_and_matches_the_python_path(user_logs_model, lists, continuous,
                                                               architecture, tables):
    import shoprank
    from shoprank.models.merlin_ranker import MerlinRanker

    model, artifacts, raw_dir = user_logs_model(architecture, tables, lists=lists,
                                        continuous=continuous)
    ranker, reference = shoprank.Ranker.load(artifacts), MerlinRanker(model)
    features = {"gender", "age", "occupation", "user_id", "item_id"}
    features |= {"genres"} if lists else set()
    features |= {"year"} if continuous else set()
    assert set(ranker.feature_names) == features
    rows = latest_rows(raw_dir, ranker.inputs)
    np.testing.assert_allclose(ranker.score(rows), reference.score(rows), rtol=0,
                               atol=SCORE_ATOL)

    items = catalogue(raw_dir)
    user = {c: rows[c][0] for c in ("user_id", "gender", "age", "occupation")}
    candidates = {c: items[c].tolist() if items[c].dtype == object else items[c].to_numpy()
                  for c in ranker.inputs if c in items and c not in user}
    ids, scores = ranker.rank(user, candidates, k=10)
    want_ids, want_scores = reference.rank(user, candidates, k=10)
    assert ranker.item_key == "item_id"
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(scores, want_scores, rtol=0, atol=SCORE_ATOL)
    rows, _ = ranker.rank_rows({**{c: [v] for c, v in user.items()}, **candidates}, k=10)
    np.testing.assert_array_equal(ids, items["item_id"].to_numpy()[rows])  # ids, not rows


@pytest.mark.parametrize("architecture", ["dlrm", "dcn"])
def test_derived_tables_let_a_request_name_user_and_items_by_id(user_logs_model, architecture):
    import shoprank
    from shoprank.models.merlin_ranker import MerlinRanker

    model, artifacts, raw_dir = user_logs_model(architecture, "fused", derived=True, continuous=True)
    ranker, reference = shoprank.Ranker.load(artifacts), MerlinRanker(model)
    assert ranker.tables == {"gender": "users", "age": "users", "occupation": "users",
                             "genres": "items", "year": "items"}
    items = catalogue(raw_dir)
    user_id = int(items["user_id"].iloc[0])
    ids, scores = ranker.rank({"user_id": user_id}, items["item_id"].to_numpy(), k=10)
    # the same as giving every column (the latest values of the logs are the tables' rows)
    latest = pd.read_parquet(raw_dir / "ratings").sort_values("timestamp", kind="stable")
    user = latest[latest["user_id"] == user_id].iloc[-1]
    item_rows = latest.drop_duplicates("item_id", keep="last").set_index("item_id").loc[
        items["item_id"]]
    given = {"user_id": user_id, "gender": user["gender"], "age": user["age"],
             "occupation": user["occupation"]}
    want_ids, want_scores = reference.rank(given, {
        "item_id": items["item_id"].to_numpy(), "genres": item_rows["genres"].map(list).tolist(),
        "year": item_rows["year"].to_numpy()}, k=10)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(scores, want_scores, rtol=0, atol=SCORE_ATOL)
