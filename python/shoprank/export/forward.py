"""The forward pass of a trained DLRM or DCN-v2 as a forward spec: plain arrays and JSON
(export's second half; ranker.json's "model").

``extract_forward`` reads a Merlin Models 23.12 model (live, or loaded from its SavedModel)
layer by layer and returns the JSON-able forward spec plus float32 tensors named
``model/...``; the parts common to both architectures are read here, each architecture's own
in dlrm.py and dcn.py (as the engine's branches in engine/model/forward.cpp).
``extract_forward_from_folder`` gets the same from a model folder's model.json + weights.npz
alone (the training run stores the spec, and which weights.npz array each tensor is, under
model.json's "forward": {"description": spec, "tensors": ...}, a key kept for the folders
already written). Its NumPy reference is shoprank.reference.forward. Only NumPy is imported
here; TensorFlow only by the extraction from a model.

What Merlin actually computes (read from merlin/models/tf, verified against the model's
predictions by tests/export/test_forward.py):

* Dense layer (Keras): ``y = act(x @ kernel + bias)``, kernel (in, out). Merlin's MLPBlock
  applies its activation on every layer, the last included (no_activation_last_layer is
  False); it has no dropout or normalization unless asked (we never ask).
* Inputs: a continuous feature is one float32 column (batch, 1) (ContinuousFeatures /
  Continuous expand (batch,) to (batch, 1); the concatenation casts to float32). A
  categorical feature is embedded by FusedEmbeddings: row ``offset[f] + id`` of the one
  table; a list feature sums its rows, and "mean" divides by max(length, 1), so an empty
  list pools to zeros.
* Every Merlin concatenation or stack of a dict of tensors (ConcatFeatures, StackFeatures)
  takes the keys in Python ``sorted`` order (upper case before lower case). Hence:
* DLRM: bottom = MLP(concat(continuous sorted by name)). The interaction stacks the pooled
  embeddings and the bottom output (keyed "bottom_block") sorted by key, so the bottom
  output sits where "bottom_block" sorts among the feature names (not first). Dot products
  of every pair i < j (upper triangle, no diagonal), row-major: (0,1), (0,2), ..., (0,F-1),
  (1,2), ...: F(F-1)/2 values. The top MLP's input is concat(bottom, interaction): sorted
  keys "bottom_block" < "sequential_block_N". Then the top MLP, then Dense(1) + sigmoid.
* DCN-v2: x0 = concat of every input sorted by feature name, continuous and embeddings
  interleaved (InputBlockV2 merges both dicts before its concat). Each cross layer is full
  rank with a bias: ``x_{l+1} = x0 * (x_l @ W_l + b_l) + x_l``. Stacked: deep MLP on the
  last cross output. Parallel: concat of the two branches' outputs in sorted order of the
  branches' Keras layer names ("sequential_block_N"), which depends on Keras's name counter
  when the model was built: usually deep before cross, but cross first when, say, deep is
  sequential_block_9 and cross sequential_block_10. The spec states the order found.
* Output: BinaryOutput is Dense(1, activation="sigmoid"), no temperature: the model's
  predictions are probabilities. A model with a linear part (models/linear_part.py) feeds
  it concat(body, linear logit): one more input, the last.
"""

from __future__ import annotations

import json

import numpy as np

from shoprank.export.dcn import extract_dcn
from shoprank.export.dlrm import extract_dlrm
from shoprank.export.keras_layers import ACTIVATIONS, Layers, continuous_names, dense

FORMAT = "shoprank-forward"
VERSION = 1
DENSE = "y = activation(x @ kernel + bias); kernel (in, out), bias (out,)"


