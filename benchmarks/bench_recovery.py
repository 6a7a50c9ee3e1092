"""Recovery: kill -9 of tritonserver while clients rank, with `shoprank serve`'s supervisor.

    python benchmarks/bench_recovery.py --model shoprank-demo/model
    python benchmarks/bench_recovery.py            # trains a small DLRM first (a few minutes)

One server (the HTTP guard in front, as `shoprank serve` runs it) and its supervisor
(serving.server.supervise); 4 clients in threads, each sending requests back to back (gRPC
and HTTP, ranker and ensemble; RankClient's retries on, 1,000 candidates, top 10). Every
--interval seconds tritonserver gets SIGKILL, --kills times. Per kill: the supervisor's
time from the kill to ready again, the longest time any client waited between two answers,
and the requests that failed. Writes JSON, a markdown table and a plot of answers per
100 ms with the kills marked to --out.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from bench_ranker import small_model  # noqa: E402

CLIENTS = [("grpc", "ranker"), ("http", "ranker"), ("grpc", "ensemble"), ("http", "ensemble")]


def run(server, request, expected, kills: int, interval_s: float) -> dict:
    import numpy as np

    from shoprank.client import RankClient
    from shoprank.serving.server import supervise

    said: list[str] = []
    threading.Thread(target=supervise, args=(server, said.append), daemon=True).start()
    stop, answers, failed, retries = threading.Event(), [], [], []

    def client(protocol, model):
        url = server.grpc_url if protocol == "grpc" else server.http_url
        with RankClient(url, protocol, model, retry_for_s=60) as rank_client:
            while not stop.is_set():
                try:
                    ids, _ = rank_client.rank(*request)
                    answers.append((time.monotonic(), protocol, model,
                                    bool(np.array_equal(ids, expected))))
                except Exception as error:  # noqa: BLE001 - counted and reported
                    failed.append((time.monotonic(), protocol, model, repr(error)))
            retries.append(rank_client.retries)

    threads = [threading.Thread(target=client, args=pm) for pm in CLIENTS]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    kill_times = []
    for _ in range(kills):
        time.sleep(interval_s)
        restarts = sum(line.startswith("shoprank serve: ready again") for line in said)
        kill_times.append(time.monotonic())
        os.kill(server.process.pid, signal.SIGKILL)
        while sum(line.startswith("shoprank serve: ready again") for line in said) == restarts:
            time.sleep(0.02)
        kill_times[-1] = (kill_times[-1], time.monotonic())
    time.sleep(interval_s)
    stop.set()
    for thread in threads:
        thread.join()
    rows = []
    for killed, ready in kill_times:
        gaps = []
        for protocol, model in CLIENTS:
            times = sorted(t for t, p, m, _ in answers if (p, m) == (protocol, model))
            around = [b - a for a, b in zip(times, times[1:]) if a <= ready and b >= killed]
            gaps.append(max(around, default=0.0))
        rows.append({"ready_after_s": ready - killed, "longest_wait_s": max(gaps),
                     "failed": sum(killed - 1 <= t <= ready + interval_s for t, *_ in failed)})
    return {"kills": rows, "answered": len(answers), "failed": len(failed),
            "wrong": sum(not ok for *_, ok in answers), "retries": sum(retries),
            "seconds": time.monotonic() - start, "supervisor": said,
            "timeline": [(t - start, p, m) for t, p, m, _ in answers],
            "kill_times": [(k - start, r - start) for k, r in kill_times],
            "failures": [f[3] for f in failed[:5]]}


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(9, 3.5))
    end = max(t for t, *_ in result["timeline"])
    bins = np.arange(0, end + 0.1, 0.1)
    for protocol, model in CLIENTS:
        times = [t for t, p, m in result["timeline"] if (p, m) == (protocol, model)]
        ax.plot(bins[:-1], np.histogram(times, bins)[0], label=f"{model} {protocol}", lw=1)
    for killed, ready in result["kill_times"]:
        ax.axvspan(killed, ready, color="red", alpha=0.15)
    ax.set_xlabel("seconds (red: from kill -9 to ready again)")
    ax.set_ylabel("answers per 100 ms")
    ax.legend(fontsize=7, ncol=4)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def markdown(result: dict, host: dict, candidates: int) -> str:
    table = common.markdown_table(
        [{"kill": i + 1, **row} for i, row in enumerate(result["kills"])],
        [("kill", "kill -9", "d"), ("ready_after_s", "ready again after s", ".2f"),
         ("longest_wait_s", "longest client wait s", ".2f"), ("failed", "failed requests", "d")])
    return "\n".join([
        f"Measured {host['date']} on {host['cpu']} ({host['cores']} cores), Triton 2.51 on the "
        f"CPU with the HTTP guard; 4 clients back to back ({', '.join(f'{m} {p}' for p, m in CLIENTS)}), "
        f"{candidates:,} candidates, top 10, RankClient retries on.", "", table, "",
        f"In all: {result['answered']:,} requests answered in {result['seconds']:.0f} s, "
        f"{result['failed']} failed, {result['wrong']} with other ids than before the kills, "
        f"{result['retries']} sent again by the clients."])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a trained model folder (shoprank train "
                        "--out); default: train a small one under --out")
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--interval", type=float, default=5.0,
                        help="seconds between kills (and before the first, after the last)")
    parser.add_argument("--candidates", type=int, default=1_000)
    parser.add_argument("--out", type=Path, default=common.RESULTS / "recovery")
    args = parser.parse_args(argv)

    import shoprank
    from shoprank.export.artifacts import export_ranker
    from shoprank.data.sample_request import sample_request
    from shoprank.serving.repository import ServingOptions, export_triton
    from shoprank.serving.server import TritonServer, free_port

    host = common.machine()
    args.out.mkdir(parents=True, exist_ok=True)
    model_dir = args.model or small_model(args.out / "model")
    artifacts, repo = args.out / "artifacts", args.out / "repo"
    export_ranker(model_dir, artifacts, overwrite=True)
    export_triton(artifacts, repo, ServingOptions(), overwrite=True)
    user, items = sample_request(model_dir, args.candidates)
    expected = shoprank.Ranker.load(artifacts).rank(user, items, 10)[0]
    with open(args.out / "triton.log", "w") as log:
        server = TritonServer(repo, http_port=free_port(), grpc_port=free_port(),
                              metrics_port=free_port(),
                              log=lambda line: print(line, file=log, flush=True))
        with server:
            server.wait_ready(timeout_s=300)
            result = run(server, (user, items, 10), expected, args.kills, args.interval)
    for line in result["supervisor"]:
        print(line)
    return common.finish(args.out, "bench_recovery", {"machine": host, **result},
                         markdown(result, host, args.candidates), lambda p: plot(result, p))


if __name__ == "__main__":
    sys.exit(main())
