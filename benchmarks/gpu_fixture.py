"""The folder a lent GPU machine (no TensorFlow there) checks the CUDA engine against.

    .venv/bin/python benchmarks/gpu_fixture.py [--out gpu_fixture] [--model DIR]

Here, with the full stack: trains (or reuses) bench_ranker's small DLRM (200k generated rows,
one epoch; kept under benchmarks/results/ranker/model), exports it with `shoprank export`'s
export_ranker into --out, and adds the requests benchmarks/gpu_ranker_parity.py replays: one
user and 1,000 or 10,000 items drawn from the exported tables (bench_ranker.request_from_keys),
with TensorFlow's score of every candidate by the Merlin path (MerlinRanker, the baseline of
tests/ranker/test_engine.py). Writes OUT/tf_reference.json (the requests' user columns) and
OUT/tf_reference.npz (candidates and scores; no pickled objects). OUT is git-ignored, so the
device tool carries it: run(..., carry=["gpu_fixture"]).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from bench_ranker import request_from_keys, small_model, table_keys  # noqa: E402

REQUESTS = [("r0", 1_000, 0), ("r1", 10_000, 1), ("r2", 1_000, 2), ("r3", 10_000, 3)]


def complete_users(model_dir) -> np.ndarray:
    """Users whose table row has every column: NVTabular's Categorify fails on a column null
    in every row, which one broadcast user with a missing value would be (sample_request)."""
    import pandas as pd

    from shoprank.etl.config import read_back
    from shoprank.models.folders import etl_folder, model_folder

    config = read_back(etl_folder(model_folder(model_dir)))
    users = pd.read_parquet(config.side_tables["users"].path).dropna()
    return users[config.user_id].to_numpy()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parents[1] / "gpu_fixture")
    parser.add_argument("--model", type=Path, help="a trained model folder (default: "
                        "bench_ranker's small DLRM, trained once)")
    args = parser.parse_args(argv)

    from shoprank.export.artifacts import export_ranker
    from shoprank.models.merlin_ranker import MerlinRanker

    model_dir = args.model or small_model(common.RESULTS / "ranker" / "model")
    export_ranker(model_dir, args.out, overwrite=True)
    users, items = table_keys(args.out)
    users = np.intersect1d(users, complete_users(model_dir))
    merlin = MerlinRanker(model_dir)
    meta, arrays = {"model": str(model_dir), "requests": []}, {}
    for name, n, seed in REQUESTS:
        user, candidates = request_from_keys(users, items, n, seed)
        scores = merlin.score({**{k: [v] for k, v in user.items()}, **candidates})
        assert scores.shape == (n,) and np.isfinite(scores).all(), name
        meta["requests"].append({"name": name, "candidates": n, "user": {
            **user, "timestamp": int(user["timestamp"].astype(np.int64))}})
        arrays |= {f"{name}.item_id": candidates["item_id"],
                   f"{name}.position": candidates["position"], f"{name}.tf_scores": scores}
    (args.out / "tf_reference.json").write_text(json.dumps(meta, indent=1) + "\n")
    np.savez_compressed(args.out / "tf_reference.npz", **arrays)
    for path in sorted(args.out.iterdir()):
        print(f"{path.stat().st_size / 2**20:8.2f} MiB  {path}")
    for r in meta["requests"]:
        print(f"{r['name']}: user {r['user']['user_id']}, {r['candidates']:,} candidates")
    return 0


if __name__ == "__main__":
    sys.exit(main())
