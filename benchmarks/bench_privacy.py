"""Statistics released with differential-privacy noise: what do they cost? One generated
log through `shoprank etl` with its statistics (per-value counts, click-through rates)
exact, and released with Laplace noise at epsilon 4 and 1 (min_count 5: rarer values read
as unseen); a DLRM with `shoprank train`'s defaults on each; test AUC beside the oracle's.

    python benchmarks/bench_privacy.py                   # 500k rows, epsilon exact, 4, 1
    python benchmarks/bench_privacy.py --rows 200000 --epsilons 1

Writes JSON, a markdown table and a PNG plot to --out.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from bench_quality import trained  # noqa: E402


def data_sets(args) -> dict[str, Path]:
    """{release: ETL output} of one generated log."""
    from shoprank.data import generate
    from shoprank.etl import run_etl

    name = f"{args.rows}-{args.users}x{args.items}-seed{args.seed}"
    logs = args.data / f"logs-{name}"
    if not (logs / "logs.json").exists():
        print(f"generating {args.rows:,} rows into {logs}", flush=True)
        generate(logs, rows=args.rows, users=args.users, items=args.items, seed=args.seed,
                 overwrite=True, progress=False)
    config = json.loads((logs / "logs.json").read_text())
    out = {}
    for epsilon in [None, *args.epsilons]:
        label = "exact" if epsilon is None else f"epsilon {epsilon:g}"
        variant = {**config, "privacy": {"epsilon": epsilon, "min_count": args.min_count,
                                         "seed": args.seed}} if epsilon else config
        path = logs / f"logs-{label.replace(' ', '-')}.json"
        path.write_text(json.dumps(variant, indent=1))
        features = args.data / f"features-{name}-{label.replace(' ', '-')}"
        if not (features / "summary.json").exists():
            print(f"etl, statistics {label} -> {features}", flush=True)
            run_etl(path, features, overwrite=True, progress=False)
        out[label] = features
    return out


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.bar(range(len(rows)), [r["test_auc"] for r in rows], color="tab:blue")
    ax.axhline(rows[0]["oracle_auc"], color="k", linestyle="--", linewidth=1,
               label=f"oracle {rows[0]['oracle_auc']:.3f}")
    ax.set_xticks(range(len(rows)), [r["statistics"] for r in rows])
    low = min(r["test_auc"] for r in rows)
    ax.set_ylim(low - 0.01, rows[0]["oracle_auc"] + 0.005)
    ax.set_ylabel("test AUC (DLRM, defaults)")
    ax.set_title("Statistics released with Laplace noise: test AUC per epsilon", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def markdown(rows: list[dict], host: dict, args) -> str:
    table = common.markdown_table(rows, [
        ("statistics", "statistics", "s"), ("test_auc", "test AUC", ".4f"),
        ("valid_auc", "valid AUC", ".4f"), ("oracle_auc", "oracle AUC", ".4f"),
        ("dropped", "values dropped (< min_count)", ",d"), ("setting", "chosen", "s")])
    return (f"Measured {host['date']} on {host['cpu']} ({host['cores']} cores): "
            f"{args.rows:,} generated rows ({args.users:,} users, {args.items:,} items, seed "
            f"{args.seed}), min_count {args.min_count}, DLRM with `shoprank train` defaults.\n\n"
            + table + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--epsilons", type=float, nargs="+", default=[4.0, 1.0])
    parser.add_argument("--min-count", type=float, default=5)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--data", type=Path, default=common.RESULTS / "data",
                        help="where generated logs and features are kept between runs")
    parser.add_argument("--out", type=Path, default=common.RESULTS / "privacy")
    args = parser.parse_args(argv)

    host = common.machine()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for label, features in data_sets(args).items():
        summary = json.loads((features / "summary.json").read_text())
        dropped = sum(r["dropped"] for r in (summary.get("privacy") or {}).values())
        with tempfile.TemporaryDirectory(dir=args.out) as scratch:
            print(f"dlrm, statistics {label}", flush=True)
            row = {**trained(features, "dlrm", Path(scratch), args.seed), "statistics": label,
                   "dropped": dropped}
        rows.append(row)
        print(f"  test AUC {row['test_auc']:.4f}", flush=True)
    return common.finish(args.out, "bench_privacy", {"machine": host, "rows": rows},
                         markdown(rows, host, args), lambda path: plot(rows, path))


if __name__ == "__main__":
    sys.exit(main())
