"""The forward pass of a trained DLRM or DCN-v2 as plain arrays, and its NumPy reference.

``extract_forward`` reads a Merlin Models 23.12 model (live, or loaded from its SavedModel)
layer by layer and returns a JSON-able description plus float32 tensors named ``model/...``;
``extract_forward_from_folder`` gets the same from a model folder's model.json + weights.npz
alone (export.py stores the description, and which weights.npz array each tensor is, when it
exports); ``numpy_forward`` computes the click probabilities from them: the reference the
native engine is tested against. Only NumPy is imported here; TensorFlow only by the
extraction from a model.

What Merlin actually computes (read from merlin/models/tf, verified against the model's
predictions by tests/ranker/test_forward_spec.py):

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
  sequential_block_9 and cross sequential_block_10. The description states the order found.
* Output: BinaryOutput is Dense(1, activation="sigmoid"), no temperature: the model's
  predictions are probabilities.
"""

from __future__ import annotations

import json
import numpy as np

FORMAT = "shoprank-forward"
VERSION = 1
ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh")
DENSE = "y = activation(x @ kernel + bias); kernel (in, out), bias (out,)"
CROSS = "x_{l+1} = x_0 * (x_l @ kernel_l + bias_l) + x_l"


# --------------------------------------------------------------------------- extraction

def extract_forward(model, spec=None, schema=None, label: str | None = None
                    ) -> tuple[dict, dict[str, np.ndarray]]:
    """(description, {tensor name: float32 array}) of a trained Merlin DLRM / DCN model.

    Works on the model ``train`` builds and on the one ``load_keras_model`` loads (both
    carry the same layers). ``spec`` (a ModelSpec), ``schema`` and ``label`` are checked
    against what the model holds when given; the model itself is the truth.
    """
    description, variables = _extract(model, spec, schema, label)
    return description, {name: _value(v) for name, v in variables.items()}


