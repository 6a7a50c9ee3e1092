"""Retrieval over a whole catalogue, one user at a time (issue 19): the latency of one
query against every item, its seen items excluded, as p50 and p99 over many queries, and
the memory the item table takes; faiss-cpu's exact IndexFlatIP (its exclusions through
an IDSelectorNot) as the peer, in the same run, on the same queries.

    python benchmarks/bench_retrieval.py                           # 1e5 and 1e6 items
    python benchmarks/bench_retrieval.py --items 100000 --queries 2000

Synthetic, normally distributed vectors (the scale matters here, not what they mean):
query vectors as the two-tower model's (dim 64), --excluded random seen items per query,
k = 100. Memory: shoprank scores the caller's float32 array in place (N x d x 4 bytes, no
index); IndexFlatIP keeps a copy of it. Every query's ids are compared between the two
(share printed). Writes JSON, a
markdown table and a PNG (latency per query, p50 and p99) to --out.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

import shoprank  # noqa: E402


def latencies(search, queries, excluded) -> tuple[np.ndarray, list]:
    """Per-query seconds of search(query (1, d), excluded ids) and each answer's ids."""
    seconds, answers = [], []
    for query, seen in zip(queries, excluded):
        start = time.perf_counter()
        ids = search(query[None], seen)
        seconds.append(time.perf_counter() - start)
        answers.append(ids)
    return np.array(seconds), answers


def measure(n_items: int, dim: int, n_queries: int, n_excluded: int, k: int, threads: int,
            seed: int) -> list[dict]:
    import faiss

    rng = np.random.default_rng(seed)
    items = rng.standard_normal((n_items, dim), dtype=np.float32)
    queries = rng.standard_normal((n_queries, dim), dtype=np.float32)
    excluded = [rng.choice(n_items, n_excluded, replace=False) for _ in range(n_queries)]
    table_mb = items.nbytes / 2**20  # ours reads the caller's array; faiss holds a copy

    def ours(query, seen):
        return shoprank.topk_inner_product(query, items, k, exclude=[seen],
                                           num_threads=threads)[1][0]

    faiss.omp_set_num_threads(threads)
    index = faiss.IndexFlatIP(dim)
    index.add(items)

    def peer(query, seen):
        selector = faiss.IDSelectorNot(faiss.IDSelectorBatch(seen.astype(np.int64)))
        return index.search(query, k, params=faiss.SearchParameters(sel=selector))[1][0]

    for search in (ours, peer):  # warm caches and thread pools
        latencies(search, queries[:20], excluded[:20])
    rows, answers = [], {}
    for name, search in (("shoprank cpp", ours), ("faiss IndexFlatIP", peer)):
        seconds, answers[name] = latencies(search, queries, excluded)
        rows.append({"items": n_items, "method": name, "threads": threads,
                     "p50_ms": 1e3 * float(np.percentile(seconds, 50)),
                     "p99_ms": 1e3 * float(np.percentile(seconds, 99)),
                     "qps": n_queries / float(seconds.sum()), "table_mb": table_mb})
    same = np.mean([np.array_equal(a, b) for a, b in zip(*answers.values())])
    for row in rows:
        row["same_ids"] = float(same)
    for row in rows:
        print(row, flush=True)
    return rows


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    labels = [f"{r['method']}\n{r['items']:.0e} items, {r['threads']} thr" for r in rows]
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r["p50_ms"] for r in rows], 0.4, label="p50")
    ax.bar(x + 0.2, [r["p99_ms"] for r in rows], 0.4, label="p99")
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_ylabel("ms per query")
    ax.set_yscale("log")
    ax.set_title("One user against the whole catalogue, seen items excluded (k=100)")
    ax.legend()
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--excluded", type=int, default=50)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=common.RESULTS / "retrieval")
    args = parser.parse_args(argv)

    rows = [row for n in args.items for threads in args.threads
            for row in measure(n, args.dim, args.queries, args.excluded, args.k, threads,
                               args.seed)]
    host = common.machine()
    table = common.markdown_table(rows, [
        ("items", "items", ".0e"), ("method", "method", "s"), ("threads", "threads", "d"),
        ("p50_ms", "p50 ms", ".2f"), ("p99_ms", "p99 ms", ".2f"), ("qps", "queries/s", ".0f"),
        ("table_mb", "item vectors MB", ".0f"), ("same_ids", "same ids", ".3f")])
    markdown = (f"Measured {host['date']} on {host['cpu']} ({host['cores']} cores); "
                f"{args.queries} queries per line, dim {args.dim}, k {args.k}, "
                f"{args.excluded} seen items excluded per query.\n\n" + table + "\n")
    return common.finish(args.out, "bench_retrieval", {"machine": host, "rows": rows},
                         markdown, lambda path: plot(rows, path))


if __name__ == "__main__":
    sys.exit(main())