def extract_forward(model, model_spec=None, schema=None, label: str | None = None
                    ) -> tuple[dict, dict[str, np.ndarray]]:
    """(forward spec, {tensor name: float32 array}) of a trained Merlin DLRM / DCN model.

    Works on the model ``train`` builds and on the one ``load_keras_model`` loads (both
    carry the same layers). ``model_spec`` (training's ModelSpec), ``schema`` and ``label``
    are checked against what the model holds when given; the model itself is the truth.
    """
    spec, variables = _extract(model, model_spec, schema, label)
    return spec, {name: _value(v) for name, v in variables.items()}


def folder_entry(model, model_spec, schema, label, weight_names) -> dict | None:
    """model.json's "forward" entry: the forward spec and, for every tensor, the name of its
    array in weights.npz, or the list of arrays it stacks (per-feature embedding tables,
    stacked into one). ``weight_names`` maps ``variable.ref()`` to that name."""
    spec, variables = _extract(model, model_spec, schema, label)
    return {"description": spec,
            "tensors": {name: [weight_names[p.ref()] for p in v] if isinstance(v, list)
                        else weight_names[v.ref()] for name, v in variables.items()}}


def _value(variable) -> np.ndarray:
    """A variable's value as float32; a list of tables stacked into one."""
    if isinstance(variable, list):
        return np.concatenate([_value(part) for part in variable], axis=0)
    return np.asarray(variable.numpy(), dtype=np.float32)


def extract_forward_from_folder(model_dir) -> tuple[dict, dict[str, np.ndarray]]:
    """The same as ``extract_forward`` from a model folder's model.json + weights.npz only
    (no TensorFlow, no pickle). Folders exported before model.json carried "forward" fall
    back to loading the SavedModel (needs TensorFlow)."""
    from shoprank.models.folders import load_keras_model, load_weights

    model_json, weights = load_weights(model_dir)
    entry = model_json.get("forward")
    if entry is None:
        return extract_forward(load_keras_model(model_dir), None, None, model_json.get("label"))
    spec, tensors = entry["description"], {}
    for name, keys in entry["tensors"].items():
        parts = keys if isinstance(keys, list) else [keys]
        for key in parts:
            if key not in weights:
                raise ValueError(f"{model_dir}: model.json names weights.npz array {key!r} "
                                 f"for {name}, but weights.npz has no such array")
        tensors[name] = np.concatenate([np.asarray(weights[k], np.float32) for k in parts])
    check_forward_spec(spec, tensors)
    return spec, tensors


def _extract(model, model_spec, schema, label):
    """(forward spec, {tensor name: the variable, or the list of variables stacked into it})"""
    import tensorflow as tf
    from merlin.models.tf.blocks.cross import Cross
    from merlin.models.tf.blocks.interaction import DotProductInteraction
    from merlin.models.tf.inputs.continuous import Continuous, ContinuousFeatures
    from merlin.models.tf.inputs.embedding import EmbeddingTable

    from shoprank.models.fused_embeddings import FusedEmbeddings

    layers = Layers(model)
    # (Dropout is not among them: it trains only, and is the identity when serving)
    unsupported = [x for x in layers.all if isinstance(x, (
        tf.keras.layers.BatchNormalization, tf.keras.layers.LayerNormalization))]
    if unsupported:
        raise ValueError(f"the model has {type(unsupported[0]).__name__} layers, which the "
                         "engine's forward does not compute")

    table, layout = _embedding_layout(layers.of_type(FusedEmbeddings),
                                      layers.of_type(EmbeddingTable), model_spec)
    variables = {"model/embeddings/table": table}
    categorical = [f["name"] for f in layout["features"]]
    head, output = _output_head(layers, label, variables)
    continuous = sorted({n for x in layers.of_type((Continuous, ContinuousFeatures))
                         for n in continuous_names(x)})
    clash = set(continuous) & set(categorical)
    if clash:
        raise ValueError(f"features both continuous and categorical: {sorted(clash)}")

    crosses = layers.of_type(Cross)
    interactions = layers.of_type(DotProductInteraction)
    if bool(crosses) == bool(interactions):
        raise ValueError("expected either a DLRM (dot interaction) or a DCN (cross layers)")
    spec = {"format": FORMAT, "version": VERSION, "label": head.target, "dense": DENSE,
            "embeddings": {"table": "model/embeddings/table", **layout, "empty_list": "zeros"},
            "continuous": continuous}
    body_dense = [x for x in layers.of_type(tf.keras.layers.Dense)
                  if x is not head.to_call and not any(x in layers.under(c) for c in crosses)]
    if interactions:
        (interaction,) = interactions
        spec.update(extract_dlrm(layers, interaction, categorical, continuous, body_dense,
                                 variables))
    else:
        spec.update(extract_dcn(layers, crosses, categorical, continuous, body_dense, variables))
    spec["output"] = output
    linear = _linear_part(layers, variables)
    if linear:
        spec["linear"] = linear

    _check_all_weights_used(model, variables)
    _check_against(spec, model_spec, schema)
    check_forward_spec(spec, {n: np.empty(_shape(v), np.float32) for n, v in variables.items()})
    return spec, variables


