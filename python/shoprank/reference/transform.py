"""The NumPy reference of a transform spec (shoprank.export.transform): the spec applied to
raw, already joined request rows with NumPy alone; ``lookup_side_tables`` does the join
from the key columns. The native engine is tested against these, and
tests/export/test_transform.py proves them equal to NVTabular's ``Workflow.transform``
(ids exactly, continuous values to 1e-6). The conventions are the spec's (see there).
"""

from __future__ import annotations


import numpy as np

from shoprank.export.tensors import decode_strings
from shoprank.export.transform import EPOCH_WEEKDAY, MS_PER_DAY, MS_PER_HOUR
from shoprank.ranker.raw import is_null
from shoprank.reference.hashing import hash_text


def reference_transform(spec: dict, tensors: dict[str, np.ndarray],
                        raw: dict) -> dict[str, np.ndarray | list[np.ndarray]]:
    """The spec applied to raw, joined rows: {feature: int32 ids | float32 values | a list of
    int32 id arrays (list features)}. raw: {input column: array or list}, every input the
    features read, one value per row; missing values as None / NaN / NaT."""
    types = {i["name"]: i["type"] for i in spec["inputs"]}
    rows = _row_count(raw, [c for f in spec["features"] for c in f["inputs"]])
    columns: dict[str, object] = {}

    def column(name):
        if name not in columns:
            if name not in raw:
                raise ValueError(f"raw rows lack the input column {name!r}")
            columns[name] = _parse(raw[name], types[name], name, rows)
        return columns[name]

    out = {}
    for feature in spec["features"]:
        out[feature["name"]] = _OPS[feature["op"]](feature, tensors, [column(c) for c in
                                                                        feature["inputs"]], rows)
    return out


def lookup_side_tables(spec: dict, tensors: dict[str, np.ndarray], raw: dict) -> dict:
    """raw plus every side-table input column it lacks, looked up by the table's key column
    (an unknown or null key gives nulls). Columns raw already carries are kept as given."""
    types = {i["name"]: i["type"] for i in spec["inputs"]}
    out = dict(raw)
    for name, table in spec["tables"].items():
        missing = [c for c in table["columns"] if c["name"] not in raw]
        if not missing:
            continue
        key = table["key"]
        if key not in raw:
            raise ValueError(f"raw rows lack {key!r}, the key of side table {name!r}")
        rows = len(raw[key])
        lookup = _Lookup(tensors, table["keys"], table["key_type"])
        values, valid = _scalar_values(_parse(raw[key], types.get(key, table["key_type"]),
                                              key, rows))
        index = np.array([lookup.get(v) if ok else -1 for v, ok in zip(values, valid)],
                         dtype=np.int64)
        for spec_column in missing:
            out[spec_column["name"]] = _gather(spec_column, tensors, index)
    return out


def _gather(column: dict, tensors, index: np.ndarray):
    """One side-table column at the table rows `index` (-1: null), in reference_transform's
    input form."""
    kind, tensor = column["type"], column["values"]
    found = index >= 0
    valid = np.zeros(len(index), dtype=bool)
    valid[found] = tensors[column["valid"]][index[found]].astype(bool)
    if kind == "float64":
        values = np.full(len(index), np.nan)
        values[found] = tensors[tensor][index[found]]
        return values
    if kind in ("int64", "timestamp_ms"):
        values = np.zeros(len(index), dtype=np.int64)
        values[found] = tensors[tensor][index[found]]
        return [int(v) if ok else None for v, ok in zip(values, valid)]
    strings = decode_strings(tensors[f"{tensor}.bytes"], tensors[f"{tensor}.offsets"])
    if kind == "string":
        return [strings[i] if ok else None for i, ok in zip(index, valid)]
    rows = tensors[column["rows"]]
    element_valid = tensors[column["element_valid"]].astype(bool)
    out = []
    for i, ok in zip(index, valid):
        if not ok:
            out.append(None)
            continue
        out.append([strings[e] if element_valid[e] else None for e in range(rows[i], rows[i + 1])])
    return out


def _row_count(raw: dict, names) -> int:
    lengths = {len(raw[n]) for n in names if n in raw}
    if len(lengths) > 1:
        raise ValueError(f"raw columns have different lengths: "
                         f"{ {n: len(raw[n]) for n in names if n in raw} }")
    return lengths.pop() if lengths else 0


