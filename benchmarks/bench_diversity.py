"""What the diversity re-rank costs in relevance and buys in variety, on the test window
(issue 19): for every test user with clicks, the two-tower model retrieves --candidates
items from the whole catalogue (the user's train clicks excluded), `shoprank.diversify`
re-ranks them into k, at several relevance weights and with a per-category cap; NDCG@k
against the user's test clicks beside the intra-list diversity (mean pairwise cosine
distance of the picks' item vectors) and the category coverage (distinct categories / k).

    python benchmarks/bench_diversity.py                  # the 500k log of bench_quality
    python benchmarks/bench_diversity.py --size 200000

The relevance is the retrieval score scaled to [0, 1] within each request, so one weight
means the same trade everywhere. The ranker's scores are not in this curve yet: ranking
retrieved candidates needs each pair's context features (device, position), which a
recommend request does not have (the recommend step of issue 19).
Writes JSON, a markdown table and a PNG (NDCG@k against diversity and coverage) to --out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_quality  # noqa: E402
import common  # noqa: E402

WEIGHTS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4)


def item_categories(data, item_column: str, category_column: str, rows: int) -> np.ndarray:
    import pandas as pd

    frame = pd.concat([data.frame(s, [item_column, category_column]) for s in data.splits],
                      ignore_index=True).drop_duplicates(item_column, keep="last")
    labels = np.full(rows, -1, np.int64)
    labels[frame[item_column].to_numpy(np.int64)] = frame[category_column].to_numpy(np.int64)
    return labels


def curve(data, vectors, categories, *, candidates: int, k: int, caps: list[int | None],
          weights=WEIGHTS) -> list[dict]:
    import shoprank
    from shoprank.metrics import coverage, intra_list_diversity
    from shoprank.retrieval.evaluate import judged_users, retrieval_metrics, retrieve

    def triple(split):
        columns = [data.column(split, c) for c in ("user_id", "item_id", data.label)]
        return tuple(columns)

    users, exclude, relevant = judged_users(triple("train"), triple("test"))
    queries, items = vectors["user_vectors"][users], vectors["item_vectors"]
    pool = retrieve(queries, items, candidates, exclude)
    rows = []
    for cap in caps:
        for weight in weights:
            picks, diversity, covered = [], [], []
            for query, found in zip(queries, pool):
                found = found[found >= 0]
                scores = (items[found] @ query).astype(np.float32)
                span = scores.max() - scores.min()
                scaled = (scores - scores.min()) / span if span > 0 else np.zeros_like(scores)
                caps_arg = [(categories[found], cap)] if cap else []
                _, chosen = shoprank.diversify(scaled.astype(np.float32), items[found], k,
                                               relevance_weight=weight, caps=caps_arg)
                chosen = found[chosen[chosen >= 0]]
                picks.append(np.pad(chosen, (0, k - chosen.size), constant_values=-1))
                diversity.append(intra_list_diversity(items[chosen]))
                covered.append(coverage(categories[chosen]))
            metrics = retrieval_metrics(np.array(picks), relevant, k)
            rows.append({"weight": weight, "cap": str(cap) if cap else "-", f"ndcg@{k}": metrics[f"ndcg@{k}"],
                         f"recall@{k}": metrics[f"recall@{k}"],
                         "diversity": float(np.mean(diversity)),
                         "coverage": float(np.mean(covered)), "users": metrics["users"]})
            print(rows[-1], flush=True)
    return rows


def plot(rows: list[dict], k: int, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for cap in dict.fromkeys(r["cap"] for r in rows):
        line = [r for r in rows if r["cap"] == cap]
        label = "no cap" if cap == "-" else f"at most {cap} per category"
        for ax, key in zip(axes, ("diversity", "coverage")):
            ax.plot([r[key] for r in line], [r[f"ndcg@{k}"] for r in line], marker="o",
                    label=label)
            for r in line:
                ax.annotate(f"{r['weight']:g}", (r[key], r[f"ndcg@{k}"]), fontsize=7)
    axes[0].set_xlabel("intra-list diversity (mean cosine distance)")
    axes[1].set_xlabel("category coverage (distinct / k)")
    for ax in axes:
        ax.set_ylabel(f"NDCG@{k}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Relevance against variety: MMR weight (labels) and category caps")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="500000:5000x20000",
                        help="a data set of bench_quality (rows or rows:USERSxITEMS)")
    parser.add_argument("--candidates", type=int, default=500)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--caps", default="0,2", help="per-category caps to draw, 0: none")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--data", type=Path, default=common.RESULTS / "data")
    parser.add_argument("--out", type=Path, default=common.RESULTS / "diversity")
    args = parser.parse_args(argv)

    from shoprank.models.data import load_processed
    from shoprank.models.retrieval import train_retrieval

    _, features = bench_quality.data_set(args.size, args.data, args.seed)
    model_dir = args.out / f"two-tower-{features.name}"
    if not (model_dir / "vectors.npz").exists():
        train_retrieval(features, model_dir, kind="two-tower", seed=args.seed, progress=False,
                        overwrite=True)
    data = load_processed(features)
    with np.load(model_dir / "vectors.npz") as vectors:
        vectors = dict(vectors)
    categories = item_categories(data, "item_id", "category", len(vectors["item_vectors"]))
    caps = [int(c) or None for c in args.caps.split(",")]
    rows = curve(data, vectors, categories, candidates=args.candidates, k=args.k, caps=caps)
    host = common.machine()
    table = common.markdown_table(rows, [
        ("cap", "category cap", "s"), ("weight", "relevance weight", "g"),
        (f"ndcg@{args.k}", f"NDCG@{args.k}", ".4f"), (f"recall@{args.k}", f"recall@{args.k}", ".4f"),
        ("diversity", "intra-list diversity", ".3f"), ("coverage", "category coverage", ".3f")])
    markdown = (f"Measured {host['date']} on {host['cpu']}; {features.name}, two-tower "
                f"retrieval of {args.candidates} candidates, {rows[0]['users']} test users.\n\n"
                + table + "\n")
    return common.finish(args.out, "bench_diversity", {"machine": host, "rows": rows},
                         markdown, lambda path: plot(rows, args.k, path))


if __name__ == "__main__":
    sys.exit(main())
