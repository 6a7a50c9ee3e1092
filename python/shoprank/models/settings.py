"""The settings of one training run, and where each one came from.

Four sources, each later one winning: the fixed defaults (DEFAULTS); the defaults chosen
from the data (`from_data`: the train split's size); a config file (`train --config`, e.g.
the best.json `shoprank tune` writes); the command line. history.json records the settings
and their sources, so a run says why it trained as it did.
"""

from __future__ import annotations

import json
from pathlib import Path

DEFAULTS = {
    "model": "dlrm", "tables": "fused", "embedding_dim": 16, "pooling": "mean",
    "bottom_mlp": None,  # DLRM: (64, embedding_dim)
    "top_mlp": (128, 64), "cross_depth": 2, "parallel": False,
    "dropout": 0.0, "embedding_l2": 0.0, "weight_decay": 0.0, "linear": False,
    "epochs": 4, "batch_size": 2048, "learning_rate": 2e-3, "schedule": "cosine",
    "patience": 2, "seed": 0,
}
CHOICES = {"model": ("dlrm", "dcn"), "tables": ("fused", "per-feature"),
           "pooling": ("mean", "sum"), "schedule": ("cosine", "constant")}
_KINDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
_TRAIN_KEYS = ("epochs", "batch_size", "learning_rate", "schedule", "patience",
               "weight_decay", "seed")


def read_config(path) -> dict:
    """A config file's settings, checked: a JSON object of DEFAULTS' keys (tune's best.json
    also carries its trial's scores, under keys starting with '_', which are skipped)."""
    path = Path(path)
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"--config {path}: no such file") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"--config {path}: not valid JSON ({e})") from None
    if not isinstance(config, dict):
        raise ValueError(f"--config {path}: expected a JSON object of settings")
    config = {k: v for k, v in config.items() if not k.startswith("_")}
    unknown = sorted(set(config) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"--config {path}: unknown setting(s) {unknown}; known: "
                         f"{sorted(DEFAULTS)}")
    return {key: _checked(key, value, f"--config {path}") for key, value in config.items()}


def _checked(key: str, value, where: str):
    default = DEFAULTS[key]
    if key in ("bottom_mlp", "top_mlp"):
        if not (isinstance(value, (list, tuple)) and value
                and all(isinstance(x, int) and not isinstance(x, bool) and x >= 1
                        for x in value)):
            raise ValueError(f"{where}: {key} must be a list of widths >= 1, got {value!r}")
        return tuple(value)
    if key in CHOICES and value not in CHOICES[key]:
        raise ValueError(f"{where}: {key} must be one of {CHOICES[key]}, got {value!r}")
    kind = type(default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{where}: {key} must be {_KINDS[kind]}, got {value!r}")
    return value


# Measured (benchmarks/README.md, "Models beside a tuned linear model"): the first pass over
# the train rows is the one that generalises; later passes memorise them (valid AUC falls
# from epoch 2 whatever the regularisation). So a smaller log needs smaller batches, to take
# enough steps in that one pass: 160k rows at batch 2048 (78 steps) reached test AUC 0.677,
# at batch 64 0.713; 400k rows 0.718 at 2048, 0.721 at 256. Even so the network stayed
# 0.003 below a logistic regression fitted to convergence, so a small log's model gets one
# as its linear part (linear_part.py): 200k rows 0.7115 -> 0.7142, 500k 0.7202 -> 0.7233.
STEPS_PER_EPOCH = 1_500
MIN_BATCH = 32


def from_data(train_rows: int) -> dict[str, tuple[object, str]]:
    """Defaults chosen from the data: {setting: (value, why)}. From about 3M train rows
    the fixed defaults stand."""
    batch = DEFAULTS["batch_size"]
    while batch > MIN_BATCH and train_rows / batch < STEPS_PER_EPOCH:
        batch //= 2
    if batch == DEFAULTS["batch_size"]:
        return {}
    return {"batch_size": (batch, f"a small log takes smaller batches (aiming at "
                                  f"{STEPS_PER_EPOCH:,} steps per epoch)"),
            "patience": (1, "a second pass over a small log memorises it"),
            "linear": (True, "on a small log a logistic regression fitted first, the network "
                             "kept only where it beats it on valid")}


def resolve(train_rows: int, config: dict | None = None, given: dict | None = None
            ) -> tuple[dict, dict]:
    """(settings, {setting: source}) from the four sources; given = the command line."""
    settings = dict(DEFAULTS)
    sources = dict.fromkeys(DEFAULTS, "default")
    for key, (value, why) in from_data(train_rows).items():
        settings[key], sources[key] = value, f"data: {why}"
    for source, values in (("config", config or {}), ("command line", given or {})):
        for key, value in values.items():
            settings[key], sources[key] = value, source
    if settings["bottom_mlp"] is None:
        settings["bottom_mlp"] = (64, settings["embedding_dim"])
    return settings, sources


def as_json(settings: dict) -> dict:
    """Settings as JSON writes them back (widths as lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()}


def model_spec(settings: dict):
    from shoprank.models.build import ModelSpec

    return ModelSpec(architecture=settings["model"], tables=settings["tables"],
                     embedding_dim=settings["embedding_dim"], pooling=settings["pooling"],
                     bottom_mlp=tuple(settings["bottom_mlp"]),
                     top_mlp=tuple(settings["top_mlp"]), cross_depth=settings["cross_depth"],
                     stacked=not settings["parallel"], dropout=settings["dropout"],
                     embedding_l2=settings["embedding_l2"], linear=settings["linear"])


def train_with_settings(processed_dir, out_dir, given: dict | None = None, *,
                        config: dict | None = None, say=print, **options) -> dict:
    """`train` with settings resolved from the four sources; the result (and history.json)
    carries them, their sources and what was chosen from the data."""
    from shoprank.models.data import load_processed
    from shoprank.models.train import train

    data = load_processed(processed_dir)
    train_rows = data.column("train", data.label).size
    settings, sources = resolve(train_rows, config, given)
    chosen = {k: settings[k] for k, s in sources.items() if s.startswith("data")}
    if chosen:
        say(f"chosen from the data ({train_rows:,} train rows): "
            + ", ".join(f"{k} {v}" for k, v in chosen.items()))
    record = {"settings": as_json(settings), "sources": sources, "chosen_from_data": chosen}
    return train(processed_dir, out_dir, spec=model_spec(settings), say=say, record=record,
                 **{k: settings[k] for k in _TRAIN_KEYS}, **options)
