"""The request tensors: what the client encodes (shoprank.serving.wire), the engine's one
request reader (request.h, bound as _engine.read_request) reads back as the same raw
columns; what cannot travel is refused with its column's name."""

from __future__ import annotations

import numpy as np
import pytest

from shoprank import _engine
from shoprank.serving import wire

INPUTS = {"user_id": "int64", "timestamp": "timestamp_ms", "price": "float64",
          "device": "string", "tags": "string_list"}


def _random_request(rng, rows):
    words = ["a", "b", "ç", "日本", ""]
    return {
        "user_id": rng.integers(-5, 10**12, rows),
        "timestamp": (np.datetime64("2024-01-01T00:00", "ms")
                      + rng.integers(0, 10**10, rows).astype("timedelta64[ms]")),
        "price": np.where(rng.random(rows) < 0.2, np.nan, rng.standard_normal(rows)),
        "device": [str(rng.choice(words)) for _ in range(rows)],
        "tags": [[str(rng.choice(words)) for _ in range(rng.integers(0, 4))] for _ in range(rows)],
    }


def decode_columns(inputs: dict[str, str], tensors: dict) -> dict:
    return _engine.read_request(list(inputs.items()), tensors, with_k=False)["columns"]


@pytest.mark.parametrize("rows", [0, 1, 7])
def test_encode_then_decode_gives_the_columns_back(rng, rows):
    raw = _random_request(rng, rows)
    tensors = {}
    for name, kind in INPUTS.items():
        tensors.update(wire.encode_column(name, kind, raw[name]))
    assert all(t.ndim == 2 and t.shape[0] == 1 for t in tensors.values())
    assert tensors["tags__lengths"].shape == (1, rows)
    decoded = decode_columns(INPUTS, tensors)
    np.testing.assert_array_equal(decoded["user_id"], raw["user_id"])
    np.testing.assert_array_equal(decoded["timestamp"], raw["timestamp"].astype(np.int64))
    np.testing.assert_array_equal(decoded["price"], raw["price"])  # NaN travels
    assert decoded["device"] == raw["device"]
    assert decoded["tags"] == raw["tags"]


def test_left_out_columns_stay_out():
    tensors = wire.encode_column("user_id", "int64", [3])
    assert decode_columns(INPUTS, tensors) == {"user_id": tensors["user_id"][0]}


def test_null_rows_travel_beside_their_column():
    raw = {"user_id": [1, None, 3], "device": ["a", None, "b"], "tags": [["x"], None, ["y"]],
           "timestamp": [np.datetime64("2024-01-01", "ms"), np.datetime64("NaT"),
                         np.datetime64("2024-01-02", "ms")], "price": [1.5, None, 2.0]}
    tensors = {}
    for name, kind in INPUTS.items():
        tensors.update(wire.encode_column(name, kind, raw[name]))
    assert {n for n in tensors if n.endswith(wire.NULL_ROWS)} == {
        "user_id__null_rows", "device__null_rows", "tags__null_rows", "timestamp__null_rows"}
    decoded = decode_columns(INPUTS, tensors)
    assert decoded["user_id"] == [1, None, 3] and decoded["device"] == ["a", None, "b"]
    assert decoded["tags"] == [["x"], None, ["y"]] and decoded["timestamp"][1] is None
    assert np.isnan(decoded["price"][1])  # a float's null is NaN
    with pytest.raises(ValueError, match=r"user_id__null_rows: row 3 is not a row of user_id"):
        decode_columns(INPUTS, {**tensors, "user_id__null_rows": np.array([[3]])})
    with pytest.raises(ValueError, match="device__null_rows was sent without device"):
        decode_columns(INPUTS, {"device__null_rows": np.array([[0]])})


@pytest.mark.parametrize("name,kind,values,nulls,words", [
    ("tags", "string_list", [["x", None]], True, "a list's null elements cannot be sent"),
    ("user_id", "int64", [1, None], False, "null values cannot be sent"),  # events, exclude
])
def test_nulls_that_cannot_be_sent(name, kind, values, nulls, words):
    with pytest.raises(ValueError, match=f"'{name}': {words}"):
        wire.encode_column(name, kind, values, nulls=nulls)


def test_bad_tensors_are_named():
    tags = wire.encode_column("tags", "string_list", [["x", "y"], ["z"]])
    with pytest.raises(ValueError, match="tags: a list column needs tags__lengths"):
        decode_columns(INPUTS, {"tags": tags["tags"]})
    with pytest.raises(ValueError, match="tags__lengths was sent without tags"):
        decode_columns(INPUTS, {"tags__lengths": tags["tags__lengths"]})
    with pytest.raises(ValueError, match="add up to the 3 elements of tags"):
        decode_columns(INPUTS, {"tags": tags["tags"],
                                     "tags__lengths": np.array([[2, 2]], np.int64)})
    with pytest.raises(ValueError, match=r"user_id: one query per request.*\[2, 1\]"):
        decode_columns(INPUTS, {"user_id": np.zeros((2, 1), np.int64)})
    with pytest.raises(ValueError, match="device: not UTF-8"):
        decode_columns(INPUTS, {"device": np.array([[b"\xff"]], dtype=object)})
    # a raw client sending epoch seconds where milliseconds travel (the Python encoder
    # refuses them before they leave)
    with pytest.raises(ValueError, match=r"timestamp: 1700000000 would be 1970-01-20 as "
                                         r"milliseconds; it looks like seconds since the epoch "
                                         r"\(2023-11-14\)"):
        decode_columns(INPUTS, {"timestamp": np.array([[1_700_000_000_000, 1_700_000_000]])})
    assert decode_columns(INPUTS, {"timestamp": np.array([[0, 99, 1_700_000_000_000]])})


def test_input_types_round_trip_through_the_config_parameter():
    assert wire.parse_inputs(wire.describe_inputs(INPUTS)) == INPUTS