def _parse(values, kind: str, name: str, rows: int):
    """A raw column in its canonical form:
    int64 / timestamp_ms: (int64 array, bool valid); float64: float64 array (NaN missing);
    string: list[str | None]; string_list: list[list[str | None] | None]."""
    if len(values) != rows:
        raise ValueError(f"column {name!r}: {len(values)} values for {rows} rows")
    if kind == "float64":
        array = np.asarray(values)
        if array.dtype.kind in "fiub":
            return array.astype(np.float64)
        return np.array([np.nan if is_null(v) else float(v) for v in values], dtype=np.float64)
    if kind in ("int64", "timestamp_ms"):
        array = np.asarray(values)
        if array.dtype.kind == "M":
            valid = ~np.isnat(array)
            ms = array.astype("datetime64[ms]").astype(np.int64)
            return np.where(valid, ms, 0), valid
        if array.dtype.kind in "iub":
            return array.astype(np.int64), np.ones(rows, dtype=bool)
        if array.dtype.kind == "f":
            valid = ~np.isnan(array)
            return np.where(valid, array, 0).astype(np.int64), valid
        valid = np.array([not is_null(v) for v in values], dtype=bool)
        out = np.zeros(rows, dtype=np.int64)
        for i, (v, ok) in enumerate(zip(values, valid)):
            if ok:
                if kind == "timestamp_ms" and not isinstance(v, (int, np.integer)):
                    v = np.datetime64(v, "ms").astype(np.int64)
                out[i] = int(v)
        return out, valid
    if kind == "string":
        return [None if is_null(v) else str(v) for v in values]
    if kind == "string_list":
        out = []
        for v in values:
            if v is None or (not isinstance(v, (list, tuple, np.ndarray)) and is_null(v)):
                out.append(None)
            else:
                out.append([None if is_null(e) else str(e) for e in v])
        return out
    raise ValueError(f"column {name!r}: unknown type {kind!r}")


class _Lookup:
    """key -> position (or id) in a spec table."""

    def __init__(self, tensors, tensor: str, key_type: str, values=None):
        if key_type == "string":
            keys = decode_strings(tensors[f"{tensor}.bytes"], tensors[f"{tensor}.offsets"])
        elif key_type == "int64":
            keys = [int(k) for k in tensors[tensor]]
        elif key_type == "float64":
            keys = [float(k) for k in tensors[tensor]]
        else:
            raise ValueError(f"{tensor}: unknown key type {key_type!r}")
        self.key_type = key_type
        targets = range(len(keys)) if values is None else values.tolist()
        self.table = dict(zip(keys, targets))

    def get(self, key, default=-1):
        if self.key_type == "int64":
            if isinstance(key, (float, np.floating)) and not float(key).is_integer():
                return default
            key = int(key)
        elif self.key_type == "float64":
            key = float(key)
        elif not isinstance(key, str):
            key = str(key)
        return self.table.get(key, default)


def _id_lookup(feature, tensors) -> _Lookup:
    return _Lookup(tensors, feature["keys"], feature["key_type"],
                   values=tensors[feature["ids"]].astype(np.int64))


def _scalar_values(column):
    """(python values, valid) of any canonical column."""
    if isinstance(column, tuple):
        values, valid = column
        return values.tolist(), valid
    if isinstance(column, np.ndarray):  # float64
        return column.tolist(), ~np.isnan(column)
    return column, np.array([v is not None for v in column], dtype=bool)


def _op_categorify(feature, tensors, inputs, rows):
    lookup = _id_lookup(feature, tensors)
    values, valid = _scalar_values(inputs[0])
    unseen, null = feature["unseen_id"], feature["null_id"]
    return np.array([lookup.get(v, unseen) if ok else null for v, ok in zip(values, valid)],
                    dtype=np.int32)


def _op_categorify_list(feature, tensors, inputs, rows):
    lookup = _id_lookup(feature, tensors)
    unseen, null_element = feature["unseen_id"], feature["null_element_id"]
    out = []
    for items in inputs[0]:
        if items is None:  # null list: no ids (NVTabular's CPU Categorify raises)
            out.append(np.zeros(0, dtype=np.int32))
            continue
        out.append(np.array([null_element if v is None else lookup.get(v, unseen)
                             for v in items], dtype=np.int32))
    return out


