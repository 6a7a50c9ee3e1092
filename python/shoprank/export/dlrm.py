"""The DLRM part of a forward spec, read from Merlin's DLRMBlock (the engine's dlrm
branch, engine/model/forward.cpp): the bottom MLP, the dot interaction and the top MLP."""

from __future__ import annotations

from shoprank.export.keras_layers import children, mlp


def extract_dlrm(layers, interaction, categorical, continuous, body_dense, variables) -> dict:
    from merlin.models.tf.core.aggregation import ConcatFeatures, StackFeatures
    from merlin.models.tf.core.combinators import ParallelBlock, WithShortcut

    if interaction.interaction_type is not None or interaction.self_interaction:
        raise ValueError("only the plain dot interaction without self-interaction")
    stacks = [p for p in layers.paths if p[-1] is interaction]
    if not any(isinstance(x, StackFeatures) and x.axis == 1
               for p in stacks for a in p for x in children(a)):
        raise ValueError("the dot interaction is not fed by StackFeatures(axis=1)")
    bottom, bottom_key = [], None
    inputs = [x for x in layers.of_type(ParallelBlock) if "embeddings" in x.parallel_dict]
    if continuous:
        if len(inputs) != 1 or set(inputs[0].parallel_dict) != {"embeddings", "bottom_block"}:
            raise ValueError("expected DLRM's ParallelBlock(embeddings, bottom_block)")
        bottom_key = "bottom_block"
        bottom_block = inputs[0].parallel_dict[bottom_key]
        bottom = [x for x in body_dense if x in layers.under(bottom_block)]
        if not bottom:
            raise ValueError("the DLRM bottom block has no dense layers")
    keys = {n: {"kind": "embedding", "name": n} for n in categorical}
    if bottom_key:
        if bottom_key in keys:
            raise ValueError(f"a feature is named {bottom_key!r}, as DLRM's bottom output")
        keys[bottom_key] = {"kind": "bottom_mlp"}
    vectors = [keys[k] for k in sorted(keys)]
    top_input = ["interaction"]
    shortcuts = layers.of_type(WithShortcut)
    if shortcuts:
        (shortcut,) = shortcuts
        if not isinstance(shortcut.aggregation, ConcatFeatures):
            raise ValueError("DLRM's shortcut is not concatenated")
        names = {}
        for key, branch in shortcut.parallel_dict.items():
            if interaction in layers.under(branch) or branch is interaction:
                names[key] = "interaction"
            else:  # the Filter: which of the interaction's inputs it passes (check_feature)
                for k in keys:
                    if branch.check_feature(k):
                        names[k] = "bottom_mlp" if k == bottom_key else f"embedding:{k}"
        top_input = [names[k] for k in sorted(names)]
        if sorted(top_input) != ["bottom_mlp", "interaction"]:
            raise ValueError(f"unexpected DLRM top input {top_input}")
    top = [x for x in body_dense if x not in bottom]
    return {"architecture": "dlrm", "bottom_mlp": mlp(bottom, "model/bottom_mlp", variables),
            "interaction": {"type": "dot", "vectors": vectors,
                            "pairs": "i < j (upper triangle without the diagonal), row-major",
                            "self_interaction": False,
                            "width": len(vectors) * (len(vectors) - 1) // 2},
            "top_input": top_input, "top_mlp": mlp(top, "model/top_mlp", variables)}
