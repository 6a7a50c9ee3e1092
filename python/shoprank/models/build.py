"""DLRM and DCN-v2 from Merlin Models' own blocks, on fused or per-feature embedding tables."""

from __future__ import annotations

import dataclasses

ARCHITECTURES = ("dlrm", "dcn")
TABLES = ("fused", "per-feature")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Everything that decides the network: written beside the weights for the engine."""
    architecture: str = "dlrm"
    tables: str = "fused"
    embedding_dim: int = 16
    pooling: str = "mean"
    bottom_mlp: tuple[int, ...] = (64, 16)   # DLRM: its last width must equal embedding_dim
    top_mlp: tuple[int, ...] = (128, 64)     # DLRM top / DCN deep
    cross_depth: int = 2                     # DCN
    stacked: bool = True                     # DCN: cross then deep (else side by side)
    activation: str = "relu"
    embedding_l2: float = 0.0                # L2 on each batch's gathered embeddings
    dropout: float = 0.0                     # after each MLP layer, in training only
    linear: bool = False                     # a fitted, frozen linear part (linear_part.py)


    def check(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"model: expected one of {ARCHITECTURES}, got {self.architecture!r}")
        if self.tables not in TABLES:
            raise ValueError(f"tables: expected one of {TABLES}, got {self.tables!r}")
        if self.embedding_dim < 1:
            raise ValueError(f"embedding dim must be >= 1, got {self.embedding_dim}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.embedding_l2 < 0:
            raise ValueError(f"embedding L2 must be >= 0, got {self.embedding_l2}")
        if self.architecture == "dlrm" and self.bottom_mlp[-1] != self.embedding_dim:
            raise ValueError(
                f"DLRM needs the bottom MLP's output ({self.bottom_mlp[-1]}) to equal the "
                f"embedding width ({self.embedding_dim}): the dot interaction multiplies them; "
                f"use --embedding-dim {self.bottom_mlp[-1]} or end --bottom-mlp with "
                f"{self.embedding_dim}")


def build_model(schema, label: str, spec: ModelSpec, linear_fit=None):
    """A compiled-ready Merlin Model predicting P(label) from the schema's features;
    ``linear_fit`` (linear_fit.LinearFit) the weights of the linear part when spec.linear."""
    import merlin.models.tf as mm
    import tensorflow as tf
    from merlin.schema import Tags

    from shoprank.models.fused_embeddings import FusedEmbeddings

    spec.check()
    features = schema.excluding_by_name([label])
    categorical = features.select_by_tag(Tags.CATEGORICAL)
    if not len(categorical):
        raise ValueError("the schema has no categorical features to embed")
    if spec.tables == "fused":
        embeddings = FusedEmbeddings(features, spec.embedding_dim, pooling=spec.pooling,
                                     l2_batch_regularization_factor=spec.embedding_l2)
    else:
        embeddings = mm.Embeddings(categorical, dim=spec.embedding_dim,
                                   sequence_combiner=spec.pooling,
                                   l2_batch_regularization_factor=spec.embedding_l2)
    dropout = spec.dropout or None

    def mlp_block(widths):
        return mm.MLPBlock(list(widths), activation=spec.activation, dropout=dropout)

    if spec.architecture == "dlrm":
        # mm.DLRMModel, but told its input schema: Merlin's version learns it from an input
        # block, which its DLRM has only when there are continuous features; without one the
        # model prepares no list feature and its embeddings never see them.
        body = mm.DLRMBlock(schema, embeddings=embeddings,
                            bottom_block=mlp_block(spec.bottom_mlp),
                            top_block=mlp_block(spec.top_mlp))
    else:  # mm.DCNModel's body, its blocks made in its order (Keras names them by it)
        inputs = mm.InputBlockV2(features, categorical=embeddings)
        deep = mlp_block(spec.top_mlp)
        cross = mm.CrossBlock(spec.cross_depth)
        body = inputs.connect(cross, deep) if spec.stacked else \
            inputs.connect_branch(cross, deep, aggregation="concat")
    if not spec.linear:
        return mm.Model(body, mm.BinaryOutput(label), schema=features)
    from shoprank.models.linear_part import LastInputOnly, LinearPart

    # the output layer reads concat(body, linear logit) ("deep" < "linear": the logit last)
    # and starts as the linear model: weight 1 on its logit, 0 on the body's outputs
    body = mm.ParallelBlock({"deep": body, "linear": LinearPart(features, spec.pooling,
                                                                fit=linear_fit)},
                            aggregation="concat")
    head = tf.keras.layers.Dense(1, activation="sigmoid", kernel_initializer=LastInputOnly(),
                                 name="output_layer")
    return mm.Model(body, mm.BinaryOutput(label, to_call=head), schema=features)
