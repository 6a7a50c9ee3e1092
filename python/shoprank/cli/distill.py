"""Train a smaller model to copy a trained one (knowledge distillation).

The student has the teacher's architecture with narrower embeddings and MLPs (default: dim
8, bottom MLP 16,8, top MLP 32,16) and trains on the teacher's ETL output with soft labels:
alpha * click + (1 - alpha) * the teacher's probability. Early stopping and the test
figures use the real clicks. Writes OUT/student/ (a model folder as train writes one:
export it as any, shoprank export --model OUT/student; its history.json has the teacher's
and the student's test figures) and OUT/soft-labels/ (the data it trained on).
"""

from __future__ import annotations

import argparse


def _sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected widths like 32,16, got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--teacher", required=True, help="the trained model (shoprank train --out)")
    parser.add_argument("--out", required=True, help="where the student goes")
    parser.add_argument("--embedding-dim", type=int, default=8)
    parser.add_argument("--bottom-mlp", type=_sizes, default=(16, 8),
                        help="DLRM: its last width must equal --embedding-dim")
    parser.add_argument("--top-mlp", type=_sizes, default=(32, 16), help="DLRM top / DCN deep")
    parser.add_argument("--alpha", type=float, default=0.5,
                        help="weight of the real click in each soft label (0: the teacher's "
                             "probability alone)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true", help="replace OUT")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace, say) -> dict:
    import dataclasses
    import json

    from shoprank.models.distill import distill, student_spec
    from shoprank.models.folders import model_folder

    teacher = json.loads((model_folder(args.teacher) / "model.json").read_text())["spec"]
    spec = dataclasses.replace(student_spec(teacher), embedding_dim=args.embedding_dim,
                               bottom_mlp=args.bottom_mlp, top_mlp=args.top_mlp)
    record = distill(args.teacher, args.out, spec=spec, alpha=args.alpha, epochs=args.epochs,
                     batch_size=args.batch_size, learning_rate=args.learning_rate,
                     seed=args.seed, overwrite=args.overwrite,
                     progress=not args.no_progress, say=say)
    return {"out": args.out, "teacher_test": record["teacher_test"],
            "student_test": record["student_test"]}
