"""``train``: a DLRM or DCN-v2 on the ETL's features, with the loop users expect.

Merlin's dataloader, Adam with a constant or cosine learning rate, early stopping on the
validation AUC (the best epoch's weights are kept), a progress bar and a log line per
epoch, a fixed seed (the same run twice gives the same weights), and resuming: the state
after each epoch is kept in OUT/backup/ until training ends, and --resume continues from
it. The finished model goes to OUT/model/ (see export.py), written only when complete.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from pathlib import Path

import tensorflow as tf

from shoprank.models.build import ModelSpec, build_model
from shoprank.models.data import load_processed


def train(processed_dir, out_dir, *, spec: ModelSpec = ModelSpec(), epochs: int = 4,
          batch_size: int = 2048, learning_rate: float = 2e-3, schedule: str = "cosine",
          patience: int = 2, weight_decay: float = 0.0, seed: int = 0, label: str | None = None,
          resume: bool = False, overwrite: bool = False, progress: bool = True, say=print,
          record: dict | None = None, callbacks=(), export: bool = True) -> dict:
    """Trains and exports; ``record`` is written into history.json beside the run's own
    figures (settings.py: the settings and their sources); ``callbacks`` are more Keras
    callbacks (tune.py: reporting each epoch to the search); ``export=False`` skips the
    model folder (a tune trial needs only its validation AUC)."""
    import merlin.models.tf as mm

    from shoprank.models.export import export_model

    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if weight_decay < 0:
        raise ValueError(f"--weight-decay must be >= 0, got {weight_decay}")
    if schedule not in ("constant", "cosine"):
        raise ValueError(f"--schedule: expected constant or cosine, got {schedule!r}")
    spec.check()
    out = Path(out_dir)
    backup = out / "backup"
    if out.exists() and any(out.iterdir()) and not (resume or overwrite):
        raise FileExistsError(f"{out} is not empty: --resume to continue its training, "
                              "--overwrite to start again")
    if overwrite and not resume:
        shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)

    data = load_processed(processed_dir, label)
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()

    linear = None
    if spec.linear:
        linear = fit_linear_part(data, spec, seed=seed, say=say)
    model = build_model(data.schema, data.label, spec, linear_fit=linear)
    train_rows = data.column("train", data.label).size
    steps = math.ceil(train_rows / batch_size)
    rate = (tf.keras.optimizers.schedules.CosineDecay(learning_rate, epochs * steps)
            if schedule == "cosine" else learning_rate)
    # AdamW's decay is decoupled from the gradient: every weight shrinks each step, also
    # the embedding rows of ids the batch does not hold
    optimizer = (tf.keras.optimizers.AdamW(rate, weight_decay=weight_decay) if weight_decay
                 else tf.keras.optimizers.Adam(rate))
    model.compile(optimizer=optimizer,
                  metrics=[tf.keras.metrics.AUC(name="auc")])
    has_valid = "valid" in data.splits
    monitor = "val_auc" if has_valid else "auc"
    valid = mm.Loader(data.dataset("valid"), batch_size=8192) if has_valid else None
    # a model with a linear part starts as the fitted linear model; the network is kept only
    # where it beats that on valid by more than a run's noise
    starts_linear = linear is not None and has_valid
    keep_best = KeepBest(monitor=monitor, mode="max", patience=patience,
                         restore_best_weights=True,
                         min_delta=LINEAR_MARGIN if starts_linear else 0)
    if starts_linear:
        keep_best.start_from(valid, say)
    callbacks = [tf.keras.callbacks.BackupAndRestore(str(backup)), keep_best,
                 EpochLog(say), *callbacks]
    say(f"training {spec.architecture.upper()} ({spec.tables} tables, dim {spec.embedding_dim}) "
        f"on {train_rows:,} rows, {steps} steps/epoch, up to {epochs} epochs")
    start = time.perf_counter()
    history = model.fit(
        mm.Loader(data.dataset("train"), batch_size=batch_size, shuffle=True, seed_fn=lambda: seed),
        validation_data=valid,
        epochs=epochs, callbacks=callbacks, verbose=1 if progress else 0)
    seconds = time.perf_counter() - start
    log = {key: [float(v) for v in values] for key, values in history.history.items()}
    result = {"spec": dataclasses.asdict(spec), "label": data.label, "epochs_run": len(log.get("loss", [])),
              "seconds": round(seconds, 2), "samples_per_second": train_rows * len(log.get("loss", [1])) / seconds,
              "history": log, "seed": seed, "batch_size": batch_size,
              "learning_rate": learning_rate, "schedule": schedule,
              "weight_decay": weight_decay,
              "linear_part": None if linear is None else {
                  "C": linear.c, "valid_auc": linear.valid_auc, "seconds": linear.seconds,
                  "kept_alone": keep_best.kept_initial},
              "processed": str(processed_dir), **(record or {})}
    if export:
        export_model(model, data, spec, out / "model", result)
    (out / "history.json").write_text(json.dumps(result, indent=1) + "\n")
    shutil.rmtree(backup, ignore_errors=True)  # training finished: nothing left to resume
    if export:
        result["model_dir"] = str(out / "model")
    return result


# Valid AUC the network must add to the linear model to be kept (benchmarks/README.md,
# issue 28: seeds move one run's AUC by about 0.003, a first epoch's by 0.0005 at 400k rows)
LINEAR_MARGIN = 5e-4


def fit_linear_part(data, spec, *, seed, say):
    from shoprank.models.linear_fit import fit_linear
    from shoprank.models.linear_part import linear_layout

    layout = linear_layout(data, spec.pooling)
    fit = fit_linear(data, layout, seed=seed, say=say)
    say(f"linear part: C={fit.c}" + (f", valid AUC {fit.valid_auc:.4f}" if fit.valid_auc
                                     is not None else "") + f" ({fit.seconds:.0f} s)")
    return fit


class KeepBest(tf.keras.callbacks.EarlyStopping):
    """Early stopping that keeps the best epoch's weights also when training runs all its
    epochs: Keras 2.12 restores them only when it stops early, so a model whose last epoch
    overfit was exported with that epoch's weights. With ``start_from``, the weights before
    the first step are a candidate too (scored on the valid data first)."""

    initial = None
    kept_initial = False

    def start_from(self, valid, say):
        self.initial = (valid, say)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.initial is not None:
            valid, say = self.initial
            scores = self.model.evaluate(valid, return_dict=True, verbose=0)
            self.best = scores[self.monitor.removeprefix("val_")]
            self.best_weights = self.model.get_weights()
            self.kept_initial = True
            say(f"before training: val_auc {self.best:.4f}")

    def on_epoch_end(self, epoch, logs=None):
        before = self.best
        super().on_epoch_end(epoch, logs)
        if self.best != before:
            self.kept_initial = False

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        if self.stopped_epoch == 0 and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class EpochLog(tf.keras.callbacks.Callback):
    """One readable line per epoch, whatever the progress bar does."""

    def __init__(self, say):
        super().__init__()
        self.say = say

    def on_epoch_end(self, epoch, logs=None):
        shown = ", ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items()
                          if k in ("loss", "auc", "val_loss", "val_auc"))
        self.say(f"epoch {epoch + 1}: {shown}")
