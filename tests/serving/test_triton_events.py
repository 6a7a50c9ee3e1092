"""The `events` model on the real server of tests/serving/conftest.py: a replay of the
generated logs sent over gRPC and HTTP is in the event log exactly as sent (the logs' own
columns and dtypes), and shoprank etl reads that log; a bad batch is refused with its
reason and writes nothing; the server goes on. (Kill -9 under an events load:
test_hostile.py.)"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shoprank.client import RankClient, RankError
from shoprank.events import EventLog

pytest.importorskip("merlin.models")
pytest.importorskip("pytriton")


@pytest.fixture(scope="module")
def replay(world):
    """The generated impressions of the last day, in time order, as a live system logs them
    (the generator's oracle column left out; rows with a null left out too: the wire
    carries no nulls, a batch leaves such a column out instead)."""
    frame = pd.read_parquet(world / "logs" / "impressions").drop(columns=["_p_click"]).dropna()
    frame = frame.sort_values("timestamp", kind="stable").reset_index(drop=True)
    return frame.iloc[-600:].reset_index(drop=True)


def as_events(frame: pd.DataFrame) -> dict:
    return {name: (frame[name].to_numpy("datetime64[ms]") if name == "timestamp"
                   else frame[name].tolist()) for name in frame.columns}


@pytest.mark.parametrize("protocol,rows", [("grpc", slice(0, 300)), ("http", slice(300, 600))])
def test_events_sent_are_logged_as_sent(served, replay, protocol, rows):
    server = served[0]
    log = EventLog(server.events)
    before = len(log.read())
    sent = replay.iloc[rows].reset_index(drop=True)
    url = server.grpc_url if protocol == "grpc" else server.http_url
    with RankClient(url, protocol) as client:
        accepted = [client.log_events(as_events(sent.iloc[i:i + 100])) for i in range(0, 300, 100)]
    assert accepted == [100, 100, 100]
    logged = log.read().iloc[before:].reset_index(drop=True)
    pd.testing.assert_frame_equal(logged, sent, check_dtype=True)


def test_a_bad_batch_is_refused_with_its_reason(served, replay):
    server = served[0]
    before = len(EventLog(server.events).read())
    good = as_events(replay.iloc[-2:])
    with RankClient(server.grpc_url, "grpc") as client:
        for change, reason in [({"click": [1, 3]}, "click: a label is 0 or 1, got 3"),
                               ({"timestamp": good["timestamp"][-1:] + np.array(
                                   [1, 0], "timedelta64[s]")}, "events out of order"),
                               ({"timestamp": good["timestamp"] - np.timedelta64(2, "h")},
                                "older than the newest logged")]:
            with pytest.raises(RankError, match=reason):
                client.log_events({**good, **change})
        with pytest.raises(RankError, match=r"events need \['user_id'\]"):
            client.log_events({k: v for k, v in good.items() if k != "user_id"})
        with pytest.raises(ValueError, match=r"unknown event column\(s\) \['colour'\]"):
            client.log_events({**good, "colour": ["red", "red"]})  # caught before sending
        assert len(EventLog(server.events).read()) == before
        assert client.log_events(good) == 2  # served on


def test_the_etl_reads_the_event_log(served, tmp_path):
    from shoprank.etl import run_etl

    server = served[0]
    logged = len(EventLog(server.events).read())
    summary = run_etl(server.events / "logs.json", tmp_path / "features", progress=False,
                      say=lambda *_: None)
    assert sum(s["rows_out"] for s in summary["splits"].values()) == logged
