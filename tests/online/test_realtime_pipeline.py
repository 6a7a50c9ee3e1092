"""Real-time features through the whole pipeline (generate --realtime -> etl -> train ->
export -> engine): replaying the logs through a served ranker's state gives the features
the ETL computed for training, exactly; served events change the next request's features
and scores; a model without them says so."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("merlin.models")


def _raw_log(world):
    raw = pd.read_parquet(world / "logs" / "impressions").drop(columns=["_p_click"])
    return raw.sort_values("timestamp", kind="stable").reset_index(drop=True)


def _etl_split(world, split):
    files = sorted((world / "features" / split).glob("*.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def test_replaying_the_logs_gives_the_etls_features(realtime_world):
    """Every logged impression, in time order, is ranked (its features filled in from the
    state as of its time) and then observed; the test window's features equal the ETL's."""
    import shoprank
    from tests.online.replay import replayed_features

    ranker = shoprank.Ranker.load(realtime_world / "artifacts")
    raw = _raw_log(realtime_world)
    etl = _etl_split(realtime_world, "test")
    test_start = len(raw) - len(etl)  # the test split: the latest rows, in log order
    features = replayed_features(ranker, raw, test_start)
    assert ranker.online_stats()["events"] == len(raw)
    for name in ("recent_clicks", "recent_user_impressions", "recent_user_clicks",
                 "recent_item_impressions", "recent_item_clicks", "recent_clicks_same_category",
                 "item_id", "position"):
        want = etl[name]
        if name == "recent_clicks":
            rows = [list(ids[offsets[i]:offsets[i + 1]])
                    for (ids, offsets), skip in features[name]
                    for i in range(skip, len(offsets) - 1)]
            assert rows == [list(v) for v in want], name
        else:
            got = np.concatenate([value[skip:] for value, skip in features[name]])
            np.testing.assert_allclose(got, want.to_numpy(), rtol=0, atol=1e-6, err_msg=name)


def test_events_change_the_next_request(realtime_world):
    import shoprank

    ranker = shoprank.Ranker.load(realtime_world / "artifacts")
    now = np.datetime64("2024-03-05T12:00:00", "ms")
    candidates = {"item_id": np.arange(20), "position": np.zeros(20, np.int64)}
    request = {"user_id": 7, "timestamp": now, "device": "app", "context_category": "c001"}
    rows = {**{k: [v] * 20 for k, v in request.items()}, **candidates}
    before = ranker.score(rows)
    clicked = [3, 4, 3]
    assert ranker.observe({"user_id": [7, 7, 7], "item_id": clicked, "click": [1, 1, 1],
                           "timestamp": [now - np.timedelta64(m, "m") for m in (30, 20, 10)]}) == 3
    filled = ranker.realtime_columns({"user_id": [7], "item_id": [3, 5], "timestamp": [now]})
    assert filled["recent_clicks"] == [["3", "4", "3"]]
    items = pd.read_parquet(realtime_world / "logs" / "items.parquet").set_index("item_id")
    same = [sum(items.category[c] == items.category[i] for c in (3, 4, 3)) for i in (3, 5)]
    assert filled["recent_clicks_same_category"].tolist() == same
    assert filled["recent_user_clicks"].tolist() == [3]
    assert filled["recent_item_clicks"].tolist() == [2, 0]
    after = ranker.score(rows)
    assert not np.allclose(before, after)
    # a request from before those events does not see them
    earlier = {**rows, "timestamp": [now - np.timedelta64(1, "h")] * 20}
    fresh = shoprank.Ranker.load(realtime_world / "artifacts")
    np.testing.assert_array_equal(ranker.score(earlier), fresh.score(earlier))


def test_no_candidates_is_an_error_not_a_crash(realtime_world):
    """A request of one user row and no candidates: the real-time columns (user's, items',
    click matches) have no rows, and ranking says why (it once read past the empty items)."""
    import shoprank

    ranker = shoprank.Ranker.load(realtime_world / "artifacts")
    user = {"user_id": 7, "timestamp": np.datetime64("2024-03-05T12:00", "ms"),
            "device": "app", "context_category": "c001"}
    ranker.observe({"user_id": [7], "item_id": [3], "click": [1],
                    "timestamp": [user["timestamp"] - np.timedelta64(5, "m")]})
    for k in (1, 3):
        with pytest.raises(ValueError, match="no candidates to rank"):
            ranker.rank(user, {"item_id": [], "position": []}, k)
    filled = ranker.realtime_columns({"user_id": [7], "item_id": [], "timestamp": [user["timestamp"]]})
    assert len(filled["recent_item_clicks"]) == 0 and len(filled["recent_clicks_same_category"]) == 0


def test_a_model_without_realtime_features_says_so(dlrm):
    ranker = dlrm[0]
    assert ranker.realtime is None
    with pytest.raises(ValueError, match="no real-time features"):
        ranker.observe({"user_id": [1], "item_id": [2], "timestamp": [0], "click": [1]})


def test_events_missing_a_column_are_refused(realtime_world):
    import shoprank

    ranker = shoprank.Ranker.load(realtime_world / "artifacts")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['click'\]"):
        ranker.observe({"user_id": [1], "item_id": [2], "timestamp": [0]})
    assert ranker.online_stats()["events"] == 0
