"""shoprank demo end to end at a small size: generate -> etl -> train -> two-tower -> export
+ native rank -> catalogue top-k -> Triton serving with recommendations -> the feedback loop
(events in, refresh, the version loaded under load, rollback), one report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shoprank.cli.main import main

pytest.importorskip("nvtabular")


def test_demo_runs_every_stage(tmp_path, capsys):
    code = main(["demo", "--workdir", str(tmp_path / "demo"), "--log-rows", "20000",
                 "--log-users", "300", "--log-items", "200", "--items", "5000", "--users", "16",
                 "--epochs", "1", "--retrieval-epochs", "1", "--candidates", "150", "--requests", "5", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    assert report["logs"]["rows"] == 20000
    assert sum(s["rows_out"] for s in report["features"]["splits"].values()) == 20000
    assert "oracle_auc" in report["features"]["splits"]["test"]
    ranked = [b for b in report["ranking"]["backends"] if b["available"]]
    assert all(b["ids_equal_to_reference"] == 1.0 for b in ranked)
    test = report["model"]["test"]  # quality is tested in tests/models; here: it ran
    assert 0 < test["auc"] < 1 and 0.5 < test["oracle_auc"] < 1
    engine = report["engine"]  # the native engine ranks as the Merlin path does
    assert engine["same_items"] and engine["max_score_difference"] < 1e-5
    assert engine["latency"]["native"]["p50_ms"] < engine["latency"]["python"]["p50_ms"]
    served = report["serving"]["requests"]  # Triton answers as the engine in-process does
    assert {(r["protocol"], r["model"]) for r in served} == {  # real-time features: `ranker`
        (p, "ranker") for p in ("grpc", "http")}
    assert all(r["same_as_in_process"] and r["max_score_difference"] < 1e-6 for r in served)
    assert all(load["requests"] > 0 and load["failed"] == 0
               for load in report["serving"]["throughput"])
    recommended = report["serving"]["recommended"]  # the recommend ensemble, as in-process
    assert [r["new_user"] for r in recommended] == [False, False, True]
    assert all(r["same_as_in_process"] and r["max_score_difference"] < 1e-6 and
               len(r["item_ids"]) == 20 for r in recommended)
    assert 0 < report["retrieval"]["test"]["recall@100"] <= 1
    assert not _tritonserver_running(report["serving"]["repo"])
    feedback = report["serving"]["feedback"]  # events in, a version trained, judged, loaded
    assert 1_900 < feedback["events_sent"] < 2_200 and feedback["passed"], feedback
    realtime = feedback["realtime"]  # a user's clicks change their next recommendations
    assert realtime["changed"] > 0 and realtime["after_clicks"] != realtime["before"]
    assert feedback["version"] == 2 and feedback["failed"] == 0 and feedback["requests"] > 0
    assert feedback["rolled_back"] == 2 and feedback["restored"] == realtime["after_clicks"]
    for stage in (*(f"[{i}/8]" for i in range(1, 9)), "report"):
        assert stage in captured.err
    assert captured.err.rstrip().splitlines()[-1].startswith("  recommend")  # it ends there


def test_demo_rejects_bad_sizes(tmp_path, capsys):
    assert main(["demo", "--workdir", str(tmp_path / "d"), "--log-rows", "0"]) == 1
    assert "--log-rows must be >= 1" in capsys.readouterr().err


def _tritonserver_running(repo: str) -> bool:
    """Any process still serving repo (tritonserver or one of its Python stubs)."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if repo in cmdline.read_text(errors="replace"):
                return True
        except OSError:  # the process ended while we looked
            pass
    return False
