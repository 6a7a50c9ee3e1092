"""Pruning rare values (export --prune-below, export/pruning.py): a value seen in fewer
than N train rows loses its embedding row and reads as unseen, whose row becomes the
pruned rows' train-count-weighted mean; every other value keeps its trained row, so a
request without pruned values scores exactly as before. Checked on the world's DLRM, on a
user's ratings log whose model has a linear part and a list column, and with retrieval."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("merlin.models")

import shoprank  # noqa: E402
from shoprank.export.transform import FIRST_ID, NULL_ID, UNSEEN_ID  # noqa: E402
from shoprank.export.tensors import read_tensors  # noqa: E402

PRUNE_BELOW = 20


@pytest.fixture(scope="module")
def pruned(dlrm, tmp_path_factory):
    """(original Ranker, pruned Ranker, the unpruned spec and tensors, the pruned folder,
    export's summary, the world folder)."""
    from shoprank.export.artifacts import build_ranker, export_ranker

    original, _, world = dlrm
    folder = tmp_path_factory.mktemp("pruned") / "artifacts"
    summary = export_ranker(world / "dlrm", folder, prune_below=PRUNE_BELOW)
    spec, tensors = build_ranker(world / "dlrm")
    return original, shoprank.Ranker.load(folder), spec, tensors, folder, summary, world


def _id_map(feature, tensors):
    """old id -> new id of one pruned feature (null stays null, pruned values unseen)."""
    ids, counts = tensors[feature["ids"]], tensors[feature["train_counts"]]
    keep = counts >= PRUNE_BELOW
    mapping = {NULL_ID: NULL_ID, UNSEEN_ID: UNSEEN_ID}
    mapping.update({int(old): UNSEEN_ID for old in ids[~keep]})
    mapping.update({int(old): FIRST_ID + i for i, old in enumerate(ids[keep])})
    return mapping


def test_kept_values_keep_their_rows_and_pruned_ones_read_as_unseen(pruned, rng):
    from tests.ranker.test_engine import request_rows

    original, small, spec, tensors, _, summary, world = pruned
    assert summary["pruned"]["rows_after"] < summary["pruned"]["rows_before"] / 2
    raw = request_rows(world, rng, n=600)
    before, after = original.transform(raw), small.transform(raw)
    affected = np.zeros(600, bool)
    for feature in spec["features"]:
        if feature.get("op") not in ("categorify", "cross_categorify", "time_categorify"):
            continue
        mapping = _id_map(feature, tensors)
        want = np.array([mapping[int(i)] for i in before[feature["name"]]])
        np.testing.assert_array_equal(after[feature["name"]], want, err_msg=feature["name"])
        if len(set(mapping.values())) < len(mapping):  # it pruned: its unseen row moved
            affected |= want == UNSEEN_ID
    assert 0 < affected.sum() < 600
    same = ~affected & ~_list_pruned(spec, tensors, before)
    np.testing.assert_allclose(small.score(raw)[same], original.score(raw)[same],
                               rtol=0, atol=1e-6)


def _list_pruned(spec, tensors, features):
    """Rows whose list feature lost an element to pruning."""
    rows = None
    for feature in spec["features"]:
        if feature.get("op") != "categorify_list":
            continue
        pruned = {old for old, new in _id_map(feature, tensors).items() if new == UNSEEN_ID}
        ids, offsets = features[feature["name"]]
        hit = np.array([bool(pruned & set(ids[offsets[r]:offsets[r + 1]].tolist()))
                        for r in range(len(offsets) - 1)])
        rows = hit if rows is None else rows | hit
    return rows if rows is not None else False


def test_the_unseen_row_is_the_pruned_rows_weighted_mean(pruned):
    """... where no train row reached it; where one did (a list's null elements, values
    under a freq_threshold above 1) it stays."""
    from shoprank.export.pruning import _unseen_row_trained

    _, _, spec, tensors, folder, _, _ = pruned
    small_spec = json.loads((folder / "ranker.json").read_text())
    small = read_tensors(folder / "tensors.bin")
    emb, small_emb = spec["model"]["embeddings"], small_spec["model"]["embeddings"]
    table, small_table = tensors[emb["table"]], small[small_emb["table"]]
    assert small_table.shape == (small_emb["rows"], emb["dim"])
    offsets = {f["name"]: f["offset"] for f in emb["features"]}
    checked = 0
    for f in small_emb["features"]:
        feature = next(x for x in spec["features"] if x["name"] == f["name"])
        if "train_counts" not in feature:
            continue
        ids, counts = tensors[feature["ids"]], tensors[feature["train_counts"]]
        keep = counts >= PRUNE_BELOW
        start = offsets[f["name"]]
        np.testing.assert_array_equal(small_table[f["offset"] + FIRST_ID:
                                                  f["offset"] + f["cardinality"]],
                                      table[start + ids[keep]])
        if not (~keep).any():
            continue
        checked += 1
        if _unseen_row_trained(feature):  # list nulls, or rare values, trained the unseen row
            np.testing.assert_array_equal(small_table[f["offset"] + UNSEEN_ID],
                                          table[start + UNSEEN_ID])
        else:
            weights = counts[~keep] / counts[~keep].sum()
            np.testing.assert_allclose(small_table[f["offset"] + UNSEEN_ID],
                                       weights @ table[start + ids[~keep]], rtol=1e-6,
                                       atol=1e-7)
    assert checked >= 3
    assert not any("train_counts" in f for f in small_spec["features"])


def test_a_linear_part_and_a_list_column_are_pruned_alike(user_logs_model, tmp_path):
    """A ratings log's DLRM with a linear part: the engine equals the NumPy reference on
    the pruned artifacts, linear logits included."""
    from shoprank.export.artifacts import build_ranker, export_ranker
    from shoprank.reference.forward import numpy_forward
    from tests.ranker.test_user_logs import latest_rows

    model, _, raw_dir = user_logs_model("dlrm", "fused", linear=True, lists=True)
    summary = export_ranker(model, tmp_path / "artifacts", prune_below=40)
    assert summary["pruned"]["values_pruned"]["user_id"] > 0
    ranker = shoprank.Ranker.load(tmp_path / "artifacts")
    spec = json.loads((tmp_path / "artifacts" / "ranker.json").read_text())
    tensors = read_tensors(tmp_path / "artifacts" / "tensors.bin")
    linear = spec["model"]["linear"]
    assert linear["rows"] == spec["model"]["embeddings"]["rows"] == len(tensors[linear["table"]])
    whole, whole_tensors = build_ranker(model)  # freq_threshold 1: the unseen row untrained
    user = next(f for f in whole["features"] if f["name"] == "user_id")
    assert user.get("freq_threshold", 0) <= 1
    counts, ids = whole_tensors[user["train_counts"]], whole_tensors[user["ids"]]
    before = {f["name"]: f for f in whole["model"]["embeddings"]["features"]}["user_id"]
    after = {f["name"]: f for f in spec["model"]["embeddings"]["features"]}["user_id"]
    table = whole_tensors[whole["model"]["embeddings"]["table"]]
    rare = counts < 40
    np.testing.assert_allclose(
        tensors[spec["model"]["embeddings"]["table"]][after["offset"] + UNSEEN_ID],
        (counts[rare] / counts[rare].sum()) @ table[before["offset"] + ids[rare]],
        rtol=1e-6, atol=1e-7)
    rows = latest_rows(raw_dir, ranker.inputs)
    features = ranker.transform(rows)
    emb = spec["model"]["embeddings"]
    categorical = {f["name"]: features[f["name"]] for f in emb["features"]}
    continuous = {name: features[name] for name in spec["model"]["continuous"]}
    np.testing.assert_allclose(ranker.score(rows),
                               numpy_forward(spec["model"], tensors, categorical, continuous),
                               rtol=0, atol=1e-5)


def test_retrieval_keeps_every_user_and_item(dlrm, two_tower, tmp_path):
    from shoprank.export.artifacts import export_ranker

    _, _, world = dlrm
    whole = export_ranker(world / "dlrm", tmp_path / "whole", retrieval=two_tower[0])
    small = export_ranker(world / "dlrm", tmp_path / "small", retrieval=two_tower[0],
                          prune_below=PRUNE_BELOW, precision="int8")
    assert small["retrieval"] == whole["retrieval"]
    a = shoprank.Recommender.load(tmp_path / "whole")
    b = shoprank.Recommender.load(tmp_path / "small")
    users = [{"user_id": u, "device": "app", "context_category": "c001", "position": 0,
              "timestamp": np.datetime64("2024-02-20T10:00:00", "ms")} for u in range(300)]
    known = [a.is_new_user(u) for u in users]
    assert [b.is_new_user(u) for u in users] == known and not all(known)
    assert len(b.recommend(users[known.index(False)], 10)[0]) == 10


def test_a_bad_threshold_is_refused(dlrm, tmp_path):
    from shoprank.export.artifacts import export_ranker

    for bad in (0, -3):
        with pytest.raises(ValueError, match=f"--prune-below must be >= 1, got {bad}"):
            export_ranker(dlrm[2] / "dlrm", tmp_path / "out", prune_below=bad)
    assert not (tmp_path / "out").exists()


def test_the_cli_says_what_it_pruned(dlrm, tmp_path, capsys):
    from shoprank.cli.main import main

    assert main(["export", "--model", str(dlrm[2] / "dlrm"), "--out", str(tmp_path / "out"),
                 "--prune-below", str(PRUNE_BELOW)]) == 0
    said = capsys.readouterr().out
    assert f"pruned values seen in fewer than {PRUNE_BELOW} train rows: table rows" in said
    assert "user_id" in said.split("pruned values")[1]