def _output_head(layers, label, variables):
    """(Merlin's BinaryOutput, its Dense(1, sigmoid) as a spec entry)"""
    from merlin.models.tf.outputs.base import ModelOutput
    from merlin.models.tf.outputs.classification import BinaryOutput

    outputs = layers.of_type(ModelOutput)
    if len(outputs) != 1 or not isinstance(outputs[0], BinaryOutput):
        raise ValueError(f"expected one BinaryOutput head, found "
                         f"{[type(o).__name__ for o in outputs]}")
    head = outputs[0]
    if head.pre is not None or head.post is not None or getattr(head, "logits_scaler", None):
        raise ValueError("the BinaryOutput has pre/post blocks or a logits temperature")
    if label is not None and head.target != label:
        raise ValueError(f"the model predicts {head.target!r}, not {label!r}")
    output = dense(head.to_call, "model/output", variables)
    if output["out"] != 1 or output["activation"] != "sigmoid":
        raise ValueError(f"the output layer is {output}, expected Dense(1, sigmoid)")
    return head, output


def _linear_part(layers, variables) -> dict | None:
    """The frozen linear part (models/linear_part.py), whose logit the output layer reads
    last: concat(body, logit) by the ParallelBlock's sorted keys "deep" < "linear"."""
    from merlin.models.tf.core.aggregation import ConcatFeatures
    from merlin.models.tf.core.combinators import ParallelBlock

    from shoprank.models.linear_part import LinearPart

    parts = layers.of_type(LinearPart)
    if not parts:
        return None
    (part,) = parts
    joins = [x for x in layers.of_type(ParallelBlock) if part in x.parallel_dict.values()]
    if len(joins) != 1 or sorted(joins[0].parallel_dict) != ["deep", "linear"] or \
            not isinstance(joins[0].aggregation, ConcatFeatures):
        raise ValueError("expected the linear part beside the body: ParallelBlock(deep, "
                         "linear) with concat")
    layout = part.layout()
    sizes = np.diff([f["offset"] for f in layout["features"]] + [layout["rows"]])
    variables.update({"model/linear/table": part.table, "model/linear/kernel": part.kernel,
                      "model/linear/bias": part.bias})
    return {"formula": "logit = sum_f table[offset_f + id_f] (a list pooled as the "
                       "embeddings are) + kernel . continuous + bias",
            "table": "model/linear/table", "kernel": "model/linear/kernel",
            "bias": "model/linear/bias", "rows": layout["rows"], "pooling": layout["pooling"],
            "features": [{**f, "cardinality": int(n)} for f, n in zip(layout["features"], sizes)],
            "continuous": layout["continuous"]}


