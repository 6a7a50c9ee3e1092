"""`refresh` without a server: the served events become a window of features made by the
served workflow, the served model trained further on it and judged on its latest events; a
model worse than the served one by more than the margin is refused and nothing is written
for it; versions added to a repository and rolled back (the server side is in
tests/serving/test_reliability.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("merlin.models")

from tests.trained_models import QUIET, SMALL  # noqa: E402

from tests.trained_models import SHIFT  # noqa: E402


@pytest.fixture(scope="module")
def events(refreshed):
    return refreshed[0]


@pytest.fixture(scope="module")
def served(world, tmp_path_factory):
    """The served model: a DLRM with a linear part (it ranks the events better than chance,
    so a wrecked one is worse)."""
    from shoprank.models.build import ModelSpec
    from shoprank.models.train import train

    folder = tmp_path_factory.mktemp("served")
    train(world / "features", folder / "run", spec=ModelSpec(linear=True, **SMALL), epochs=1,
          batch_size=512, **QUIET)
    return folder / "run"


def test_refresh_trains_on_the_new_window_and_exports_what_passes(world, dlrm, refreshed,
                                                                 tmp_path):
    """(The session's refresh of the world's DLRM, margin 1: tests/trained_models.py.)"""
    import shoprank
    from shoprank.feedback.refresh import refresh

    events, record, lines = refreshed
    out = Path(record["artifacts"]).parent
    window = record["window"]
    assert window["rows"]["train"] + window["rows"]["test"] == 3_000
    assert window["rows"]["test"] == pytest.approx(600, abs=60)  # the latest fifth
    assert pd.Timestamp(window["end"]) > pd.Timestamp("2000-01-01") + SHIFT
    assert record["passed"] and record["version"] is None
    on_disk = json.loads((out / "refresh.json").read_text())
    assert on_disk["held_out_auc"] == record["held_out_auc"]
    # the new model starts from the served one and moved
    new = shoprank.Ranker.load(out / "artifacts")
    old = dlrm[0]
    raw = pd.read_parquet(world / "logs" / "impressions").tail(200)
    rows = {c: raw[c].to_numpy() for c in old.inputs if c in raw}
    assert not np.allclose(new.score(rows), old.score(rows), atol=1e-4)
    assert any(line.startswith("warm start") for line in lines)
    # a refresh of the refreshed model reads only the events after its window: none
    with pytest.raises(ValueError, match="0 events .* at least 100"):
        refresh(out / "run", events, tmp_path / "again", progress=False, say=lines.append)
    assert not (tmp_path / "again").exists()  # nothing left half-written


def test_the_gate_refuses_a_worse_model(served, events, tmp_path):
    """A learning rate of 20 wrecks the warm-started network."""
    from shoprank.feedback.refresh import refresh

    record = refresh(served, events, tmp_path / "refresh", learning_rate=20.0,
                     margin=0.0, progress=False, say=lambda *_: None)
    assert not record["passed"] and record["artifacts"] is None
    assert record["held_out_auc"]["new"] < record["held_out_auc"]["served"]
    assert not (tmp_path / "refresh" / "artifacts").exists()


def test_bad_arguments_are_named(served, events, tmp_path):
    from shoprank.feedback.refresh import refresh

    with pytest.raises(ValueError, match="--margin must be >= 0"):
        refresh(served, events, tmp_path / "a", margin=-1)
    with pytest.raises(ValueError, match="no logs.json"):
        refresh(served, tmp_path, tmp_path / "b", progress=False, say=lambda *_: None)
    with pytest.raises(ValueError, match="held-out fraction must be in"):
        refresh(served, events, tmp_path / "c", holdout_fraction=1.0, progress=False,
                say=lambda *_: None)


def test_versions_are_added_and_rolled_back(world, dlrm, tmp_path):
    from shoprank.feedback.versions import install_version, rollback, versions
    from shoprank.serving.repository import ServingOptions, export_triton, read_options

    repo = tmp_path / "repo"
    options = ServingOptions(max_candidates=777, threads=2)
    export_triton(world / "dlrm-artifacts", repo, options)
    lines = []
    assert install_version(repo, world / "dlrm-artifacts", say=lines.append) == 2
    assert versions(repo) == [1, 2] and read_options(repo) == options
    assert (repo / "ranker" / "2" / "artifacts" / "ranker.json").is_file()
    assert "max_candidates" in (repo / "ranker" / "config.pbtxt").read_text()
    assert any("no running server" in line for line in lines)
    done = rollback(repo, say=lines.append)
    assert done["rolled_back"] == 2 and done["serving"] == 1 and versions(repo) == [1]
    assert not (repo / "ranker" / "2").exists()
    assert (tmp_path / "repo.rolled-back").is_dir()
    with pytest.raises(ValueError, match="only version 1: there is no earlier version"):
        rollback(repo, say=lines.append)
    with pytest.raises(ValueError, match="not a model repository"):
        versions(tmp_path)


def test_the_commands_say_what_is_wrong_in_one_line(world, dlrm, served, events, tmp_path,
                                                    capsys):
    from shoprank.cli.main import main
    from shoprank.serving.repository import export_triton

    export_triton(world / "dlrm-artifacts", tmp_path / "repo")
    assert main(["rollback", "--repo", str(tmp_path / "repo")]) != 0
    assert "only version 1: there is no earlier version" in capsys.readouterr().err
    code = main(["refresh", "--model", str(served), "--events", str(events), "--out",
                 str(tmp_path / "out"), "--margin", "-0.5"])
    assert code != 0 and "--margin must be >= 0" in capsys.readouterr().err