def folder_entry(model, spec, schema, label, weight_names) -> dict | None:
    """model.json's "forward" entry: the description and, for every tensor, the name of its
    array in weights.npz, or the list of arrays it stacks (per-feature embedding tables,
    stacked into one). ``weight_names`` maps ``variable.ref()`` to that name."""
    description, variables = _extract(model, spec, schema, label)
    return {"description": description,
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
    from shoprank.models.export import load_keras_model, load_weights

    model_json, weights = load_weights(model_dir)
    entry = model_json.get("forward")
    if entry is None:
        return extract_forward(load_keras_model(model_dir), None, None, model_json.get("label"))
    description, tensors = entry["description"], {}
    for name, keys in entry["tensors"].items():
        parts = keys if isinstance(keys, list) else [keys]
        for key in parts:
            if key not in weights:
                raise ValueError(f"{model_dir}: model.json names weights.npz array {key!r} "
                                 f"for {name}, but weights.npz has no such array")
        tensors[name] = np.concatenate([np.asarray(weights[k], np.float32) for k in parts])
    check_description(description, tensors)
    return description, tensors


def _extract(model, spec, schema, label):
    import tensorflow as tf
    from merlin.models.tf.blocks.cross import Cross
    from merlin.models.tf.blocks.interaction import DotProductInteraction
    from merlin.models.tf.core.aggregation import ConcatFeatures, StackFeatures
    from merlin.models.tf.core.combinators import ParallelBlock, WithShortcut
    from merlin.models.tf.inputs.continuous import Continuous, ContinuousFeatures
    from merlin.models.tf.inputs.embedding import EmbeddingTable
    from merlin.models.tf.outputs.base import ModelOutput
    from merlin.models.tf.outputs.classification import BinaryOutput

    from shoprank.models.fused_embeddings import FusedEmbeddings

    paths = list(_walk(model))
    layers = _unique(path[-1] for path in paths)

    def under(ancestor):
        return _unique(p[-1] for p in paths if any(a is ancestor for a in p[:-1]))

    def of_type(kind, within=None):
        return [x for x in (under(within) if within is not None else layers)
                if isinstance(x, kind)]

    unsupported = [x for x in layers if isinstance(x, (
        tf.keras.layers.BatchNormalization, tf.keras.layers.LayerNormalization,
        tf.keras.layers.Dropout))]
    if unsupported:
        raise ValueError(f"the model has {type(unsupported[0]).__name__} layers, which the "
                         "engine's forward does not compute")

    # embeddings
    table, layout = _embedding_layout(of_type(FusedEmbeddings), of_type(EmbeddingTable), spec)
    variables = {"model/embeddings/table": table}
    embeddings = {"table": "model/embeddings/table", **layout, "empty_list": "zeros"}
    features = layout["features"]
    categorical = [f["name"] for f in features]

    # output head
    outputs = of_type(ModelOutput)
    if len(outputs) != 1 or not isinstance(outputs[0], BinaryOutput):
        raise ValueError(f"expected one BinaryOutput head, found "
                         f"{[type(o).__name__ for o in outputs]}")
    head = outputs[0]
    if head.pre is not None or head.post is not None or getattr(head, "logits_scaler", None):
        raise ValueError("the BinaryOutput has pre/post blocks or a logits temperature")
    if label is not None and head.target != label:
        raise ValueError(f"the model predicts {head.target!r}, not {label!r}")
    output = _dense(head.to_call, "model/output", variables)
    if output["out"] != 1 or output["activation"] != "sigmoid":
        raise ValueError(f"the output layer is {output}, expected Dense(1, sigmoid)")

    continuous_layers = of_type((Continuous, ContinuousFeatures))
    continuous = sorted({n for x in continuous_layers for n in _continuous_names(x)})
    clash = set(continuous) & set(categorical)
    if clash:
        raise ValueError(f"features both continuous and categorical: {sorted(clash)}")

    crosses = of_type(Cross)
    interactions = of_type(DotProductInteraction)
    if bool(crosses) == bool(interactions):
        raise ValueError("expected either a DLRM (dot interaction) or a DCN (cross layers)")
    description = {"format": FORMAT, "version": VERSION, "label": head.target,
                   "dense": DENSE, "embeddings": embeddings, "continuous": continuous}

    body_dense = [x for x in of_type(tf.keras.layers.Dense)
                  if x is not head.to_call and not any(x in under(c) for c in crosses)]
    if interactions:  # ------------------------------------------------------------ DLRM
        (interaction,) = interactions
        if interaction.interaction_type is not None or interaction.self_interaction:
            raise ValueError("only the plain dot interaction without self-interaction")
        stacks = [p for p in paths if p[-1] is interaction]
        if not any(isinstance(x, StackFeatures) and x.axis == 1
                   for p in stacks for a in p for x in _children(a)):
            raise ValueError("the dot interaction is not fed by StackFeatures(axis=1)")
        bottom, bottom_key = [], None
        inputs = [x for x in of_type(ParallelBlock) if "embeddings" in x.parallel_dict]
        if continuous:
            if len(inputs) != 1 or set(inputs[0].parallel_dict) != {"embeddings", "bottom_block"}:
                raise ValueError("expected DLRM's ParallelBlock(embeddings, bottom_block)")
            bottom_key = "bottom_block"
            bottom_block = inputs[0].parallel_dict[bottom_key]
            bottom = [x for x in body_dense if x in under(bottom_block)]
            if not bottom:
                raise ValueError("the DLRM bottom block has no dense layers")
        keys = {**{n: {"kind": "embedding", "name": n} for n in categorical}}
        if bottom_key:
            if bottom_key in keys:
                raise ValueError(f"a feature is named {bottom_key!r}, as DLRM's bottom output")
            keys[bottom_key] = {"kind": "bottom_mlp"}
        vectors = [keys[k] for k in sorted(keys)]
        top_input = ["interaction"]
        shortcuts = of_type(WithShortcut)
        if shortcuts:
            (shortcut,) = shortcuts
            if not isinstance(shortcut.aggregation, ConcatFeatures):
                raise ValueError("DLRM's shortcut is not concatenated")
            names = {}
            for key, branch in shortcut.parallel_dict.items():
                if interaction in under(branch) or branch is interaction:
                    names[key] = "interaction"
                else:  # the Filter: which of the interaction's inputs it passes (check_feature)
                    for k in keys:
                        if branch.check_feature(k):
                            names[k] = "bottom_mlp" if k == bottom_key else f"embedding:{k}"
            top_input = [names[k] for k in sorted(names)]
            if sorted(top_input) != ["bottom_mlp", "interaction"]:
                raise ValueError(f"unexpected DLRM top input {top_input}")
        top = [x for x in body_dense if x not in bottom]
        description.update(architecture="dlrm", bottom_mlp=_mlp(bottom, "model/bottom_mlp", variables),
                           interaction={"type": "dot", "vectors": vectors,
                                        "pairs": "i < j (upper triangle without the diagonal), "
                                                 "row-major", "self_interaction": False,
                                        "width": len(vectors) * (len(vectors) - 1) // 2},
                           top_input=top_input, top_mlp=_mlp(top, "model/top_mlp", variables))
    else:  # --------------------------------------------------------------------------- DCN
        inputs = [x for x in of_type(ParallelBlock)
                  if set(x.parallel_dict) & {"categorical", "continuous"}]
        if len(inputs) != 1 or not set(inputs[0].parallel_dict) <= {"categorical", "continuous"} \
                or not isinstance(inputs[0].aggregation, ConcatFeatures):
            raise ValueError("expected DCN's InputBlockV2(categorical, continuous) with concat")
        kinds = {**{n: "embedding" for n in categorical}, **{n: "continuous" for n in continuous}}
        x0 = [{"kind": kinds[n], "name": n} for n in sorted(kinds)]
        cross = []
        for i, layer in enumerate(crosses):
            dense = layer.dense
            if getattr(dense, "low_rank_dim", None) is not None:
                raise ValueError("low-rank cross layers are not supported")
            entry = _dense(_keras_dense(dense), f"model/cross/{i}", variables)
            if entry["activation"] != "linear" or entry["in"] != entry["out"]:
                raise ValueError(f"cross layer {i} is not a square linear projection: {entry}")
            if bool(layer.output_x0) != (i < len(crosses) - 1):
                raise ValueError(
                    "the cross layers do not pass x0 on as CrossBlock does: a DCN loaded with "
                    "tf.keras.models.load_model loses Merlin's Cross.output_x0 (it is not "
                    "serialized) and computes another function than the trained model; load "
                    "it with shoprank.models.export.load_keras_model, which restores it")
            cross.append({k: entry[k] for k in ("kernel", "bias", "in")})
        deep = body_dense
        branches = [x for x in of_type(ParallelBlock) if x is not inputs[0]
                    and any(c in under(x) for c in crosses)]
        structure, concat = "stacked", None
        if branches:
            (branch,) = branches
            if not isinstance(branch.aggregation, ConcatFeatures) or len(branch.parallel_dict) != 2:
                raise ValueError("expected DCN's parallel branches joined by concat")
            structure = "parallel"
            concat = ["cross" if any(c in under(b) for c in crosses) else "deep"
                      for _, b in sorted(branch.parallel_dict.items())]
        description.update(architecture="dcn", input=x0, cross_formula=CROSS, cross=cross,
                           structure=structure, deep_mlp=_mlp(deep, "model/deep_mlp", variables))
        if concat:
            description["parallel_concat"] = concat
    description["output"] = output

    _check_all_weights_used(model, variables)
    _check_against(description, spec, schema)
    check_description(description, {n: np.empty(_shape(v), np.float32)
                                     for n, v in variables.items()})
    return description, variables


def _embedding_layout(fused, tables, spec) -> tuple[object, dict]:
    """(the table's variable, or the per-feature tables' variables to stack into one; the
    description's rows, dim, pooling and features with their offsets into the one table)."""
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
    pooling = poolings.pop() if poolings else getattr(spec, "pooling", "mean")
    return parts, {"rows": rows, "dim": dims.pop(), "pooling": pooling, "features": features}


def _shape(variable) -> tuple[int, ...]:
    if isinstance(variable, list):
        shapes = [_shape(part) for part in variable]
        return (sum(s[0] for s in shapes), *shapes[0][1:])
    return tuple(int(d) for d in variable.shape)


def _walk(layer, path=()):
    path = path + (layer,)
    yield path
    for child in _children(layer):
        if not any(child is p for p in path):
            yield from _walk(child, path)


def _children(layer):
    return list(layer._flatten_layers(include_self=False, recursive=False))


def _unique(items):
    seen, out = set(), []
    for x in items:
        if id(x) not in seen:
            seen.add(id(x))
            out.append(x)
    return out


def _continuous_names(layer):
    from merlin.models.tf.core.tabular import Filter

    f = layer if isinstance(layer, Filter) else layer.filter_features
    names = f.feature_names
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"continuous filter {layer.name} has unresolved features {names!r}")
    return list(names)


def _keras_dense(layer):
    import tensorflow as tf

    while not isinstance(layer, tf.keras.layers.Dense):
        layer = layer.dense
    return layer


def _activation(layer) -> str:
    import tensorflow as tf

    name = tf.keras.activations.serialize(layer.activation)
    if isinstance(name, dict):
        name = name.get("config", {}).get("name", name.get("class_name"))
    if name not in ACTIVATIONS:
        raise ValueError(f"{layer.name}: activation {name!r} is not one of {ACTIVATIONS}")
    return name


def _dense(layer, prefix, variables) -> dict:
    layer = _keras_dense(layer)
    variables[f"{prefix}/kernel"] = layer.kernel
    bias = None
    if layer.use_bias:
        bias = f"{prefix}/bias"
        variables[bias] = layer.bias
    fan_in, fan_out = (int(d) for d in layer.kernel.shape)
    return {"kernel": f"{prefix}/kernel", "bias": bias, "activation": _activation(layer),
            "in": fan_in, "out": fan_out}


def _mlp(layers, prefix, variables) -> list[dict]:
    return [_dense(x, f"{prefix}/{i}", variables) for i, x in enumerate(layers)]


def _check_all_weights_used(model, variables):
    used = {p.ref() for v in variables.values() for p in (v if isinstance(v, list) else [v])}
    left = [v.name for v in model.trainable_weights if v.ref() not in used]
    left += [v.name for v in model.non_trainable_weights
             if "should_compute_train_metrics_for_batch" not in v.name]
    if left:
        raise ValueError(f"the model has weights the forward description does not use: {left}")


def _check_against(description, spec, schema):
    if spec is not None:
        if spec.architecture != description["architecture"]:
            raise ValueError(f"the spec says {spec.architecture}, the model is "
                             f"{description['architecture']}")
        if description["embeddings"]["dim"] != spec.embedding_dim or \
                description["embeddings"]["pooling"] != spec.pooling:
            raise ValueError("the spec's embedding dim or pooling differ from the model's")
        if spec.architecture == "dcn":
            if len(description["cross"]) != spec.cross_depth or \
                    (description["structure"] == "stacked") != bool(spec.stacked):
                raise ValueError("the spec's cross depth or stacking differ from the model's")
            widths = [d["out"] for d in description["deep_mlp"]]
            if widths != list(spec.top_mlp):
                raise ValueError(f"deep MLP widths {widths}, the spec says {spec.top_mlp}")
        else:
            for key, want in (("bottom_mlp", spec.bottom_mlp), ("top_mlp", spec.top_mlp)):
                widths = [d["out"] for d in description[key]]
                if description["continuous"] or key == "top_mlp":
                    if widths != list(want):
                        raise ValueError(f"{key} widths {widths}, the spec says {want}")
    if schema is not None:
        from merlin.schema import Tags

        features = schema.excluding_by_name([description["label"]]).excluding_by_tag(Tags.TARGET)
        cat = set(features.select_by_tag(Tags.CATEGORICAL).column_names)
        con = set(features.select_by_tag(Tags.CONTINUOUS).column_names)
        if cat != {f["name"] for f in description["embeddings"]["features"]}:
            raise ValueError("the schema's categorical features differ from the model's")
        if con != set(description["continuous"]):
            raise ValueError("the schema's continuous features differ from the model's")


# --------------------------------------------------------------------------- checking

def check_description(description: dict, tensors: dict[str, np.ndarray]) -> None:
    """Every tensor the description names exists with the shape the layers need."""
    if description.get("format") != FORMAT or description.get("version") != VERSION:
        raise ValueError(f"not a {FORMAT} description version {VERSION}")
    json.dumps(description)  # JSON-able

    def need(name, shape):
        if name not in tensors:
            raise ValueError(f"tensor {name!r} is missing")
        if not name.startswith("model/"):
            raise ValueError(f"tensor {name!r} does not start with model/")
        got = tuple(np.shape(tensors[name]))
        if got != tuple(shape):
            raise ValueError(f"tensor {name!r} has shape {got}, expected {tuple(shape)}")

    emb = description["embeddings"]
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
    if description["architecture"] == "dlrm":
        width = mlp(description["bottom_mlp"], len(description["continuous"]))
        if description["bottom_mlp"] and width != dim:
            raise ValueError(f"the bottom MLP gives {width} values, the embeddings {dim}")
        widths = {"interaction": description["interaction"]["width"], "bottom_mlp": dim}
        width = mlp(description["top_mlp"], sum(widths[k] for k in description["top_input"]))
    elif description["architecture"] == "dcn":
        x0 = sum(dim if x["kind"] == "embedding" else 1 for x in description["input"])
        for c in description["cross"]:
            need(c["kernel"], (x0, x0))
            if c["bias"] is not None:
                need(c["bias"], (x0,))
        width = mlp(description["deep_mlp"], x0)  # on x0 (parallel) or the last cross (stacked)
        if description["structure"] == "parallel":
            width += x0
    else:
        raise ValueError(f"architecture {description['architecture']!r}")
    mlp([description["output"]], width)


# --------------------------------------------------------------------------- reference

def numpy_forward(description: dict, tensors: dict[str, np.ndarray], categorical: dict,
                  continuous: dict) -> np.ndarray:
    """Click probabilities (n,) float32 for n rows of model inputs.

    categorical: {feature: (n,) int ids} (Categorify ids, 0 <= id < cardinality); a list
    feature gives a sequence of n int arrays (empty allowed), or a (values, offsets) pair
    with offsets of length n + 1. continuous: {feature: (n,) numbers}.
    """
    emb = description["embeddings"]
    table = np.asarray(tensors[emb["table"]], dtype=np.float32)
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
    for name in description["continuous"]:
        if name not in continuous:
            raise ValueError(f"continuous feature {name!r} is missing")
        values = np.asarray(continuous[name]).astype(np.float32).reshape(-1)
        if len(values) != n:
            raise ValueError(f"feature {name!r} has {len(values)} rows, others {n}")
        columns[name] = values[:, None]

    if description["architecture"] == "dlrm":
        parts = {}
        if description["bottom_mlp"]:
            dense = np.concatenate([columns[c] for c in description["continuous"]], axis=1)
            parts["bottom_mlp"] = _mlp_forward(dense, description["bottom_mlp"], tensors)
        stack = np.stack([parts["bottom_mlp"] if v["kind"] == "bottom_mlp" else pooled[v["name"]]
                          for v in description["interaction"]["vectors"]], axis=1)
        dots = np.matmul(stack, stack.transpose(0, 2, 1))  # (n, F, F)
        rows, cols = np.triu_indices(stack.shape[1], k=1)  # row-major, i < j
        parts["interaction"] = dots[:, rows, cols]
        hidden = np.concatenate([parts[k] for k in description["top_input"]], axis=1)
        hidden = _mlp_forward(hidden, description["top_mlp"], tensors)
    else:
        x0 = np.concatenate([pooled[x["name"]] if x["kind"] == "embedding" else columns[x["name"]]
                             for x in description["input"]], axis=1).astype(np.float32)
        x = x0
        for c in description["cross"]:
            projected = x @ np.asarray(tensors[c["kernel"]], np.float32)
            if c["bias"] is not None:
                projected = projected + np.asarray(tensors[c["bias"]], np.float32)
            x = x0 * projected + x
        if description["structure"] == "stacked":
            hidden = _mlp_forward(x, description["deep_mlp"], tensors)
        else:
            parts = {"cross": x, "deep": _mlp_forward(x0, description["deep_mlp"], tensors)}
            hidden = np.concatenate([parts[k] for k in description["parallel_concat"]], axis=1)
    return _mlp_forward(hidden, [description["output"]], tensors).reshape(-1)


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
        x = x @ np.asarray(tensors[d["kernel"]], np.float32)
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

