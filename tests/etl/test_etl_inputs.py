"""The ETL keeps what serving needs about its inputs (etl/inputs.py): inputs.json (the
config, the raw columns' types, the tables) and every table serving looks up under tables/,
for logs with side tables, without any, and with tables derived from the logs."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests import user_logs
from tests.etl.logs_factory import CONFIG, write_logs

pytest.importorskip("nvtabular")
from shoprank.etl import load_config, run_etl  # noqa: E402
from shoprank.etl.config import read_back  # noqa: E402

QUIET = dict(progress=False, say=lambda *_: None)


def inputs(out) -> dict:
    return json.loads((out / "inputs.json").read_text())


def test_side_tables_are_snapshotted_with_the_columns_the_etl_read(tmp_path):
    config_path = write_logs(tmp_path / "logs")
    run_etl(config_path, tmp_path / "out", **QUIET)
    saved = inputs(tmp_path / "out")
    assert (saved["format"], saved["version"]) == ("shoprank-etl-inputs", 1)
    assert saved["config"] == CONFIG and saved["root"] == str((tmp_path / "logs").resolve())
    assert saved["tables"] == {
        "users": {"path": "tables/users.parquet", "key": "user_id", "derived": False, "rows": 60},
        "items": {"path": "tables/items.parquet", "key": "item_id", "derived": False, "rows": 45}}
    for name, columns in (("users", ["user_id", "age_band"]),
                          ("items", ["item_id", "category", "price", "tags"])):
        snapshot = pd.read_parquet(tmp_path / "out" / "tables" / f"{name}.parquet")
        original = pd.read_parquet(tmp_path / "logs" / f"{name}.parquet", columns=columns)
        pd.testing.assert_frame_equal(snapshot, original)
    columns = saved["columns"]
    assert columns["tags"] == {"type": "string_list", "table": "items", "dtype": "object"}
    assert columns["price"] == {"type": "float64", "table": "items", "dtype": "float32"}
    assert columns["timestamp"] == {"type": "timestamp_ms", "table": None,
                                    "dtype": "datetime64[ns]"}
    assert columns["position"] == {"type": "int64", "table": None, "dtype": "int32"}
    # the config comes back from the output alone, its side tables the snapshots
    back, given = read_back(tmp_path / "out"), load_config(config_path)
    assert {n: (t.path, t.key) for n, t in back.side_tables.items()} == {
        n: (tmp_path / "out" / "tables" / f"{n}.parquet", t.key)
        for n, t in given.side_tables.items()}
    assert back.feature_columns() == given.feature_columns() and back.labels == given.labels


def test_logs_without_tables_keep_no_tables(tmp_path):
    run_etl(user_logs.write(tmp_path / "logs", user_logs.config()), tmp_path / "out", **QUIET)
    saved = inputs(tmp_path / "out")
    assert saved["tables"] == {} and not (tmp_path / "out" / "tables").exists()
    assert {name: c["table"] for name, c in saved["columns"].items()} == dict.fromkeys(
        ["timestamp", "user_id", "item_id", "gender", "age", "occupation", "genres", "liked"])
    assert read_back(tmp_path / "out").side_tables == {}


def test_derived_tables_are_listed_beside_their_columns(tmp_path):
    config = user_logs.config(derived=True, continuous=True)
    run_etl(user_logs.write(tmp_path / "logs", config), tmp_path / "out", **QUIET)
    saved = inputs(tmp_path / "out")
    assert saved["tables"] == {
        "users": {"path": "tables/users.parquet", "key": "user_id", "derived": True,
                  "rows": user_logs.USERS},
        "items": {"path": "tables/items.parquet", "key": "item_id", "derived": True,
                  "rows": user_logs.ITEMS}}
    tables = {name: c["table"] for name, c in saved["columns"].items() if c["table"]}
    assert tables == {"gender": "users", "age": "users", "occupation": "users",
                      "genres": "items", "year": "items"}
    assert saved["columns"]["user_id"]["table"] is None  # a key stays the logs' column
