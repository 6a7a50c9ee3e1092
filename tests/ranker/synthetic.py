"""Ranker artifacts with random weights and a hand-written transform, for engine tests that
need neither NVTabular nor TensorFlow (so they also run on the GPU machine): an int64 id, a
text category and a text list (Categorify tables with null and unseen ids), a continuous
value (fill, clip, log, normalise), and a DLRM or DCN-v2 (stacked or parallel) forward in
the forward spec's format."""

from __future__ import annotations

import numpy as np

from shoprank.export.dcn import CROSS
from shoprank.export.forward import DENSE, FORMAT, VERSION, check_forward_spec
from shoprank.export.tensors import encode_strings

USERS, CATEGORIES, TAGS = 500, 30, 40
# "-linear": with a linear part (ranker.json's model.linear) beside the network
ARCHITECTURES = ("dlrm", "dcn-stacked", "dcn-parallel", "dlrm-linear", "dcn-parallel-linear")


def _categorify(name, key_type, keys, tensors, rng) -> dict:
    prefix = f"features/{name}"
    if key_type == "string":
        tensors[f"{prefix}/keys.bytes"], tensors[f"{prefix}/keys.offsets"] = encode_strings(keys)
    else:
        tensors[f"{prefix}/keys"] = np.asarray(keys, np.int64)
    tensors[f"{prefix}/ids"] = (3 + rng.permutation(len(keys))).astype(np.int32)
    return {"name": name, "kind": "categorical", "op": "categorify", "inputs": [name],
            "pad_id": 0, "null_id": 1,
            "unseen_id": 2, "freq_threshold": 0, "cardinality": 3 + len(keys),
            "key_type": key_type, "keys": f"{prefix}/keys", "ids": f"{prefix}/ids"}


def _dense(prefix, fan_in, fan_out, activation, tensors, rng) -> dict:
    tensors[f"{prefix}/kernel"] = rng.normal(0, 1 / np.sqrt(fan_in), (fan_in, fan_out)).astype(np.float32)
    tensors[f"{prefix}/bias"] = rng.normal(0, 0.1, fan_out).astype(np.float32)
    return {"kernel": f"{prefix}/kernel", "bias": f"{prefix}/bias", "activation": activation,
            "in": fan_in, "out": fan_out}


def _mlp(prefix, fan_in, widths, tensors, rng) -> list[dict]:
    layers = []
    for i, width in enumerate(widths):
        layers.append(_dense(f"{prefix}/{i}", fan_in, width, "relu", tensors, rng))
        fan_in = width
    return layers


