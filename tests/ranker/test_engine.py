"""The native engine (shoprank.Ranker over `shoprank export` artifacts) against the Python
path, for a DLRM and a stacked DCN-v2 trained on fused tables:

* transform: equal to NVTabular's Workflow.transform (through MerlinRanker) on raw test
  rows with unseen categories, nulls and NaN prices mixed in: ids exactly, continuous values
  within rtol 1e-6 / atol 1e-6; and equal to the spec's NumPy reference on fresh random rows
  (unknown users and items, null lists, empty lists) where NVTabular itself raises;
* scores: within 1e-5 absolute of the TensorFlow model's predictions on the same rows, and
  of numpy_forward on the random rows; the same from 1 and 2 threads and from many Python
  threads sharing one Ranker;
* rank: the top k of score(), best first, ties to the lower row.
"""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("merlin.models")
from shoprank.export.artifacts import build_ranker  # noqa: E402
from shoprank.reference import transform as rt  # noqa: E402
from shoprank.reference.forward import numpy_forward  # noqa: E402

SCORE_ATOL = 1e-5
RTOL = ATOL = 1e-6
REQUEST = ["user_id", "item_id", "device", "context_category", "timestamp", "position"]


def request_rows(world, rng, n=600) -> dict:
    """Raw impressions of the last log file, with unseen and null categories and odd
    positions mixed in (values NVTabular's Workflow accepts)."""
    files = sorted((world / "logs" / "impressions").glob("*.parquet"))
    frame = pd.read_parquet(files[-1]).tail(n).reset_index(drop=True)
    frame["device"] = rng.choice(np.array(["mobile", "app", None, "tv"], dtype=object), n)
    context = frame["context_category"].to_numpy(dtype=object)
    context[rng.random(n) < 0.1] = "c999"
    frame["context_category"] = context
    frame["position"] = rng.integers(-2, 40, n)
    return {c: frame[c].tolist() if frame[c].dtype == object else frame[c].to_numpy()
            for c in REQUEST}


def assert_features_equal(names, native: dict, expected) -> None:
    for name in names:
        got = native[name]
        want = expected[name]
        if isinstance(got, tuple):
            ids, offsets = got
            assert len(offsets) == len(want) + 1, name
            for row, value in enumerate(want):
                np.testing.assert_array_equal(ids[offsets[row]:offsets[row + 1]],
                                              np.asarray(value, np.int64), err_msg=f"{name}[{row}]")
        elif got.dtype == np.int32:
            np.testing.assert_array_equal(got, np.asarray(want, np.int64), err_msg=name)
        else:
            assert got.dtype == np.float32
            np.testing.assert_allclose(got, np.asarray(want, np.float64), rtol=RTOL, atol=ATOL,
                                       err_msg=name)


def test_transform_and_scores_equal_the_python_path(exported, rng):
    ranker, reference, world = exported
    raw = request_rows(world, rng)
    workflow = reference.transform(raw)
    assert_features_equal(ranker.feature_names, ranker.transform(raw), workflow)
    scores = ranker.score(raw)
    assert scores.dtype == np.float32
    np.testing.assert_allclose(scores, reference.score(raw), rtol=0, atol=SCORE_ATOL)


def random_rows(rng, n=400) -> dict:
    """Fresh rows NVTabular cannot transform: unknown users and items (their table columns
    come back null, tags a null list), null ids and timestamps, NaN prices, given tags with
    null and unseen elements, timestamps on hour and day boundaries."""
    user = rng.integers(-5, 400, n).astype(object)
    user[rng.random(n) < 0.05] = None
    stamps = np.datetime64("2024-02-20T00:00:00", "ms") + rng.integers(-3, 3, n) * 3_600_000
    stamps = stamps.astype("datetime64[ms]")
    stamps[rng.random(n) < 0.05] = np.datetime64("NaT")
    return {"user_id": list(user), "item_id": rng.integers(-3, 260, n),
            "device": list(rng.choice(np.array(["mobile", None, "tv"], dtype=object), n)),
            "context_category": list(rng.choice(np.array(["c001", "c999", None], dtype=object), n)),
            "timestamp": stamps, "position": rng.integers(0, 12, n)}


def test_random_rows_equal_the_reference(exported, rng):
    ranker, _, world = exported
    spec, tensors = build_ranker(world / ranker.architecture)
    raw = random_rows(rng)
    joined = rt.lookup_side_tables(spec, tensors, raw)
    tags = joined["tags"]
    joined["tags"] = [t if rng.random() < 0.7 else ([None, "t000", "never"] if rng.random() < 0.5
                                                     else []) for t in tags]
    joined["price"] = np.where(rng.random(len(tags)) < 0.1, np.nan, joined["price"])
    expected = rt.reference_transform(spec, tensors, joined)
    given = {**raw, "tags": joined["tags"], "price": joined["price"]}
    native = ranker.transform(given)
    assert_features_equal(ranker.feature_names, native, expected)
    categorical = {f["name"]: expected[f["name"]] for f in spec["model"]["embeddings"]["features"]}
    continuous = {name: expected[name] for name in spec["model"]["continuous"]}
    want = numpy_forward(spec["model"], tensors, categorical, continuous)
    np.testing.assert_allclose(ranker.score(given), want, rtol=0, atol=SCORE_ATOL)


