"""Train a click-through-rate model (DLRM or DCN-v2, Merlin Models) on shoprank etl output.

All categorical features share one fused embedding table (--tables per-feature uses
Merlin's one table per feature); list features are pooled. Early stopping on the
validation AUC, --resume after an interruption, a fixed --seed. Writes OUT/model/
(SavedModel, weights.npz, model.json for the native engine) and OUT/history.json, then
evaluates on the test split (AUC beside the oracle's on generated logs).
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="the output folder of shoprank etl")
    parser.add_argument("--out", required=True, help="where the model and its logs go")
    parser.add_argument("--model", choices=["dlrm", "dcn"], default="dlrm",
                        help="the architecture")
    parser.add_argument("--tables", choices=["fused", "per-feature"], default="fused",
                        help="one embedding table for every categorical feature, or Merlin's "
                             "table per feature")
    parser.add_argument("--embedding-dim", type=int, default=16,
                        help="width of every embedding")
    parser.add_argument("--pooling", choices=["mean", "sum"], default="mean",
                        help="how list features (tags) pool their embeddings")
    parser.add_argument("--bottom-mlp", type=_sizes, default=(64, 16),
                        help="DLRM bottom MLP widths, comma-separated (default: 64,16)")
    parser.add_argument("--top-mlp", type=_sizes, default=(128, 64),
                        help="DLRM top / DCN deep MLP widths (default: 128,64)")
    parser.add_argument("--cross-depth", type=int, default=2, help="DCN cross layers")
    parser.add_argument("--parallel", action="store_true",
                        help="DCN: cross and deep side by side (default: stacked)")
    parser.add_argument("--epochs", type=int, default=4, help="the most epochs to train")
    parser.add_argument("--batch-size", type=int, default=2048, help="rows per training step")
    parser.add_argument("--learning-rate", type=float, default=2e-3, help="Adam's (peak) rate")
    parser.add_argument("--schedule", choices=["cosine", "constant"], default="cosine",
                        help="the learning rate over the epochs")
    parser.add_argument("--patience", type=int, default=2,
                        help="epochs without a better validation AUC before stopping")
    parser.add_argument("--seed", type=int, default=0, help="the same seed, the same weights")
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


def spec_from(args):
    from shoprank.models.build import ModelSpec

    return ModelSpec(architecture=args.model, tables=args.tables,
                     embedding_dim=args.embedding_dim, pooling=args.pooling,
                     bottom_mlp=args.bottom_mlp, top_mlp=args.top_mlp,
                     cross_depth=args.cross_depth, stacked=not args.parallel)


def run(args: argparse.Namespace, say) -> dict:
    from shoprank.models.evaluate import evaluate
    from shoprank.models.train import train

    result = train(args.data, args.out, spec=spec_from(args), epochs=args.epochs,
                   batch_size=args.batch_size, learning_rate=args.learning_rate,
                   schedule=args.schedule, patience=args.patience, seed=args.seed,
                   resume=args.resume, overwrite=args.overwrite,
                   progress=not args.no_progress, say=say)
    result["test"] = evaluate(result["model_dir"], args.data)
    say(format_evaluation(result["test"]))
    return result


def format_evaluation(metrics: dict) -> str:
    line = f"{metrics['split']}: AUC {metrics['auc']:.4f}"
    if "oracle_auc" in metrics:
        line += f" (oracle {metrics['oracle_auc']:.4f}, gap {metrics['oracle_auc'] - metrics['auc']:.4f})"
    line += f", log loss {metrics['log_loss']:.4f}"
    for key in metrics:
        if key.startswith(("ndcg@", "recall@")):
            line += f", {key} {metrics[key]:.4f}"
    return line
