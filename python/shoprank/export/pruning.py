"""Pruning rare values from the embedding table (issue 21): ``shoprank export
--prune-below N`` drops every vocabulary value seen in fewer than N train rows, together
with its embedding row (and its linear-part weight); the engine then maps the value to the
unseen id, like any value the training window never had. The unseen row becomes the
train-count-weighted mean of the rows pruned into it (the untrained row it replaces would
map them to noise), so a pruned value scores as an average rare value, and so does a value
never seen. Where the unseen row was trained (a list feature's null elements read as
unseen, and with freq_threshold > 1 so do the train window's rare values) it is kept, and
pruned values read as it. Rows no vocabulary value reaches are dropped too. Features whose rows are
shared with another feature (Merlin's per-feature tables serving several columns) and
hash buckets are left whole.

The table stays one fused table: each feature's rows are renumbered 3, 4, ... in the
order its kept values had, the offsets follow.
"""

from __future__ import annotations

import numpy as np

from shoprank.export.tensors import decode_strings, encode_strings
from shoprank.export.transform import FIRST_ID, UNSEEN_ID

PRUNABLE = ("categorify", "categorify_list", "cross_categorify", "time_categorify")


def drop_train_counts(spec: dict, tensors: dict) -> None:
    """The train counts extract_transform keeps for pruning never reach the artifacts."""
    for feature in spec["features"]:
        name = feature.pop("train_counts", None)
        if name:
            tensors.pop(name, None)


def prune_rare_values(spec: dict, tensors: dict, min_count: int) -> dict:
    """Prunes values seen in fewer than min_count train rows (in place, on the fp32 table,
    before any precision is applied); returns the rows before and after and, per feature,
    how many values were pruned."""
    if min_count < 1:
        raise ValueError(f"--prune-below must be >= 1, got {min_count}")
    emb = spec["model"]["embeddings"]
    transform = {f["name"]: f for f in spec["features"]}
    offsets = [f["offset"] for f in emb["features"]]
    kept, report = {}, {}  # feature -> (local rows kept, (pruned local rows, their counts))
    for f in emb["features"]:
        feature = transform.get(f["name"])
        prunable = (feature is not None and feature.get("op") in PRUNABLE
                    and "train_counts" in feature and offsets.count(f["offset"]) == 1)
        kept[f["name"]] = (_prune_feature(feature, tensors, min_count) if prunable
                           else (np.arange(f["cardinality"]), None))
        if prunable:
            rows, pruned = kept[f["name"]]
            report[f["name"]] = 0 if pruned is None else int(pruned[0].size)
            feature["cardinality"] = len(rows)
            if _unseen_row_trained(feature):  # pruned values read as it, unchanged
                kept[f["name"]] = (rows, None)
    before = emb["rows"]
    emb["rows"] = _rebuild(emb, tensors, kept)
    linear = spec["model"].get("linear")
    if linear:  # the same features at offsets of their own
        linear["rows"] = _rebuild(linear, tensors, kept)
    return {"min_count": min_count, "rows_before": int(before), "rows_after": int(emb["rows"]),
            "values_pruned": report}


def _unseen_row_trained(feature: dict) -> bool:
    """Whether train rows reached the unseen id: a list's null elements do, and values
    rarer than a freq_threshold above 1."""
    return feature["op"] == "categorify_list" or feature.get("freq_threshold", 0) > 1


def _prune_feature(feature: dict, tensors: dict, min_count: int):
    """Drops the feature's rare keys and renumbers the rest; returns (the local rows kept, in
    their new order; (the pruned values' local rows, their train counts), or None)."""
    counts = tensors[feature["train_counts"]]
    ids = tensors[feature["ids"]].astype(np.int64)
    keep = counts >= min_count
    tensors[feature["ids"]] = (FIRST_ID + np.arange(keep.sum())).astype(np.int32)
    tensors[feature["train_counts"]] = counts[keep]
    _keep_keys(feature, tensors, keep)
    rows = np.concatenate([np.arange(FIRST_ID), ids[keep]])
    return rows, ((ids[~keep], counts[~keep]) if (~keep).any() else None)


def _keep_keys(feature: dict, tensors: dict, keep: np.ndarray) -> None:
    name = feature["keys"]
    if feature["key_type"] == "string":
        texts = decode_strings(tensors[f"{name}.bytes"], tensors[f"{name}.offsets"])
        kept = [t for t, k in zip(texts, keep) if k]
        tensors[f"{name}.bytes"], tensors[f"{name}.offsets"] = encode_strings(kept)
    else:
        tensors[name] = tensors[name][keep]


def _rebuild(layout: dict, tensors: dict, kept: dict) -> int:
    """layout's table (embeddings: [rows, dim]; linear part: [rows]) with each feature's
    kept rows, in offset order; the unseen row the pruned rows' train-count-weighted mean.
    Updates the features' offsets and cardinalities; returns the rows."""
    values = tensors[layout["table"]]
    blocks, offset, moved = [], 0, {}  # moved: old offset -> new, for rows features share
    for f in sorted(layout["features"], key=lambda f: f["offset"]):
        rows, pruned = kept[f["name"]]
        if f["offset"] in moved:  # shared rows (never pruned): already placed
            f["offset"] = moved[f["offset"]]
            continue
        moved[f["offset"]] = offset
        block = values[f["offset"] + rows].copy()
        if pruned is not None:
            ids, counts = pruned
            block[UNSEEN_ID] = np.tensordot(counts / counts.sum(), values[f["offset"] + ids],
                                            axes=1)
        blocks.append(block)
        f["offset"], f["cardinality"] = offset, len(rows)
        offset += len(rows)
    tensors[layout["table"]] = np.concatenate(blocks).astype(np.float32)
    return offset
