"""Ranking latency: the native engine against the Merlin path, one user's candidates.

    python benchmarks/bench_ranker.py --model shoprank-demo/model
    python benchmarks/bench_ranker.py            # trains a small DLRM first (a few minutes)

For 100 / 1,000 / 10,000 candidates of one request (one user, its device, browsed category
and time; the candidates' item ids, their item columns looked up from the exported item
table): p50 and p99 latency and candidates scored per second of

* native: shoprank.Ranker.rank (transform + forward + top-k in C++), 1 and 2 threads;
* python: the NVTabular Workflow transform of a DataFrame + TensorFlow on its output +
  argpartition (shoprank.models.merlin_ranker.MerlinRanker.rank), in the same run.

With --artifacts (an exported folder) instead of --model, only the native engine is
measured, on the CPU and, with --device cuda, on the GPU (forward + selection there; up to
100,000 candidates): for machines without the pipeline's stack. The request is then a user
and items drawn from the exported tables.

Writes JSON, a markdown table and a PNG plot to --out.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

K = 10


def percentiles(times: list[float]) -> dict:
    ms = np.asarray(times) * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "runs": len(ms)}


def timed(fn, runs: int, budget: float) -> dict:
    fn()  # warm-up
    times, start = [], time.perf_counter()
    while len(times) < runs and (time.perf_counter() - start < budget or len(times) < 3):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return percentiles(times)


def table_keys(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """The user and item ids of an artifact folder's exported tables."""
    import json

    from shoprank.export.tensors import read_tensors

    spec = json.loads((folder / "ranker.json").read_text())
    tensors = read_tensors(folder / "tensors.bin")
    return tensors[spec["tables"]["users"]["keys"]], tensors[spec["tables"]["items"]["keys"]]


def request_from_keys(users, items, n: int, seed: int) -> tuple[dict, dict]:
    """A user and n items drawn from the exported tables' ids."""
    rng = np.random.default_rng(seed)
    start = int(np.datetime64("2024-02-24T00:00:00", "ms").astype(np.int64))
    user = {"user_id": int(rng.choice(users)), "device": "app", "context_category": "c003",
            "timestamp": np.datetime64(start, "ms")}
    return user, {"item_id": rng.choice(items, n), "position": np.zeros(n, np.int64)}


def small_model(out: Path) -> Path:
    """A DLRM trained for one epoch on 200k generated rows (kept between runs); returns
    its training folder (train's --out: it starts anew there, so not beside the logs)."""
    trained = out / "trained"
    if (trained / "model" / "model.json").exists():
        return trained
    from shoprank.data import generate
    from shoprank.etl import run_etl
    from shoprank.models.train import train

    generate(out / "logs", rows=200_000, overwrite=True)
    run_etl(out / "logs" / "logs.json", out / "features", overwrite=True)
    train(out / "features", trained, epochs=1, overwrite=True)
    return trained


def add(results: list, n: int, method: str, timing: dict) -> None:
    row = {"candidates": n, "method": method, **timing,
           "candidates_per_second": n / (timing["p50_ms"] / 1e3)}
    results.append(row)
    print(f"{n:>7} candidates  {method:<34} p50 {row['p50_ms']:8.3f} ms  "
          f"p99 {row['p99_ms']:8.3f} ms  ({row['runs']} runs)", flush=True)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        ax.plot([r["candidates"] for r in mine], [r["p50_ms"] for r in mine], "o-", label=f"{method} p50")
        ax.plot([r["candidates"] for r in mine], [r["p99_ms"] for r in mine], "x:", alpha=0.6,
                label=f"{method} p99")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("candidates per request")
    ax.set_ylabel("latency, ms")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a trained model folder (shoprank train "
                        "--out); default: train a small one under --out")
    parser.add_argument("--artifacts", type=Path,
                        help="an exported folder: measure the native engine only")
    parser.add_argument("--device", nargs="+", default=["cpu"], choices=["cpu", "cuda"],
                        help="with --artifacts: where the forward and selection run")
    parser.add_argument("--candidates", type=int, nargs="+", default=[100, 1_000, 10_000])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="time budget per measurement (fewer runs when spent)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=common.RESULTS / "ranker")
    args = parser.parse_args(argv)

    import shoprank

    host = common.machine()
    if "cuda" in args.device:
        import subprocess

        host["gpu"] = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                                     capture_output=True, text=True).stdout.strip()
    results = []
    if args.artifacts:
        native = shoprank.Ranker.load(args.artifacts)
        users, items = table_keys(args.artifacts)
        for n in args.candidates:
            user, candidates = request_from_keys(users, items, n, args.seed)
            for device in args.device:
                threads = args.threads if device == "cpu" else [0]
                for t in threads:
                    method = (f"native cpu, {t} thread{'s' if t > 1 else ''}" if device == "cpu"
                              else "native cuda")
                    fn = lambda t=t, device=device: native.rank(user, candidates, K, threads=t,
                                                                 device=device)
                    add(results, n, method, timed(fn, 2000, args.seconds))
    else:
        from shoprank.export.artifacts import export_ranker
        from shoprank.data.sample_request import sample_request
        from shoprank.models.merlin_ranker import MerlinRanker

        model_dir = args.model or small_model(args.out / "model")
        artifacts = args.out / "artifacts"
        export_ranker(model_dir, artifacts, overwrite=True)
        native, python = shoprank.Ranker.load(artifacts), MerlinRanker(model_dir)
        for n in args.candidates:
            user, candidates = sample_request(model_dir, n, args.seed)
            for t in args.threads:
                fn = lambda t=t: native.rank(user, candidates, K, threads=t)
                add(results, n, f"native, {t} thread{'s' if t > 1 else ''}", timed(fn, 2000, args.seconds))
            add(results, n, "python (NVTabular + TensorFlow)",
                timed(lambda: python.rank(user, candidates, K), 50, args.seconds))
            python_p50 = results[-1]["p50_ms"]
            for r in results:
                if r["candidates"] == n and r["method"].startswith("native"):
                    r["python_p50_over_p99"] = python_p50 / r["p99_ms"]

    markdown = "\n".join([
        f"Measured {host['date']} on {host['cpu']} ({host['cores']} cores"
        f"{', ' + host['gpu'] if host.get('gpu') else ''}), model "
        f"{native.architecture.upper()} ({len(native.feature_names)} features); one request, "
        f"top {K}." + (" Last column: the Merlin path's p50 over this row's p99."
                       if not args.artifacts else ""), "",
        common.markdown_table(results, [
            ("candidates", "candidates", ","), ("method", "method", "s"),
            ("p50_ms", "p50 ms", ".3f"), ("p99_ms", "p99 ms", ".3f"),
            ("candidates_per_second", "candidates/s", ",.0f"),
            ("python_p50_over_p99", "python p50 / p99", ".0f")])])
    return common.finish(args.out, "bench_ranker", {"machine": host, "rows": results},
                         markdown, lambda path: plot(results, path))


if __name__ == "__main__":
    sys.exit(main())
