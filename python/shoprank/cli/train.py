"""Train a click-through-rate model (DLRM or DCN-v2, Merlin Models) on shoprank etl output.

All categorical features share one fused embedding table (--tables per-feature uses
Merlin's one table per feature); list features are pooled. Early stopping on the
validation AUC, --resume after an interruption, a fixed --seed. Writes OUT/model/
(SavedModel, weights.npz, model.json for the native engine) and OUT/history.json, then
evaluates on the test split (AUC beside the oracle's on generated logs).

--model mf or two-tower trains a retrieval model instead (candidates from the whole
catalogue: matrix factorisation, or a two-tower model over the user and item tables'
features), on the train window's clicks with in-batch negatives, stopping early on the
valid window's recall@100; writes OUT/vectors.npz and OUT/retrieval.json, with recall@100
and NDCG@100 on the test window beside the popularity peer's. It reads --embedding-dim,
--epochs, --batch-size, --learning-rate, --patience and --seed (defaults 64, 10, 256, 3e-3,
2, 0).

Each setting comes from the command line, else --config (e.g. shoprank tune's best.json),
else the data (a log under about 3M train rows: smaller batches, patience 1, a linear
part), else the default shown; history.json records which.
"""

from __future__ import annotations

import argparse

RETRIEVAL_KINDS = ("mf", "two-tower")  # shoprank.models.retrieval.KINDS (no TensorFlow here)
RETRIEVAL_SETTINGS = {"embedding_dim": "dim", "epochs": "epochs", "batch_size": "batch_size",
                      "learning_rate": "learning_rate", "patience": "patience", "seed": "seed"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from shoprank.models.settings import CHOICES, DEFAULTS as D

    parser.add_argument("--data", required=True, help="the output folder of shoprank etl")
    parser.add_argument("--out", required=True, help="where the model and its logs go")
    parser.add_argument("--config", help="a JSON file of settings (the options below, e.g. "
                        "the best.json of shoprank tune); options given here win over it")
    # settings: absent unless given, so that a config file and the data can choose them
    # (models/settings.py); each help names the fixed default
    setting = dict(default=argparse.SUPPRESS)
    parser.add_argument("--model", choices=CHOICES["model"] + RETRIEVAL_KINDS, **setting,
                        help=f"the architecture (default: {D['model']}); mf and two-tower are "
                             "retrieval models (see above)")
    parser.add_argument("--tables", choices=CHOICES["tables"], **setting,
                        help="one embedding table for every categorical feature, or Merlin's "
                             f"table per feature (default: {D['tables']})")
    parser.add_argument("--embedding-dim", type=int, **setting,
                        help=f"width of every embedding (default: {D['embedding_dim']})")
    parser.add_argument("--pooling", choices=CHOICES["pooling"], **setting,
                        help=f"how list features (tags) pool their embeddings "
                             f"(default: {D['pooling']})")
    parser.add_argument("--bottom-mlp", type=_sizes, **setting,
                        help="DLRM bottom MLP widths, comma-separated (default: 64,DIM)")
    parser.add_argument("--top-mlp", type=_sizes, **setting,
                        help="DLRM top / DCN deep MLP widths (default: 128,64)")
    parser.add_argument("--cross-depth", type=int, **setting,
                        help=f"DCN cross layers (default: {D['cross_depth']})")
    parser.add_argument("--parallel", action="store_true", **setting,
                        help="DCN: cross and deep side by side (default: stacked)")
    parser.add_argument("--dropout", type=float, **setting,
                        help=f"dropout after each MLP layer (default: {D['dropout']})")
    parser.add_argument("--linear", action=argparse.BooleanOptionalAction, **setting,
                        help="fit a logistic regression first (L2 strength picked on valid) "
                             "and train the network beside it, frozen; the network is kept "
                             "only if it beats it on valid (default: on under about 3M "
                             "train rows)")
    parser.add_argument("--embedding-l2", type=float, **setting,
                        help="L2 on each batch's gathered embedding rows "
                             f"(default: {D['embedding_l2']})")
    parser.add_argument("--weight-decay", type=float, **setting,
                        help=f"AdamW's decoupled weight decay (default: {D['weight_decay']}: "
                             "Adam)")
    parser.add_argument("--epochs", type=int, **setting,
                        help=f"the most epochs to train (default: {D['epochs']})")
    parser.add_argument("--batch-size", type=int, **setting,
                        help=f"rows per training step (default: {D['batch_size']}; under about "
                             "3M train rows smaller, for about 1,500 steps per epoch)")
    parser.add_argument("--learning-rate", type=float, **setting,
                        help=f"Adam's (peak) rate (default: {D['learning_rate']})")
    parser.add_argument("--schedule", choices=CHOICES["schedule"], **setting,
                        help=f"the learning rate over the epochs (default: {D['schedule']})")
    parser.add_argument("--patience", type=int, **setting,
                        help="epochs without a better validation AUC before stopping "
                             f"(default: {D['patience']}; 1 under about 3M train rows)")
    parser.add_argument("--seed", type=int, **setting,
                        help=f"the same seed, the same weights (default: {D['seed']})")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run")
    parser.add_argument("--overwrite", action="store_true", help="start again in a used --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated widths, got {text!r}")
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"widths must be >= 1, got {text!r}")
    return sizes


def given_settings(args: argparse.Namespace) -> dict:
    """The settings given on the command line (the others are absent from args)."""
    from shoprank.models.settings import DEFAULTS

    return {key: getattr(args, key) for key in DEFAULTS if hasattr(args, key)}


def run(args: argparse.Namespace, say) -> dict:
    if getattr(args, "model", None) in RETRIEVAL_KINDS:
        return run_retrieval(args, say)
    from shoprank.models.evaluate import evaluate
    from shoprank.models.settings import read_config, train_with_settings

    config = read_config(args.config) if args.config else None
    result = train_with_settings(args.data, args.out, given_settings(args), config=config,
                                 resume=args.resume, overwrite=args.overwrite,
                                 progress=not args.no_progress, say=say)
    result["test"] = evaluate(result["model_dir"], args.data)
    say(format_evaluation(result["test"]))
    return result


def run_retrieval(args: argparse.Namespace, say) -> dict:
    from shoprank.models.retrieval import train_retrieval

    given = given_settings(args)
    unused = sorted(set(given) - set(RETRIEVAL_SETTINGS) - {"model"})
    unused += ["config"] * bool(args.config) + ["resume"] * args.resume
    if unused:
        raise ValueError(f"--model {args.model} is a retrieval model; it does not read "
                         + ", ".join("--" + name.replace("_", "-") for name in unused))
    return train_retrieval(args.data, args.out, kind=args.model, overwrite=args.overwrite,
                           progress=not args.no_progress, say=say,
                           **{RETRIEVAL_SETTINGS[k]: v for k, v in given.items()
                              if k in RETRIEVAL_SETTINGS})


def format_evaluation(metrics: dict) -> str:
    line = f"{metrics['split']}: AUC {metrics['auc']:.4f}"
    if "oracle_auc" in metrics:
        line += f" (oracle {metrics['oracle_auc']:.4f}, gap {metrics['oracle_auc'] - metrics['auc']:.4f})"
    line += f", log loss {metrics['log_loss']:.4f}"
    for key in metrics:
        if key.startswith(("ndcg@", "recall@")):
            line += f", {key} {metrics[key]:.4f}"
    return line
