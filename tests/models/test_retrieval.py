"""Retrieval models (issue 19): matrix factorisation and two-tower, trained on the clicks of
a small generated log (side tables: the towers read their features) and of a ratings log of
another shape (no side tables: the towers read the ids alone); the CLI; bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("merlin.models")
from shoprank.cli.main import main  # noqa: E402
from shoprank.models.data import load_processed  # noqa: E402
from shoprank.models.retrieval import train_retrieval  # noqa: E402

QUIET = dict(progress=False, say=lambda *_: None)


@pytest.fixture(scope="module")
def ratings_features(tmp_path_factory):
    from shoprank.etl import run_etl
    from tests import user_logs

    root = tmp_path_factory.mktemp("ratings")
    user_logs.write(root / "logs", user_logs.config(), frame=user_logs.ratings(4000, seed=3))
    run_etl(root / "logs" / "logs.json", root / "features", **QUIET)
    return root / "features"


def test_two_tower_reads_the_side_tables_and_writes_vectors(world, two_tower):
    folder, record, lines = two_tower
    assert record["user_tower"][0] == "user_id" and record["item_tower"][0] == "item_id"
    assert {"age_band", "gender", "region"} <= set(record["user_tower"])
    assert {"category", "brand", "tags", "price"} <= set(record["item_tower"])
    assert not {"device", "position", "context_category"} & set(record["user_tower"]
                                                               + record["item_tower"])
    data = load_processed(world / "features")
    with np.load(folder / "vectors.npz") as vectors:
        users, items = vectors["user_vectors"], vectors["item_vectors"]
        clicks = vectors["item_train_clicks"]
    assert users.shape == (int(data.schema["user_id"].int_domain.max) + 1, 8)
    assert items.shape == (int(data.schema["item_id"].int_domain.max) + 1, 8)
    assert np.isfinite(users).all() and np.abs(items).sum() > 0
    assert clicks.shape == (len(items),) and clicks.sum() == record["train_clicks"]
    written = json.loads((folder / "retrieval.json").read_text())
    assert written["test"] == record["test"] and 0 <= record["test"]["recall@20"] <= 1
    assert set(record["popularity"]) == {"recall@20", "ndcg@20", "users"}
    assert len(record["valid_recall@20"]) == 1
    assert any(line.startswith("test window") and "popularity" in line for line in lines)
    assert not list(folder.glob("*.partial"))


def test_the_towers_read_the_tables_the_etl_derived(text_ids_world, tmp_path):
    """A log whose users and items tables the ETL derived (user_columns / item_columns):
    the towers read their columns as they read side tables', and the result recommends."""
    import shoprank
    from shoprank.export.artifacts import export_ranker

    root, frame = text_ids_world
    record = train_retrieval(root / "features", tmp_path / "tt", kind="two-tower", dim=8,
                             epochs=1, k=10, **QUIET)
    assert record["user_tower"] == ["user_id", "gender", "age", "occupation"]
    assert record["item_tower"] == ["item_id", "genres"]
    export_ranker(root / "dlrm", tmp_path / "artifacts", retrieval=tmp_path / "tt")
    ids, _ = shoprank.Recommender.load(tmp_path / "artifacts").recommend(
        {"user_id": int(frame["user_id"].iloc[0])}, 5)
    assert len(ids) == 5 and set(ids) <= set(frame["item_id"])


def test_a_log_without_side_tables_gets_towers_of_the_ids(ratings_features, tmp_path):
    record = train_retrieval(ratings_features, tmp_path / "tt", kind="two-tower", dim=8,
                             epochs=1, k=10, **QUIET)
    assert record["user_tower"] == ["user_id"] and record["item_tower"] == ["item_id"]
    assert record["test"]["users"] == record["popularity"]["users"] > 0


def test_bad_settings_are_refused_before_training(world, tmp_path):
    with pytest.raises(ValueError, match="expected one of .*got 'dlrm'"):
        train_retrieval(world / "features", tmp_path / "a", kind="dlrm", **QUIET)
    with pytest.raises(ValueError, match="epochs: must be >= 1"):
        train_retrieval(world / "features", tmp_path / "a", epochs=0, **QUIET)
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="is not empty: --overwrite"):
        train_retrieval(world / "features", tmp_path / "used", **QUIET)
    assert (tmp_path / "used" / "keep.txt").read_text() == "mine"


def test_cli_trains_a_retrieval_model_and_refuses_ranking_options(world, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["train", "--data", str(world / "features"), "--out", str(out), "--model",
                 "mf", "--embedding-dim", "8", "--epochs", "1", "--no-progress"]) == 0
    assert "recall@100" in capsys.readouterr().out
    assert json.loads((out / "retrieval.json").read_text())["dim"] == 8
    assert main(["train", "--data", str(world / "features"), "--out", str(tmp_path / "x"),
                 "--model", "two-tower", "--top-mlp", "8,4"]) != 0
    assert "does not read --top-mlp" in capsys.readouterr().err
