"""The retrieval part of the artifacts (``shoprank export --retrieval``): a retrieval model's
vectors (``shoprank train --model two-tower|mf``) keyed by the raw ids the logs use, so the
engine goes from a request's user id to the catalogue's best items without NVTabular.

ranker.json gains a "retrieval" section and tensors.bin these arrays (engine/io/ARTIFACTS.md):

    retrieval/user_keys          raw user ids (int64, float64 or text), one per user vector
    retrieval/user_vectors       F32 [users, dim]: the query tower's output for each user
    retrieval/item_keys          raw item ids, one per catalogue item
    retrieval/item_vectors       F32 [items, dim]: the candidate tower's output
    retrieval/item_train_clicks  I64 [items]: the popularity a user without a vector gets
    retrieval/labels/<column>    I64 [items]: an item-table column as label codes (-1: null),
                                 for the diversity caps (at most so many per category)

The towers read the user id and the user table's columns (item id and item table), all fixed
per user (item): their output is computed here once per known user, so the engine looks it
up instead of running the tower per request. The catalogue is the items the ETL fitted (the
train window's); ids are matched to vectors through the ETL's own Categorify tables.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from shoprank.export.tensors import decode_strings

FORMAT, VERSION = "shoprank-retrieval", 1
ITEM_ID_TYPES = ("int64", "string")  # what a recommendation's ids may be
LABEL_TYPES = ("int64", "string")    # item-table columns the caps can read


def build_retrieval(retrieval_dir, etl_dir, spec: dict, tensors: dict) -> tuple[dict, dict]:
    """(ranker.json's "retrieval" section, its tensors) for the ranker spec and tensors
    ``build_ranker`` made from the same ETL output."""
    from shoprank.export.transform import extract_transform

    folder = Path(retrieval_dir)
    for name in ("retrieval.json", "vectors.npz"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder}: no {name} (the --out of shoprank train "
                                    "--model two-tower|mf)")
    record = json.loads((folder / "retrieval.json").read_text())
    if record.get("format") != FORMAT:
        raise ValueError(f"{folder}/retrieval.json is not a retrieval model's record")
    from shoprank.feedback.window import fitted_on

    # a refreshed ranker's features come from the same fitted workflow (feedback/window.py)
    trained_on = fitted_on(record["processed"])
    if trained_on != fitted_on(etl_dir):
        raise ValueError(f"the retrieval model was trained on {trained_on}, the ranker on "
                         f"{Path(etl_dir).resolve()}: their ids would not match (train both "
                         "on the same shoprank etl output)")
    with np.load(folder / "vectors.npz", allow_pickle=False) as stored:
        vectors = {name: stored[name] for name in stored.files}
    if "item_train_clicks" not in vectors:
        raise ValueError(f"{folder}/vectors.npz has no item_train_clicks (written by an older "
                         "shoprank): train the retrieval model again")
    transform, transform_tensors = extract_transform(etl_dir)
    features = {f["name"]: f for f in transform["features"]}
    out: dict[str, np.ndarray] = {}
    user = _keyed_vectors("user", features.get(record["user_tower"][0]),
                          vectors["user_vectors"], transform_tensors, out)
    item = _keyed_vectors("item", features.get(record["item_tower"][0]),
                          vectors["item_vectors"], transform_tensors, out)
    if item["key"] != spec["item_key"]:
        raise ValueError(f"the retrieval model's items are {item['key']!r}, the ranker's "
                         f"candidates {spec['item_key']!r}")
    if item["key_type"] not in ITEM_ID_TYPES:
        raise NotImplementedError(f"item ids of type {item['key_type']}: recommendations "
                                  "are named by int64 or text ids")
    rows = item.pop("rows")
    out["retrieval/item_train_clicks"] = vectors["item_train_clicks"][rows].astype(np.int64)
    table = next((name for name, t in spec["tables"].items() if t["key"] == item["key"]), "")
    item["table"] = table  # its columns describe the candidates, never the request
    labels = _item_labels(spec["tables"].get(table), tensors,
                          _keys(out, "retrieval/item_keys", item["key_type"]))
    for column, codes in labels.items():
        out[f"retrieval/labels/{column}"] = codes
    user.pop("rows")
    section = {"format": FORMAT, "version": VERSION, "kind": record["kind"],
               "dim": int(vectors["item_vectors"].shape[1]), "user": user, "item": item,
               "labels": list(labels), "test": record.get("test"),
               "source": str(folder.resolve())}
    return section, out


def _keyed_vectors(side: str, feature, vectors, tensors, out) -> dict:
    """One side's raw ids and their vectors, in the ETL's key order."""
    if feature is None or feature["op"] != "categorify":
        raise NotImplementedError(f"the retrieval model's {side} id must be a Categorify "
                                  f"feature of the Workflow, got {feature and feature['op']}")
    rows = tensors[feature["ids"]].astype(np.int64)
    if len(rows) and rows.max() >= len(vectors):
        raise ValueError(f"the ETL's {side} ids reach {rows.max()}, the retrieval model has "
                         f"{len(vectors)} {side} vectors (trained on another ETL output?)")
    prefix = f"retrieval/{side}_"
    if feature["key_type"] == "string":
        for part in ("bytes", "offsets"):
            out[f"{prefix}keys.{part}"] = tensors[f"{feature['keys']}.{part}"]
    else:
        out[f"{prefix}keys"] = tensors[feature["keys"]]
    out[f"{prefix}vectors"] = np.ascontiguousarray(vectors[rows], dtype=np.float32)
    if not np.isfinite(out[f"{prefix}vectors"]).all():
        raise ValueError(f"the retrieval model's {side} vectors are not all finite")
    return {"key": feature["inputs"][0], "key_type": feature["key_type"],
            "keys": f"{prefix}keys", "vectors": f"{prefix}vectors", "count": len(rows),
            "rows": rows}


def _keys(tensors: dict, name: str, key_type: str) -> list:
    if key_type == "string":
        return decode_strings(tensors[f"{name}.bytes"], tensors[f"{name}.offsets"])
    return tensors[name].tolist()


def _item_labels(table, tensors: dict, item_keys: list) -> dict[str, np.ndarray]:
    """Every scalar int64 / text column of the ranker's items table, as a label code per
    catalogue item (-1 where the table has no row or a null)."""
    if table is None:
        return {}
    position = {key: row for row, key in enumerate(_keys(tensors, table["keys"],
                                                          table["key_type"]))}
    rows = np.array([position.get(key, -1) for key in item_keys], dtype=np.int64)
    labels = {}
    for column in table["columns"]:
        if column["type"] not in LABEL_TYPES:
            continue
        values = _keys(tensors, column["values"], column["type"])
        valid = tensors[column["valid"]].astype(bool)
        codes, index = np.full(len(rows), -1, np.int64), {}
        for i, row in enumerate(rows):
            if row >= 0 and valid[row]:
                codes[i] = index.setdefault(values[row], len(index))
        labels[column["name"]] = codes
    return labels

