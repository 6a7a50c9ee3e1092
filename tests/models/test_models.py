"""Training, evaluation and export on a small ETL output; fused vs per-feature tables;
determinism; bad input. TensorFlow on the CPU; the trained models are shared."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("merlin.models")
from shoprank.data import generate  # noqa: E402
from shoprank.etl import run_etl  # noqa: E402
from shoprank.models.build import ModelSpec  # noqa: E402
from shoprank.models.evaluate import evaluate  # noqa: E402
from shoprank.models.folders import load_weights  # noqa: E402
from shoprank.models.train import train  # noqa: E402

QUIET = dict(progress=False, say=lambda *_: None)
SMALL = dict(embedding_dim=8, bottom_mlp=(16, 8), top_mlp=(32, 16))
FIT = dict(epochs=2, batch_size=512)


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    generate(root / "logs", users=400, items=300, rows=50_000, progress=False)
    run_etl(root / "logs" / "logs.json", root / "features", **QUIET)
    return root / "features"


@pytest.fixture(scope="module")
def trained(features, tmp_path_factory):
    """A fused and a per-feature DLRM, same data and seed; the fused run's log lines."""
    root, runs, lines = tmp_path_factory.mktemp("runs"), {}, []
    for tables in ("fused", "per-feature"):
        say = lines.append if tables == "fused" else QUIET["say"]
        runs[tables] = train(features, root / tables, spec=ModelSpec(tables=tables, **SMALL),
                             progress=False, say=say, **FIT)
    return runs, lines


def test_train_evaluate_export(features, trained):
    runs, lines = trained
    result = runs["fused"]
    assert result["epochs_run"] == 2 and len(result["history"]["val_auc"]) == 2
    assert any(line.startswith("epoch 2:") and "val_auc" in line for line in lines)
    metrics = evaluate(result["model_dir"], features)
    assert 0.6 < metrics["auc"] <= metrics["oracle_auc"] + 0.02
    assert {"log_loss", "ndcg@10", "recall@10"} <= set(metrics)
    description, weights = load_weights(result["model_dir"])
    layout = description["embeddings"]
    assert layout["dim"] == 8
    assert sum(a.shape == (layout["rows"], 8) for a in weights.values()) == 1  # one table
    assert description["label"] == "click" and "price" in description["continuous"]
    run_dir = Path(result["model_dir"]).parent
    assert json.loads((run_dir / "history.json").read_text())["epochs_run"] == 2
    assert not (run_dir / "backup").exists()  # finished: nothing left to resume


def test_fused_and_per_feature_tables_learn_the_same(features, trained):
    runs, _ = trained
    aucs = {t: evaluate(r["model_dir"], features)["auc"] for t, r in runs.items()}
    assert abs(aucs["fused"] - aucs["per-feature"]) < 0.02, aucs


def test_same_seed_same_model(features, trained, tmp_path):
    again = train(features, tmp_path / "again", spec=ModelSpec(tables="fused", **SMALL),
                  **QUIET, **FIT)
    first = load_weights(trained[0]["fused"]["model_dir"])[1]
    second = load_weights(again["model_dir"])[1]
    assert first.keys() == second.keys()
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)


def test_dcn_trains(features, tmp_path):
    result = train(features, tmp_path / "dcn", spec=ModelSpec(architecture="dcn", **SMALL),
                   **QUIET, **FIT)
    assert evaluate(result["model_dir"], features)["auc"] > 0.6


def test_dlrm_needs_matching_widths():
    with pytest.raises(ValueError, match=r"bottom MLP's output \(16\) to equal the embedding "
                                         r"width \(8\)"):
        ModelSpec(embedding_dim=8, bottom_mlp=(32, 16)).check()


def test_processed_folder_without_schema(features, tmp_path):
    copy = tmp_path / "features"
    shutil.copytree(features, copy)
    (copy / "train" / "schema.pbtxt").unlink()
    with pytest.raises(ValueError, match="no schema.pbtxt"):
        train(copy, tmp_path / "run", epochs=1, **QUIET)


def test_not_a_processed_folder(tmp_path):
    with pytest.raises(ValueError, match="no train/ split"):
        train(tmp_path, tmp_path / "run", epochs=1, **QUIET)


def test_schema_without_label(features, tmp_path):
    copy = tmp_path / "features"
    shutil.copytree(features, copy)
    schema = copy / "train" / "schema.pbtxt"
    schema.write_text(schema.read_text().replace('"target"', '"not_a_tag"'))
    with pytest.raises(ValueError, match="no column is tagged as the label"):
        train(copy, tmp_path / "run", epochs=1, **QUIET)


@pytest.mark.parametrize("label,words", [
    (lambda click: click * 3, r"label 'click' must be binary \(0/1\); found values \[0, 3\]"),
    (lambda click: click * 0 + 1, r"label 'click' is 1 in every row of the training split .*"
                                  r"needs both clicks \(1\) and non-clicks \(0\)"),
])
def test_label_that_is_not_binary(tmp_path, label, words):
    from tests.etl.logs_factory import impressions, write_logs

    frame = impressions(2000, 0)
    frame["click"] = label(frame["click"])
    run_etl(write_logs(tmp_path / "logs", frame=frame), tmp_path / "features", **QUIET)
    with pytest.raises(ValueError, match=words):
        train(tmp_path / "features", tmp_path / "run", epochs=1, **QUIET)


def test_refuses_a_used_out_without_resume(features, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="--resume"):
        train(features, out, epochs=1, **QUIET)
    assert (out / "notes.txt").read_text() == "mine"