def _op_cross_categorify(feature, tensors, inputs, rows):
    lookup = _id_lookup(feature, tensors)
    parts = [_scalar_values(column) for column in inputs]
    out = np.empty(rows, dtype=np.int32)
    for row in range(rows):
        if not all(valid[row] for _, valid in parts):
            out[row] = feature["null_id"]
            continue
        text = feature["separator"].join(
            str(int(values[row])) if rule == "int64_decimal" else values[row]
            for (values, _), rule in zip(parts, feature["part_text"]))
        out[row] = lookup.get(text, feature["unseen_id"])
    return out


def _op_time_categorify(feature, tensors, inputs, rows):
    ms, valid = inputs[0]
    if feature["part"] == "hour":
        part = np.floor_divide(ms, MS_PER_HOUR) % 24
    else:
        part = (np.floor_divide(ms, MS_PER_DAY) + EPOCH_WEEKDAY) % 7
    lookup = _id_lookup(feature, tensors)
    return np.array([lookup.get(int(p), feature["unseen_id"]) if ok else feature["null_id"]
                     for p, ok in zip(part, valid)], dtype=np.int32)


def _op_hash_bucket(feature, tensors, inputs, rows):
    values, valid = _scalar_values(inputs[0])
    text = [(str(int(v)) if feature["part_text"] == "int64_decimal" else v) if ok else None
            for v, ok in zip(values, valid)]
    return (hash_text(text) % np.uint64(feature["num_buckets"])).astype(np.int32)


def _op_continuous_op(feature, tensors, inputs, rows):
    column = inputs[0]
    if isinstance(column, tuple):  # an int64 column
        values, valid = column
        x = np.where(valid, values.astype(np.float32), np.float32(np.nan)).astype(np.float32)
    else:
        x = column.astype(np.float32)
    return _apply_steps(x, feature["steps"])


def _op_value_count(feature, tensors, inputs, rows):
    lookup = _Lookup(tensors, feature["keys"], feature["key_type"],
                     values=tensors[feature["counts"]].astype(np.int64))
    values, valid = _scalar_values(inputs[0])
    counts = [lookup.get(v, feature["unseen_count"]) if ok else feature["null_count"]
              for v, ok in zip(values, valid)]
    return _apply_steps(np.asarray(counts, dtype=np.float32), feature["steps"])


def _op_target_encoding(feature, tensors, inputs, rows):
    lookup = _Lookup(tensors, feature["keys"], feature["key_type"])
    table = tensors[feature["values"]].astype(np.float32)
    values, valid = _scalar_values(inputs[0])
    x = np.empty(rows, dtype=np.float32)
    for i, (v, ok) in enumerate(zip(values, valid)):
        if not ok:
            x[i] = feature["null_value"]
        else:
            at = lookup.get(v)
            x[i] = table[at] if at >= 0 else feature["default"]
    return _apply_steps(x, feature["steps"])


def _apply_steps(x: np.ndarray, steps) -> np.ndarray:
    """float32 in, float32 out, float32 arithmetic (NumPy's float32 log)."""
    x = np.array(x, dtype=np.float32)
    for step in steps:
        op = step["op"]
        if op == "fill_missing":
            x[np.isnan(x)] = np.float32(step["value"])
        elif op == "clip":
            if step["min"] is not None:
                x[x < np.float32(step["min"])] = np.float32(step["min"])
            if step["max"] is not None:
                x[x > np.float32(step["max"])] = np.float32(step["max"])
        elif op == "log_plus_one":
            x = np.log(x + np.float32(1)).astype(np.float32)
        elif op == "normalize":
            x = x - np.float32(step["mean"])
            if step["std"] is not None and step["std"] > 0:
                x = x / np.float32(step["std"])
            x = x.astype(np.float32)
        else:
            raise ValueError(f"unknown continuous step {op!r}")
    return x


_OPS = {"categorify": _op_categorify, "categorify_list": _op_categorify_list,
        "cross_categorify": _op_cross_categorify, "time_categorify": _op_time_categorify,
        "hash_bucket": _op_hash_bucket, "continuous": _op_continuous_op,
        "value_count": _op_value_count, "target_encoding": _op_target_encoding}
