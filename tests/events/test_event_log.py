"""The event log on its own (no server): batches written as durable segments in the logs'
layout and dtypes, read back as written; every refused batch names its fault and writes
nothing; group commit writes the good batches of a moment as one segment; a partial
segment (a crash before the rename) is removed on open and never read; the watermark of
late events survives a reopen."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from shoprank.events import EventLog

pytest.importorskip("nvtabular")

T0 = np.datetime64("2024-03-01T10:00", "ms")


def events(n: int, start=T0, **extra) -> dict:
    stamps = start + np.arange(n) * np.timedelta64(1, "s")
    return {"timestamp": stamps.astype(np.int64), "user_id": np.arange(n) % 7,
            "item_id": np.arange(n) % 11, "click": np.arange(n) % 2, **extra}


@pytest.fixture
def log(world, tmp_path):
    return EventLog.create(tmp_path / "events", world / "features")


def segments(log):
    return sorted((log.folder / "impressions").glob("*"))


def test_a_batch_is_written_in_the_logs_layout_and_read_back(log, world):
    assert log.append(events(5, device=["app"] * 5, position=[0, 1, 2, 3, 4])) == 5
    [segment] = segments(log)
    assert segment.suffix == ".parquet"
    back = log.read()
    raw = pd.read_parquet(world / "logs" / "impressions").drop(columns=["_p_click"])
    assert list(back.columns) == list(raw.columns)  # the impressions' own columns, in order
    assert back.timestamp.dtype == raw.timestamp.dtype and back.click.dtype == raw.click.dtype
    assert back.timestamp.tolist() == [pd.Timestamp(T0) + pd.Timedelta(seconds=s)
                                       for s in range(5)]
    assert back.device.tolist() == ["app"] * 5 and back.purchase.tolist() == [0] * 5
    assert back.session_id.isna().all()  # an optional column not sent stays null
    config = json.loads((log.folder / "logs.json").read_text())
    assert config["impressions"] == "impressions/*.parquet" and "passthrough" not in config
    assert all((log.folder / t["path"]).is_file() for t in config["side_tables"].values())


@pytest.mark.parametrize("batch,reason", [
    ({**events(2), "colour": ["red", "blue"]}, r"unknown event column\(s\) \['colour'\]"),
    ({k: v for k, v in events(2).items() if k != "item_id"}, r"events need \['item_id'\]"),
    ({**events(2), "click": [0, 2]}, "click: a label is 0 or 1, got 2"),
    ({**events(3), "user_id": [1, 2]}, "event columns of different lengths"),
    ({**events(2), "timestamp": np.array([T0 + 5000, T0], "datetime64[ms]").astype(np.int64)},
     "timestamp: events out of order"),
])
def test_a_bad_batch_is_refused_with_its_reason_and_writes_nothing(log, batch, reason):
    with pytest.raises(ValueError, match=reason):
        log.append(batch)
    assert segments(log) == [] and log.read().empty


def test_late_events_are_refused_and_the_watermark_survives_a_reopen(log):
    log.append(events(3, start=T0 + np.timedelta64(2, "h")))
    late = events(1)  # two hours before the newest: more than the default hour late
    with pytest.raises(ValueError, match="older than the newest logged .* by more than 3600 s"):
        log.append(late)
    with pytest.raises(ValueError, match="older than the newest logged"):
        EventLog(log.folder).append(late)
    assert EventLog(log.folder, max_lateness_s=3 * 3600).append(late) == 1


def test_group_commit_writes_the_good_batches_as_one_segment(log):
    outcomes = log.append_many([events(2), {**events(1), "click": [5]},
                                events(3, start=T0 + np.timedelta64(1, "m"))])
    assert outcomes[0] == 2 and isinstance(outcomes[1], ValueError) and outcomes[2] == 3
    assert len(segments(log)) == 1
    back = log.read()
    assert len(back) == 5 and back.timestamp.is_monotonic_increasing


def test_a_dead_writers_partial_segment_is_removed_on_open_and_never_read(log):
    import os

    log.append(events(2))
    gone = _a_dead_pid()
    dead = log.folder / "impressions" / f"events-1-{gone}-1.parquet.partial"
    live = log.folder / "impressions" / f"events-1-{os.getpid()}-1.parquet.partial"
    for partial in (dead, live):
        partial.write_bytes(b"half a parquet file")
    reopened = EventLog(log.folder)
    assert not dead.exists() and len(reopened.read()) == 2
    assert live.exists()  # a live writer's file in progress is left alone


def _a_dead_pid() -> int:
    import subprocess

    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_column_one_batch_leaves_out_reads_back_typed(log):
    log.append(events(2))
    log.append(events(2, start=T0 + np.timedelta64(1, "m"), session_id=[5, 6]))
    back = pd.read_parquet(log.folder / "impressions")  # every segment at once, as dask does
    assert back.session_id.dtype.kind in "if" and back.session_id.tolist()[2:] == [5, 6]


def test_group_commit_applies_the_lateness_rule_to_the_group_too(log):
    outcomes = log.append_many([events(1, start=T0 + np.timedelta64(10, "h")), events(1)])
    assert outcomes[0] == 1 and isinstance(outcomes[1], ValueError)


def test_an_event_log_of_other_columns_is_not_reused(log, tmp_path):
    meta = log.folder / "events.json"
    saved = json.loads(meta.read_text())
    saved["schema"]["columns"]["extra"] = "int64"
    meta.write_text(json.dumps(saved))
    with pytest.raises(ValueError, match="is an event log of other columns"):
        EventLog.create(log.folder, json.loads(meta.read_text())["etl"])
    with pytest.raises(FileNotFoundError, match="not an event log"):
        EventLog(tmp_path)
