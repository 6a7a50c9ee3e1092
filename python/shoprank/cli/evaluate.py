"""Evaluate a trained model on a split of processed features.

AUC and log loss; NDCG@k and recall@k over each user's impressions; on generated logs the
oracle AUC (from the generator's true click probabilities) beside the model's.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="the model folder (OUT/model of train)")
    parser.add_argument("--data", required=True, help="the output folder of shoprank etl")
    parser.add_argument("--split", default="test", choices=["train", "valid", "test"])
    parser.add_argument("--k", type=int, default=10, help="cut-off of NDCG@k and recall@k")


def run(args: argparse.Namespace, say) -> dict:
    from shoprank.cli.train import format_evaluation
    from shoprank.models.evaluate import evaluate

    metrics = evaluate(args.model, args.data, split=args.split, k=args.k)
    say(format_evaluation(metrics))
    return metrics
