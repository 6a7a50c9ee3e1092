"""``refresh``: a new model version from the events served since the last one, loaded into
the running server only if it is not worse than the served model.

1. The events after the served model's data (window.py), transformed by its fitted workflow,
   split by time into a train part and the latest held-out part.
2. A warm start: the served Keras model (every weight, the frozen linear part too) trained
   on the train part (one epoch by default, Adam with a cosine decay from half the served
   run's learning rate).
3. The quality gate: both models scored on the held-out part; the new one passes if its AUC
   is at least the served one's minus ``margin``. Otherwise nothing is exported or loaded,
   and refresh.json says why.
4. Export (the served artifacts' retrieval model and precision given again) and, with a
   model repository, a new version in it, loaded into the running server (versions.py).

OUT/served-artifacts (the served model's, whose transform makes the window's features),
OUT/features (the window), OUT/run (the new model), OUT/artifacts, OUT/refresh.json.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from pathlib import Path

from shoprank._output import output_folder

DEFAULT_MARGIN = 0.001   # AUC the new version may lose on the held-out events and still load


def refresh(model_dir, events_dir, out_dir, *, repo=None, retrieval=None,
            precision: str = "fp32", margin: float = DEFAULT_MARGIN,
            holdout_fraction: float = 0.2, epochs: int = 1, learning_rate: float | None = None,
            overwrite: bool = False, progress: bool = True, key_file=None,
            say=print) -> dict:
    """key_file: the key of a served model with pseudonymised ids (the event log holds
    raw ids; the served transform hashes them as it serves)."""
    import shoprank
    from shoprank.export.artifacts import export_ranker
    from shoprank.feedback.window import process_window
    from shoprank.models.evaluate import evaluate
    from shoprank.models.folders import etl_folder, model_folder

    if margin < 0:
        raise ValueError(f"--margin must be >= 0, got {margin}")
    if epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {epochs}")
    served = model_folder(model_dir)
    served_etl = etl_folder(served)
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} is not empty: --overwrite to refresh into it again")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    start = time.perf_counter()
    try:  # a refresh that fails before its verdict leaves no folder behind
        # the served model's transform as the engine runs it makes the window's features
        export_ranker(served, out / "served-artifacts")
        window = process_window(events_dir, shoprank.Ranker.load(out / "served-artifacts", key_file),
                                served_etl, out / "features", after=data_end(served_etl),
                                holdout_fraction=holdout_fraction, say=say)
        trained = warm_start(served, out / "features", out / "run", epochs=epochs,
                             learning_rate=learning_rate, progress=progress, say=say)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    new_model = Path(trained["model_dir"])
    scores = {"served": evaluate(served, out / "features")["auc"],
              "new": evaluate(new_model, out / "features", model=trained.pop("model"))["auc"]}
    passed = scores["new"] >= scores["served"] - margin
    verdict = (f"held-out AUC {scores['new']:.4f} against the served model's "
               f"{scores['served']:.4f} (margin {margin})")
    record = {"served_model": str(served), "window": window, "training": trained,
              "held_out_auc": scores, "margin": margin, "passed": passed, "verdict": verdict,
              "new_model": str(new_model), "artifacts": None, "version": None}
    if passed:
        say(f"the new model passes: {verdict}")
        export_ranker(out / "run", out / "artifacts", retrieval=retrieval, precision=precision)
        record["artifacts"] = str(out / "artifacts")
        if repo is not None:
            from shoprank.feedback.versions import install_version

            record["version"] = install_version(repo, out / "artifacts", say=say)
    else:
        say(f"the new model is worse: {verdict}; the served version stays")
    record["seconds"] = round(time.perf_counter() - start, 2)
    (out / "refresh.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def data_end(etl_dir):
    """The time of the last event the served model saw when it came from a refresh (the
    events before it are its training data); None for a model of a full ETL run (its event
    log holds only what was served after it)."""
    window = Path(etl_dir) / "window.json"
    return json.loads(window.read_text())["end"] if window.is_file() else None


def warm_start(served, features, out, *, epochs: int, learning_rate: float | None,
               progress: bool, say) -> dict:
    """The served model trained further on the window's train part; exported as ``train``
    exports (OUT/model, OUT/history.json). The result carries the Keras model ("model")."""
    import merlin.models.tf as mm
    import tensorflow as tf

    from shoprank.models.build import ModelSpec
    from shoprank.models.data import load_processed
    from shoprank.models.export import export_model

    model_json = json.loads((served / "model.json").read_text())
    training = model_json["training"]
    spec = ModelSpec(**{k: tuple(v) if isinstance(v, list) else v
                        for k, v in model_json["spec"].items()})
    data = load_processed(features)
    rows = data.column("train", data.label).size
    batch_size = min(training["batch_size"], max(32, rows // 20))  # at least ~20 steps
    rate = learning_rate or training["learning_rate"] / 2
    steps = math.ceil(rows / batch_size)
    tf.keras.utils.set_random_seed(training["seed"])
    model = rebuilt(served, data, spec)
    model.compile(optimizer=tf.keras.optimizers.Adam(
        tf.keras.optimizers.schedules.CosineDecay(rate, epochs * steps)),
        metrics=[tf.keras.metrics.AUC(name="auc")])
    say(f"warm start: the served model on {rows:,} new rows, {epochs} epoch(s), batch "
        f"{batch_size}, learning rate {rate:g}")
    begun = time.perf_counter()
    history = model.fit(mm.Loader(data.dataset("train"), batch_size=batch_size, shuffle=True,
                                  seed_fn=lambda: training["seed"]),
                        epochs=epochs, verbose=1 if progress else 0)
    result = {"spec": dataclasses.asdict(spec), "label": data.label, "epochs_run": epochs,
              "seconds": round(time.perf_counter() - begun, 2), "seed": training["seed"],
              "batch_size": batch_size, "learning_rate": rate, "schedule": "cosine",
              "processed": str(Path(features).resolve()), "warm_start_from": str(served),
              "history": {k: [float(x) for x in v] for k, v in history.history.items()}}
    with output_folder(out, overwrite=True) as tmp:
        export_model(model, data, spec, tmp / "model", result)
        (tmp / "history.json").write_text(json.dumps(result, indent=1) + "\n")
    result["model_dir"] = str(Path(out) / "model")
    return {**result, "model": model}  # the trained Keras model, to score it in memory


def rebuilt(served, data, spec):
    """The served network built afresh (as `train` builds it) with the served weights: a
    model loaded from its SavedModel, trained and saved again, no longer loads (Merlin's
    blocks lose their Python-side settings in the round trip)."""
    import merlin.models.tf as mm

    from shoprank.models.build import build_model
    from shoprank.models.export import array_name
    from shoprank.models.folders import load_weights

    model = build_model(data.schema, data.label, spec)
    model.predict(mm.Loader(data.dataset("test"), batch_size=64), steps=1, verbose=0)  # builds
    _, arrays = load_weights(served)
    names = [array_name(i, v.name) for i, v in enumerate(model.weights)]
    if sorted(names) != sorted(arrays):
        raise ValueError(f"{served}: its weights do not fit the network its model.json "
                         f"describes (differing: {sorted(set(names) ^ set(arrays))[:5]})")
    for variable, name in zip(model.weights, names):
        variable.assign(arrays[name])
    return model
