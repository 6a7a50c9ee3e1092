"""Bad input to shoprank etl: each a clear error that names what was wrong, and no output
left behind."""

from __future__ import annotations

import json

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
