"""Load on a served model: Triton's own load generator (perf_analyzer, from the tritonclient
wheel) and Triton's metrics endpoint, for benchmarks/bench_serving.py; and a client load
from Python threads that keeps every answer, for the demo and the reliability tests.

perf_analyzer needs Debian's libb64-0d and libcudart.so.12 (the nvidia-cuda-runtime-cu12
wheel); the setup installs both, and environment() puts the latter on the library path.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shoprank.serving import wire


def perf_analyzer() -> Path:
    path = Path(sys.executable).parent / "perf_analyzer"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: perf_analyzer comes with the tritonclient wheel "
                                f"(pip install 'shoprank[client]')")
    return path


def environment() -> dict:
    env = os.environ.copy()
    try:
        import nvidia.cuda_runtime as runtime
    except ImportError:
        raise FileNotFoundError("perf_analyzer needs libcudart.so.12: pip install "
                                "nvidia-cuda-runtime-cu12") from None
    libs = [str(Path(next(iter(runtime.__path__))) / "lib")]
    env["LD_LIBRARY_PATH"] = ":".join(libs + [env.get("LD_LIBRARY_PATH", "")]).rstrip(":")
    return env


def write_input_data(path: Path, inputs: dict[str, str], requests: list[tuple[dict, dict, int]]):
    """perf_analyzer's --input-data JSON: one entry per (user, candidate columns, k), in
    wire.py's layout."""
    write_tensor_data(path, [wire.encode_request(inputs, user, candidates, k)
                             for user, candidates, k in requests])


def write_tensor_data(path: Path, requests: list[dict]) -> None:
    """perf_analyzer's --input-data JSON: one entry per request's tensors ({name: [1, n]
    array}; shapes without the batch dimension)."""
    entries = [{name: {"content": [v.decode() if isinstance(v, bytes) else v
                                   for v in array[0].tolist()],
                       "shape": [array.shape[1]]}
                for name, array in tensors.items()} for tensors in requests]
    path.write_text(json.dumps({"data": entries}))


def run_perf_analyzer(model: str, url: str, protocol: str, data: Path, concurrency: int, *,
                      window_ms: int = 2000, window_requests: int = 0, csv_path: Path,
                      timeout_s: float = 900) -> dict:
    """One concurrency level: throughput and client-side latency percentiles (ms).
    window_requests > 0: windows of that many requests instead of window_ms (for a model
    so slow that a time window may see none finish)."""
    if window_requests:
        window = ["--measurement-mode", "count_windows",
                  "--measurement-request-count", str(window_requests)]
    else:
        window = ["--measurement-interval", str(window_ms)]
    command = [str(perf_analyzer()), "-m", model, "-u", url, "-i", protocol,
               "--input-data", str(data), "--concurrency-range", f"{concurrency}:{concurrency}",
               *window, "--stability-percentage", "50", "--max-trials", "10",
               "-f", str(csv_path)]
    done = subprocess.run(command, env=environment(), capture_output=True, text=True,
                          timeout=timeout_s)
    if done.returncode != 0 or not csv_path.is_file():
        raise RuntimeError(f"perf_analyzer failed on {model} ({protocol}, concurrency "
                           f"{concurrency}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    with open(csv_path) as f:
        row = next(csv.DictReader(f))
    return {"requests_per_second": float(row["Inferences/Second"]),
            **{f"p{p}_ms": float(row[f"p{p} latency"]) / 1e3 for p in (50, 95, 99)}}


@dataclass
class Outcome:
    """One request of a client load: which, when (perf_counter seconds), and its answer or
    error."""
    request: int
    start: float
    end: float
    ids: np.ndarray | None = None
    scores: np.ndarray | None = None
    error: str | None = None


@dataclass
class LoadResult:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def answered(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error is None]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error is not None]

    @property
    def requests_per_second(self) -> float:
        return len(self.answered) / self.seconds if self.seconds else 0.0


def client_load(make_client, requests: list[tuple], *, concurrency: int, seconds: float,
                during=None) -> LoadResult:
    """`concurrency` clients (make_client() each) send requests back to back for `seconds`,
    each cycling through `requests` [(user, candidates, k)]; every outcome is kept.
    during(): run in this thread while the load runs (a reload, a fault, a stop)."""
    result, lock = LoadResult(), threading.Lock()
    stop = time.perf_counter() + seconds

    def worker(first: int) -> None:
        with make_client() as client:
            i = first
            while time.perf_counter() < stop:
                user, candidates, k = requests[i % len(requests)]
                start = time.perf_counter()
                try:
                    ids, scores = client.rank(user, candidates, k)
                    outcome = Outcome(i % len(requests), start, time.perf_counter(), ids, scores)
                except Exception as error:  # what a client sees is the result here
                    outcome = Outcome(i % len(requests), start, time.perf_counter(),
                                      error=str(error))
                with lock:
                    result.outcomes.append(outcome)
                i += 1

    begin = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    try:
        if during is not None:
            during()
    finally:
        for thread in threads:
            thread.join()
    result.seconds = time.perf_counter() - begin
    return result


_METRIC = re.compile(r'^(nv_inference_\w+)\{model="([^"]+)",version="[^"]*"\} ([0-9.e+]+)$')
BREAKDOWN = ("queue", "compute_input", "compute_infer", "compute_output")


def scrape(metrics_url: str, wait_s: float = 10) -> dict[tuple[str, str], float]:
    """{(metric, model): value} of Triton's per-model counters. Triton opens its metrics
    port a moment after it reports ready: a refused connection is tried again for wait_s."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with urllib.request.urlopen(f"http://{metrics_url}/metrics", timeout=10) as response:
                text = response.read().decode()
            break
        except urllib.error.URLError as error:
            if not isinstance(error.reason, ConnectionRefusedError) or \
                    time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    values = {}
    for line in text.splitlines():
        match = _METRIC.match(line)
        if match:
            values[(match.group(1), match.group(2))] = float(match.group(3))
    return values


def breakdown(before: dict, after: dict, model: str) -> dict:
    """Mean microseconds per request of each of Triton's stages for one model, between two
    scrapes (queue, compute input, compute infer, compute output), and the request count."""
    def delta(metric):
        key = (metric, model)
        return after.get(key, 0.0) - before.get(key, 0.0)

    requests = delta("nv_inference_request_success")
    out = {"requests": int(requests), "failed": int(delta("nv_inference_request_failure"))}
    for stage in BREAKDOWN:
        total = delta(f"nv_inference_{stage}_duration_us")
        out[f"{stage}_us"] = total / requests if requests else None
    return out
