"""Recommendations from the whole catalogue, served: the `recommend` ensemble (retrieve ->
score_candidates -> rerank, each in shoprank's C++ Triton backend) under perf_analyzer.

    python benchmarks/bench_recommend.py             # builds its world first (~10 min)
    python benchmarks/bench_recommend.py --quick     # concurrency 1 and 4 only

The world (kept under --out/world between runs): generated logs whose catalogue (the items
the ETL keeps) is about 100,000 items, the ETL, a DLRM (one epoch) and a two-tower retrieval model (one epoch) on them,
exported together (shoprank export --retrieval). Requests: users drawn from the users
table (a few of them new), the test window's time, k = 10, 500 candidates ranked.

For concurrency 1, 2, 4, 8, 16 over gRPC (and 1 over HTTP): perf_analyzer's throughput and
p50 / p95 / p99, and Triton's per-request breakdown of each step (queue, compute) from its
metrics; the same at concurrency 1 with the diversity re-rank on (relevance weight 0.7, at
most 2 items per category); and, as the peer in the same run, the in-process Recommender's
latency for the same requests (what the three steps cost without a server).

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

K, CANDIDATES = 10, 500
STEPS = ("recommend", "retrieve", "score_candidates", "rerank")


def build_world(out: Path, items: int, users: int, rows: int) -> Path:
    """The artifact folder of a DLRM and a two-tower model on generated logs (kept)."""
    artifacts = out / "artifacts"
    if (artifacts / "manifest.json").exists():
        return artifacts
    from shoprank.data import generate
    from shoprank.etl import run_etl
    from shoprank.export.artifacts import export_ranker
    from shoprank.models.retrieval import train_retrieval
    from shoprank.models.train import train

    generate(out / "logs", users=users, items=items, rows=rows, overwrite=True)
    run_etl(out / "logs" / "logs.json", out / "features", overwrite=True)
    train(out / "features", out / "dlrm", epochs=1, overwrite=True)
    train_retrieval(out / "features", out / "two-tower", epochs=1, overwrite=True)
    export_ranker(out / "dlrm", artifacts, retrieval=out / "two-tower", overwrite=True)
    return artifacts


def requests(world: Path, recommender, count: int = 16, **options) -> list[dict]:
    """Recommendation requests (wire tensors): users of the users table, one in four new."""
    import pandas as pd

    from shoprank.serving import wire

    users = pd.read_parquet(world / "logs" / "users.parquet", columns=["user_id"]).user_id
    rng = np.random.default_rng(0)
    out = []
    for i in range(count):
        user = {"user_id": int(rng.choice(users)) + (10**9 if i % 4 == 3 else 0),
                "device": "app", "context_category": "c003", "position": 0,
                "timestamp": np.datetime64("2024-03-20T10:00", "ms")}
        out.append((user, wire.encode_recommend(recommender.inputs, recommender.item_key_type,
                                                user, K, **options)))
    return out


def in_process(recommender, batch, **options) -> dict:
    """Latency of the same requests in-process, after one pass that warms the engine's
    caches (a request's first sight of a user-table value computes its crossed features
    for every item row: that pass's slowest request is reported as cold_ms)."""
    def timed(user):
        start = time.perf_counter()
        recommender.recommend(user, K, candidates=CANDIDATES, **options)
        return time.perf_counter() - start

    cold = max(timed(user) for user, _ in batch)
    times = [timed(user) for _ in range(20) for user, _ in batch]
    return {"p50_ms": float(np.percentile(times, 50) * 1e3),
            "p99_ms": float(np.percentile(times, 99) * 1e3), "runs": len(times),
            "cold_ms": cold * 1e3}


def sweep(server, label, protocols, concurrencies, data, out, window_ms) -> list[dict]:
    from shoprank.serving import load

    rows = []
    metrics_url = f"{server.host}:{server.metrics_port}"
    for protocol in protocols:
        url = server.grpc_url if protocol == "grpc" else server.http_url
        for c in concurrencies:
            before = load.scrape(metrics_url)
            result = load.run_perf_analyzer("recommend", url, protocol, data, c,
                                            window_ms=window_ms,
                                            csv_path=out / "perf_analyzer.csv")
            after = load.scrape(metrics_url)
            steps = {step: load.breakdown(before, after, step) for step in STEPS}
            row = {"requests": label, "protocol": protocol, "concurrency": c, **result,
                   "failed": sum(s["failed"] for s in steps.values()), "steps": steps}
            rows.append(row)
            compute = "  ".join(f"{s} {steps[s]['compute_infer_us'] or 0:.0f} us"
                                for s in STEPS[1:])
            print(f"{label:<10}{protocol:<5} c={c:<3}{row['requests_per_second']:8.1f} req/s  "
                  f"p50 {row['p50_ms']:6.2f}  p99 {row['p99_ms']:6.2f} ms  {compute}  "
                  f"failed {row['failed']}", flush=True)
    return rows


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grpc = [r for r in rows if r["protocol"] == "grpc" and r["requests"] == "top-k"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    cs = [r["concurrency"] for r in grpc]
    for key, style in (("p50_ms", "o-"), ("p99_ms", "s--")):
        left.plot(cs, [r[key] for r in grpc], style, label=key.replace("_ms", ""))
    left.axhline(10, color="grey", linestyle=":", label="target p99 at c=1")
    left.set(xscale="log", xlabel="concurrency", ylabel="latency (ms)",
             title="recommend over gRPC: latency")
    left.set_xticks(cs, [str(c) for c in cs])
    left.legend()
    bottom = np.zeros(len(grpc))
    for step in STEPS[1:]:
        values = np.array([(r["steps"][step]["compute_infer_us"] or 0) / 1e3 for r in grpc])
        right.bar([str(c) for c in cs], values, bottom=bottom, label=step)
        bottom += values
    right.set(xlabel="concurrency", ylabel="compute per request (ms)",
              title="Triton's per-step compute")
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def markdown(rows, reference, host, world) -> str:
    table = common.markdown_table(
        [{**r, "retrieve_us": r["steps"]["retrieve"]["compute_infer_us"],
          "score_us": r["steps"]["score_candidates"]["compute_infer_us"],
          "rerank_us": r["steps"]["rerank"]["compute_infer_us"],
          "queue_us": r["steps"]["recommend"]["queue_us"]} for r in rows],
        [("requests", "requests", "s"), ("protocol", "protocol", "s"),
         ("concurrency", "c", "d"), ("requests_per_second", "req/s", ".1f"),
         ("p50_ms", "p50 ms", ".2f"), ("p95_ms", "p95 ms", ".2f"), ("p99_ms", "p99 ms", ".2f"),
         ("retrieve_us", "retrieve us", ".0f"), ("score_us", "score us", ".0f"),
         ("rerank_us", "rerank us", ".0f"), ("failed", "failed", "d")])
    lines = [f"Measured {host['date']} on {host['cpu']} ({host['cores']} cores), Triton 2.51 on "
             f"the CPU, perf_analyzer 2.51. Catalogue {world['items']:,} items "
             f"({world['kind']}, dim {world['dim']}), {CANDIDATES} candidates ranked, k = {K}; "
             "a quarter of the users new (retrieved by popularity). Latency is "
             "perf_analyzer's (client side); the steps' times are Triton's per-request "
             "compute means from its metrics endpoint.", "", table, "",
             "In-process peer (shoprank.Recommender, same requests, one thread of calls):"]
    for label, timing in reference.items():
        lines.append(f"* {label}: p50 {timing['p50_ms']:.2f} ms, p99 {timing['p99_ms']:.2f} ms "
                     f"(the first pass's slowest request: {timing['cold_ms']:.1f} ms)")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    # the catalogue is the items seen at least twice in the train window (the generator's
    # freq_threshold): 400k generated items over 1.6M rows give about 1e5
    parser.add_argument("--items", type=int, default=400_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--rows", type=int, default=1_600_000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--threads", type=int, default=0,
                        help="engine threads per model instance (default 0: all cores)")
    parser.add_argument("--window-ms", type=int, default=3000)
    parser.add_argument("--quick", action="store_true", help="concurrency 1 and 4")
    parser.add_argument("--out", type=Path, default=common.RESULTS / "recommend")
    args = parser.parse_args(argv)
    if args.quick:
        args.concurrency = [1, 4]

    import json

    import shoprank
    from shoprank.serving import load
    from shoprank.serving.repository import ServingOptions, export_triton
    from bench_serving import serve

    host = common.machine()
    args.out.mkdir(parents=True, exist_ok=True)
    world = args.out / "world"
    artifacts = build_world(world, args.items, args.users, args.rows)
    recommender = shoprank.Recommender.load(artifacts)
    spec = json.loads((artifacts / "ranker.json").read_text())["retrieval"]
    facts = {"items": recommender.items, "dim": spec["dim"], "kind": recommender.kind}
    diverse = {"relevance_weight": 0.7, "caps": {"category": 2}}
    batches = {"top-k": requests(world, recommender), "diverse": requests(world, recommender,
                                                                          **diverse)}
    data = {}
    for label, batch in batches.items():
        data[label] = args.out / f"input-{label}.json"
        load.write_tensor_data(data[label], [tensors for _, tensors in batch])
    reference = {"top-k": in_process(recommender, batches["top-k"]),
                 "diverse": in_process(recommender, batches["diverse"], **diverse)}
    print("in-process:", reference, flush=True)

    options = ServingOptions(threads=args.threads, candidates=CANDIDATES)
    repo = args.out / "repo"
    export_triton(artifacts, repo, options, overwrite=True)
    server, log = serve(repo, args.out / "triton.log")
    with log, server:
        server.wait_ready(timeout_s=300)
        rows = sweep(server, "top-k", ["grpc"], args.concurrency, data["top-k"], args.out,
                     args.window_ms)
        rows += sweep(server, "top-k", ["http"], [1], data["top-k"], args.out, args.window_ms)
        rows += sweep(server, "diverse", ["grpc"], [1], data["diverse"], args.out,
                      args.window_ms)
    payload = {"machine": host, "world": facts, "rows": rows, "in_process": reference,
               "options": options.__dict__}
    return common.finish(args.out, "bench_recommend", payload,
                         markdown(rows, reference, host, facts), lambda path: plot(rows, path))


if __name__ == "__main__":
    sys.exit(main())
