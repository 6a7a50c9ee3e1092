"""Feature pipeline throughput: NVTabular (one process, and a 2-worker Dask LocalCluster)
against plain pandas doing the same operations, on generated logs, in one run.

    python benchmarks/bench_etl.py                  # 1M and 10M rows
    python benchmarks/bench_etl.py --rows 1000000   # one size

Each method runs in a subprocess of its own, so that its peak memory (the resident set of
the process and its workers, sampled every 0.1 s) is its own; the seconds are fit +
transform + writing, measured inside it (imports excluded). Writes JSON, a markdown table
and a PNG plot to --out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

METHODS = {
    "nvtabular cpu": "run_etl(config, out, device='cpu', progress=False, say=lambda *_: None)",
    "nvtabular dask 2 workers": "run_etl(config, out, device='cpu', workers=2, progress=False, "
                                "say=lambda *_: None)",
    "pandas": "run_pandas_etl(load_config(config), out)",
}
CHILD = """
import json, sys, time
sys.path.insert(0, {bench!r})
from shoprank.etl import load_config, run_etl
from etl_pandas import run_pandas_etl
config, out = {config!r}, {out!r}
start = time.perf_counter()
{call}
print(json.dumps({{"seconds": time.perf_counter() - start}}))
"""


def measure(method: str, config: Path, out: Path) -> dict:
    """Runs one method in a child process; its time, and the peak memory of its tree."""
    import psutil

    code = CHILD.format(bench=str(Path(__file__).resolve().parent), config=str(config),
                        out=str(out), call=METHODS[method])
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    process, peak = psutil.Process(child.pid), 0
    while child.poll() is None:
        try:
            tree = [process, *process.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.1)
    stdout, stderr = child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"{method} failed:\n{stderr[-3000:]}")
    return {**json.loads(stdout.strip().splitlines()[-1]), "peak_rss_gb": peak / 1e9}


def logs_for(rows: int, data_dir: Path, seed: int) -> Path:
    """Generated logs of this size, made once and kept (same seed, same bytes)."""
    folder = data_dir / f"logs-{rows}"
    if not (folder / "logs.json").exists():
        from shoprank.data import generate

        print(f"generating {rows:,} rows into {folder}")
        generate(folder, rows=rows, seed=seed)
    return folder / "logs.json"


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted({r["rows"] for r in rows})
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    width = 0.8 / len(methods)
    for i, method in enumerate(methods):
        for ax, key in zip(axes, ("rows_per_second", "peak_rss_gb")):
            values = [next((r[key] for r in rows if r["rows"] == s and r["method"] == method), 0)
                      for s in sizes]
            ax.bar([j + i * width for j in range(len(sizes))], values, width, label=method)
    for ax, label in zip(axes, ("rows / second (fit + transform)", "peak memory, GB")):
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(sizes))],
                      [f"{s / 1e6:g}M rows" for s in sizes])
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=common.RESULTS / "etl-data",
                        help="where generated logs are kept between runs")
    parser.add_argument("--out", type=Path, default=common.RESULTS / "etl")
    args = parser.parse_args(argv)

    host = common.machine()
    results = []
    for rows in args.rows:
        config = logs_for(rows, args.data, args.seed)
        for method in args.methods:
            with tempfile.TemporaryDirectory(dir=args.out.parent if args.out.parent.exists()
                                             else None) as scratch:
                print(f"{rows:,} rows: {method} ...", flush=True)
                result = measure(method, config, Path(scratch) / "out")
            results.append({"rows": rows, "method": method, **result,
                            "rows_per_second": rows / result["seconds"]})
            print(f"  {result['seconds']:.1f} s, {rows / result['seconds']:,.0f} rows/s, "
                  f"peak {result['peak_rss_gb']:.2f} GB", flush=True)

    markdown = "\n".join([
        f"Measured {host['date']} on {host['cpu']} ({host['cores']} cores). Fit on the train "
        "window + transform of train/valid/test + writing Parquet; peak memory of the process "
        "and its Dask workers.", "",
        common.markdown_table(results, [("rows", "rows", ","), ("method", "method", "s"),
                                        ("seconds", "seconds", ".1f"),
                                        ("rows_per_second", "rows/s", ",.0f"),
                                        ("peak_rss_gb", "peak GB", ".2f")])])
    return common.finish(args.out, "bench_etl", {"machine": host, "rows": results}, markdown,
                         lambda path: plot(results, path))


if __name__ == "__main__":
    sys.exit(main())
