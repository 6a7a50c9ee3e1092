"""Knowledge distillation (issue 21): a trained DLRM / DCN-v2 (the teacher) against smaller
students of the same architecture (dim 8, MLPs a quarter as wide: models/distill.py), one
trained on the clicks alone and one per --alphas trained on soft labels (alpha * click +
(1 - alpha) * the teacher's probability), with the same epochs and seed:

    python benchmarks/bench_distill.py --teacher benchmarks/results/precision/model

Each model exported as fp32 and as int8 table + bf16 kernels, measured as bench_precision
measures (artifact, table and kernel bytes, loaded RSS, rank p50 / p99 at 1,000 candidates
on one thread, test AUC, log loss and NDCG@10 of the engine's scores on the raw test
window). Writes JSON and a markdown table to --out.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from bench_precision import measure, test_rows  # noqa: E402

EXPORTS = (("fp32", "fp32"), ("int8", "bf16"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", type=Path, required=True, help="a trained model folder")
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.5, 0.0])
    parser.add_argument("--epochs", type=int, default=2, help="each student's")
    parser.add_argument("--out", type=Path, default=common.RESULTS / "distill")
    args = parser.parse_args(argv)

    import shoprank
    from shoprank.export.artifacts import export_ranker
    from shoprank.models.distill import distill, student_spec
    from shoprank.models.folders import etl_folder, model_folder
    from shoprank.models.train import train

    args.out.mkdir(parents=True, exist_ok=True)
    teacher = model_folder(args.teacher)
    spec = student_spec(json.loads((teacher / "model.json").read_text())["spec"])
    quiet = dict(progress=False, say=print)
    models = {"teacher": teacher}
    train(etl_folder(teacher), args.out / "clicks-only", spec=spec, epochs=args.epochs,
          overwrite=True, **quiet)
    models["student, clicks only"] = args.out / "clicks-only" / "model"
    for alpha in args.alphas:
        distill(teacher, args.out / f"alpha-{alpha}", spec=spec, alpha=alpha,
                epochs=args.epochs, overwrite=True, **quiet)
        models[f"student, alpha {alpha}"] = args.out / f"alpha-{alpha}" / "student" / "model"

    export_ranker(teacher, args.out / "probe", overwrite=True)
    test = test_rows(teacher, shoprank.Ranker.load(args.out / "probe"))
    results = []
    for label, model in models.items():
        for precision, weights in EXPORTS:
            row = measure(model, args.out / label.replace(", ", "-").replace(" ", "-"),
                          precision, weights, test)
            results.append({"model": label, **row})
    host = common.machine()
    table = common.markdown_table(results, [
        ("model", "model", "s"), ("precision", "table", "s"), ("weights", "MLP kernels", "s"),
        ("artifact_mb", "artifact MB", ".1f"), ("table_mb", "table MB", ".2f"),
        ("kernels_kb", "kernels KB", ".1f"), ("rss_mb", "loaded RSS MB", ".1f"),
        ("p50_ms", "rank p50 ms", ".3f"), ("p99_ms", "rank p99 ms", ".3f"),
        ("test_auc", "test AUC", ".4f"), ("test_log_loss", "test log loss", ".4f"),
        ("test_ndcg10", "test NDCG@10", ".4f")])
    markdown = (f"Measured {host['date']} on {host['cpu']} ({host['cores']} cores); teacher "
                f"{teacher}; students: {spec.architecture} dim {spec.embedding_dim}, MLPs "
                f"{spec.bottom_mlp} / {spec.top_mlp}, {args.epochs} epochs; 1,000 candidates, "
                f"one thread; {results[0]['test_rows']:,} test rows scored by the engine.\n\n"
                + table + "\n")
    return common.finish(args.out, "bench_distill", {"machine": host, "rows": results}, markdown)


if __name__ == "__main__":
    sys.exit(main())
