"""Reading a trained model's folder (models/export.py writes it): where it is, the ETL output
it was trained on, its weights and model.json (JSON and raw arrays, never unpickled), and
the Keras model itself (TensorFlow users and the Merlin path)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def model_folder(path) -> Path:
    """The folder holding model.json: ``path`` itself or ``path/model``."""
    path = Path(path)
    for candidate in (path, path / "model"):
        if (candidate / "model.json").is_file():
            return candidate
    raise FileNotFoundError(f"{path}: no model.json (expected the --out folder of shoprank train "
                            "or its model/ folder)")


def etl_folder(model_dir: Path) -> Path:
    model_json = json.loads((model_dir / "model.json").read_text())
    processed = model_json.get("training", {}).get("processed")
    if not processed or not (Path(processed) / "summary.json").is_file():
        raise FileNotFoundError(f"{model_dir}/model.json names the ETL output {processed!r}, "
                                "which is not there any more (the transform is read from it)")
    return Path(processed)


def load_weights(model_dir) -> tuple[dict, dict]:
    """(model.json, {name: array}) without unpickling anything."""
    model_dir = Path(model_dir)
    model_json = json.loads((model_dir / "model.json").read_text())
    with np.load(model_dir / "weights.npz", allow_pickle=False) as arrays:
        return model_json, {name: arrays[name] for name in arrays.files}


def load_keras_model(model_dir):
    import tensorflow as tf

    import shoprank.models.fused_embeddings  # noqa: F401 - registers the layer for loading
    import shoprank.models.linear_part  # noqa: F401 - registers the linear part for loading

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
