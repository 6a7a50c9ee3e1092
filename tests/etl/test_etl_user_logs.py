"""The ETL on logs as users bring them (tests/user_logs.py): already-joined logs whose
user and item columns become derived tables, and logs already split into files."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from shoprank.etl.config import from_dict
from tests import user_logs

pytest.importorskip("nvtabular")
from shoprank.etl import run_etl  # noqa: E402
from shoprank.etl.reading import LogsError  # noqa: E402

QUIET = dict(progress=False, say=lambda *_: None)


def test_derived_tables_hold_each_keys_latest_non_null_values(tmp_path):
    frame = user_logs.ratings(rows=600)
    # user 5 moves from job1 to job2 (two rows in the same minute: the later row wins),
    # then a row without an occupation: the latest known value stays
    minute = frame["timestamp"].iloc[300]
    extra = frame.iloc[[0, 0, 0]].copy()
    extra["user_id"] = 5
    extra["timestamp"] = [minute, minute, minute + 60]
    extra["occupation"] = ["job1", "job2", None]
    frame = pd.concat([frame[frame["user_id"] != 5], extra], ignore_index=True)
    frame = frame.sort_values("timestamp", kind="stable").reset_index(drop=True)
    config = user_logs.config(derived=True)
    summary = run_etl(user_logs.write(tmp_path / "logs", config, frame=frame),
                      tmp_path / "out", **QUIET)
    users = pd.read_parquet(tmp_path / "out" / "tables" / "users.parquet")
    assert list(users.columns) == ["user_id", "gender", "age", "occupation"]
    assert users["user_id"].is_unique and len(users) == frame["user_id"].nunique()
    assert users.set_index("user_id").loc[5, "occupation"] == "job2"
    items = pd.read_parquet(tmp_path / "out" / "tables" / "items.parquet")
    assert items["genres"].map(list).tolist() == [
        list(frame[frame["item_id"] == i]["genres"].iloc[-1]) for i in items["item_id"]]
    assert summary["derived_tables"] == {"users": len(users), "items": len(items)}


def test_split_files_are_kept_as_given(tmp_path):
    frame = user_logs.ratings(rows=900)
    # a split's files need not follow each other in time: taken as the user gives them
    parts = {"train": frame.iloc[300:], "test": frame.iloc[:300]}
    for name, part in parts.items():
        user_logs.write(tmp_path / name, frame=part, files=1)
    config = dict(user_logs.BASE_CONFIG, impressions={
        "train": "train/ratings/*.parquet", "test": "test/ratings/*.parquet"})
    config.pop("split")
    (tmp_path / "logs.json").write_text(json.dumps(config))
    summary = run_etl(tmp_path / "logs.json", tmp_path / "out", **QUIET)
    assert {n: s["rows_out"] for n, s in summary["splits"].items()} == {"train": 600,
                                                                      "test": 300}
    first = pd.Timestamp(int(frame["timestamp"].iloc[0]), unit="s")
    assert summary["splits"]["test"]["window"][0] == str(first)
    assert not (tmp_path / "out" / "valid").exists()


@pytest.mark.parametrize("change,words", [
    ({"impressions": {"train": "a/*"}}, "the splits must be train and test"),
    ({"impressions": {"train": "a/*", "test": "b/*", "holdout": "c/*"}},
     "the splits must be train and test"),
    ({"impressions": {"train": "a/*", "test": 3}}, "a file pattern per split"),
    ({"impressions": {"train": "a/*", "test": "b/*"}},
     "give either split fractions or a file pattern per split"),
    ({"user_columns": ["gender"], "user_id": None}, "must name user_id"),
    ({"item_columns": ["item_id"]}, "is the table's key"),
    ({"user_columns": ["genres"], "item_columns": ["genres"]}, "both the user and the item"),
    ({"item_columns": ["liked"]}, "are labels or the timestamp"),
    ({"timestamp_unit": "hours"}, "timestamp_unit: one of s, ms, us, ns"),
    ({"categorical": ["user_id", "device type"]}, "column 'device type': the names of "
                                                    "features and labels may hold only"),
    ({"label": "liked?"}, r"column 'liked\?': the names"),
    ({"item_columns": ["genres"], "side_tables": {"items": {"path": "i.parquet",
                                                             "key": "item_id"}}},
     "already has a side table 'items'"),
])
def test_config_mistakes_name_the_key(tmp_path, change, words):
    with pytest.raises(ValueError, match=words):
        from_dict(dict(user_logs.BASE_CONFIG, **change), tmp_path)


def test_a_split_without_files_is_named(tmp_path):
    user_logs.write(tmp_path, files=1)
    config = dict(user_logs.BASE_CONFIG, impressions={"train": "ratings/*.parquet",
                                                     "test": "later/*.parquet"})
    config.pop("split")
    (tmp_path / "logs.json").write_text(json.dumps(config))
    with pytest.raises(LogsError, match=r"no input files match .*later/\*.parquet \(the test "
                                        r"split\)"):
        run_etl(tmp_path / "logs.json", tmp_path / "out", **QUIET)
    assert not (tmp_path / "out").exists()


def test_integer_timestamps_in_milliseconds(tmp_path):
    """A log counting milliseconds (as many shops' do) is refused with the unit to set while
    the config says seconds, nothing written; with "timestamp_unit": "ms" it gives the
    features of the same log in seconds (splits and hour / weekday features included)."""
    config = dict(user_logs.config(lists=False), time_features=["timestamp"])
    seconds = user_logs.ratings(1500)
    millis = seconds.assign(timestamp=seconds["timestamp"] * 1000 + 7)  # not whole seconds
    user_logs.write(tmp_path / "s", config, frame=seconds)
    user_logs.write(tmp_path / "ms", config, frame=millis)
    with pytest.raises(LogsError, match=r"column 'timestamp': \d+ s since the epoch is past the "
                                        r'year 2262; if the log counts ms, set "timestamp_unit": '
                                        r'"ms"'):
        run_etl(tmp_path / "ms" / "logs.json", tmp_path / "out-ms", **QUIET)
    assert not (tmp_path / "out-ms").exists()
    (tmp_path / "ms" / "logs.json").write_text(json.dumps(dict(config, timestamp_unit="ms")))
    run_etl(tmp_path / "s" / "logs.json", tmp_path / "out-s", **QUIET)
    run_etl(tmp_path / "ms" / "logs.json", tmp_path / "out-ms", **QUIET)
    for split in ("train", "valid", "test"):
        def read(out):
            return pd.concat([pd.read_parquet(f) for f in sorted((out / split).glob("*.parquet"))],
                             ignore_index=True)
        pd.testing.assert_frame_equal(read(tmp_path / "out-ms"), read(tmp_path / "out-s"),
                                      obj=split)
