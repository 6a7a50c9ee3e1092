"""Export reads one stage back: once the ETL is done, its output (inputs.json, tables/) and the
model folder are all that export, the Merlin-path ranker and sample_request need. The raw
logs are moved away after training; export writes the same artifacts and both rankers rank
as they did with the logs present: for logs with side tables (generated), without any, and
with tables derived from already-joined logs. An ETL output from before inputs.json still
exports from the raw logs, and says so when they are gone."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from tests import user_logs

pytest.importorskip("merlin.models")

QUIET = dict(progress=False, say=lambda *_: None)
SHAPES = ("side-tables", "no-tables", "derived")
K = 10


def write_logs(shape: str, folder):
    """The logs.json of a small log of that shape."""
    from shoprank.data import generate

    if shape == "side-tables":
        generate(folder, users=150, items=100, rows=6000, progress=False)
        return folder / "logs.json"
    derived = shape == "derived"
    return user_logs.write(folder, user_logs.config(derived=derived, continuous=derived))


def request(shape: str, model, logs) -> tuple[dict, dict]:
    """(user, candidates) of one request, read while the logs are there (sample_request's
    own for generated logs); derived tables let a request name user and items by id."""
    from shoprank.data.sample_request import sample_request

    if shape == "side-tables":
        return sample_request(model, 40)
    frame = pd.read_parquet(logs / "ratings")
    items = frame.drop_duplicates("item_id").sample(frac=1.0, random_state=3)
    user = frame.iloc[-1]
    if shape == "derived":
        return {"user_id": int(user["user_id"])}, {"item_id": items["item_id"].to_numpy()}
    return ({c: user[c] for c in ("user_id", "gender", "age", "occupation")},
            {"item_id": items["item_id"].to_numpy(), "genres": items["genres"].map(list).tolist()})


def export_and_rank(root, name: str, user: dict, candidates: dict) -> dict:
    import shoprank
    from shoprank.export.artifacts import export_ranker
    from shoprank.models.merlin_ranker import MerlinRanker

    artifacts = root / name
    export_ranker(root / "model", artifacts)
    ranked = {"ranker.json": (artifacts / "ranker.json").read_text(),
              "tensors.bin": (artifacts / "tensors.bin").read_bytes()}
    ranked["engine"] = shoprank.Ranker.load(artifacts).rank(user, candidates, k=K)
    ranked["python"] = MerlinRanker(root / "model").rank(user, candidates, k=K)
    return ranked


@pytest.fixture(scope="module", params=SHAPES)
def trained(request, tmp_path_factory):
    """(shape, root): root/logs, root/features (its ETL output), root/model (one epoch)."""
    from shoprank.etl import run_etl
    from shoprank.models.build import ModelSpec
    from shoprank.models.train import train

    root = tmp_path_factory.mktemp(request.param)
    run_etl(write_logs(request.param, root / "logs"), root / "features", **QUIET)
    spec = ModelSpec(architecture="dlrm", embedding_dim=8, bottom_mlp=(16, 8), top_mlp=(16, 8))
    train(root / "features", root / "model", spec=spec, epochs=1, batch_size=512, **QUIET)
    return request.param, root


@pytest.mark.slow
def test_export_and_rank_need_no_raw_logs(trained):
    from shoprank.data.sample_request import sample_request

    shape, root = trained
    user, candidates = request(shape, root / "model", root / "logs")
    before = export_and_rank(root, "before", user, candidates)
    shutil.move(root / "logs", root / "moved")  # the raw logs and their side tables go
    after = export_and_rank(root, "after", user, candidates)
    assert after["ranker.json"] == before["ranker.json"]
    assert after["tensors.bin"] == before["tensors.bin"]
    for path in ("engine", "python"):
        ids, scores = after[path]
        np.testing.assert_array_equal(ids, before[path][0], err_msg=path)
        np.testing.assert_array_equal(scores, before[path][1], err_msg=path)
    if shape == "side-tables":  # the same request from the ETL output's tables
        again = sample_request(root / "model", 40)
        assert again[0] == user
        np.testing.assert_array_equal(again[1]["item_id"], candidates["item_id"])


def test_an_older_etl_output_exports_from_the_raw_logs_while_they_are_there(tmp_path):
    """An output without inputs.json (and without snapshots of its side tables) gives the
    same transform from the raw logs; once they are gone, the error says what to do."""
    from shoprank.etl import run_etl
    from shoprank.export.transform import extract_transform

    run_etl(write_logs("side-tables", tmp_path / "logs"), tmp_path / "features", **QUIET)
    spec, tensors = extract_transform(tmp_path / "features")
    (tmp_path / "features" / "inputs.json").unlink()
    shutil.rmtree(tmp_path / "features" / "tables")  # the snapshots: no derived tables here
    old_spec, old_tensors = extract_transform(tmp_path / "features")
    assert old_spec == spec and old_tensors.keys() == tensors.keys()
    for name, array in tensors.items():
        np.testing.assert_array_equal(old_tensors[name], array, err_msg=name)
    shutil.move(tmp_path / "logs", tmp_path / "moved")
    with pytest.raises(FileNotFoundError, match="no inputs.json .* run shoprank etl again"):
        extract_transform(tmp_path / "features")
