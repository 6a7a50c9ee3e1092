"""``shoprank export``: the artifact folder the native engine loads (engine/io/ARTIFACTS.md).

From a model folder (``shoprank train``'s OUT or OUT/model) and the ETL output it was trained
on (named in model.json; that folder alone, never the raw logs: etl/inputs.py), writes
ranker.json (raw inputs, the fitted transform, the forward pass, the side tables),
tensors.bin (every array) and manifest.json (sizes and SHA-256 of both). The folder appears
only when complete.
"""

from __future__ import annotations

import hashlib
import json

from shoprank._output import output_folder
from shoprank.export.tensors import write_tensors
from shoprank.models.folders import etl_folder, model_folder

FORMAT, VERSION = "shoprank-ranker", 1


def build_ranker(model_dir) -> tuple[dict, dict]:
    """(ranker.json content, tensors) of a trained model and its Workflow."""
    from shoprank.export.forward import extract_forward_from_folder
    from shoprank.export.transform import extract_transform

    model_dir = model_folder(model_dir)
    etl_dir = etl_folder(model_dir)
    forward, model_tensors = extract_forward_from_folder(model_dir)
    transform, transform_tensors = extract_transform(etl_dir)
    _check_fit(forward, transform)
    # only the features the model reads: the Workflow may produce more
    used = {f["name"] for f in forward["embeddings"]["features"]} | set(forward["continuous"])
    features = [f for f in transform["features"] if f["name"] in used]
    reads = {c for f in features for c in f["inputs"]}
    realtime = transform.get("realtime")
    keys = ({t["key"] for t in transform["tables"].values()} | {transform["item_key"]}
            | ({realtime["user"], realtime["item"], realtime["timestamp"]} if realtime else set())
            ) - {""}
    inputs = [i for i in transform["inputs"] if i["name"] in reads | keys]
    tables = {}
    matched = set(realtime["match"]) if realtime else set()  # the state's click matches
    for name, table in transform["tables"].items():
        columns = [c for c in table["columns"] if c["name"] in reads | matched]
        if columns:
            tables[name] = {**table, "columns": columns}
    spec = {"format": FORMAT, "version": VERSION, "label": forward["label"],
            "inputs": inputs, "features": features, "tables": tables,
            "item_key": transform["item_key"], "model": forward,
            "source": {"model": str(model_dir.resolve()), "etl": str(etl_dir.resolve())}}
    if realtime:
        spec["realtime"] = realtime
    if "pseudonymised" in transform:  # the personal columns and the key's check, not the key
        spec["pseudonymised"] = transform["pseudonymised"]
    tensors = {**model_tensors, **transform_tensors}
    named = _tensor_names(spec)
    return spec, {name: array for name, array in tensors.items() if name in named}


def export_ranker(model_dir, out, *, retrieval=None, precision: str = "fp32",
                  weights: str = "fp32", prune_below: int | None = None,
                  overwrite: bool = False) -> dict:
    """Writes the artifact folder; returns a summary (out, files, features, inputs).
    retrieval: a retrieval model's folder (shoprank train --model two-tower|mf) trained on
    the same ETL output, added for recommendations from the whole catalogue.
    precision: the embedding table's, "fp32", "fp16" or "int8" (row-wise); weights: the
    MLPs' kernels', "fp32", "fp16" or "bf16" (export/precision.py); prune_below: drop the
    embedding rows of values seen in fewer train rows (export/pruning.py)."""
    from shoprank.export.precision import apply_precision, apply_weights
    from shoprank.export.pruning import drop_train_counts, prune_rare_values

    spec, tensors = build_ranker(model_dir)
    retrieval_tensors = {}
    if retrieval is not None:  # keyed through the ETL's ids, before pruning renumbers them
        from shoprank.export.retrieval import build_retrieval

        spec["retrieval"], retrieval_tensors = build_retrieval(
            retrieval, etl_folder(model_folder(model_dir)), spec, tensors)
    pruned = None if prune_below is None else prune_rare_values(spec, tensors, prune_below)
    drop_train_counts(spec, tensors)
    apply_precision(spec, tensors, precision)
    apply_weights(spec, tensors, weights)
    tensors.update(retrieval_tensors)
    size = write_artifacts(out, spec, tensors, overwrite=overwrite)
    return {"out": str(out), "architecture": spec["model"]["architecture"],
            "features": len(spec["features"]), "inputs": [i["name"] for i in spec["inputs"]],
            "precision": precision, "weights": weights, "pruned": pruned,
            "retrieval": spec.get("retrieval") and {
                k: spec["retrieval"][k] for k in ("kind", "dim", "labels")} | {
                "items": spec["retrieval"]["item"]["count"],
                "users": spec["retrieval"]["user"]["count"]},
            "bytes": size}


def write_artifacts(out, spec: dict, tensors: dict, *, overwrite: bool = False) -> int:
    """ranker.json, tensors.bin and their manifest, complete or not at all; checks that the
    engine loads them. Returns the bytes written."""
    import shoprank

    with output_folder(out, overwrite=overwrite) as tmp:
        (tmp / "ranker.json").write_text(json.dumps(spec, indent=1) + "\n")
        write_tensors(tmp / "tensors.bin", tensors)
        files = {}
        for name in ("ranker.json", "tensors.bin"):
            data = (tmp / name).read_bytes()
            files[name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        manifest = {"format": FORMAT, "version": VERSION, "shoprank": shoprank.__version__,
                    "files": files}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        # the engine reads what was written (it has no key, and wants none)
        shoprank._engine.Ranker(str(tmp), shoprank._engine.WITHOUT_KEY)
        if "retrieval" in spec:
            shoprank._engine.Recommender(str(tmp), shoprank._engine.WITHOUT_KEY)
    return sum(f["bytes"] for f in files.values())


def _check_fit(forward: dict, transform: dict) -> None:
    """Every model input is a transform output of the right kind whose ids fit its rows."""
    produced = {f["name"]: f for f in transform["features"]}
    for f in forward["embeddings"]["features"]:
        feature = produced.get(f["name"])
        if feature is None or feature["kind"] != "categorical":
            raise ValueError(f"the model embeds {f['name']!r}, which the Workflow does not "
                             "produce as a categorical feature")
        if feature["cardinality"] > f["cardinality"]:
            raise ValueError(f"feature {f['name']!r}: the Workflow gives ids up to "
                             f"{feature['cardinality'] - 1}, the model's table has "
                             f"{f['cardinality']} rows (was it trained on this ETL output?)")
        if (feature["op"] == "categorify_list") != bool(f["list"]):
            raise ValueError(f"feature {f['name']!r}: list in one, not in the other")
    for name in forward["continuous"]:
        if name not in produced or produced[name]["kind"] != "continuous":
            raise ValueError(f"the model reads the continuous feature {name!r}, which the "
                             "Workflow does not produce")


def _tensor_names(spec) -> set[str]:
    """Every tensor name the spec refers to (text tensors by both parts)."""
    names = set()

    def walk(value):
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str) and value.startswith(("model/", "features/", "tables/")):
            names.update((value, f"{value}.bytes", f"{value}.offsets"))

    walk({k: spec[k] for k in ("features", "tables", "model")})
    return names
