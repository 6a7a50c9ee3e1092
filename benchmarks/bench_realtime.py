"""Real-time behaviour features: what do they add? One generated log with short-term
behaviour planted (`generate --realtime`: each user's interest of the week, items trending
for two days), processed twice by `shoprank etl`: with its logs config's "realtime" features
(the user's last clicks, windowed user and item counters) and without them. DLRM and DCN-v2
with `shoprank train`'s defaults on each; test AUC beside the oracle's.

    python benchmarks/bench_realtime.py                          # 1M rows, 5,000 users
    python benchmarks/bench_realtime.py --rows 300000 --models dlrm

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
    """{"with": features, "without": features} of one generated log."""
    from shoprank.data import generate
    from shoprank.etl import run_etl

    name = f"realtime-{args.rows}-{args.users}x{args.items}-seed{args.seed}"
    logs = args.data / f"logs-{name}"
    if not (logs / "logs.json").exists():
        print(f"generating {args.rows:,} rows into {logs}", flush=True)
        generate(logs, rows=args.rows, users=args.users, items=args.items, seed=args.seed,
                 realtime=True, overwrite=True, progress=False)
    config = json.loads((logs / "logs.json").read_text())
    without = {k: v for k, v in config.items() if k != "realtime"}
    (logs / "logs-without-realtime.json").write_text(json.dumps(without, indent=1))
    out = {}
    for kind, config_file in (("with", "logs.json"), ("without", "logs-without-realtime.json")):
        features = args.data / f"features-{name}-{kind}"
        if not (features / "summary.json").exists():
            print(f"etl {kind} the real-time features into {features}", flush=True)
            run_etl(logs / config_file, features, overwrite=True, progress=False)
        out[kind] = features
    return out


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in rows))
    fig, ax = plt.subplots(figsize=(6, 3.6))
    width = 0.38
    for i, kind in enumerate(("without", "with")):
        values = [next(r["test_auc"] for r in rows if r["model"] == m and r["features"] == kind)
                  for m in models]
        ax.bar([x + (i - 0.5) * width for x in range(len(models))], values, width,
               label=f"{kind} real-time features")
    oracle = rows[0]["oracle_auc"]
    ax.axhline(oracle, color="k", linestyle="--", linewidth=1, label=f"oracle {oracle:.3f}")
    ax.set_xticks(range(len(models)), [m.upper() for m in models])
    low = min(r["test_auc"] for r in rows)
    ax.set_ylim(low - 0.02, oracle + 0.01)
    ax.set_ylabel("test AUC")
    ax.set_title("Short-term behaviour planted: test AUC with and without real-time features",
                 fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def markdown(rows: list[dict], host: dict, args) -> str:
    table = common.markdown_table(rows, [
        ("model", "model", "s"), ("features", "real-time features", "s"),
        ("test_auc", "test AUC", ".4f"), ("valid_auc", "valid AUC", ".4f"),
        ("oracle_auc", "oracle AUC", ".4f"), ("setting", "chosen", "s")])
    return (f"Measured {host['date']} on {host['cpu']} ({host['cores']} cores): "
            f"{args.rows:,} generated rows with short-term behaviour ({args.users:,} users, "
            f"{args.items:,} items, seed {args.seed}), `shoprank train` defaults.\n\n"
            + table + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--models", nargs="+", default=["dlrm", "dcn"], choices=["dlrm", "dcn"])
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--data", type=Path, default=common.RESULTS / "data",
                        help="where generated logs and features are kept between runs")
    parser.add_argument("--out", type=Path, default=common.RESULTS / "realtime")
    args = parser.parse_args(argv)

    host = common.machine()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for kind, features in data_sets(args).items():
        with tempfile.TemporaryDirectory(dir=args.out) as scratch:
            for model in args.models:
                print(f"{model} {kind} real-time features", flush=True)
                row = {**trained(features, model, Path(scratch), args.seed), "features": kind}
                rows.append(row)
                print(f"  test AUC {row['test_auc']:.4f}", flush=True)
    return common.finish(args.out, "bench_realtime", {"machine": host, "rows": rows},
                         markdown(rows, host, args), lambda path: plot(rows, path))


if __name__ == "__main__":
    sys.exit(main())
