"""The DCN-v2 part of a forward spec, read from Merlin's DCNModel (the engine's dcn branch,
engine/model/forward.cpp): the input concatenation x0, the full-rank cross layers, the deep
MLP, stacked or parallel."""

from __future__ import annotations

from shoprank.export.keras_layers import dense, keras_dense, mlp

CROSS = "x_{l+1} = x_0 * (x_l @ kernel_l + bias_l) + x_l"


def extract_dcn(layers, crosses, categorical, continuous, body_dense, variables) -> dict:
    from merlin.models.tf.core.aggregation import ConcatFeatures
    from merlin.models.tf.core.combinators import ParallelBlock

    inputs = [x for x in layers.of_type(ParallelBlock)
              if set(x.parallel_dict) & {"categorical", "continuous"}]
    if len(inputs) != 1 or not set(inputs[0].parallel_dict) <= {"categorical", "continuous"} \
            or not isinstance(inputs[0].aggregation, ConcatFeatures):
        raise ValueError("expected DCN's InputBlockV2(categorical, continuous) with concat")
    kinds = {**{n: "embedding" for n in categorical}, **{n: "continuous" for n in continuous}}
    x0 = [{"kind": kinds[n], "name": n} for n in sorted(kinds)]
    cross = [_cross_layer(i, layer, len(crosses), variables) for i, layer in enumerate(crosses)]
    branches = [x for x in layers.of_type(ParallelBlock) if x is not inputs[0]
                and "linear" not in x.parallel_dict  # the linear part's join (forward.py)
                and any(c in layers.under(x) for c in crosses)]
    out = {"architecture": "dcn", "input": x0, "cross_formula": CROSS, "cross": cross,
           "structure": "stacked", "deep_mlp": mlp(body_dense, "model/deep_mlp", variables)}
    if branches:
        (branch,) = branches
        if not isinstance(branch.aggregation, ConcatFeatures) or len(branch.parallel_dict) != 2:
            raise ValueError("expected DCN's parallel branches joined by concat")
        out["structure"] = "parallel"
        out["parallel_concat"] = ["cross" if any(c in layers.under(b) for c in crosses)
                                  else "deep" for _, b in sorted(branch.parallel_dict.items())]
    return out


def _cross_layer(i, layer, count, variables) -> dict:
    if getattr(layer.dense, "low_rank_dim", None) is not None:
        raise ValueError("low-rank cross layers are not supported")
    entry = dense(keras_dense(layer.dense), f"model/cross/{i}", variables)
    if entry["activation"] != "linear" or entry["in"] != entry["out"]:
        raise ValueError(f"cross layer {i} is not a square linear projection: {entry}")
    if bool(layer.output_x0) != (i < count - 1):
        raise ValueError(
            "the cross layers do not pass x0 on as CrossBlock does: a DCN loaded with "
            "tf.keras.models.load_model loses Merlin's Cross.output_x0 (it is not "
            "serialized) and computes another function than the trained model; load "
            "it with shoprank.models.folders.load_keras_model, which restores it")
    return {k: entry[k] for k in ("kernel", "bias", "in")}
