"""LinearPart: a logistic regression's logit inside the network, fitted first and frozen.

Measured (benchmarks/README.md, issue 28): on a small log one pass of SGD over the rows does
not reach a fully converged, heavily shrunk linear model, and later passes memorise the
rows. So the linear model is fitted to convergence first (linear_fit.py: L2, its strength
picked on the valid split), its weights are frozen here, and the network learns what is left:
the model's logit is the output layer over concat(deep body, this logit), the output layer
started at (0, ..., 0, 1), so that before its first step the model *is* the linear model.

The weights: one scalar per row of the fused embedding layout (feature f's id i at row
offsets[f] + i; a list feature pools its rows as the embeddings do), one per continuous
feature (sorted by name), and the intercept. Output (batch, 1).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from merlin.models.tf.core.tabular import TabularBlock
from merlin.schema import Schema, Tags

from shoprank.models.fused_embeddings import from_block_config, row_offsets


@tf.keras.utils.register_keras_serializable(package="shoprank")
class LinearPart(TabularBlock):
    def __init__(self, schema: Schema, pooling: str = "mean", fit=None, **kwargs):
        """fit: the fitted weights (linear_fit.LinearFit) of a model being built for
        training; a loaded model gets them from its SavedModel."""
        schema = schema.excluding_by_tag(Tags.TARGET)
        super().__init__(schema=schema, **kwargs)
        self.pooling, self.fit = pooling, fit
        categorical = schema.select_by_tag(Tags.CATEGORICAL)
        self.features = categorical.column_names
        self.is_list = {c.name: bool(c.is_list) for c in categorical}
        self.continuous = sorted(schema.select_by_tag(Tags.CONTINUOUS).column_names)
        self.offsets, self.rows = row_offsets(categorical)

    def build(self, input_shapes):
        fit = self.fit

        def weight(name, shape, value):
            initial = tf.keras.initializers.Constant(value) if fit is not None else "zeros"
            return self.add_weight(name=name, shape=shape, initializer=initial, trainable=False)

        self.table = weight("table", (self.rows,), fit and fit.table)
        self.kernel = weight("kernel", (len(self.continuous),), fit and fit.kernel)
        self.bias = weight("bias", (1,), fit and [fit.bias])
        super().build(input_shapes)

    def call(self, inputs, **kwargs):
        logit = None
        for name in self.features:
            values = inputs[name]
            if isinstance(values, tf.RaggedTensor):  # as FusedEmbeddings pools a list
                ids = tf.cast(tf.reshape(values.flat_values, [-1]), tf.int64)
                lengths = values.row_lengths()
                weights = tf.RaggedTensor.from_row_lengths(
                    tf.gather(self.table, ids + int(self.offsets[name])), lengths)
                term = tf.reduce_sum(weights, axis=1)
                if self.pooling == "mean":
                    term = tf.math.divide_no_nan(
                        term, tf.cast(tf.maximum(lengths, 1), tf.float32))
            else:
                ids = tf.reshape(tf.cast(values, tf.int64), [-1]) + int(self.offsets[name])
                term = tf.gather(self.table, ids)
            logit = term if logit is None else logit + term
        for i, name in enumerate(self.continuous):
            logit += tf.reshape(tf.cast(inputs[name], tf.float32), [-1]) * self.kernel[i]
        return (logit + self.bias)[:, None]

    def compute_output_shape(self, input_shapes):
        batch = next(iter(input_shapes.values()))[0]
        return tf.TensorShape([batch, 1])

    def layout(self) -> dict:
        return {"rows": self.rows, "pooling": self.pooling, "continuous": self.continuous,
                "features": [{"name": n, "offset": int(self.offsets[n]), "list": self.is_list[n]}
                             for n in self.features]}

    def get_config(self):
        config = super().get_config()
        config.update(pooling=self.pooling)
        return config

    @classmethod
    def from_config(cls, config):
        return from_block_config(cls, config)


@tf.keras.utils.register_keras_serializable(package="shoprank")
class LastInputOnly(tf.keras.initializers.Initializer):
    """A (inputs, 1) kernel of zeros but a 1 for the last input: the output layer that
    passes the linear part's logit through unchanged."""

    def __call__(self, shape, dtype=None, **kwargs):
        kernel = np.zeros(shape, np.float32)
        kernel[-1, :] = 1.0
        return tf.constant(kernel, dtype=dtype or tf.float32)

    def get_config(self):
        return {}


def linear_layout(data, pooling: str = "mean") -> dict:
    """The linear part's layout over a Processed data set's features (its label left out)."""
    return LinearPart(data.schema.excluding_by_name([data.label]), pooling).layout()
