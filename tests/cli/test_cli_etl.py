"""shoprank etl from the command line: --json output, readable help, one-line errors."""

from __future__ import annotations

import json

import pytest

from shoprank.cli.main import main
from tests.etl.logs_factory import CONFIG, write_logs

pytest.importorskip("nvtabular")


def test_help_names_every_subcommand(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for command in ("demo", "generate", "etl"):
        assert command in text


def test_etl_prints_one_json_object(tmp_path, capsys):
    config = write_logs(tmp_path / "logs", rows=1500)
    code = main(["etl", "--config", str(config), "--out", str(tmp_path / "out"), "--json",
                 "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0
    result = json.loads(captured.out)
    assert result["splits"]["train"]["rows_out"] > 0
    assert "wrote" in captured.err  # the human summary goes to stderr with --json


def test_etl_error_is_one_line_and_exit_1(tmp_path, capsys):
    config = write_logs(tmp_path / "logs", config=dict(CONFIG, continuous=["discount"]))
    code = main(["etl", "--config", str(config), "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1].startswith("shoprank etl: error: LogsError: the config names columns")
    assert not (tmp_path / "out").exists()
