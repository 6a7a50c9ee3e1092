"""shoprank tune on a small ETL output: trials run and are written down, a rerun resumes
the study (a trial a killed run left unfinished is tried again), and `train --config
best.json` trains the best trial's model again, to the same validation AUC."""

from __future__ import annotations

import json

import pandas as pd
import pytest

pytest.importorskip("optuna")
pytest.importorskip("merlin.models")
from shoprank.cli.main import main  # noqa: E402
from shoprank.data import generate  # noqa: E402
from shoprank.etl import run_etl  # noqa: E402
from shoprank.models.data import load_processed  # noqa: E402
from shoprank.models.tune import batch_sizes, search_space, tune  # noqa: E402

QUIET = dict(progress=False, say=lambda *_: None)


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    root = tmp_path_factory.mktemp("tune")
    generate(root / "logs", users=200, items=150, rows=8_000, progress=False)
    run_etl(root / "logs" / "logs.json", root / "features", **QUIET)
    return root / "features"


def test_tune_resumes_and_its_best_trains_again(features, tmp_path):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    out = tmp_path / "tune"
    first = tune(features, out, trials=1, **QUIET)
    assert first["complete"] == 1 and (out / "trials.png").is_file()
    assert len(pd.read_csv(out / "trials.csv")) == 1

    # a run killed in the middle of a trial: the study holds it as RUNNING
    study = optuna.load_study(study_name="shoprank", storage=JournalStorage(
        JournalFileBackend(str(out / "study.journal"))))
    killed = study.ask()
    data = load_processed(features)
    search_space(killed, "dlrm", batch_sizes(data.column("train", data.label).size))
    lines = []
    again = tune(features, out, trials=2, progress=False, say=lines.append)
    assert any(f"trial {killed.number} was left unfinished" in line for line in lines)
    trials = pd.read_csv(out / "trials.csv")
    assert list(trials["state"]) == ["complete", "fail", "complete"]
    assert again["complete"] == 2
    retried = trials.iloc[2]
    for name in ("embedding_dim", "batch_size", "epochs"):  # the killed trial's settings
        assert retried[name] == killed.params[name]

    best = json.loads((out / "best.json").read_text())
    assert best["_valid_auc"] == pytest.approx(trials["valid_auc"].max())
    assert main(["train", "--data", str(features), "--out", str(tmp_path / "best"),
                 "--config", str(out / "best.json"), "--no-progress"]) == 0
    history = json.loads((tmp_path / "best" / "history.json").read_text())
    assert max(history["history"]["val_auc"]) == pytest.approx(best["_valid_auc"], abs=1e-6)
    assert set(history["sources"].values()) == {"config"}


def test_tune_refuses_bad_bounds(features, tmp_path):
    with pytest.raises(ValueError, match="--trials must be >= 1"):
        tune(features, tmp_path, trials=0, **QUIET)
    with pytest.raises(ValueError, match="--timeout-minutes must be > 0"):
        tune(features, tmp_path, timeout_s=0, **QUIET)
