"""Writes a trained model's folder: the TensorFlow SavedModel, and for the native engine the
weights as NumPy .npz plus model.json (training's spec, feature order, embedding layout, the
forward spec). Reading it back: models/folders.py.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np

from shoprank._output import output_folder

FORMAT_VERSION = 1


def export_model(model, data, spec, out: Path, training: dict) -> None:
    from merlin.schema import Tags

    from shoprank.export.forward import folder_entry

    with output_folder(out, overwrite=True) as tmp:
        model.save(str(tmp / "saved_model"))
        names = {v.ref(): array_name(i, v.name) for i, v in enumerate(model.weights)}
        weights = {names[v.ref()]: v.numpy() for v in model.weights}
        np.savez(tmp / "weights.npz", **weights)
        features = data.schema.excluding_by_name([data.label])
        model_json = {
            "format_version": FORMAT_VERSION,
            "spec": dataclasses.asdict(spec),
            "label": data.label,
            "categorical": features.select_by_tag(Tags.CATEGORICAL).column_names,
            "continuous": features.select_by_tag(Tags.CONTINUOUS).column_names,
            "embeddings": _embedding_layout(model),
            "weights": {name: list(array.shape) for name, array in weights.items()},
            # the layer-by-layer forward, tensors named by their weights.npz array
            # (export/forward.py)
            "forward": folder_entry(model, spec, data.schema, data.label, names),
            "training": {k: training[k] for k in ("epochs_run", "seed", "batch_size",
                                                  "learning_rate", "schedule", "processed")},
        }
        (tmp / "model.json").write_text(json.dumps(model_json, indent=1) + "\n")


def _embedding_layout(model) -> dict | None:
    from shoprank.models.fused_embeddings import FusedEmbeddings

    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, FusedEmbeddings):
            return layer.layout()
    return None


def array_name(index: int, variable_name: str) -> str:
    """The variable's place in the model, then its path without Keras's per-process
    numbering (dense_12 -> dense), so that the same model built twice exports alike."""
    path = re.sub(r"_\d+(?=/|$)", "", variable_name.removesuffix(":0"))
    return f"{index:03d}." + re.sub(r"[^A-Za-z0-9_.]+", "__", path)