def test_threads_agree(exported, rng):
    ranker, _, world = exported
    raw = request_rows(world, rng, n=2000)
    one = ranker.score(raw, threads=1)
    np.testing.assert_array_equal(ranker.score(raw, threads=2), one)
    results = [None] * 8

    def work(i):
        results[i] = ranker.score(raw)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(len(results))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for got in results:
        np.testing.assert_array_equal(got, one)


def test_rank_is_the_top_of_score(exported, rng):
    ranker, reference, world = exported
    raw = request_rows(world, rng, n=1)
    user = {name: raw[name][0] for name in ("user_id", "device", "context_category", "timestamp")}
    items = rng.permutation(200)[:150]
    candidates = {"item_id": items, "position": np.zeros(len(items), np.int64)}
    ids, scores = ranker.rank(user, candidates, k=20)
    full = ranker.score({**{k: [v] * len(items) for k, v in user.items()}, **candidates})
    order = np.lexsort((np.arange(len(items)), -full))[:20]
    np.testing.assert_array_equal(ids, items[order])
    np.testing.assert_array_equal(scores, full[order])
    # item ids alone: the position column is then the same null for every candidate
    ids_only, _ = ranker.rank({**user, "position": 0}, items, k=5)
    assert len(ids_only) == 5 and set(ids_only) <= set(items)
    if user["device"] is not None and user["context_category"] is not None:
        ref_ids, ref_scores = reference.rank(user, candidates, k=20)
        np.testing.assert_allclose(np.sort(ref_scores), np.sort(scores), atol=SCORE_ATOL)


def test_features_computed_ahead_equal_computed_per_request(exported, rng):
    """Known ids alone gather the users' and items' features computed at load; the same rows
    with the tables' columns given, or with an unknown id among them, compute every feature
    per request: the same ids and values, exactly."""
    ranker, _, world = exported
    spec, tensors = build_ranker(world / ranker.architecture)
    raw = request_rows(world, rng)  # users and items of the logs: every id known
    gathered = ranker.transform(raw)
    computed = ranker.transform(rt.lookup_side_tables(spec, tensors, raw))
    with_unknown = ranker.transform({**raw, "item_id": np.append(raw["item_id"][:-1], -7),
                                     "user_id": np.append(raw["user_id"][:-1], -7)})
    for name in ranker.feature_names:
        if isinstance(gathered[name], tuple):
            for got in (computed[name], with_unknown[name]):
                ends = len(got[1]) - 1  # the unknown id's row is the last
                np.testing.assert_array_equal(got[1][:ends], gathered[name][1][:ends], name)
                np.testing.assert_array_equal(got[0][:got[1][ends - 1]],
                                              gathered[name][0][:got[1][ends - 1]], name)
        else:
            np.testing.assert_array_equal(computed[name], gathered[name], name)
            np.testing.assert_array_equal(with_unknown[name][:-1], gathered[name][:-1], name)


def test_per_value_features_equal_computed_per_request(exported, rng):
    """One user and many items: the crosses of a user's column with an item's (age band x
    category) are computed for every item once per value and then gathered, for values
    from the users table or given in the request, on first use and from the cache; equal,
    exactly, to the same rows with every column given (computed per row)."""
    ranker, _, world = exported
    spec, tensors = build_ranker(world / ranker.architecture)
    crosses = [f["name"] for f in spec["features"] if f["op"] == "cross_categorify"]
    assert crosses, "the default logs' features have crosses"
    raw = request_rows(world, rng, n=300)
    items = {name: raw[name] for name in ("item_id", "timestamp", "position")}
    users = np.unique(raw["user_id"])[:3]
    for user_id in [*users, users[0]]:  # the last one's values come from the cache
        for given in ({}, {"age_band": ["35-44"], "region": [None]}):
            request = {**items, "user_id": [user_id], "device": ["app"],
                       "context_category": ["c001"], **given}
            gathered = ranker.transform(request)
            rows = {**items, **{n: list(v) * 300 for n, v in request.items() if n not in items}}
            computed = ranker.transform(rt.lookup_side_tables(spec, tensors, rows))
            for name in ranker.feature_names:
                want, got = computed[name], gathered[name]
                if isinstance(want, tuple):
                    for w, g in zip(want, got):
                        np.testing.assert_array_equal(g, w, name)
                else:
                    np.testing.assert_array_equal(got, want, err_msg=f"{name} {given}")
