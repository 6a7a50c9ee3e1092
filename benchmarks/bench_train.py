"""Training throughput of DLRM and DCN-v2 on fused against per-feature embedding tables,
with the test AUC each reaches, on the same generated data and seed, in one run.

    python benchmarks/bench_train.py                      # default data set (5M rows)
    python benchmarks/bench_train.py --rows 300000 --epochs 2

The logs are generated and processed once (kept in --data); each model then trains with
the same settings as `shoprank train` (early stopping off: every run does --epochs
epochs, so the samples/s compare like with like). Samples/s counts training rows over the
seconds of model.fit (validation passes included, as a user sees them). Writes JSON, a
markdown table and a PNG plot to --out.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

RUNS = [("dlrm", "fused"), ("dlrm", "per-feature"), ("dcn", "fused"), ("dcn", "per-feature")]


def features_for(rows: int, data_dir: Path, seed: int) -> Path:
    """Generated logs of this size through `shoprank etl`, made once and kept."""
    from shoprank.data import generate
    from shoprank.etl import run_etl

    logs, features = data_dir / f"logs-{rows}", data_dir / f"features-{rows}"
    if not (logs / "logs.json").exists():
        print(f"generating {rows:,} rows into {logs}", flush=True)
        generate(logs, rows=rows, seed=seed, overwrite=True)
    if not (features / "summary.json").exists():
        print(f"processing them into {features}", flush=True)
        run_etl(logs / "logs.json", features, overwrite=True, progress=False)
    return features


def measure(features: Path, architecture: str, tables: str, args, scratch: Path) -> dict:
    from shoprank.models.build import ModelSpec
    from shoprank.models.evaluate import evaluate
    from shoprank.models.train import train

    spec = ModelSpec(architecture=architecture, tables=tables)
    result = train(features, scratch / f"{architecture}-{tables}", spec=spec,
                   epochs=args.epochs, patience=args.epochs, seed=args.seed, progress=False,
                   say=lambda *_: None)
    metrics = evaluate(result["model_dir"], features)
    return {"model": architecture, "tables": tables, "epochs": result["epochs_run"],
            "seconds": result["seconds"], "samples_per_second": result["samples_per_second"],
            "test_auc": metrics["auc"], "oracle_auc": metrics.get("oracle_auc"),
            "log_loss": metrics["log_loss"]}


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['model'].upper()}\n{r['tables']}" for r in rows]
    colours = ["tab:blue" if r["tables"] == "fused" else "tab:orange" for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    axes[0].bar(labels, [r["samples_per_second"] for r in rows], color=colours)
    axes[0].set_ylabel("training samples / second")
    axes[1].bar(labels, [r["test_auc"] for r in rows], color=colours)
    oracle = rows[0].get("oracle_auc")
    if oracle:
        axes[1].axhline(oracle, color="black", linestyle="--", label=f"oracle {oracle:.3f}")
        axes[1].axhline(oracle - 0.02, color="grey", linestyle=":", label="oracle - 0.02")
        axes[1].legend(fontsize=8)
    low = min(r["test_auc"] for r in rows)
    axes[1].set_ylim(low - 0.05, (oracle or max(r["test_auc"] for r in rows)) + 0.01)
    axes[1].set_ylabel("test AUC")
    for ax in axes:
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    from shoprank.data.generator import DEFAULT_ROWS

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS,
                        help=f"generated rows (default {DEFAULT_ROWS:,}: the default data set)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=common.RESULTS / "train-data",
                        help="where generated and processed data are kept between runs")
    parser.add_argument("--out", type=Path, default=common.RESULTS / "train")
    args = parser.parse_args(argv)

    host = common.machine()
    features = features_for(args.rows, args.data, args.seed)
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for architecture, tables in RUNS:
            print(f"{architecture} / {tables} tables ...", flush=True)
            row = measure(features, architecture, tables, args, Path(scratch))
            results.append(row)
            print(f"  {row['samples_per_second']:,.0f} samples/s, test AUC {row['test_auc']:.4f}",
                  flush=True)

    markdown = "\n".join([
        f"Measured {host['date']} on {host['cpu']} ({host['cores']} cores), TensorFlow "
        f"{_tf_version()} on the CPU: {args.rows:,} generated rows (80% train), "
        f"{args.epochs} epochs, batch 2048, seed {args.seed}; default ModelSpec "
        "(embedding dim 16).", "",
        common.markdown_table(results, [
            ("model", "model", "s"), ("tables", "tables", "s"), ("epochs", "epochs", "d"),
            ("seconds", "seconds", ".1f"), ("samples_per_second", "samples/s", ",.0f"),
            ("test_auc", "test AUC", ".4f"), ("oracle_auc", "oracle AUC", ".4f"),
            ("log_loss", "log loss", ".4f")])])
    return common.finish(args.out, "bench_train", {"machine": host, "rows": args.rows,
                                                    "epochs": args.epochs, "runs": results},
                         markdown, lambda path: plot(results, path))


def _tf_version() -> str:
    import tensorflow as tf

    return tf.__version__


if __name__ == "__main__":
    sys.exit(main())
