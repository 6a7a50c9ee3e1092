"""Smaller artifacts (issue 21): the same trained DLRM exported with its embedding table at
each precision (`shoprank export --precision fp32|fp16|int8`), its MLP kernels at each
width (`--weights fp32|fp16|bf16`) and its rare values pruned (`--prune-below N`), measured
side by side in one run:

    python benchmarks/bench_precision.py --model benchmarks/results/recommend/world/dlrm

* the artifact's bytes, the embedding table's and the MLP kernels', and the loaded Ranker's
  resident memory (RSS growth of a fresh Python process while it loads the folder);
* rank latency of one request at 1,000 candidates (p50 / p99, one thread);
* test AUC, log loss and NDCG@10 (each user's test impressions, clicks as relevance) of the
  engine's scores on the raw test window (the ETL's test split, read from the raw logs and
  scored by the engine with its own table lookups).

Writes JSON and a markdown table to --out.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from bench_ranker import request_from_keys, table_keys, timed  # noqa: E402

# (embedding table, MLP kernels, prune values seen in fewer train rows than this)
EXPORTS = (("fp32", "fp32", None), ("fp16", "fp32", None), ("int8", "fp32", None),
           ("fp32", "fp16", None), ("fp32", "bf16", None), ("int8", "bf16", None),
           ("fp32", "fp32", 5), ("fp32", "fp32", 20), ("int8", "bf16", 20))


LOADED_RSS = """
import sys
import shoprank

def rss():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))

before = rss()
ranker = shoprank.Ranker.load(sys.argv[1])
print(rss() - before)
"""


def loaded_rss(folder: Path) -> int:
    """Bytes a fresh Python process grows by while it loads the artifact folder (one process
    per folder: an allocator reusing an earlier load's pages would hide the growth)."""
    import subprocess

    done = subprocess.run([sys.executable, "-c", LOADED_RSS, str(folder)], check=True,
                          capture_output=True, text=True)
    return int(done.stdout.split()[-1])


def test_rows(model_dir: Path, ranker) -> tuple[dict, np.ndarray, np.ndarray]:
    """The raw test window's rows (the columns the ranker reads that the logs hold), their
    labels and their users (NDCG's groups)."""
    import pandas as pd

    from shoprank.etl.config import read_back
    from shoprank.etl.reading import find_files
    from shoprank.models.folders import etl_folder, model_folder

    etl_dir = etl_folder(model_folder(model_dir))
    config = read_back(etl_dir)
    start = json.loads((etl_dir / "summary.json").read_text())["splits"]["test"]["window"][0]
    own = [c for c, kind in ranker.inputs.items() if c not in ranker.tables]
    read = list(dict.fromkeys([*own, config.user_id, config.label]))
    frame = pd.concat([pd.read_parquet(f, columns=read) for f in find_files(config)],
                      ignore_index=True)
    frame = frame[frame[config.timestamp] >= pd.Timestamp(start)]
    return ({c: frame[c].to_numpy() for c in own}, frame[config.label].to_numpy(),
            frame[config.user_id].to_numpy())


def measure(model_dir: Path, out: Path, precision: str, weights: str, test,
            prune_below: int | None = None) -> dict:
    """One export's row of the table; test: test_rows' (rows, labels, users)."""
    import shoprank
    from shoprank.export.artifacts import export_ranker
    from shoprank.export.precision import kernel_names
    from shoprank.export.tensors import read_tensors
    from shoprank.metrics import auc, log_loss, ranking_metrics

    folder = out / f"artifacts-{precision}-{weights}-prune{prune_below or 0}"
    exported = export_ranker(model_dir, folder, precision=precision, weights=weights,
                             prune_below=prune_below, overwrite=True)
    model = json.loads((folder / "ranker.json").read_text())["model"]
    spec = model["embeddings"]
    tensors = read_tensors(folder / "tensors.bin")
    table = sum(a.nbytes for n, a in tensors.items() if n.startswith(spec["table"].split(".")[0]))
    kernels = sum(tensors[n].nbytes for n in kernel_names(model) if tensors[n].ndim == 2)
    loaded = loaded_rss(folder)
    ranker = shoprank.Ranker.load(folder)
    users, items = table_keys(folder)
    user, candidates = request_from_keys(users, items, 1_000, seed=0)
    latency = timed(lambda: ranker.rank(user, candidates, 10, threads=1), 300, 10.0)
    rows, labels, users = test
    scores = np.concatenate([ranker.score({c: v[i:i + 50_000] for c, v in rows.items()})
                             for i in range(0, len(labels), 50_000)])
    row = {"precision": precision, "weights": weights, "pruned_below": prune_below,
           "table_rows": spec["rows"], "artifact_mb": exported["bytes"] / 2**20,
           "table_mb": table / 2**20, "kernels_kb": kernels / 2**10, "rss_mb": loaded / 2**20,
           **latency,
           "test_auc": auc(labels, scores), "test_log_loss": log_loss(labels, scores),
           "test_ndcg10": ranking_metrics(users, labels, scores, 10)["ndcg@10"],
           "test_rows": len(labels)}
    print(row, flush=True)
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="a trained model folder")
    parser.add_argument("--out", type=Path, default=common.RESULTS / "precision")
    args = parser.parse_args(argv)

    import shoprank
    from shoprank.export.artifacts import export_ranker

    args.out.mkdir(parents=True, exist_ok=True)
    export_ranker(args.model, args.out / "probe", overwrite=True)
    test = test_rows(args.model, shoprank.Ranker.load(args.out / "probe"))
    results = [measure(args.model, args.out, p, w, test, n) for p, w, n in EXPORTS]
    host = common.machine()
    table = common.markdown_table(results, [
        ("precision", "table", "s"), ("weights", "MLP kernels", "s"),
        ("pruned_below", "pruned below", "d"), ("table_rows", "table rows", ","),
        ("artifact_mb", "artifact MB", ".1f"), ("table_mb", "table MB", ".1f"),
        ("kernels_kb", "kernels KB", ".1f"), ("rss_mb", "loaded RSS MB", ".1f"),
        ("p50_ms", "rank p50 ms", ".3f"), ("p99_ms", "rank p99 ms", ".3f"),
        ("test_auc", "test AUC", ".6f"), ("test_log_loss", "test log loss", ".6f"),
        ("test_ndcg10", "test NDCG@10", ".5f")])
    markdown = (f"Measured {host['date']} on {host['cpu']} ({host['cores']} cores); model "
                f"{args.model}; 1,000 candidates, one thread; {results[0]['test_rows']:,} test "
                "rows scored by the engine.\n\n" + table + "\n")
    return common.finish(args.out, "bench_precision", {"machine": host, "rows": results}, markdown)


if __name__ == "__main__":
    sys.exit(main())
