"""A new model version from the served events, loaded only if it is not worse.

Reads the event log the `events` model writes (export-triton --events DIR) after the
served model's data, transforms it with the served model's fitted workflow, splits it by
time into a train part and the latest held-out part (--holdout), trains the served model
further on the train part (a warm start), and scores both on the held-out part. If the new
model's AUC is at least the served one's minus --margin, it is exported (with --retrieval
and --precision, as `shoprank export` takes them) and, with --repo, added to the model
repository as its next version and loaded into the server serving it (explicit model
control: the old version answers until the new one is ready). Otherwise nothing changes,
and the reason is printed and kept in OUT/refresh.json. `shoprank rollback` undoes a version.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from shoprank.feedback.refresh import DEFAULT_MARGIN

    parser.add_argument("--model", required=True,
                        help="the served model: the --out of shoprank train (or of a refresh: "
                             "OUT/run)")
    parser.add_argument("--events", required=True, help="the event log folder")
    parser.add_argument("--out", required=True, help="where the window, model and artifacts go")
    parser.add_argument("--repo", help="the model repository to add the new version to")
    parser.add_argument("--retrieval", help="the retrieval model the served artifacts carry")
    parser.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp32",
                        help="the embedding table's precision in the artifacts")
    parser.add_argument("--margin", type=float, default=DEFAULT_MARGIN,
                        help="held-out AUC the new model may lose against the served one")
    parser.add_argument("--holdout", type=float, default=0.2,
                        help="the latest fraction of the new events, held out to judge")
    parser.add_argument("--epochs", type=int, default=1, help="warm-start epochs")
    parser.add_argument("--learning-rate", type=float,
                        help="default: half the served model's training rate")
    parser.add_argument("--overwrite", action="store_true", help="reuse a used --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--key-file", help="the key of a served model with pseudonymised ids "
                        "(shoprank etl --key-file); default: the file SHOPRANK_KEY_FILE names")


def run(args: argparse.Namespace, say) -> dict:
    from shoprank.feedback.refresh import refresh

    return refresh(args.model, args.events, args.out, repo=args.repo, retrieval=args.retrieval,
                   precision=args.precision, margin=args.margin, holdout_fraction=args.holdout,
                   epochs=args.epochs, learning_rate=args.learning_rate,
                   overwrite=args.overwrite, progress=not args.no_progress,
                   key_file=args.key_file, say=say)
