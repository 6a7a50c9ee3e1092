"""shoprank etl end to end on small hand-made logs: row accounting, the time split, the
saved Workflow, no leakage from valid/test into the statistics, determinism."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.etl.logs_factory import CONFIG, impressions, write_logs

pytest.importorskip("nvtabular")
from shoprank.etl import run_etl  # noqa: E402
from shoprank.etl.summary import read_column  # noqa: E402
from shoprank.etl.workflow import UNSEEN_ID  # noqa: E402

SPLITS = ("train", "valid", "test")


def run(config_path, out, **kwargs):
    return run_etl(config_path, out, progress=False, say=lambda *_: None, **kwargs)


def read_split(out, name) -> pd.DataFrame:
    return pd.read_parquet(sorted((out / name).glob("*.parquet")))


@pytest.fixture(scope="module")
def etl(tmp_path_factory):
    root = tmp_path_factory.mktemp("etl")
    config = write_logs(root / "logs")
    summary = run(config, root / "out")
    return root, summary


def test_rows_in_equal_rows_out_per_split(etl):
    root, summary = etl
    assert summary["rows_read"] == 3000 and summary["dropped"] == {}
    total = 0
    for name in SPLITS:
        split = summary["splits"][name]
        assert split["rows_in"] == split["rows_out"] == len(read_split(root / "out", name)) > 0
        total += split["rows_out"]
    assert total == 3000
    assert json.loads((root / "out" / "summary.json").read_text())["splits"].keys() == set(SPLITS)


def test_splits_follow_time(etl):
    root, _ = etl
    raw = impressions(3000, 0)
    # the passthrough probability identifies rows: map each split back to its timestamps
    stamps = {name: raw.set_index("_p_click").loc[read_split(root / "out", name)["_p_click"],
                                                   "timestamp"] for name in SPLITS}
    assert stamps["train"].max() < stamps["valid"].min()
    assert stamps["valid"].max() < stamps["test"].min()
    assert abs(len(stamps["test"]) / 3000 - 0.2) < 0.02


def test_output_columns_schema_and_saved_workflow(etl):
    import nvtabular as nvt

    root, summary = etl
    columns = set(summary["output_columns"])
    assert {"user_id", "item_id", "device", "tags", "session_id", "user_id_category",
            "timestamp_hour", "timestamp_weekday", "price", "position", "item_id_count",
            "TE_item_id_click", "click", "purchase", "_p_click"} <= columns
    for name in SPLITS:
        assert (root / "out" / name / "schema.pbtxt").is_file()
    workflow = nvt.Workflow.load(str(root / "out" / "workflow"))
    assert set(workflow.output_schema.column_names) == columns
    train = read_split(root / "out", "train")
    for column in summary["cardinalities"]:  # ids everywhere, raw values nowhere
        ids = np.concatenate(train[column].to_numpy()) if column == "tags" else train[column]
        assert np.issubdtype(np.asarray(ids).dtype, np.integer), column
        assert np.asarray(ids).max() < summary["cardinalities"][column], column
    assert train["tags"].map(len).max() >= 1  # a list feature
    assert train["session_id"].between(0, 49).all()  # hashed into 50 buckets
    assert train["timestamp_hour"].max() < 24 + 3
    assert abs(train["price"].mean()) < 0.1 and abs(train["price"].std() - 1) < 0.1


def test_statistics_come_from_train_only(etl):
    """Counts, click-through rates and category ids equal a pandas computation over the
    train window alone."""
    root, _ = etl
    raw = impressions(3000, 0).set_index("_p_click")
    train_rows = raw.loc[read_split(root / "out", "train")["_p_click"]]
    test = read_split(root / "out", "test")
    test_raw = raw.loc[test["_p_click"]]

    counts = train_rows["item_id"].value_counts()
    expected_log_count = np.log1p(test_raw["item_id"].map(counts).fillna(0).to_numpy())
    # normalized with the train mean / std of log counts (over train rows)
    train_log = np.log1p(train_rows["item_id"].map(counts).to_numpy())
    expected = (expected_log_count - train_log.mean()) / train_log.std()
    np.testing.assert_allclose(test["item_id_count"], expected, rtol=1e-3, atol=1e-3)

    clicks = train_rows.groupby("item_id")["click"].agg(["sum", "count"])
    prior = train_rows["click"].mean()
    ctr = (clicks["sum"] + 20 * prior) / (clicks["count"] + 20)
    te = (test_raw["item_id"].map(ctr).fillna(prior)).to_numpy()
    # TE then Normalize: compare after standardising both the same way
    train_te = train_rows["item_id"].map(ctr).to_numpy()
    np.testing.assert_allclose(test["TE_item_id_click"], (te - train_te.mean()) / train_te.std(),
                               rtol=1e-3, atol=1e-3)


def test_valid_and_test_do_not_change_what_was_fitted(tmp_path):
    """Flip every valid/test label and give them items never seen in training: the train
    output and the fitted statistics stay the same, the new items are 'unseen'."""
    frame = impressions(3000, 0)
    first = run(write_logs(tmp_path / "a", frame=frame), tmp_path / "out_a")
    cut = int(len(frame) * 0.6)
    changed = frame.copy()
    changed.loc[cut:, "click"] = 1 - changed.loc[cut:, "click"]
    changed.loc[cut:, "item_id"] = 40 + changed.loc[cut:, "item_id"] % 5
    second = run(write_logs(tmp_path / "b", frame=changed), tmp_path / "out_b")
    assert first["splits"]["train"]["window"] == second["splits"]["train"]["window"]
    pd.testing.assert_frame_equal(read_split(tmp_path / "out_a", "train"),
                                  read_split(tmp_path / "out_b", "train"))
    ids = read_column(tmp_path / "out_b" / "test", "item_id")
    assert (ids == UNSEEN_ID).all()
    assert second["splits"]["test"]["unseen_share"]["item_id"] == 1.0
    assert first["cardinalities"] == second["cardinalities"]


def test_same_input_same_output(etl, tmp_path):
    root, _ = etl
    run(root / "logs" / "logs.json", tmp_path / "again")
    for name in SPLITS:
        pd.testing.assert_frame_equal(read_split(root / "out", name),
                                      read_split(tmp_path / "again", name))


def test_drop_null_filter_is_counted(tmp_path):
    config = dict(CONFIG, filters={"drop_null": ["device"]})
    summary = run(write_logs(tmp_path / "logs", config=config), tmp_path / "out")
    dropped = summary["dropped"]["null device"]
    assert dropped > 0
    assert sum(s["rows_out"] for s in summary["splits"].values()) == 3000 - dropped


def test_overwrite_replaces_only_when_asked(etl, tmp_path):
    root, _ = etl
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="--overwrite"):
        run(root / "logs" / "logs.json", out)
    assert (out / "keep.txt").read_text() == "mine"
    run(root / "logs" / "logs.json", out, overwrite=True)
    assert not (out / "keep.txt").exists() and (out / "summary.json").exists()


def test_train_rows_get_out_of_fold_click_rates(etl):
    """On the train split each row's click-through rate comes from the other folds only (its
    own label is not in it); scaled as the served rates are (test_statistics_...)."""
    from nvtabular.ops.target_encoding import _add_fold

    from shoprank.etl.out_of_fold import FOLD_SEED, FOLDS

    root, _ = etl
    raw = impressions(3000, 0).set_index("_p_click")
    parts = [pd.read_parquet(f) for f in sorted((root / "out" / "train").glob("*.parquet"))]
    train = pd.concat(parts, ignore_index=True)
    rows = raw.loc[train["_p_click"]].reset_index()
    # NVTabular draws each partition's folds from the seed; one file per partition here
    rows["fold"] = np.concatenate([_add_fold(pd.RangeIndex(len(part)), FOLDS, FOLD_SEED)
                                   for part in parts])
    prior = rows["click"].mean()
    whole = rows.groupby("item_id")["click"].agg(["sum", "count"])
    per_fold = rows.groupby(["fold", "item_id"])["click"].agg(["sum", "count"])
    own = per_fold.loc[list(zip(rows["fold"], rows["item_id"]))].to_numpy()
    other = whole.loc[rows["item_id"]].to_numpy() - own
    expected = (other[:, 0] + 20 * prior) / (other[:, 1] + 20)
    served = rows["item_id"].map((whole["sum"] + 20 * prior) / (whole["count"] + 20))
    scaled = (expected - served.mean()) / served.std()
    np.testing.assert_allclose(train["TE_item_id_click"], scaled, rtol=1e-3, atol=1e-3)
