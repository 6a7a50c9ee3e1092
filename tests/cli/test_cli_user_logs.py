"""The commands as a new user meets them, on a log of their own (tests/user_logs.py):
etl, train and export print what happened and nothing from the libraries; a failure is one
line that says how to see more; --debug / SHOPRANK_DEBUG show the traceback; train --help
shows every default."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from shoprank.cli.main import main
from tests import user_logs

NOISE = ("warning", "warn(", "deprecat", "untraced", "please fix your imports")


def shoprank(*args, cwd):
    env = {k: v for k, v in os.environ.items() if k != "SHOPRANK_DEBUG"}
    done = subprocess.run([sys.executable, "-m", "shoprank.cli.main", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


@pytest.mark.slow
def test_a_user_log_goes_through_every_command_without_library_noise(tmp_path):
    pytest.importorskip("merlin.models")
    user_logs.write(tmp_path / "logs", user_logs.config(derived=True))
    printed = shoprank("etl", "--config", "logs/logs.json", "--out", "features",
                       "--no-progress", cwd=tmp_path)
    printed += shoprank("train", "--data", "features", "--out", "model", "--epochs", "1",
                        "--no-progress", cwd=tmp_path)
    printed += shoprank("export", "--model", "model", "--out", "artifacts", cwd=tmp_path)
    noisy = [line for line in printed.splitlines() if any(n in line.lower() for n in NOISE)]
    assert not noisy
    assert "derived the items table" in printed and "test: AUC" in printed


def test_a_failure_is_one_line_and_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SHOPRANK_DEBUG", raising=False)
    command = ["train", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "m")]
    assert main(command) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"shoprank train: error: ValueError: {tmp_path / 'nothing'}: no train/ "
                   "split (expected the output of shoprank etl) (--debug shows the traceback)"]
    for extra, env in ((["--debug"], None), ([], "1")):
        if env:
            monkeypatch.setenv("SHOPRANK_DEBUG", env)
        assert main(command + extra) == 1
        err = capsys.readouterr().err
        assert "Traceback (most recent call last)" in err and "load_processed" in err
        assert err.strip().splitlines()[-1].startswith("shoprank train: error: ValueError")


def test_train_help_shows_every_default(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    options = capsys.readouterr().out.split("options:")[1]
    for option, default in (("--epochs", "4"), ("--embedding-dim", "16"),
                            ("--batch-size", "2048"), ("--learning-rate", "0.002"),
                            ("--patience", "2"), ("--bottom-mlp", "64,DIM"),
                            ("--model", "dlrm"), ("--seed", "0")):
        entry = options[options.index(f"  {option} "):].split("\n  --")[0]
        assert f"(default: {default}" in " ".join(entry.split()), option
