"""The NumPy reference of a forward spec (shoprank.export.forward): click probabilities
from the spec and its tensors, the function the native engine's forward pass is tested
against (tests/export/test_forward.py proves it equal to the Keras model's predictions)."""

from __future__ import annotations

import numpy as np

from shoprank.export.precision import table_of, widen

from shoprank.export.keras_layers import ACTIVATIONS


def numpy_forward(spec: dict, tensors: dict[str, np.ndarray], categorical: dict,
                  continuous: dict) -> np.ndarray:
    """Click probabilities (n,) float32 for n rows of model inputs.

    categorical: {feature: (n,) int ids} (Categorify ids, 0 <= id < cardinality); a list
    feature gives a sequence of n int arrays (empty allowed), or a (values, offsets) pair
    with offsets of length n + 1. continuous: {feature: (n,) numbers}.
    """
    emb = spec["embeddings"]
    table = table_of(emb, tensors)
    pooled, n = {}, None
    for f in emb["features"]:
        name = f["name"]
        if name not in categorical:
            raise ValueError(f"categorical feature {name!r} is missing")
        vectors = _embed(table, f, categorical[name], emb["pooling"])
        if n is not None and len(vectors) != n:
            raise ValueError(f"feature {name!r} has {len(vectors)} rows, others {n}")
        n = len(vectors)
        pooled[name] = vectors
    columns = {}
    for name in spec["continuous"]:
        if name not in continuous:
            raise ValueError(f"continuous feature {name!r} is missing")
        values = np.asarray(continuous[name]).astype(np.float32).reshape(-1)
        if len(values) != n:
            raise ValueError(f"feature {name!r} has {len(values)} rows, others {n}")
        columns[name] = values[:, None]

    if spec["architecture"] == "dlrm":
        parts = {}
        if spec["bottom_mlp"]:
            dense = np.concatenate([columns[c] for c in spec["continuous"]], axis=1)
            parts["bottom_mlp"] = _mlp_forward(dense, spec["bottom_mlp"], tensors)
        stack = np.stack([parts["bottom_mlp"] if v["kind"] == "bottom_mlp" else pooled[v["name"]]
                          for v in spec["interaction"]["vectors"]], axis=1)
        dots = np.matmul(stack, stack.transpose(0, 2, 1))  # (n, F, F)
        rows, cols = np.triu_indices(stack.shape[1], k=1)  # row-major, i < j
        parts["interaction"] = dots[:, rows, cols]
        hidden = np.concatenate([parts[k] for k in spec["top_input"]], axis=1)
        hidden = _mlp_forward(hidden, spec["top_mlp"], tensors)
    else:
        x0 = np.concatenate([pooled[x["name"]] if x["kind"] == "embedding" else columns[x["name"]]
                             for x in spec["input"]], axis=1).astype(np.float32)
        x = x0
        for c in spec["cross"]:
            projected = x @ widen(tensors[c["kernel"]])
            if c["bias"] is not None:
                projected = projected + np.asarray(tensors[c["bias"]], np.float32)
            x = x0 * projected + x
        if spec["structure"] == "stacked":
            hidden = _mlp_forward(x, spec["deep_mlp"], tensors)
        else:
            parts = {"cross": x, "deep": _mlp_forward(x0, spec["deep_mlp"], tensors)}
            hidden = np.concatenate([parts[k] for k in spec["parallel_concat"]], axis=1)
    if spec.get("linear"):
        hidden = np.concatenate([hidden, _linear_logit(spec["linear"], tensors, categorical,
                                                       columns)[:, None]], axis=1)
    return _mlp_forward(hidden, [spec["output"]], tensors).reshape(-1)


def _linear_logit(linear, tensors, categorical, columns) -> np.ndarray:
    """The linear part's logit: its one-column table pooled like the embeddings, plus
    kernel . continuous, plus the bias."""
    table = np.asarray(tensors[linear["table"]], np.float32)[:, None]
    logit = sum(_embed(table, f, categorical[f["name"]], linear["pooling"])[:, 0]
                for f in linear["features"])
    kernel = np.asarray(tensors[linear["kernel"]], np.float32)
    for weight, name in zip(kernel, linear["continuous"]):
        logit = logit + weight * columns[name][:, 0]
    return (logit + np.asarray(tensors[linear["bias"]], np.float32)[0]).astype(np.float32)


def _embed(table, feature, values, pooling) -> np.ndarray:
    name, offset, size = feature["name"], feature["offset"], feature["cardinality"]
    if not feature["list"]:
        ids = np.asarray(values)
        if ids.ndim == 2 and ids.shape[1] == 1:
            ids = ids[:, 0]
        if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
            raise ValueError(f"feature {name!r}: expected (n,) integer ids, got "
                             f"{ids.dtype} {ids.shape}")
        _check_ids(name, ids, size)
        return table[offset + ids.astype(np.int64)]
    if isinstance(values, tuple) and len(values) == 2:
        flat = np.asarray(values[0]).reshape(-1)
        offsets = np.asarray(values[1]).reshape(-1).astype(np.int64)
        if offsets.size < 1 or offsets[0] != 0 or offsets[-1] != flat.size or \
                np.any(np.diff(offsets) < 0):
            raise ValueError(f"list feature {name!r}: offsets must rise from 0 to "
                             f"{flat.size}")
        lengths = np.diff(offsets)
    else:
        rows = [np.asarray(v).reshape(-1) for v in values]
        lengths = np.array([len(r) for r in rows], dtype=np.int64)
        flat = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    if flat.size and not np.issubdtype(flat.dtype, np.integer):
        raise ValueError(f"list feature {name!r}: expected integer ids, got {flat.dtype}")
    _check_ids(name, flat, size)
    gathered = table[offset + flat.astype(np.int64)]
    sums = np.zeros((len(lengths), table.shape[1]), np.float32)
    np.add.at(sums, np.repeat(np.arange(len(lengths)), lengths), gathered)
    if pooling == "sum":
        return sums
    return (sums / np.maximum(lengths, 1).astype(np.float32)[:, None]).astype(np.float32)


def _check_ids(name, ids, size):
    if ids.size and (ids.min() < 0 or ids.max() >= size):
        bad = ids[(ids < 0) | (ids >= size)][0]
        raise ValueError(f"feature {name!r}: id {int(bad)} outside [0, {size})")


def _mlp_forward(x, layers, tensors) -> np.ndarray:
    x = np.asarray(x, np.float32)
    for d in layers:
        x = x @ widen(tensors[d["kernel"]])
        if d["bias"] is not None:
            x = x + np.asarray(tensors[d["bias"]], np.float32)
        x = _apply(d["activation"], x)
    return x


def _apply(activation, x):
    if activation == "linear":
        return x
    if activation == "relu":
        return np.maximum(x, np.float32(0))
    if activation == "tanh":
        return np.tanh(x)
    if activation == "sigmoid":
        e = np.exp(-np.abs(x))  # stable for either sign
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(np.float32)
    raise ValueError(f"activation {activation!r} is not one of {ACTIVATIONS}")
