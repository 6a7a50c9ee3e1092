"""Real-time behaviour features: the offline pass (etl/realtime.py, the training features)
by hand and against the engine's online state (engine/online/online_state.cpp) replaying
random logs through it, bounds, concurrency and bad events. Tolerance: none, counts and
lists are exact."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from shoprank import _engine
from shoprank.etl.realtime import COLUMNS, RealtimeConfig, realtime_columns
from shoprank.ranker.raw import normalise

SPEC = {"user": "user_id", "item": "item_id", "timestamp": "ts", "label": "click"}


def state(recent_clicks=2, window_ms=10_000, **bounds):
    return _engine.OnlineState(json.dumps({**SPEC, "recent_clicks": recent_clicks,
                                           "window_ms": window_ms, **bounds}))


def typed(kind_of_ids, rows: dict) -> dict:
    kinds = {"user_id": kind_of_ids, "item_id": kind_of_ids, "ts": "int64", "click": "float64"}
    return {name: (kinds[name], normalise(name, kinds[name], values))
            for name, values in rows.items()}


# rows: (user, item, seconds, click); ties at 0 s and a null user and a null item
HAND_LOG = [(1, "A", 0, 1), (1, "B", 0, 1), (2, "A", 5, 0), (1, "C", 5, 0), (None, "A", 6, 1),
            (1, None, 8, 1), (1, "A", 10, 0), (1, "B", 11, 0), (1, "D", 12, 1), (1, "E", 13, 0)]
HAND_WANT = {  # window 10 s, the last 2 clicks; rows 4 and 5 name no user / item: not counted
    "recent_clicks": [[None], [None], [None], ["B", "A"], [None], ["B", "A"], ["B", "A"],
                      ["B", "A"], ["B", "A"], ["D", "B"]],  # [None]: no click yet
    "recent_user_impressions": [0, 0, 0, 2, 0, 3, 3, 2, 3, 4],
    "recent_user_clicks": [0, 0, 0, 2, 0, 2, 2, 0, 0, 1],
    "recent_item_impressions": [0, 0, 1, 0, 2, 0, 2, 0, 0, 0],
    "recent_item_clicks": [0, 0, 1, 0, 1, 0, 1, 0, 0, 0],
}


def test_the_offline_pass_by_hand():
    user, item, seconds, click = (np.array(c, dtype=object) for c in zip(*HAND_LOG))
    got = realtime_columns(user, item, seconds.astype(np.int64) * 1000, click.astype(float),
                           RealtimeConfig(recent_clicks=2, window_minutes=10 / 60))
    assert list(got) == list(COLUMNS)
    for name, want in HAND_WANT.items():
        assert [list(v) for v in got[name]] == want if name == "recent_clicks" \
            else got[name].tolist() == want, name


def test_click_matches_by_hand():
    """recent_clicks_same_category: how many of the row's recent clicks share its item's
    category (A, C and D are x; B and E are y; a null category matches nothing)."""
    user, item, seconds, click = (np.array(c, dtype=object) for c in zip(*HAND_LOG))
    category = {"A": "x", "B": "y", "C": "x", "D": "x", "E": "y", None: None}
    got = realtime_columns(user, item, seconds.astype(np.int64) * 1000, click.astype(float),
                           RealtimeConfig(2, 10 / 60, ("category",)),
                           {"category": np.array([category[i] for i in item], dtype=object)})
    # rows 3, 5-9 hold [B, A] or [D, B]: row 3 (C: x) 1, 5 (no item) 0, 6 (A: x) 1,
    # 7 (B: y) 1, 8 (D: x) 1, 9 (E: y, recent [D, B]) 1
    assert got["recent_clicks_same_category"].tolist() == [0, 0, 0, 1, 0, 0, 1, 1, 1, 1]


def replay(online, kind_of_ids, user, item, ms, click):
    """Each group of rows sharing a time: filled in as of that time, then observed."""
    order = np.argsort(ms, kind="stable")
    got = {name: [None] * len(ms) for name in COLUMNS}
    bounds = np.flatnonzero(np.r_[True, np.diff(ms[order]) != 0, True])
    for a, b in zip(bounds[:-1], bounds[1:]):
        rows = order[a:b]
        part = {"user_id": list(user[rows]), "item_id": list(item[rows]), "ts": ms[rows]}
        filled = online.fill(typed(kind_of_ids, part), 0)
        for name in COLUMNS:
            for row, value in zip(rows, filled[name]):
                got[name][row] = list(value) if name == "recent_clicks" else value
        online.observe(typed(kind_of_ids, {**part, "click": click[rows]}))
    return got


def test_the_engine_replays_the_hand_log_as_the_offline_pass():
    user, item, seconds, click = (np.array(c, dtype=object) for c in zip(*HAND_LOG))
    user = np.array([None if u is None else str(u) for u in user], dtype=object)
    got = replay(state(), "string", user, item, seconds.astype(np.int64) * 1000,
                 click.astype(float))
    for name, want in HAND_WANT.items():
        assert got[name] == want, name


@pytest.mark.parametrize("ids", ["int64", "string"])
def test_the_engine_equals_the_offline_pass_on_random_logs(rng, ids):
    n, users, items = 3_000, 40, 60
    ms = np.sort(rng.integers(0, 200, n)) * 250 + rng.integers(0, 2, n)  # many ties
    ms = rng.permutation(ms)  # logs need not be in time order
    user = rng.integers(0, users, n).astype(object)
    item = rng.integers(0, items, n).astype(object)
    if ids == "string":
        user, item = (np.array([f"k{v}" for v in a], dtype=object) for a in (user, item))
    user[rng.random(n) < 0.05] = None
    item[rng.random(n) < 0.05] = None
    click = (rng.random(n) < 0.3).astype(float)
    window_ms, last = int(rng.integers(500, 5_000)), int(rng.integers(1, 6))
    want = realtime_columns(user, item, ms, click, RealtimeConfig(last, window_ms / 60_000))
    got = replay(state(last, window_ms), ids, user, item, ms, click)
    for name in COLUMNS:
        if name == "recent_clicks":
            assert got[name] == [list(v) for v in want[name]], name
        else:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_fill_as_of_now_when_the_rows_carry_no_time():
    online = state(window_ms=1_000)
    online.observe(typed("int64", {"user_id": [1, 1], "item_id": [5, 6], "ts": [100, 900],
                                   "click": [1, 0]}))
    asked = {"user_id": ("int64", normalise("user_id", "int64", [1])),
             "item_id": ("int64", normalise("item_id", "int64", [5, 6, 7]))}
    at_1000 = online.fill(asked, 1_000)  # the user's one row broadcasts
    assert at_1000["recent_clicks"] == [["5"]] and at_1000["recent_user_impressions"].tolist() == [2]
    assert at_1000["recent_item_impressions"].tolist() == [1, 1, 0]
    at_1500 = online.fill(asked, 1_500)  # [500, 1500): the event at 100 has left the window
    assert at_1500["recent_user_impressions"].tolist() == [1]
    assert at_1500["recent_clicks"] == [["5"]]  # the list is not windowed


def test_a_request_at_the_newest_click_time_sees_the_clicks_before_it():
    """The list keeps the last N clicks and those tied at the newest time."""
    online = state(recent_clicks=1)
    online.observe(typed("int64", {"user_id": [1, 1], "item_id": [5, 6], "ts": [1000, 2000],
                                   "click": [1, 1]}))
    asked = {"user_id": ("int64", normalise("user_id", "int64", [1])),
             "ts": ("int64", normalise("ts", "int64", [2000]))}
    assert online.fill(asked, 0)["recent_clicks"] == [["5"]]
    want = realtime_columns(np.array([1, 1, 1]), np.array([5, 6, 7]),
                            np.array([1000, 2000, 2000]), np.array([1.0, 1.0, 0.0]),
                            RealtimeConfig(1, 1.0))
    assert want["recent_clicks"][2] == ["5"]


def test_memory_is_bounded():
    online = state(window_ms=1_000_000, max_keys=3, max_events_per_key=4)
    for user in range(5):  # users 0 and 1 are the least recently active: evicted
        online.observe(typed("int64", {"user_id": [user] * 6, "item_id": [9] * 6,
                                       "ts": np.arange(6) + 10 * user, "click": [0] * 6}))
    assert online.stats() == {"users": 3, "items": 1, "events": 30}
    asked = {"user_id": ("int64", normalise("user_id", "int64", [0, 4])),
             "item_id": ("int64", normalise("item_id", "int64", [9, 9]))}
    filled = online.fill(asked, 1_000)
    assert filled["recent_user_impressions"].tolist() == [0, 4]  # evicted; capped at 4
    assert filled["recent_item_impressions"].tolist() == [4, 4]


def test_readers_and_writers_at_once():
    online = state(window_ms=10 ** 12)
    errors = []

    def write(user):
        try:
            for t in range(200):
                online.observe(typed("int64", {"user_id": [user], "item_id": [t % 7],
                                               "ts": [t], "click": [1]}))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    def read():
        try:
            for _ in range(200):
                online.fill({"user_id": ("int64", normalise("user_id", "int64", [0])),
                             "item_id": ("int64", normalise("item_id", "int64", list(range(7))))},
                            10 ** 6)
        except Exception as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=write, args=(u,)) for u in range(4)]
    threads += [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert online.stats() == {"users": 4, "items": 7, "events": 800}
    filled = online.fill({"item_id": ("int64", normalise("item_id", "int64", list(range(7))))},
                         10 ** 6)
    assert filled["recent_item_clicks"].sum() == 800


def test_bad_events_are_named():
    online = state()
    with pytest.raises(ValueError, match='missing column "click"'):
        online.observe(typed("int64", {"user_id": [1], "item_id": [2], "ts": [3]}))
    with pytest.raises(ValueError, match='column "ts" is null at row 1'):
        online.observe(typed("int64", {"user_id": [1, 1], "item_id": [2, 2], "ts": [3, None],
                                       "click": [0, 1]}))
    with pytest.raises(ValueError, match='column "ts": expected timestamp_ms or int64 values, '
                                         'got string'):
        online.observe({**typed("int64", {"user_id": [1], "item_id": [2], "click": [1]}),
                        "ts": ("string", normalise("ts", "string", ["noon"]))})
    with pytest.raises(ValueError, match="different lengths"):
        online.observe(typed("int64", {"user_id": [1, 2], "item_id": [2, 3, 4], "ts": [3, 4],
                                       "click": [0, 1]}))
    assert online.stats()["events"] == 0  # nothing half-taken
    with pytest.raises(ValueError, match="recent_clicks: must be >= 1"):
        state(recent_clicks=0)


@pytest.mark.parametrize("raw,message", [
    ({"recent_clicks": 0}, "realtime.recent_clicks: expected an integer >= 1"),
    ({"window_minutes": -1}, "realtime.window_minutes: expected a number of minutes > 0"),
    ({"last": 3}, r"realtime: unknown keys \['last'\]"),
    ({"match": "category"}, "realtime.match: expected a list of item columns"),
    ([5], "realtime: expected an object"),
])
def test_bad_settings_are_named(raw, message):
    with pytest.raises(ValueError, match=message):
        RealtimeConfig.from_dict(raw)
