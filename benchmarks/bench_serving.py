"""Serving under load: Triton Inference Server with perf_analyzer, Triton's load generator.

    python benchmarks/bench_serving.py --model shoprank-demo/model
    python benchmarks/bench_serving.py            # trains a small DLRM first (a few minutes)
    python benchmarks/bench_serving.py --quick    # concurrency 1, 4, 16; gRPC; 1,000 only
    python benchmarks/bench_serving.py --models ranker --candidates 1000 --concurrency 1
    python benchmarks/bench_serving.py --models ranker --protocols http http-proxy \
        http-direct grpc grpc-direct --candidates 1000 --concurrency 1 4  # the guard's cost

One server, one repository (shoprank export-triton --baseline) serving three models:

* ensemble: transform -> score -> select, three Python-backend models on the native engine;
* ranker: the same three steps in one model, in shoprank's C++ Triton backend (no stub);
* baseline: the Merlin path in a Python-backend model (the saved NVTabular Workflow on a
  DataFrame, TensorFlow, argpartition), the way a Merlin user would serve the model.

HTTP and gRPC go through shoprank's guard (nginx + njs, serving/guard.py); "http-direct"
and "grpc-direct" are Triton's own endpoints behind it, unguarded, and "http-proxy" and
"grpc-proxy" a plain nginx proxy in front of them (the guard without its check), measured
in the same run for comparison; for the nginx endpoints, nginx's CPU per request.

For every model, protocol (gRPC, HTTP), candidates per request (100, 1,000) and
concurrency (1, 2, 4, 8, 16): perf_analyzer's throughput and p50 / p95 / p99 latency, and
Triton's own per-request breakdown from its metrics endpoint (queue, compute input,
compute infer, compute output) for the model and, for the ensemble, each of its steps.
Then the same for the ensemble and the ranker with dynamic batching off (a second server).
Requests: users and items drawn from the exported tables, top 10.

Writes JSON, a markdown table and a PNG plot to --out.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from bench_ranker import small_model  # noqa: E402

K = 10
STEPS = {"ensemble": ("ensemble", "transform", "score", "select"), "ranker": ("ranker",),
         "baseline": ("baseline",)}


def requests_for(model_dir: Path, candidates: int, count: int = 8):
    from shoprank.data.sample_request import sample_request

    return [(*sample_request(model_dir, candidates, seed), K) for seed in range(count)]


def process_cpu_s(pid: int) -> float:
    """CPU seconds of a process and its live children (nginx's workers), to the nanosecond
    (the scheduler's run time, /proc/PID/schedstat: /proc's stat counts in 10 ms ticks)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(stat.parent.name) == pid or int(fields[1]) == pid:  # fields[1]: the parent
                total += int((stat.parent / "schedstat").read_text().split()[0])
        except (OSError, ValueError):  # gone meanwhile
            continue
    return total / 1e9


def cpu_us(pid: int, measure):
    """(measure()'s result, the CPU microseconds process pid and its children spent in it)."""
    before = process_cpu_s(pid)
    result = measure()
    return result, (process_cpu_s(pid) - before) * 1e6


@contextlib.contextmanager
def plain_proxy(server, folder: Path):
    """The guard's peer: nginx proxying to Triton's HTTP and gRPC with the guard's
    connection settings and no check (no njs). Yields ({protocol: host:port}, its pid)."""
    from shoprank.serving.guard import GRPC_MAX_BODY_BYTES, NGINX
    from shoprank.serving.server import free_port

    port, grpc_port, folder = free_port(), free_port(), folder / "plain-proxy"
    (folder / "tmp").mkdir(parents=True, exist_ok=True)
    (folder / "nginx.conf").write_text(f"""daemon off; worker_processes 1;
pid {folder}/nginx.pid; error_log stderr error;
events {{ worker_connections 1024; }}
http {{
  access_log off; keepalive_requests 1000000; client_body_temp_path {folder}/tmp;
  proxy_temp_path {folder}/tmp; client_max_body_size 64m; client_body_buffer_size 64m;
  upstream triton {{ server {server.admin_url}; keepalive 64; keepalive_requests 1000000; }}
  upstream triton_grpc {{ server {server.triton_grpc_url}; keepalive 64;
                         keepalive_requests 1000000; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{ proxy_pass http://triton; proxy_http_version 1.1;
                 proxy_set_header Connection ""; proxy_buffering off; }}
  }}
  server {{
    listen 127.0.0.1:{grpc_port} http2;
    client_max_body_size {GRPC_MAX_BODY_BYTES}; client_body_buffer_size {GRPC_MAX_BODY_BYTES};
    location / {{ grpc_pass grpc://triton_grpc; }}
  }}
}}
""")
    process = subprocess.Popen([NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf")])
    try:
        time.sleep(1)
        yield {"http-proxy": f"127.0.0.1:{port}", "grpc-proxy": f"127.0.0.1:{grpc_port}"}, \
            process.pid
    finally:
        process.terminate()
        process.wait()


def sweep(server, label, models, protocols, candidates, concurrencies, data, out, window_ms):
    rows = []
    metrics_url = f"{server.host}:{server.metrics_port}"
    with contextlib.ExitStack() as stack:
        proxy = (stack.enter_context(plain_proxy(server, out))
                 if {"http-proxy", "grpc-proxy"} & set(protocols) else ({}, None))
        rows += _sweep(server, label, models, protocols, candidates, concurrencies, data, out,
                       window_ms, metrics_url, proxy)
    return rows


def _sweep(server, label, models, protocols, candidates, concurrencies, data, out, window_ms,
           metrics_url, proxy):
    from shoprank.serving import load

    rows = []
    guard = server.guard.process.pid if server.guard else None
    nginx = {"http": guard, "grpc": guard, "http-proxy": proxy[1], "grpc-proxy": proxy[1]}
    for n in candidates:
        for model in models:
            for protocol in protocols:
                url = {"grpc": server.grpc_url, "http": server.http_url,
                       "http-direct": server.admin_url, "grpc-direct": server.triton_grpc_url,
                       **proxy[0]}[protocol]
                for c in concurrencies:
                    before = load.scrape(metrics_url)
                    slow = 2 * c + 8 if model == "baseline" else 0  # ~0.3-1 s a request

                    def measure():
                        return load.run_perf_analyzer(
                            model, url, protocol.split("-")[0], data[n], c,
                            window_ms=window_ms, window_requests=slow,
                            csv_path=out / "perf_analyzer.csv")
                    pid = nginx.get(protocol)
                    result, nginx_us = cpu_us(pid, measure) if pid else (measure(), None)
                    after = load.scrape(metrics_url)
                    steps = {step: load.breakdown(before, after, step) for step in STEPS[model]}
                    answered = steps[model]["requests"]  # perf_analyzer's warm-up included
                    row = {"batching": label, "model": model, "protocol": protocol,
                           "candidates": n, "concurrency": c, **result,
                           "candidates_per_second": result["requests_per_second"] * n,
                           "failed": sum(s["failed"] for s in steps.values()), "steps": steps,
                           "nginx_cpu_us": nginx_us / answered if nginx_us and answered else None}
                    rows.append(row)
                    top = steps[model]
                    guard = (f"  nginx CPU {row['nginx_cpu_us']:5.0f} us/req"
                             if row["nginx_cpu_us"] else "")
                    print(f"{label:<12}{model:<9}{protocol:<5}{n:>6} cand  c={c:<3}"
                          f"{row['requests_per_second']:8.1f} req/s  p50 {row['p50_ms']:7.2f}  "
                          f"p99 {row['p99_ms']:7.2f} ms  infer {top['compute_infer_us'] or 0:8.0f} us"
                          f"  failed {row['failed']}{guard}", flush=True)
    return rows


def serve(repo: Path, log: Path):
    from shoprank.serving.server import TritonServer, free_port

    handle = open(log, "w")
    server = TritonServer(repo, http_port=free_port(), grpc_port=free_port(),
                          metrics_port=free_port(),
                          log=lambda line: print(line, file=handle, flush=True))
    return server, handle


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mine = [r for r in rows if r["batching"] == "dynamic"]
    protocols = sorted({r["protocol"] for r in mine})
    sizes = sorted({r["candidates"] for r in mine})
    fig, axes = plt.subplots(2, len(sizes), figsize=(5 * len(sizes), 6.5), squeeze=False)
    for column, n in enumerate(sizes):
        for model in STEPS:
            for protocol in protocols:
                line = [r for r in mine if r["candidates"] == n and r["model"] == model
                        and r["protocol"] == protocol]
                if not line:
                    continue
                x, name = [r["concurrency"] for r in line], f"{model} {protocol}"
                axes[0][column].plot(x, [r["requests_per_second"] for r in line], "o-",
                                     label=name)
                axes[1][column].plot(x, [r["p99_ms"] for r in line], "o-", label=f"{name} p99")
                axes[1][column].plot(x, [r["p50_ms"] for r in line], "x:", alpha=0.6,
                                     label=f"{name} p50")
        axes[0][column].set_title(f"{n:,} candidates per request")
        axes[0][column].set_ylabel("requests / s")
        axes[1][column].set_ylabel("latency, ms")
        axes[1][column].set_xlabel("concurrent requests")
        for ax in (axes[0][column], axes[1][column]):
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def markdown(rows: list[dict], host: dict, options: dict) -> str:
    table = common.markdown_table(
        [{**r, **{f"{s}_ms": (r["steps"][r["model"]][f"{s}_us"] or 0) / 1e3
                  for s in ("queue", "compute_infer")}} for r in rows],
        [("batching", "batching", "s"), ("model", "model", "s"), ("protocol", "protocol", "s"),
         ("candidates", "candidates", ","), ("concurrency", "concurrency", "d"),
         ("requests_per_second", "requests/s", ",.1f"),
         ("candidates_per_second", "candidates/s", ",.0f"),
         ("p50_ms", "p50 ms", ".2f"), ("p95_ms", "p95 ms", ".2f"), ("p99_ms", "p99 ms", ".2f"),
         ("queue_ms", "queue ms", ".2f"), ("compute_infer_ms", "infer ms", ".2f"),
         ("failed", "failed", "d")])
    steps = [r for r in rows if r["model"] == "ensemble" and r["batching"] == "dynamic"
             and r["protocol"] == "grpc"]
    step_table = common.markdown_table(
        [{"candidates": r["candidates"], "concurrency": r["concurrency"],
          **{f"{s}_{stage}": (r["steps"][s][f"{stage}_us"] or 0) / 1e3
             for s in STEPS["ensemble"][1:] for stage in ("queue", "compute_infer")}}
         for r in steps],
        [("candidates", "candidates", ","), ("concurrency", "concurrency", "d")]
        + [(f"{s}_{stage}", f"{s} {stage.replace('compute_', '')} ms", ".2f")
           for s in STEPS["ensemble"][1:] for stage in ("queue", "compute_infer")])
    return "\n".join([
        f"Measured {host['date']} on {host['cpu']} ({host['cores']} cores), Triton 2.51 "
        f"(nvidia-pytriton 0.7.0) on the CPU, perf_analyzer 2.51; top {K}; export-triton "
        f"options {options}. Latency is perf_analyzer's (client side); queue and infer are "
        f"Triton's per-request means from its metrics endpoint.", "", table, "",
        "What each step of the ensemble costs (gRPC, dynamic batching; Triton's metrics):", "",
        step_table])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a trained model folder (shoprank train "
                        "--out); default: train a small one under --out")
    parser.add_argument("--candidates", type=int, nargs="+", default=[100, 1_000])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--protocols", nargs="+", default=["grpc", "http"],
                        choices=["grpc", "http", "grpc-direct", "http-direct", "grpc-proxy",
                                 "http-proxy"],
                        help="grpc-direct, http-direct: Triton's own endpoints, without the "
                             "guard; grpc-proxy, http-proxy: a plain nginx proxy in front of "
                             "them (the guard without its check)")
    parser.add_argument("--threads", type=int, default=0,
                        help="engine threads per model instance (default 0: all cores)")
    parser.add_argument("--window-ms", type=int, default=2000,
                        help="perf_analyzer's measurement window (default 2000)")
    parser.add_argument("--models", nargs="+", default=list(STEPS), choices=list(STEPS),
                        help="which models to load (default: all three)")
    parser.add_argument("--quick", action="store_true",
                        help="concurrency 1, 4, 16; gRPC; 1,000 candidates")
    parser.add_argument("--out", type=Path, default=common.RESULTS / "serving")
    args = parser.parse_args(argv)
    if args.quick:
        args.concurrency, args.protocols, args.candidates = [1, 4, 16], ["grpc"], [1_000]

    import shoprank
    from shoprank.export.artifacts import export_ranker
    from shoprank.serving import load
    from shoprank.serving.repository import ServingOptions, export_triton

    host = common.machine()
    args.out.mkdir(parents=True, exist_ok=True)
    model_dir = args.model or small_model(args.out / "model")
    artifacts = args.out / "artifacts"
    export_ranker(model_dir, artifacts, overwrite=True)
    inputs = shoprank.Ranker.load(artifacts).inputs
    data = {}
    for n in args.candidates:
        data[n] = args.out / f"input-{n}.json"
        load.write_input_data(data[n], inputs, requests_for(model_dir, n))

    rows, options = [], ServingOptions(threads=args.threads)
    for label, batching in (("dynamic", True), ("off", False)):
        # batching off: the engine's models only, at the concurrencies where batches form
        models = [m for m in args.models if batching or m != "baseline"]
        concurrencies = [c for c in args.concurrency if batching or c >= 4]
        if not models or not concurrencies:
            continue
        repo = args.out / f"repo-{label}"
        export_triton(artifacts, repo, ServingOptions(**{**options.__dict__,
                                                         "dynamic_batching": batching}),
                      overwrite=True, baseline=model_dir if "baseline" in models else None)
        server, log = serve(repo, args.out / f"triton-{label}.log")
        with log, server:  # the server stops (and logs its stop) before the log closes
            start = time.perf_counter()
            server.wait_ready(timeout_s=300)
            print(f"server ({label} batching) ready in {time.perf_counter() - start:.1f} s",
                  flush=True)
            rows += sweep(server, label, models, args.protocols if batching else ["grpc"],
                          args.candidates, concurrencies, data, args.out, args.window_ms)
    return common.finish(args.out, "bench_serving", {"machine": host, "rows": rows,
                                                     "options": options.__dict__},
                         markdown(rows, host, options.__dict__), lambda path: plot(rows, path))


if __name__ == "__main__":
    sys.exit(main())