def _embedding_layout(fused, tables, model_spec) -> tuple[object, dict]:
    """(the table's variable, or the per-feature tables' variables to stack into one; the
    spec's rows, dim, pooling and features with their offsets into the one table)."""
    if len(fused) + bool(tables) != 1:
        raise ValueError("expected one FusedEmbeddings table or Merlin's per-feature tables; "
                         f"this model has {len(fused)} fused and {len(tables)} per-feature")
    if fused:
        layout = fused[0].layout()
        features = []
        for i, f in enumerate(layout["features"]):
            end = layout["features"][i + 1]["offset"] if i + 1 < len(layout["features"]) \
                else layout["rows"]
            features.append({**f, "cardinality": int(end - f["offset"])})
        return fused[0].table, {**{k: layout[k] for k in ("rows", "dim", "pooling")},
                                "features": features}
    # Merlin's per-feature tables (one per domain; a table may serve several features): the
    # engine reads them stacked into one, each feature from its table's first row
    parts, features, rows, dims, poolings = [], [], 0, set(), set()
    for table in tables:
        variable = table.table.embeddings
        size, dim = (int(d) for d in variable.shape)
        for name, column in table.features.items():
            features.append({"name": name, "offset": rows, "list": bool(column.is_list),
                             "cardinality": size})
            if column.is_list:
                poolings.add(table.sequence_combiner)
        parts.append(variable)
        rows += size
        dims.add(dim)
    if len(dims) != 1:
        raise ValueError(f"per-feature tables of different widths {sorted(dims)}: the engine "
                         "needs one embedding width")
    if len(poolings) > 1 or not poolings <= {"mean", "sum"}:
        raise ValueError(f"list features pooled by {sorted(map(str, poolings))}: the engine "
                         "pools every list feature by one of mean or sum")
    pooling = poolings.pop() if poolings else getattr(model_spec, "pooling", "mean")
    return parts, {"rows": rows, "dim": dims.pop(), "pooling": pooling, "features": features}


def _shape(variable) -> tuple[int, ...]:
    if isinstance(variable, list):
        shapes = [_shape(part) for part in variable]
        return (sum(s[0] for s in shapes), *shapes[0][1:])
    return tuple(int(d) for d in variable.shape)


def _check_all_weights_used(model, variables):
    used = {p.ref() for v in variables.values() for p in (v if isinstance(v, list) else [v])}
    left = [v.name for v in model.trainable_weights if v.ref() not in used]
    left += [v.name for v in model.non_trainable_weights if v.ref() not in used
             and "should_compute_train_metrics_for_batch" not in v.name]
    if left:
        raise ValueError(f"the model has weights the forward spec does not use: {left}")


def _check_against(forward, model_spec, schema):
    if model_spec is not None:
        if model_spec.architecture != forward["architecture"]:
            raise ValueError(f"training's spec says {model_spec.architecture}, the model is "
                             f"{forward['architecture']}")
        if forward["embeddings"]["dim"] != model_spec.embedding_dim or \
                forward["embeddings"]["pooling"] != model_spec.pooling:
            raise ValueError("training's spec's embedding dim or pooling differ from the model's")
        if model_spec.architecture == "dcn":
            if len(forward["cross"]) != model_spec.cross_depth or \
                    (forward["structure"] == "stacked") != bool(model_spec.stacked):
                raise ValueError("training's spec's cross depth or stacking differ from the model's")
            widths = [d["out"] for d in forward["deep_mlp"]]
            if widths != list(model_spec.top_mlp):
                raise ValueError(f"deep MLP widths {widths}, training's spec says {model_spec.top_mlp}")
        else:
            for key, want in (("bottom_mlp", model_spec.bottom_mlp), ("top_mlp", model_spec.top_mlp)):
                widths = [d["out"] for d in forward[key]]
                if forward["continuous"] or key == "top_mlp":
                    if widths != list(want):
                        raise ValueError(f"{key} widths {widths}, training's spec says {want}")
    if schema is not None:
        from merlin.schema import Tags

        features = schema.excluding_by_name([forward["label"]]).excluding_by_tag(Tags.TARGET)
        cat = set(features.select_by_tag(Tags.CATEGORICAL).column_names)
        con = set(features.select_by_tag(Tags.CONTINUOUS).column_names)
        if cat != {f["name"] for f in forward["embeddings"]["features"]}:
            raise ValueError("the schema's categorical features differ from the model's")
        if con != set(forward["continuous"]):
            raise ValueError("the schema's continuous features differ from the model's")


