"""Search training settings on the valid split (Optuna), then train the best with --config.

Each trial trains a model with settings drawn by Optuna's TPE sampler (embedding width,
learning rate, batch size around the one train would choose, dropout, embedding L2,
epochs, MLP widths; DCN: cross depth) and scores it by its best validation AUC; a trial whose validation AUC falls below the
median of earlier trials at the same epoch is stopped early. Bounded by --trials and
--timeout-minutes; rerun with the same --out to resume (a trial a killed run left
unfinished is tried again). Writes OUT/best.json (train it: shoprank train --config
OUT/best.json), OUT/trials.csv, OUT/trials.md and OUT/trials.png.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from shoprank.models.settings import CHOICES

    parser.add_argument("--data", required=True, help="the output folder of shoprank etl")
    parser.add_argument("--out", required=True, help="the study's folder (resumed if present)")
    parser.add_argument("--model", choices=CHOICES["model"], default="dlrm",
                        help="the architecture to tune")
    parser.add_argument("--trials", type=int, default=20,
                        help="trials in all, counting those of earlier runs into --out")
    parser.add_argument("--timeout-minutes", type=float,
                        help="stop starting trials after this long (default: no limit)")
    parser.add_argument("--config", help="a JSON file of settings the search keeps fixed "
                        "(as train --config); searched settings win over it")
    parser.add_argument("--seed", type=int, default=0,
                        help="the sampler's and every trial's seed")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace, say) -> dict:
    from shoprank.models.settings import read_config
    from shoprank.models.tune import tune

    config = read_config(args.config) if args.config else None
    timeout = args.timeout_minutes * 60 if args.timeout_minutes is not None else None
    summary = tune(args.data, args.out, model=args.model, trials=args.trials,
                   timeout_s=timeout, config=config, seed=args.seed,
                   progress=not args.no_progress, say=say)
    if "best" in summary:
        say(f"best: trial {summary['best_trial']}, valid AUC {summary['best_valid_auc']:.4f}; "
            f"train it with: shoprank train --data {args.data} --out MODEL "
            f"--config {summary['best']}")
    else:
        say("no trial finished: nothing to recommend yet")
    return summary
