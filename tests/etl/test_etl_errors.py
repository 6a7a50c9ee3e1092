"""Bad input to shoprank etl: each a clear error that names what was wrong, and no output
left behind."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.etl.logs_factory import CONFIG, impressions, write_logs

pytest.importorskip("nvtabular")
from shoprank.etl import run_etl  # noqa: E402
from shoprank.etl.reading import LogsError  # noqa: E402


def fails(config_path, out, error, words):
    with pytest.raises(error, match=words):
        run_etl(config_path, out, progress=False, say=lambda *_: None)
    assert not out.exists()
    assert not list(out.parent.glob(f".{out.name}.tmp-*")), "a temporary folder was left behind"


def test_config_names_a_missing_column(tmp_path):
    config = dict(CONFIG, continuous=["price", "discount"])
    fails(write_logs(tmp_path / "logs", config=config), tmp_path / "out", LogsError,
          r"lacks: \['discount'\]. Columns that exist: impressions: \[.*'position'")


def test_text_in_a_numeric_column(tmp_path):
    frame = impressions(500, 0)
    frame["position"] = frame["position"].astype(str)
    frame.loc[7, "position"] = "top"
    fails(write_logs(tmp_path / "logs", frame=frame), tmp_path / "out", LogsError,
          r"column 'position' must hold numbers but holds text, e.g. \['top'\]")


def test_text_in_a_numeric_column_of_a_csv(tmp_path):
    frame = impressions(500, 0).drop(columns=["_p_click"])
    frame.loc[3, "click"] = "yes"
    (tmp_path / "logs").mkdir()
    frame.to_csv(tmp_path / "logs" / "clicks.csv", index=False)
    config = dict(CONFIG, format="csv", impressions="clicks.csv", side_tables={},
                  categorical=["user_id", "item_id", "device"], multi_valued=[], crosses=[],
                  continuous=["position"], passthrough=[], statistics={})
    (tmp_path / "logs" / "logs.json").write_text(json.dumps(config))
    fails(tmp_path / "logs" / "logs.json", tmp_path / "out", LogsError,
          r"column 'click' must hold numbers but holds text, e.g. \['yes'\]")


def test_unparseable_timestamp(tmp_path):
    frame = impressions(500, 0)
    frame["timestamp"] = frame["timestamp"].astype(str)
    frame.loc[11, "timestamp"] = "yesterday"
    fails(write_logs(tmp_path / "logs", frame=frame), tmp_path / "out", LogsError,
          r"column 'timestamp': cannot parse \['yesterday'\]")


def test_empty_input(tmp_path):
    fails(write_logs(tmp_path / "logs", frame=impressions(500, 0).iloc[:0]), tmp_path / "out",
          LogsError, "holds no rows")


def test_no_files_match(tmp_path):
    config = dict(CONFIG, impressions="nothing/*.parquet")
    fails(write_logs(tmp_path / "logs", config=config), tmp_path / "out", LogsError,
          "no input files match .*nothing")


def test_truncated_parquet_file_is_named(tmp_path):
    path = write_logs(tmp_path / "logs")
    victim = tmp_path / "logs" / "impressions" / "part-00001.parquet"
    victim.write_bytes(victim.read_bytes()[:-100])
    fails(path, tmp_path / "out", LogsError, "part-00001.parquet: unreadable Parquet file")


def test_duplicate_keys_in_a_side_table(tmp_path):
    path = write_logs(tmp_path / "logs")
    items = pd.read_parquet(tmp_path / "logs" / "items.parquet")
    pd.concat([items, items.iloc[[3]]]).to_parquet(tmp_path / "logs" / "items.parquet")
    fails(path, tmp_path / "out", LogsError, r"side table items .* 1 duplicate keys .*\[3\]")


@pytest.mark.parametrize("change,words", [
    ({"colour": 1}, r"unknown keys \['colour'\]"),
    ({"format": "xlsx"}, "format: expected one of"),
    ({"split": {"valid": 0.5, "test": 0.6}}, "split: valid and test"),
    ({"hashed": {"session_id": 0}}, "hashed: bucket counts must be >= 1"),
    ({"categorical": ["user_id", "click"]}, r"\['click'\] are labels"),
    ({"crosses": [["user_id"]]}, "at least two columns"),
])
def test_bad_config(tmp_path, change, words):
    fails(write_logs(tmp_path / "logs", config=dict(CONFIG, **change)), tmp_path / "out",
          ValueError, words)


def test_a_split_too_short_for_the_fractions(tmp_path):
    frame = impressions(500, 0)
    frame["timestamp"] = pd.Timestamp("2024-01-01")  # one instant: nothing after the cut
    fails(write_logs(tmp_path / "logs", frame=frame), tmp_path / "out", ValueError,
          "split is empty")


# Values no model can be made of, each named (found by trying users' odd logs): on logs
# already joined (tags and price in the impressions, no side tables).
JOINED = dict(CONFIG, side_tables={}, categorical=["user_id", "item_id", "device"], crosses=[])


def joined(rows: int, seed: int) -> pd.DataFrame:
    frame = impressions(rows, seed)
    return frame.assign(tags=[["a", "b"]] * rows, price=np.linspace(1, 9, rows))


@pytest.mark.parametrize("spoil,words", [
    (lambda f: f.assign(click=f["click"].astype(float).mask(f.index % 37 == 0)),
     r"label column 'click' is null in \d+ row\(s\) .*drop_null"),
    (lambda f: f.assign(timestamp=f["timestamp"].mask(f.index % 50 == 0)),
     r"timestamp column 'timestamp' is null in \d+ row\(s\)"),
    (lambda f: f.assign(price=np.where(f.index % 100 == 0, np.inf, 1.0)),
     r"column 'price' holds inf in \d+ row\(s\) .*not infinity"),
    (lambda f: f.assign(tags="a|b"), r"column 'tags' is multi_valued but holds text \('a\|b'\), "
                                     "not lists"),
])
def test_values_no_model_can_use(tmp_path, spoil, words):
    fails(write_logs(tmp_path / "logs", config=JOINED, frame=spoil(joined(500, 0))),
          tmp_path / "out", LogsError, words)


def test_a_null_label_dropped_by_the_filter_is_no_error(tmp_path):
    frame = joined(500, 0)
    frame["click"] = frame["click"].astype(float).mask(frame.index % 37 == 0)
    config = dict(JOINED, filters={"drop_null": ["click"]})
    summary = run_etl(write_logs(tmp_path / "logs", config=config, frame=frame),
                      tmp_path / "out", progress=False, say=lambda *_: None)
    assert summary["dropped"] == {"null click": 14}


def _csv_logs(folder, frames, **config):
    folder.mkdir()
    for i, frame in enumerate(frames):
        frame.to_csv(folder / f"clicks-{i}.csv", index=False)
    config = {**CONFIG, "format": "csv", "impressions": "clicks-*.csv", "side_tables": {},
              "categorical": ["user_id", "item_id", "device"], "multi_valued": [],
              "crosses": [], "continuous": ["position"], "passthrough": [], "statistics": {},
              **config}
    (folder / "logs.json").write_text(json.dumps(config))
    return folder / "logs.json"


def test_a_csv_side_table_key_of_another_type_and_a_file_short_of_a_column(tmp_path):
    frame = impressions(500, 0).drop(columns=["_p_click", "tags"], errors="ignore")
    config = _csv_logs(tmp_path / "logs", [frame], side_tables={"users": {
        "path": "users.parquet", "key": "user_id"}}, categorical=["user_id", "age"])
    pd.DataFrame({"user_id": range(60), "age": [1] * 60}).to_parquet(tmp_path / "logs" /
                                                                       "users.parquet")
    fails(config, tmp_path / "out", LogsError, r"side table users .* its key 'user_id' holds "
          r"numbers \(int64\), the logs' text \(object\) \(a CSV log's columns are read as text\)")
    fails(_csv_logs(tmp_path / "two", [frame, frame.drop(columns=["device"])]),
          tmp_path / "out", LogsError, r"clicks-1.csv has no column\(s\) \['device'\], which "
                                       r".*clicks-0.csv has")


def test_csv_files_of_their_own_column_order_and_integer_timestamps(tmp_path):
    """A CSV log in two files whose columns come in different orders, its timestamps epoch
    seconds (text in a CSV): the features of the same log in one file, its timestamps ISO
    text (the hour and weekday features, the split by time, alike)."""
    frame = impressions(600, 1).drop(columns=["_p_click", "tags"], errors="ignore")
    quiet = dict(progress=False, say=lambda *_: None)
    run_etl(_csv_logs(tmp_path / "one", [frame]), tmp_path / "out-one", **quiet)
    frame["timestamp"] = frame["timestamp"].astype("int64") // 10**9
    halves = [frame.iloc[:300], frame.iloc[300:][frame.columns[::-1]]]
    run_etl(_csv_logs(tmp_path / "two", halves), tmp_path / "out-two", **quiet)
    for split in ("train", "valid", "test"):
        def read(out):
            return pd.concat([pd.read_parquet(f) for f in sorted((out / split).glob("*.parquet"))],
                             ignore_index=True)
        pd.testing.assert_frame_equal(read(tmp_path / "out-two"), read(tmp_path / "out-one"))


def test_nullable_integer_ids_and_float_epoch_seconds(tmp_path):
    """pandas' nullable Int64 ids read as the same file without pandas' metadata would:
    with nulls float64, without them int64, every bit kept (2^53 + 1 is not 2^53); float
    epoch seconds are read to the microsecond."""
    from shoprank.etl.reading import read_logs
    from shoprank.etl.config import load_config

    frame = joined(500, 2)
    frame["user_id"] = frame["user_id"].astype("Int64").mask(frame.index % 20 == 0)
    frame["session_id"] = (frame["session_id"] + 2**53).astype("Int64")
    stamps = frame["timestamp"]
    frame["timestamp"] = stamps.astype("int64") / 1e9 + 0.25
    config = load_config(write_logs(tmp_path / "logs", config=JOINED, frame=frame))
    read = read_logs(config, sorted((tmp_path / "logs" / "impressions").glob("*.parquet")))[0]
    read = read.compute()
    assert read["user_id"].dtype == np.float64 and read["user_id"].isna().sum() == 25
    assert read["session_id"].dtype == np.int64
    assert (read["session_id"].to_numpy() == frame["session_id"].to_numpy(np.int64)).all()
    want = (stamps + pd.Timedelta(milliseconds=250)).to_numpy()
    assert (read["timestamp"].to_numpy() == want).all()
    summary = run_etl(tmp_path / "logs" / "logs.json", tmp_path / "out", progress=False,
                      say=lambda *_: None)
    assert sum(s["rows_out"] for s in summary["splits"].values()) == 500