def check_forward_spec(spec: dict, tensors: dict[str, np.ndarray]) -> None:
    """Every tensor the forward spec names exists with the shape the layers need."""
    if spec.get("format") != FORMAT or spec.get("version") != VERSION:
        raise ValueError(f"not a {FORMAT} spec version {VERSION}")
    json.dumps(spec)  # JSON-able

    def need(name, shape):
        if name not in tensors:
            raise ValueError(f"tensor {name!r} is missing")
        if not name.startswith("model/"):
            raise ValueError(f"tensor {name!r} does not start with model/")
        got = tuple(np.shape(tensors[name]))
        if got != tuple(shape):
            raise ValueError(f"tensor {name!r} has shape {got}, expected {tuple(shape)}")

    emb = spec["embeddings"]
    need(emb["table"], (emb["rows"], emb["dim"]))
    if emb["pooling"] not in ("mean", "sum"):
        raise ValueError(f"pooling {emb['pooling']!r}")
    for f in emb["features"]:
        if f["offset"] < 0 or f["offset"] + f["cardinality"] > emb["rows"]:
            raise ValueError(f"feature {f['name']!r} rows fall outside the table")

    def mlp(layers, width):
        for d in layers:
            if d["in"] != width:
                raise ValueError(f"{d['kernel']} takes {d['in']} inputs, gets {width}")
            need(d["kernel"], (d["in"], d["out"]))
            if d["bias"] is not None:
                need(d["bias"], (d["out"],))
            if d["activation"] not in ACTIVATIONS:
                raise ValueError(f"activation {d['activation']!r}")
            width = d["out"]
        return width

    dim = emb["dim"]
    if spec["architecture"] == "dlrm":
        width = mlp(spec["bottom_mlp"], len(spec["continuous"]))
        if spec["bottom_mlp"] and width != dim:
            raise ValueError(f"the bottom MLP gives {width} values, the embeddings {dim}")
        widths = {"interaction": spec["interaction"]["width"], "bottom_mlp": dim}
        width = mlp(spec["top_mlp"], sum(widths[k] for k in spec["top_input"]))
    elif spec["architecture"] == "dcn":
        x0 = sum(dim if x["kind"] == "embedding" else 1 for x in spec["input"])
        for c in spec["cross"]:
            need(c["kernel"], (x0, x0))
            if c["bias"] is not None:
                need(c["bias"], (x0,))
        width = mlp(spec["deep_mlp"], x0)  # on x0 (parallel) or the last cross (stacked)
        if spec["structure"] == "parallel":
            width += x0
    else:
        raise ValueError(f"architecture {spec['architecture']!r}")
    linear = spec.get("linear")
    if linear:
        need(linear["table"], (linear["rows"],))
        need(linear["kernel"], (len(linear["continuous"]),))
        need(linear["bias"], (1,))
        sizes = {f["name"]: f["cardinality"] for f in emb["features"]}
        for f in linear["features"]:
            if sizes.get(f["name"]) != f["cardinality"] or \
                    f["offset"] < 0 or f["offset"] + f["cardinality"] > linear["rows"]:
                raise ValueError(f"linear feature {f['name']!r}: not an embedded feature of "
                                 "that cardinality, or rows outside its table")
        if sorted(linear["continuous"]) != sorted(spec["continuous"]):
            raise ValueError("the linear part's continuous features differ from the model's")
        width += 1  # the output layer reads its logit last
    mlp([spec["output"]], width)


