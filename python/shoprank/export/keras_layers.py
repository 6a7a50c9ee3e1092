"""Reading a Keras / Merlin model's layers for the forward-spec extractors: the layer tree
(every path from the model down, each layer once), and Dense layers as spec entries whose
weights are recorded in ``variables`` under the spec's tensor names."""

from __future__ import annotations

ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh")


class Layers:
    """Every layer of a model, and which lie under which."""

    def __init__(self, model):
        self.paths = list(_walk(model))
        self.all = _unique(path[-1] for path in self.paths)

    def under(self, ancestor) -> list:
        return _unique(p[-1] for p in self.paths if any(a is ancestor for a in p[:-1]))

    def of_type(self, kind, within=None) -> list:
        return [x for x in (self.under(within) if within is not None else self.all)
                if isinstance(x, kind)]


def _walk(layer, path=()):
    path = path + (layer,)
    yield path
    for child in children(layer):
        if not any(child is p for p in path):
            yield from _walk(child, path)


def children(layer):
    return list(layer._flatten_layers(include_self=False, recursive=False))


def _unique(items):
    seen, out = set(), []
    for x in items:
        if id(x) not in seen:
            seen.add(id(x))
            out.append(x)
    return out


def continuous_names(layer):
    from merlin.models.tf.core.tabular import Filter

    f = layer if isinstance(layer, Filter) else layer.filter_features
    names = f.feature_names
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"continuous filter {layer.name} has unresolved features {names!r}")
    return list(names)


def keras_dense(layer):
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


def dense(layer, prefix, variables) -> dict:
    """A Dense layer's spec entry; its kernel and bias recorded in variables."""
    layer = keras_dense(layer)
    variables[f"{prefix}/kernel"] = layer.kernel
    bias = None
    if layer.use_bias:
        bias = f"{prefix}/bias"
        variables[bias] = layer.bias
    fan_in, fan_out = (int(d) for d in layer.kernel.shape)
    return {"kernel": f"{prefix}/kernel", "bias": bias, "activation": _activation(layer),
            "in": fan_in, "out": fan_out}


def mlp(layers, prefix, variables) -> list[dict]:
    return [dense(x, f"{prefix}/{i}", variables) for i, x in enumerate(layers)]
