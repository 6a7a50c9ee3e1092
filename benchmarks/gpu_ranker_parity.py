"""The native ranker on the GPU against the CPU engine and TensorFlow, on a real model.

    python3 benchmarks/gpu_ranker_parity.py gpu_fixture [--device cpu cuda] [--k 10]

FOLDER is what benchmarks/gpu_fixture.py wrote where TensorFlow is installed: an exported
DLRM and requests (one user, 1,000 or 10,000 candidates) with TensorFlow's scores. Needs only
NumPy and shoprank. Each request is scored (Ranker.score) and ranked (Ranker.rank, top k) on
every --device; checked, absolute differences on probabilities, rtol 0:

* CPU engine vs TensorFlow within 1e-5 (SCORE_ATOL of tests/ranker/test_engine.py);
* CUDA vs CPU engine within 1e-5 (ATOL of tests/ranker/test_engine_synthetic.py);
* CUDA vs TensorFlow within 2e-5 (the two bounds above added);
* rank(): the same top-k ids on CUDA as on CPU, position by position, except where the two
  scores at a position lie within 2e-5 of each other (a near-tie may swap).

Prints a markdown table (max relative differences beside) and exits 1 if a check fails.
With --device cpu alone (an engine built without CUDA) only the CPU-vs-TF part runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

import shoprank

TOLERANCE = {"cpu-tf": 1e-5, "cuda-cpu": 1e-5, "cuda-tf": 2e-5}
TIE = 2e-5


def load(folder: Path) -> list[dict]:
    meta = json.loads((folder / "tf_reference.json").read_text())
    with np.load(folder / "tf_reference.npz", allow_pickle=False) as arrays:
        stored = {name: arrays[name] for name in arrays.files}
    requests = []
    for r in meta["requests"]:
        user = {**r["user"], "timestamp": np.datetime64(r["user"]["timestamp"], "ms")}
        candidates = {c: stored[f"{r['name']}.{c}"] for c in ("item_id", "position")}
        requests.append({**r, "user": user, "columns": candidates,
                         "tf": stored[f"{r['name']}.tf_scores"].astype(np.float32)})
    return requests


def differences(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(max |a - b|, max |a - b| / |b|) in float64."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    diff = np.abs(a - b)
    return float(diff.max()), float((diff / np.maximum(np.abs(b), 1e-30)).max())


def same_top_k(cpu: tuple, cuda: tuple, cpu_score_of: dict) -> bool:
    """Equal ids, position by position, except where CUDA put an id whose CPU score lies
    within TIE of the CPU's score at that position (a near-tie that may swap)."""
    (cpu_ids, cpu_scores), (gpu_ids, _) = cpu, cuda
    if len(cpu_ids) != len(gpu_ids):
        return False
    return all(a == b or abs(cpu_score_of[b] - float(s)) <= TIE
               for a, b, s in zip(cpu_ids.tolist(), gpu_ids.tolist(), cpu_scores))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="benchmarks/gpu_fixture.py's --out")
    parser.add_argument("--device", nargs="+", default=["cpu", "cuda"], choices=["cpu", "cuda"])
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args(argv)
    cuda = "cuda" in args.device

    ranker = shoprank.Ranker.load(args.folder)
    print(f"{ranker.architecture.upper()} from {args.folder}; tolerances (abs) {TOLERANCE}")
    failures, lines = [], [
        "| request | candidates | max \\|cuda-cpu\\| | max \\|cuda-tf\\| | max \\|cpu-tf\\| "
        "| max rel cuda-cpu / cuda-tf / cpu-tf | top-k equal |",
        "|---|---:|---:|---:|---:|---|---|"]
    for r in load(args.folder):
        raw = {**{name: [value] for name, value in r["user"].items()}, **r["columns"]}
        scores = {"cpu": ranker.score(raw), "tf": r["tf"]}
        pairs = ["cpu-tf"]
        if cuda:
            scores["cuda"] = ranker.score(raw, device="cuda")
            pairs = ["cuda-cpu", "cuda-tf", "cpu-tf"]
        found = {}
        for pair in pairs:
            a, b = pair.split("-")
            found[pair] = differences(scores[a], scores[b])
            if not found[pair][0] <= TOLERANCE[pair]:
                failures.append(f"{r['name']}: max |{pair}| {found[pair][0]:.3g} > "
                                f"{TOLERANCE[pair]}")
        top = "-"
        if cuda:
            ranked = [ranker.rank(r["user"], r["columns"], args.k, device=d)
                      for d in ("cpu", "cuda")]
            score_of = dict(zip(r["columns"]["item_id"].tolist(), scores["cpu"].tolist()))
            top = "yes" if same_top_k(*ranked, score_of) else "NO"
            if top == "NO":
                failures.append(f"{r['name']}: top-{args.k} ids differ: cpu "
                                f"{ranked[0][0].tolist()} cuda {ranked[1][0].tolist()}")
        show = lambda pair, i: f"{found[pair][i]:.2e}" if pair in found else "-"  # noqa: E731
        lines.append(f"| {r['name']} | {r['candidates']:,} | {show('cuda-cpu', 0)} | "
                     f"{show('cuda-tf', 0)} | {show('cpu-tf', 0)} | {show('cuda-cpu', 1)} / "
                     f"{show('cuda-tf', 1)} / {show('cpu-tf', 1)} | {top} |")
    print("\n".join(lines))
    for failure in failures:
        print("FAIL", failure)
    print("parity:", "FAILED" if failures else "passed", f"({', '.join(args.device)})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
