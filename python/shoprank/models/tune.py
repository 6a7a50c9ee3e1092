"""`shoprank tune`: a hyperparameter search on the valid split (Optuna's TPE sampler, a
median pruner on each epoch's validation AUC), bounded by trials and wall time.

Output folder::

    study.journal the Optuna study (its journal file: Optuna's SQLite storage needs a newer
                  typing-extensions than TensorFlow 2.12 allows): a rerun with the same
                  --out resumes it; a trial a killed run left unfinished is marked failed
                  and tried again first
    best.json     the best trial's complete settings (`shoprank train --config best.json`
                  trains it again: same data, same seed, same model), its scores under '_'
    trials.csv    one row per trial: its settings, state, validation AUC, seconds
    trials.md     the same as a table, best first
    trials.png    validation AUC per trial and the best so far

Every trial trains with `train_with_settings` (models/settings.py): the searched settings
are given, the others come from the config file, the data and the defaults, as in `train`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

STUDY = "shoprank"


def batch_sizes(train_rows: int) -> list[int]:
    """Batch sizes around the one `train` would choose for this data (settings.from_data):
    a quarter of it to four times it."""
    from shoprank.models.settings import resolve

    base = resolve(train_rows)[0]["batch_size"]
    return sorted({max(16, base * 2 ** k // 4) for k in range(5)})


def search_space(trial, model: str, batches: list[int]) -> dict:
    """The settings one trial tries."""
    dim = trial.suggest_categorical("embedding_dim", [4, 8, 16, 32])
    settings = {
        "model": model,
        "embedding_dim": dim,
        "learning_rate": trial.suggest_float("learning_rate", 3e-4, 1e-2, log=True),
        "batch_size": trial.suggest_categorical("batch_size", batches),
        "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        "embedding_l2": trial.suggest_float("embedding_l2", 1e-8, 1e-3, log=True),
        "epochs": trial.suggest_int("epochs", 1, 6),
        "top_mlp": [(128, 64), (256, 128), (64, 32)][
            trial.suggest_int("top_mlp_choice", 0, 2)],
    }
    if model == "dcn":
        settings["cross_depth"] = trial.suggest_int("cross_depth", 1, 3)
    else:
        settings["bottom_mlp"] = (64, dim)
    return settings


def tune(processed_dir, out_dir, *, model: str = "dlrm", trials: int = 20,
         timeout_s: float | None = None, config: dict | None = None, seed: int = 0,
         progress: bool = True, say=print) -> dict:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from shoprank.models.data import load_processed
    from shoprank.models.settings import as_json, train_with_settings

    if trials < 1:
        raise ValueError(f"--trials must be >= 1, got {trials}")
    if timeout_s is not None and timeout_s <= 0:
        raise ValueError(f"--timeout-minutes must be > 0, got {timeout_s / 60:g}")
    data = load_processed(processed_dir)
    batches = batch_sizes(data.column("train", data.label).size)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=STUDY, storage=JournalStorage(JournalFileBackend(str(out / "study.journal"))),
        direction="maximize",
        load_if_exists=True, sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1))
    _retry_unfinished(study, say)
    done = len([t for t in study.trials if t.state.is_finished()
                and t.state != optuna.trial.TrialState.FAIL])
    left = max(trials - done, 0)
    say(f"tuning {model.upper()} on {processed_dir}: {done} trial(s) done, {left} to go"
        + (f", at most {timeout_s / 60:g} min" if timeout_s else ""))

    def objective(trial):
        settings = {**search_space(trial, model, batches), "seed": seed}
        trial.set_user_attr("settings", as_json(settings))
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(dir=out) as scratch:
            result = train_with_settings(processed_dir, Path(scratch) / "run", settings,
                                         config=config, progress=False, say=lambda *_: None,
                                         callbacks=[_reporter(trial)], export=False)
        trial.set_user_attr("resolved", result["settings"])
        trial.set_user_attr("seconds", round(time.perf_counter() - start, 1))
        if trial.user_attrs.get("pruned"):
            raise optuna.TrialPruned()
        return max(result["history"]["val_auc"])

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=left, desc="tune", unit="trial")
    try:
        if left:
            study.optimize(objective, n_trials=left, timeout=timeout_s,
                           callbacks=[lambda s, t: _after_trial(s, t, out, bar, say)],
                           catch=(ValueError,))
    finally:
        if bar is not None:
            bar.close()
    return write_results(study, out)


def _retry_unfinished(study, say) -> None:
    """Trials a killed run left RUNNING: marked failed, their settings tried again first."""
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        study.enqueue_trial(trial.params, skip_if_exists=False)
        say(f"trial {trial.number} was left unfinished: trying its settings again")


def _reporter(trial):
    """A Keras callback: each epoch's validation AUC to the trial; stops a pruned trial
    (tensorflow is imported only when a trial runs)."""
    import tensorflow as tf

    class Report(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            trial.report(float((logs or {})["val_auc"]), epoch)
            if trial.should_prune():
                trial.set_user_attr("pruned", True)
                self.model.stop_training = True

    return Report()


def _after_trial(study, trial, out: Path, bar, say) -> None:
    state = trial.state.name.lower()
    value = f"valid AUC {trial.value:.4f}" if trial.value is not None else state
    say(f"trial {trial.number}: {value} ({trial.user_attrs.get('seconds', 0):.0f} s)"
        + (f", best so far {study.best_value:.4f}" if _has_best(study) else ""))
    if bar is not None:
        bar.update(1)
    write_results(study, out)


def _has_best(study) -> bool:
    from optuna.trial import TrialState

    return any(t.state == TrialState.COMPLETE for t in study.trials)


def write_results(study, out: Path) -> dict:
    """best.json, trials.csv / .md / .png from the study as it stands."""
    rows = []
    for t in study.trials:
        rows.append({"trial": t.number, "state": t.state.name.lower(),
                     "valid_auc": t.value, "seconds": t.user_attrs.get("seconds"),
                     **t.user_attrs.get("settings", {})})
    summary = {"trials": len(rows), "complete": sum(r["state"] == "complete" for r in rows)}
    if _has_best(study):
        best = study.best_trial
        settings = {**best.user_attrs["resolved"], "_valid_auc": best.value,
                    "_trial": best.number}
        _write_atomic(out / "best.json", json.dumps(settings, indent=1) + "\n")
        summary.update(best_valid_auc=best.value, best_trial=best.number,
                       best=str(out / "best.json"))
    _write_table(rows, out)
    if any(r["valid_auc"] is not None for r in rows):
        _plot(rows, out / "trials.png")
    summary["out"] = str(out)
    return summary


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _write_table(rows: list[dict], out: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame(rows)
    _write_atomic(out / "trials.csv", frame.to_csv(index=False))
    ranked = frame.sort_values("valid_auc", ascending=False, na_position="last")
    lines = ["| " + " | ".join(ranked.columns) + " |",
             "|" + "|".join("---" for _ in ranked.columns) + "|"]
    for _, row in ranked.iterrows():
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    _write_atomic(out / "trials.md", "\n".join(lines) + "\n")


def _cell(value) -> str:
    if isinstance(value, float):
        return "-" if value != value else f"{value:.4g}"
    return "-" if value is None else str(value)


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [(r["trial"], r["valid_auc"]) for r in rows if r["valid_auc"] is not None]
    best, running = [], float("-inf")
    for _, value in done:
        running = max(running, value)
        best.append(running)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.scatter([t for t, _ in done], [v for _, v in done], s=14, label="trial")
    ax.plot([t for t, _ in done], best, color="C1", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel("validation AUC")
    ax.set_title("shoprank tune")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