def make_spec(architecture: str, rng, dim: int | None = None) -> tuple[dict, dict]:
    """(ranker.json content, tensors) of a random model: random embedding width and MLP
    widths too, so the CPU's tiled matrix products meet widths on and off their tiles."""
    tensors: dict[str, np.ndarray] = {}
    architecture, linear = architecture.removesuffix("-linear"), architecture.endswith("-linear")
    dim = int(rng.integers(2, 21)) if dim is None else dim
    deep = [int(w) for w in rng.integers(1, 49, 2)]
    features = [
        _categorify("user_id", "int64", rng.choice(10 * USERS, USERS, replace=False), tensors, rng),
        _categorify("category", "string", [f"c{i:02d}" for i in range(CATEGORIES)], tensors, rng),
        {**_categorify("tags", "string", [f"t{i:02d}" for i in range(TAGS)], tensors, rng),
         "op": "categorify_list", "null_element_id": 2, "null_list": "empty"},
        {"name": "price", "kind": "continuous", "op": "continuous", "inputs": ["price"],
         "steps": [{"op": "fill_missing", "value": 0.0}, {"op": "clip", "min": 0.0, "max": None},
                   {"op": "log_plus_one"}, {"op": "normalize", "mean": 2.5, "std": 1.3}]},
    ]
    inputs = [{"name": "user_id", "type": "int64", "table": None},
              {"name": "category", "type": "string", "table": None},
              {"name": "tags", "type": "string_list", "table": None},
              {"name": "price", "type": "float64", "table": None}]
    embedded, offset = [], 0
    for f in features[:3]:
        embedded.append({"name": f["name"], "offset": offset, "cardinality": f["cardinality"],
                         "list": f["op"] == "categorify_list"})
        offset += f["cardinality"]
    tensors["model/embeddings/table"] = rng.normal(0, 0.5, (offset, dim)).astype(np.float32)
    model = {"format": FORMAT, "version": VERSION, "label": "click", "dense": DENSE,
             "embeddings": {"table": "model/embeddings/table", "rows": offset, "dim": dim,
                            "pooling": "mean", "empty_list": "zeros", "features": embedded},
             "continuous": ["price"]}
    if architecture == "dlrm":
        vectors = [{"kind": "bottom_mlp"}] + [{"kind": "embedding", "name": e["name"]} for e in embedded]
        width = len(vectors) * (len(vectors) - 1) // 2
        model.update(architecture="dlrm", bottom_mlp=_mlp("model/bottom_mlp", 1, [16, dim], tensors, rng),
                     interaction={"type": "dot", "vectors": vectors, "width": width,
                                  "pairs": "i < j, row-major", "self_interaction": False},
                     top_input=["bottom_mlp", "interaction"],
                     top_mlp=_mlp("model/top_mlp", dim + width, deep, tensors, rng))
        head = deep[-1]
    else:
        x0 = [{"kind": "embedding", "name": "category"}, {"kind": "continuous", "name": "price"},
              {"kind": "embedding", "name": "tags"}, {"kind": "embedding", "name": "user_id"}]
        width = 3 * dim + 1
        cross = []
        for i in range(2):
            layer = _dense(f"model/cross/{i}", width, width, "linear", tensors, rng)
            cross.append({k: layer[k] for k in ("kernel", "bias", "in")})
        stacked = architecture == "dcn-stacked"
        model.update(architecture="dcn", input=x0, cross_formula=CROSS, cross=cross,
                     structure="stacked" if stacked else "parallel",
                     deep_mlp=_mlp("model/deep_mlp", width, deep, tensors, rng))
        head = deep[-1]
        if not stacked:
            model["parallel_concat"] = ["cross", "deep"]
            head += width
    if linear:
        tensors["model/linear/table"] = rng.normal(0, 0.5, offset).astype(np.float32)
        tensors["model/linear/kernel"] = rng.normal(0, 0.5, 1).astype(np.float32)
        tensors["model/linear/bias"] = rng.normal(0, 0.5, 1).astype(np.float32)
        model["linear"] = {"table": "model/linear/table", "kernel": "model/linear/kernel",
                           "bias": "model/linear/bias", "rows": offset, "pooling": "mean",
                           "features": [dict(e) for e in embedded], "continuous": ["price"]}
        head += 1
    model["output"] = _dense("model/output", head, 1, "sigmoid", tensors, rng)
    check_forward_spec(model, tensors)
    spec = {"format": "shoprank-ranker", "version": 1, "label": "click", "inputs": inputs,
            "features": features, "tables": {}, "model": model}
    return spec, tensors


def random_rows(spec: dict, tensors: dict, n: int, rng) -> dict:
    """Raw rows: known, unseen and null ids and categories, lists with null and unseen
    elements (and empty and null lists), NaN and negative prices."""
    users = tensors["features/user_id/keys"]
    user = rng.choice(users, n).astype(object)
    user[rng.random(n) < 0.1] = -1
    user[rng.random(n) < 0.05] = None
    category = [None if rng.random() < 0.05 else f"c{int(rng.integers(0, CATEGORIES + 5)):02d}"
                for _ in range(n)]
    tags = []
    for _ in range(n):
        u = rng.random()
        if u < 0.05:
            tags.append(None)
        else:
            tags.append([None if rng.random() < 0.05 else f"t{int(rng.integers(0, TAGS + 5)):02d}"
                         for _ in range(int(rng.integers(0, 5)))])
    price = rng.lognormal(2, 1, n)
    price[rng.random(n) < 0.1] = np.nan
    price[rng.random(n) < 0.05] *= -1
    return {"user_id": list(user), "category": category, "tags": tags, "price": price}
