"""A trained model on disk: the TensorFlow SavedModel, and for the native engine the
weights as NumPy .npz (read with pickle disabled) plus model.json, a plain description of
the network (architecture, layer sizes, activation, feature order, embedding layout).
Loading never runs code from the artifact: JSON and raw arrays only (the SavedModel is
for TensorFlow users and the reference path).
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

    from shoprank.ranker.forward_spec import folder_entry

    with output_folder(out, overwrite=True) as tmp:
        model.save(str(tmp / "saved_model"))
        names = {v.ref(): _array_name(i, v.name) for i, v in enumerate(model.weights)}
        weights = {names[v.ref()]: v.numpy() for v in model.weights}
        np.savez(tmp / "weights.npz", **weights)
        features = data.schema.excluding_by_name([data.label])
        description = {
            "format_version": FORMAT_VERSION,
            "spec": dataclasses.asdict(spec),
            "label": data.label,
            "categorical": features.select_by_tag(Tags.CATEGORICAL).column_names,
            "continuous": features.select_by_tag(Tags.CONTINUOUS).column_names,
            "embeddings": _embedding_layout(model),
            "weights": {name: list(array.shape) for name, array in weights.items()},
            # the layer-by-layer forward, tensors named by their weights.npz array
            # (ranker/forward_spec.py); null for per-feature tables
            "forward": folder_entry(model, spec, data.schema, data.label, names),
            "training": {k: training[k] for k in ("epochs_run", "seed", "batch_size",
                                                  "learning_rate", "schedule", "processed")},
        }
        (tmp / "model.json").write_text(json.dumps(description, indent=1) + "\n")


def load_weights(model_dir) -> tuple[dict, dict]:
    """(model.json, {name: array}) without unpickling anything."""
    model_dir = Path(model_dir)
    description = json.loads((model_dir / "model.json").read_text())
    with np.load(model_dir / "weights.npz", allow_pickle=False) as arrays:
        return description, {name: arrays[name] for name in arrays.files}


def load_keras_model(model_dir):
    import tensorflow as tf

    import shoprank.models.fused_embeddings  # noqa: F401 - registers the layer for loading

    path = Path(model_dir) / "saved_model"
    if not path.is_dir():
        raise ValueError(f"{model_dir}: no saved_model/ (expected the model folder that "
                         "shoprank train writes)")
    model = tf.keras.models.load_model(str(path))
    _restore_cross_x0(model)
    return model


def _restore_cross_x0(model) -> None:
    """Merlin's Cross layer does not serialize ``output_x0``, so a loaded DCN's cross layers
    all come back with it False: each then uses its own input as x0 and the loaded model
    computes another function than the trained one. CrossBlock sets it on every layer but
    the last of a block; set it back."""
    from merlin.models.tf.blocks.cross import Cross

    for block in model._flatten_layers(include_self=True, recursive=True):
        crosses = [layer for layer in block._flatten_layers(include_self=False, recursive=False)
                   if isinstance(layer, Cross)]
        for i, layer in enumerate(crosses):
            layer.output_x0 = i < len(crosses) - 1


def _embedding_layout(model) -> dict | None:
    from shoprank.models.fused_embeddings import FusedEmbeddings

    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, FusedEmbeddings):
            return layer.layout()
    return None


def _array_name(index: int, variable_name: str) -> str:
    """The variable's place in the model, then its path without Keras's per-process
    numbering (dense_12 -> dense), so that the same model built twice exports alike."""
    path = re.sub(r"_\d+(?=/|$)", "", variable_name.removesuffix(":0"))
    return f"{index:03d}." + re.sub(r"[^A-Za-z0-9_.]+", "__", path)
