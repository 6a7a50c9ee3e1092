"""Knowledge distillation (models/distill.py): the student trains on soft labels, the
teacher's probabilities blended with the clicks (checked row by row), while valid and test
stay the teacher's own clicks; it exports and ranks as any model, also for a log of another
shape with pseudonymised ids (tests/personal_logs.py); mistakes are named."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("merlin.models")

from tests.trained_models import QUIET  # noqa: E402


def _train_frame(folder):
    files = sorted((folder / "train").glob("*.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def test_the_student_learns_from_soft_labels_and_ranks(dlrm, tmp_path):
    import shoprank
    from shoprank.export.artifacts import export_ranker
    from shoprank.models.data import load_processed
    from shoprank.models.distill import distill
    from shoprank.models.evaluate import predict
    from shoprank.models.folders import load_keras_model

    _, _, world = dlrm
    record = distill(world / "dlrm", tmp_path / "out", alpha=0.25, epochs=1, batch_size=1024,
                     **QUIET)
    soft = tmp_path / "out" / "soft-labels"
    hard = _train_frame(world / "features")["click"].to_numpy(np.float32)
    teacher = predict(load_keras_model(world / "dlrm" / "model"),
                      load_processed(world / "features"), "train")
    labels = _train_frame(soft)["click"].to_numpy()
    assert labels.dtype == np.float32 and 0 < labels.min() and labels.max() < 1
    np.testing.assert_allclose(labels, 0.25 * hard + 0.75 * teacher, rtol=0, atol=1e-6)
    for name in ("valid", "test", "workflow", "tables", "inputs.json", "summary.json"):
        assert (soft / name).is_symlink()
    student = json.loads((tmp_path / "out" / "student" / "model" / "model.json").read_text())
    assert student["spec"]["embedding_dim"] == 8 and student["spec"]["top_mlp"] == [32, 16]
    assert record["teacher_test"]["rows"] == record["student_test"]["rows"]
    assert 0 <= record["student_test"]["auc"] <= 1  # on real clicks (16 steps here: no claim)
    export_ranker(tmp_path / "out" / "student", tmp_path / "artifacts")
    ranker = shoprank.Ranker.load(tmp_path / "artifacts")
    ids, scores = ranker.rank({"user_id": 3, "timestamp": np.datetime64("2024-01-02T10:00"),
                               "device": "app", "context_category": "c001"},
                              {"item_id": list(range(20)), "position": [0] * 20}, 5)
    assert len(ids) == 5 and np.all(np.diff(scores) <= 0)


def test_a_pseudonymised_logs_model_distils(pseudonymised_world, tmp_path):
    """Text ids, a side table, real-time columns, keyed artifacts: the student exports, with
    the teacher's retrieval model too, and needs the teacher's key."""
    import shoprank
    from shoprank.cli.main import main

    root, values = pseudonymised_world
    assert main(["distill", "--teacher", str(root / "dlrm"), "--out", str(tmp_path / "out"),
                 "--epochs", "1", "--batch-size", "512", "--no-progress"]) == 0
    assert main(["export", "--model", str(tmp_path / "out" / "student"),
                 "--retrieval", str(root / "two-tower"), "--out", str(tmp_path / "artifacts")]) == 0
    ranker = shoprank.Ranker.load(tmp_path / "artifacts", key_file=root / "key")
    user = {"user_id": values["user_id"][0], "device_id": values["device_id"][0],
            "timestamp": np.datetime64("2023-11-20T00:00", "ms")}
    ids, _ = ranker.rank(user, {"item_id": list(range(10))}, 3)
    assert len(ids) == 3
    recommender = shoprank.Recommender.load(tmp_path / "artifacts", key_file=root / "key")
    assert len(recommender.recommend(user, 3)[0]) == 3


@pytest.mark.parametrize("arguments,message", [
    (dict(alpha=1.5), r"--alpha must be in \[0, 1\], got 1.5"),
    (dict(linear=True), "a student cannot have a linear part"),
])
def test_bad_settings_are_named(dlrm, tmp_path, arguments, message):
    import dataclasses

    from shoprank.models.distill import distill, student_spec

    _, _, world = dlrm
    spec = dataclasses.replace(student_spec({"architecture": "dlrm"}),
                               linear=arguments.pop("linear", False))
    with pytest.raises(ValueError, match=message):
        distill(world / "dlrm", tmp_path / "out", spec=spec, **arguments, **QUIET)
    assert not (tmp_path / "out").exists()


def test_an_existing_output_is_kept(dlrm, tmp_path):
    from shoprank.models.distill import distill

    _, _, world = dlrm
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine").write_text("x")
    with pytest.raises(FileExistsError, match="is not empty: --overwrite"):
        distill(world / "dlrm", tmp_path / "out", **QUIET)
    assert (tmp_path / "out" / "mine").read_text() == "x"
