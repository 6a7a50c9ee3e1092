"""Model quality beside its peers: DLRM and DCN-v2 with `shoprank train`'s defaults only,
a logistic regression (C tuned on valid) and gradient-boosted trees (LightGBM, early-stopped
on valid) on the same processed features, and the oracle, at several data sizes.

    python benchmarks/bench_quality.py                   # 200k, 500k, 5M rows; ratings
    python benchmarks/bench_quality.py --sizes 200000 500000     # the smaller ones only

Data sets (made once, then shoprank etl, kept in --data):
  200000:<users>x<items> generated rows of <users> users and <items> items; a bare size
  takes the generator's defaults (20,000 users, 5,000 items). The default list holds the
  issue's medium log (500k rows of 5,000 users and 20,000 items: many items seen a few
  times).
  ratings:<rows> a log of another shape (tests/user_logs.py: a ratings log already joined,
  ids, categorical attributes, one list column, no numeric column, ties in timestamps).

Writes JSON, a markdown table and a PNG plot (test AUC per size) to --out.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import peers  # noqa: E402

DEFAULT_SIZES = ["200000", "500000:5000x20000", "5000000", "ratings:20000"]


def data_set(size: str, data_dir: Path, seed: int) -> tuple[dict, Path]:
    """(its description, the ETL output folder) for "rows", "rows:USERSxITEMS" or
    "ratings:rows"."""
    from shoprank.data import generate
    from shoprank.data.generator import DEFAULT_ITEMS, DEFAULT_USERS

    if size.startswith("ratings:"):
        return ratings_set(int(size.split(":")[1]), data_dir, seed)
    rows, _, shape = size.partition(":")
    users, items = (int(x) for x in shape.split("x")) if shape else (DEFAULT_USERS,
                                                                      DEFAULT_ITEMS)
    name = f"{rows}-{users}x{items}-seed{seed}"
    logs, features = data_dir / f"logs-{name}", data_dir / f"features-{name}"
    if not (logs / "logs.json").exists():
        print(f"generating {int(rows):,} rows into {logs}", flush=True)
        generate(logs, rows=int(rows), users=users, items=items, seed=seed, overwrite=True,
                 progress=False)
    _etl(logs, features)
    return {"rows": int(rows), "users": users, "items": items}, features


def ratings_set(rows: int, data_dir: Path, seed: int) -> tuple[dict, Path]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests import user_logs

    name = f"ratings-{rows}-seed{seed}"
    logs, features = data_dir / f"logs-{name}", data_dir / f"features-{name}"
    if not (logs / "logs.json").exists():
        user_logs.write(logs, user_logs.config(), frame=user_logs.ratings(rows, seed))
    _etl(logs, features)
    return {"rows": rows, "users": user_logs.USERS, "items": user_logs.ITEMS,
            "shape": "ratings"}, features


def _etl(logs: Path, features: Path) -> None:
    from shoprank.etl import run_etl

    if not (features / "summary.json").exists():
        print(f"processing them into {features}", flush=True)
        run_etl(logs / "logs.json", features, overwrite=True, progress=False)


def trained(features: Path, architecture: str, scratch: Path, seed: int) -> dict:
    """`shoprank train --model <architecture>` with every other setting its default."""
    from shoprank.models.evaluate import evaluate
    from shoprank.models.settings import train_with_settings

    result = train_with_settings(features, scratch / architecture,
                                 {"model": architecture, "seed": seed}, progress=False,
                                 say=lambda *_: None)
    metrics = evaluate(result["model_dir"], features)
    return {"model": architecture, "valid_auc": max(result["history"].get("val_auc", [0])),
            "test_auc": metrics["auc"], "oracle_auc": metrics.get("oracle_auc"),
            "setting": ", ".join(f"{k}={v}" for k, v in result["chosen_from_data"].items())}


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted({r["data"] for r in rows}, key=lambda d: int(d.split()[0].replace(",", "")))
    fig, ax = plt.subplots(figsize=(7, 4))
    for model in dict.fromkeys(r["model"] for r in rows):
        points = {r["data"]: r["test_auc"] for r in rows if r["model"] == model}
        ax.plot(range(len(sizes)), [points.get(s) for s in sizes], marker="o", label=model)
    ax.set_xticks(range(len(sizes)), sizes, fontsize=8)
    ax.set_ylabel("test AUC")
    ax.set_title("Default models beside their peers, per data size")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def markdown(rows: list[dict], host: dict) -> str:
    table = common.markdown_table(rows, [
        ("data", "data", "s"), ("model", "model", "s"), ("test_auc", "test AUC", ".4f"),
        ("valid_auc", "valid AUC", ".4f"), ("oracle_auc", "oracle AUC", ".4f"),
        ("setting", "chosen", "s")])
    return (f"Measured {host['date']} on {host['cpu']} ({host['cores']} cores); DLRM and DCN "
            "with `shoprank train` defaults, the peers tuned on valid.\n\n" + table + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=DEFAULT_SIZES,
                        help="data sets: rows or rows:USERSxITEMS")
    parser.add_argument("--models", nargs="+", default=["dlrm", "dcn", "linear", "trees"],
                        choices=["dlrm", "dcn", "linear", "trees"])
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--data", type=Path, default=common.RESULTS / "data",
                        help="where generated logs and features are kept between runs")
    parser.add_argument("--out", type=Path, default=common.RESULTS / "quality")
    args = parser.parse_args(argv)

    from shoprank.models.data import load_processed

    host = common.machine()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in args.sizes:
        shape, features = data_set(size, args.data, args.seed)
        label = (f"{shape['rows']:,} {shape.get('shape', 'generated')} rows "
                 f"({shape['users']:,} users, {shape['items']:,} items)")
        data = load_processed(features)
        with tempfile.TemporaryDirectory(dir=args.out) as scratch:
            for model in args.models:
                print(f"{label}: {model}", flush=True)
                if model in ("dlrm", "dcn"):
                    row = trained(features, model, Path(scratch), args.seed)
                elif model == "linear":
                    row = peers.linear_model(data, seed=args.seed)
                else:
                    row = peers.boosted_trees(data, seed=args.seed)
                row["data"] = label
                rows.append(row)
                print(f"  test AUC {row['test_auc']:.4f}", flush=True)
    return common.finish(args.out, "bench_quality", {"machine": host, "rows": rows},
                         markdown(rows, host), lambda path: plot(rows, path))


if __name__ == "__main__":
    sys.exit(main())
