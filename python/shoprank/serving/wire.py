"""The client's side of a ranking request's tensors: the encoder (RankClient, the
benchmarks' load generator) and the layout's names. The layout and every rule the server
applies to it are the engine's request reader's: engine/include/shoprank/request.h.

  raw column NAME        NAME, shape [1, n]: n = N (one value per candidate) or n = 1
                         (one value for the request, e.g. the user's, given to every
                         candidate). int64 -> INT64; timestamp_ms -> INT64 (milliseconds
                         since the epoch); float64 -> FP64 (NaN allowed); string -> BYTES
                         (UTF-8).
  string_list NAME       NAME: BYTES [1, elements], every row's elements one after another,
                         and NAME__lengths: INT64 [1, n], each row's element count.
  nulls                  NAME__null_rows: INT64 [1, m], optional: the rows of NAME that
                         are null (their values in NAME are placeholders). A float
                         column's null is NaN; a list's null elements cannot be sent.
  k                      INT64 [1, 1]: how many items to return.
  outputs                item_ids [1, k] in the item key's type (INT64 or BYTES) and
                         scores FP32 [1, k], best first.

Columns a side table exported with the model supplies (user and item features, looked up
by user_id / item_id) may be left out. Events (the events model) carry no nulls.
"""

from __future__ import annotations

import numpy as np

from shoprank.ranker.raw import normalise

TRITON_TYPES = {"int64": "INT64", "timestamp_ms": "INT64", "float64": "FP64",
                "string": "BYTES", "string_list": "BYTES"}
LENGTHS, NULL_ROWS = "__lengths", "__null_rows"
K = "k"
ITEM_IDS, SCORES = "item_ids", "scores"
CANDIDATE_SCORES = "candidate_scores"
# a recommendation request (engine/include/shoprank/recommend_request.h)
EXCLUDE, CANDIDATES, RELEVANCE_WEIGHT = "exclude", "candidates", "relevance_weight"
MAX_PER, CANDIDATE_ITEMS = "max_per_", "candidate_items"
ACCEPTED = "accepted"  # the events model's answer: the events written
OBSERVED = "observed"  # the observe model's: the events taken into the real-time state
FEATURE, OFFSETS = "feature__", "__offsets"


def describe_inputs(inputs: dict[str, str]) -> str:
    """The raw columns' types as the models' "raw_inputs" parameter: name:type,name:type."""
    return ",".join(f"{name}:{kind}" for name, kind in inputs.items())


def parse_inputs(text: str) -> dict[str, str]:
    return dict(part.split(":", 1) for part in text.split(",") if part)


def input_tensors(inputs: dict[str, str], *, nulls: bool = False) -> list[tuple[str, str, str]]:
    """(tensor name, Triton type, raw column) of every request tensor but k; nulls: with
    each column's NAME__null_rows (a ranking or recommendation request's)."""
    out = []
    for name, kind in inputs.items():
        out.append((name, TRITON_TYPES[kind], name))
        if kind == "string_list":
            out.append((name + LENGTHS, "INT64", name))
        if nulls and kind != "float64":  # a float's null travels as NaN
            out.append((name + NULL_ROWS, "INT64", name))
    return out


def encode_column(name: str, kind: str, values, *, nulls: bool = True) -> dict[str, np.ndarray]:
    """One raw column as its request tensor(s), each shaped [1, n]; its null rows as
    NAME__null_rows where nulls (else a null is an error: events carry none)."""
    column = normalise(name, kind, values)
    if kind == "float64":
        return {name: column[0][None, :]}
    if kind == "string_list":
        flat, offsets, valid, element_valid = column
        _no_nulls(name, element_valid, "a list's null elements")
        out = {name: _bytes(flat)[None, :], name + LENGTHS: np.diff(offsets)[None, :]}
    else:
        values, valid = column
        out = {name: (_bytes(values) if kind == "string" else np.asarray(values, np.int64))[None, :]}
    if not nulls:
        _no_nulls(name, valid, "null values")
    elif valid is not None and not np.all(valid):
        out[name + NULL_ROWS] = np.flatnonzero(~np.asarray(valid, bool)).astype(np.int64)[None, :]
    return out


def encode_request(inputs: dict[str, str], user: dict, candidates: dict, k: int) -> dict:
    """A whole request's tensors: the candidates' columns, the user's (one value each), k."""
    tensors = {}
    for name, values in candidates.items():
        tensors.update(encode_column(name, inputs[name], values))
    for name, value in user.items():
        tensors.update(encode_column(name, inputs[name], [value]))
    tensors[K] = np.array([[k]], np.int64)
    return tensors


def encode_recommend(inputs: dict[str, str], item_key_type: str, user: dict, k: int, *,
                     exclude=(), candidates=None, relevance_weight=None, caps=None) -> dict:
    """A recommendation request's tensors (engine/include/shoprank/recommend_request.h): the
    request's columns (one value each), exclude, k and the optional knobs."""
    if isinstance(exclude, (str, bytes)) or np.ndim(exclude) == 0:
        raise TypeError(f"exclude: expected a sequence of item ids, got {type(exclude).__name__}")
    tensors = {}
    for name, value in user.items():
        tensors.update(encode_column(name, inputs[name], [value]))
    excluded = list(exclude)
    if excluded:  # none sent is the same as an empty list
        tensors.update({EXCLUDE: encode_column(EXCLUDE, item_key_type, excluded,
                                                         nulls=False)[EXCLUDE]})
    tensors[K] = np.array([[k]], np.int64)
    if candidates is not None:
        tensors[CANDIDATES] = np.array([[candidates]], np.int64)
    if relevance_weight is not None:
        tensors[RELEVANCE_WEIGHT] = np.array([[relevance_weight]], np.float32)
    for column, most in (caps or {}).items():
        tensors[MAX_PER + column] = np.array([[most]], np.int64)
    return tensors


def datatype(array: np.ndarray) -> str:
    """The Triton type a request tensor is sent as."""
    if array.dtype == np.object_:
        return "BYTES"
    return {"int64": "INT64", "int32": "INT32", "float64": "FP64", "float32": "FP32"}[array.dtype.name]


def infer_inputs(module, tensors: dict) -> list:
    """The tensors as tritonclient inputs (module: tritonclient.grpc or tritonclient.http)."""
    inputs = []
    for name, array in tensors.items():
        tensor = module.InferInput(name, list(array.shape), datatype(array))
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    return inputs


def _bytes(strings) -> np.ndarray:
    return np.array([s.encode("utf-8") for s in strings], dtype=np.object_)


def _no_nulls(name: str, valid, what: str) -> None:
    if valid is not None and len(valid) and not np.all(valid):
        raise ValueError(f"{name!r}: {what} cannot be sent to the server: leave a column a "
                         "side table supplies out to have it looked up, send a value, or rank "
                         "in process (shoprank.Ranker takes them)")
