"""shoprank export-triton: the model repository's layout, its generated configs, versions,
and the errors of bad options."""

from __future__ import annotations

import pytest

from shoprank.serving.repository import STEPS, ServingOptions, export_triton

pytest.importorskip("merlin.models")


@pytest.fixture
def artifacts(dlrm):
    return dlrm[2] / "dlrm-artifacts"


def test_every_model_gets_a_config_and_a_version(artifacts, tmp_path):
    options = ServingOptions(max_batch_size=4, max_queue_delay_us=250, instances=2, threads=0)
    result = export_triton(artifacts, tmp_path / "repo", options)
    assert result["models"] == list(STEPS)
    for model in STEPS:
        config = (tmp_path / "repo" / model / "config.pbtxt").read_text()
        assert f'name: "{model}"' in config and "max_batch_size: 4" in config
        assert (tmp_path / "repo" / model / "1").is_dir()
    ranker = (tmp_path / "repo" / "ranker" / "config.pbtxt").read_text()
    assert "max_queue_delay_microseconds: 250" in ranker
    assert "count: 2 kind: KIND_CPU" in ranker
    assert '{ name: "age_band" data_type: TYPE_STRING dims: [ -1 ] allow_ragged_batch: true ' \
           'optional: true }' in ranker          # a users-table column may be left out
    assert '{ name: "user_id" data_type: TYPE_INT64 dims: [ -1 ] allow_ragged_batch: true }' \
        in ranker                                # the key may not
    assert (tmp_path / "repo" / "ranker" / "1" / "artifacts" / "manifest.json").is_file()
    assert 'backend: "shoprank"' in ranker      # the C++ backend: no Python stub, no model.py
    assert not (tmp_path / "repo" / "ranker" / "1" / "model.py").exists()
    assert 'backend: "python"' in (tmp_path / "repo" / "score" / "config.pbtxt").read_text()
    assert not (tmp_path / "repo" / "select" / "1" / "artifacts").exists()
    ensemble = (tmp_path / "repo" / "ensemble" / "config.pbtxt").read_text()
    assert 'platform: "ensemble"' in ensemble
    assert ensemble.index('model_name: "transform"') < ensemble.index('model_name: "score"') \
        < ensemble.index('model_name: "select"')


def test_no_dynamic_batching(artifacts, tmp_path):
    export_triton(artifacts, tmp_path / "repo", ServingOptions(dynamic_batching=False))
    assert "dynamic_batching" not in (tmp_path / "repo" / "ranker" / "config.pbtxt").read_text()


def test_a_new_version_goes_beside_the_old(artifacts, tmp_path):
    repo = tmp_path / "repo"
    export_triton(artifacts, repo)
    export_triton(artifacts, repo, version=2)
    assert all((repo / m / "1").is_dir() and (repo / m / "2").is_dir() for m in STEPS)
    with pytest.raises(FileExistsError, match="version 2 exists already"):
        export_triton(artifacts, repo, version=2)
    export_triton(artifacts, repo, overwrite=True)  # a fresh repository: version 1 only
    assert not (repo / "ranker" / "2").exists()


@pytest.mark.parametrize("options,message", [
    (ServingOptions(max_batch_size=0), "max_batch_size must be >= 1"),
    (ServingOptions(instances=0), "instances must be >= 1"),
    (ServingOptions(threads=-1), "threads must be >= 0"),
    (ServingOptions(max_candidates=0), "max_candidates must be >= 1"),
])
def test_bad_options_write_nothing(artifacts, tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        export_triton(artifacts, tmp_path / "repo", options)
    assert not (tmp_path / "repo").exists()


def test_bad_artifacts_and_versions(artifacts, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such artifact folder"):
        export_triton(tmp_path / "missing", tmp_path / "repo")
    with pytest.raises(ValueError, match="version must be >= 1"):
        export_triton(artifacts, tmp_path / "repo", version=0)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="--overwrite"):
        export_triton(artifacts, tmp_path / "taken")
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
