"""Where one CUDA top-k call spends its time, kernel by kernel (Nsight Compute's durations).

    ncu --csv --clock-control none --profile-from-start off \\
        --metrics gpu__time_duration.sum \\
        python3 benchmarks/topk_kernel_times.py run --batch 1024 > ncu.csv
    python3 benchmarks/topk_kernel_times.py summarize ncu.csv

`run` makes one warm-up call, then profiles one call of shoprank.topk_inner_product
(backend "cuda", SHOPRANK_CUDA_TOPK_MATH as set) on fresh random data; `summarize` adds up
the durations per kernel and prints a markdown table.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import defaultdict
from pathlib import Path

UNITS = {"ns": 1e-3, "nsecond": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3,
         "s": 1e6, "second": 1e6}  # -> microseconds


def run(args) -> None:
    import cupy
    import numpy as np

    import shoprank

    rng = np.random.default_rng(args.seed)
    queries = cupy.asarray(rng.standard_normal((args.batch, args.dim), dtype=np.float32))
    items = cupy.asarray(rng.standard_normal((args.items, args.dim), dtype=np.float32))
    shoprank.topk_inner_product(queries, items, args.k, backend="cuda")  # warm-up
    cupy.cuda.Device().synchronize()
    cupy.cuda.profiler.start()
    shoprank.topk_inner_product(queries, items, args.k, backend="cuda")
    cupy.cuda.Device().synchronize()
    cupy.cuda.profiler.stop()


def kernel_name(signature: str) -> str:
    """'void ns::f<T, 2>(args)' -> 'f<T, 2>': the function's own name, its template kept."""
    head = signature.split("(")[0].removeprefix("void ").strip()
    bare = head
    while "<" in bare:  # drop template arguments, innermost first, to find the last '::'
        bare = re.sub(r"<[^<>]*>", "", bare)
    name = bare.rsplit("::", 1)[-1]
    at = head.find(name + "<")
    arguments = head[at + len(name):] if at >= 0 else ""
    return name + arguments.replace("shoprank::cuda::", "")


def summarize(path: Path) -> None:
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith('"ID"'))
    totals, counts = defaultdict(float), defaultdict(int)
    for row in csv.DictReader(lines[start:]):
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        name = kernel_name(row["Kernel Name"])
        value = float(row["Metric Value"].replace(",", ""))
        totals[name] += value * UNITS.get(row["Metric Unit"], 1.0)
        counts[name] += 1
    print("| kernel | launches | total us |\n|---|---|---|")
    for name, total in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"| {name} | {counts[name]} | {total:.1f} |")
    print(f"| all | {sum(counts.values())} | {sum(totals.values()):.1f} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("run", help="one profiled call")
    one.add_argument("--batch", type=int, default=1024)
    one.add_argument("--items", type=int, default=1_000_000)
    one.add_argument("--dim", type=int, default=64)
    one.add_argument("--k", type=int, default=100)
    one.add_argument("--seed", type=int, default=0)
    table = sub.add_parser("summarize", help="durations per kernel from ncu's CSV")
    table.add_argument("csv", type=Path)
    args = parser.parse_args(argv)
    if args.command == "run":
        run(args)
    else:
        summarize(args.csv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
