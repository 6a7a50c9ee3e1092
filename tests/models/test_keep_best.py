"""KeepBest: the weights of the best validation epoch are the ones left in the model, also
when training runs all its epochs (Keras 2.12's EarlyStopping restores them only when it
stops early)."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
from shoprank.models.train import KeepBest  # noqa: E402


@pytest.mark.parametrize("patience, aucs, best", [
    (5, [0.70, 0.74, 0.72], 1),        # ran every epoch: Keras alone would keep epoch 3's
    (1, [0.70, 0.74, 0.72, 0.71], 1),  # stopped early: Keras restores, KeepBest too
    (5, [0.70, 0.71, 0.72], 2),        # the last epoch is the best
])
def test_keeps_the_best_epoch(patience, aucs, best):
    model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(2,))])
    callback = KeepBest(monitor="val_auc", mode="max", patience=patience, restore_best_weights=True)
    callback.set_model(model)
    callback.on_train_begin()
    weights = []
    for epoch, auc in enumerate(aucs):
        model.set_weights([np.full((2, 1), epoch, np.float32), np.full(1, epoch, np.float32)])
        weights.append(model.get_weights())
        callback.on_epoch_end(epoch, {"val_auc": auc})
        if model.stop_training:
            break
    callback.on_train_end()
    np.testing.assert_array_equal(model.get_weights()[0], weights[best][0])
