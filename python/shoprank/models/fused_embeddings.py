"""FusedEmbeddings: every categorical feature in one embedding table.

One variable of shape (sum of cardinalities, dim); feature f's id i lives at row
offsets[f] + i. A batch needs one gather for all features instead of one lookup per
feature; list features (tags) gather their values in the same call and are pooled by sum or
mean. The gather's gradient is sparse (tf.IndexedSlices): optimizers update only the rows
a batch touched. Outputs {feature: (batch, dim)}, the same as Merlin's Embeddings, so it
plugs into mm.DLRMModel(embeddings=...) and InputBlockV2(categorical=...).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from merlin.models.tf.core.tabular import TabularBlock
from merlin.models.utils import schema_utils
from merlin.schema import Schema, Tags

POOLINGS = ("sum", "mean")


def cardinality(column) -> int:
    domain = column.int_domain
    if domain is None or domain.max is None:
        raise ValueError(f"categorical feature {column.name!r} has no int_domain.max in the "
                         "schema: is this the schema written by shoprank etl?")
    return int(domain.max) + 1


def row_offsets(schema: Schema) -> tuple[dict[str, int], int]:
    """({feature: its first row}, rows) of the categorical features' one table, in the
    schema's order; shared with the linear part's one-column table (linear_part.py)."""
    names = schema.column_names
    sizes = [cardinality(schema[name]) for name in names]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int).tolist()
    return dict(zip(names, starts)), int(sum(sizes))


def from_block_config(cls, config):
    """A block made from its Keras config: the schema parsed back, Merlin's own keys left
    out (FusedEmbeddings and LinearPart)."""
    config = dict(config)
    config["schema"] = schema_utils.tensorflow_metadata_json_to_schema(config["schema"])
    for key in ("pre", "post", "aggregation", "is_input"):
        config.pop(key, None)
    return cls(**config)


@tf.keras.utils.register_keras_serializable(package="shoprank")
class FusedEmbeddings(TabularBlock):
    def __init__(self, schema: Schema, dim: int, pooling: str = "mean",
                 initializer_stddev: float = 0.05, l2_batch_regularization_factor: float = 0.0,
                 **kwargs):
        if pooling not in POOLINGS:
            raise ValueError(f"pooling: expected one of {POOLINGS}, got {pooling!r}")
        if dim < 1:
            raise ValueError(f"embedding dim must be >= 1, got {dim}")
        schema = schema.select_by_tag(Tags.CATEGORICAL).excluding_by_tag(Tags.TARGET)
        if not len(schema):
            raise ValueError("FusedEmbeddings needs at least one categorical feature")
        super().__init__(schema=schema, **kwargs)
        self.dim, self.pooling, self.initializer_stddev = dim, pooling, initializer_stddev
        self.l2_batch_regularization_factor = l2_batch_regularization_factor
        self.features = schema.column_names
        self.is_list = {c.name: bool(c.is_list) for c in schema}
        self.offsets, self.rows = row_offsets(schema)

    def build(self, input_shapes):
        self.table = self.add_weight(
            name="table", shape=(self.rows, self.dim), dtype=tf.float32,
            initializer=tf.keras.initializers.TruncatedNormal(stddev=self.initializer_stddev))
        super().build(input_shapes)

    def call(self, inputs, **kwargs):
        ids, spans = [], []  # all rows to gather, and per feature where its rows are
        start = tf.constant(0, tf.int64)
        for name in self.features:
            values = inputs[name]
            if isinstance(values, tf.RaggedTensor):
                flat, row_lengths = tf.reshape(values.flat_values, [-1]), values.row_lengths()
            else:
                flat, row_lengths = tf.reshape(values, [-1]), None
            flat = tf.cast(flat, tf.int64) + int(self.offsets[name])
            ids.append(flat)
            size = tf.shape(flat, out_type=tf.int64)[0]
            spans.append((name, start, size, row_lengths))
            start += size
        gathered = tf.gather(self.table, tf.concat(ids, axis=0))  # the one gather
        outputs = {}
        for name, begin, size, row_lengths in spans:
            rows = gathered[begin:begin + size]
            if row_lengths is not None:
                rows = tf.RaggedTensor.from_row_lengths(rows, row_lengths)
                rows = tf.reduce_sum(rows, axis=1) if self.pooling == "sum" else \
                    tf.math.divide_no_nan(tf.reduce_sum(rows, axis=1),
                                          tf.cast(tf.maximum(row_lengths, 1)[:, None], tf.float32))
            outputs[name] = rows
        if self.l2_batch_regularization_factor > 0:  # as Merlin's EmbeddingTable does it
            self.add_loss(self.l2_batch_regularization_factor *
                          tf.add_n([tf.reduce_sum(tf.square(v)) for v in outputs.values()]))
        return outputs

    def compute_call_output_shape(self, input_shapes):
        batch = None
        for name in self.features:
            shape = input_shapes[name]
            batch = shape[0] if hasattr(shape, "__getitem__") else batch
        return {name: tf.TensorShape([batch, self.dim]) for name in self.features}

    def layout(self) -> dict:
        """Feature order, row offsets and sizes: what the native engine needs to gather."""
        return {"rows": self.rows, "dim": self.dim, "pooling": self.pooling,
                "features": [{"name": n, "offset": int(self.offsets[n]), "list": self.is_list[n]}
                             for n in self.features]}

    def get_config(self):
        config = super().get_config()
        config.update(dim=self.dim, pooling=self.pooling,
                      initializer_stddev=self.initializer_stddev,
                      l2_batch_regularization_factor=self.l2_batch_regularization_factor)
        return config

    @classmethod
    def from_config(cls, config):
        return from_block_config(cls, config)
