"""Fused inner-product top-k: shoprank's backends beside NumPy, PyTorch and faiss, one run.

Every method gets the same float32 queries (B, d) and items (N, d) and returns each query's
k best item ids. Peers: NumPy (matmul + argpartition + sort), PyTorch (matmul + topk) and
faiss IndexFlatIP on the CPU; PyTorch on the GPU with --device gpu. Peers that must build
the score matrix do it in blocks of queries so memory stays bounded, as a user would.

    python benchmarks/bench_topk.py                      # the full grid on the CPU
    python benchmarks/bench_topk.py --batch 256 --items 1000000 --dim 64 --k 100
    python benchmarks/bench_topk.py --device gpu --batch 1024 --items 1000000

Writes JSON, a markdown table and a PNG plot to --out, and prints the achieved GFLOP/s
beside the machine's measured peak, and the issue's targets as PASS/MISS.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

import shoprank  # noqa: E402
from shoprank import _compat  # noqa: E402

SCORE_BLOCK = 1 << 27  # floats of a peer's score block (512 MB)


# ---------------------------------------------------------------- CPU methods
def cpu_methods(queries, items, threads):
    def numpy_peer(k):
        rows = max(1, SCORE_BLOCK // len(items))
        out = []
        for start in range(0, len(queries), rows):
            scores = queries[start:start + rows] @ items.T
            part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            order = np.argsort(-np.take_along_axis(scores, part, 1), axis=1, kind="stable")
            out.append(np.take_along_axis(part, order, 1))
        return np.concatenate(out)

    methods = {
        "shoprank cpp": lambda k: shoprank.topk_inner_product(queries, items, k, backend="cpp",
                                                              num_threads=threads)[1],
        "numpy": numpy_peer,
    }
    if _compat.has_numba():
        methods["shoprank numba"] = lambda k: shoprank.topk_inner_product(
            queries, items, k, backend="numba")[1]
    try:
        import torch

        torch.set_num_threads(threads or len(os.sched_getaffinity(0)))
        tq, ti = torch.from_numpy(queries), torch.from_numpy(items)

        def torch_peer(k):
            rows = max(1, SCORE_BLOCK // len(items))
            return torch.cat([torch.topk(tq[s:s + rows] @ ti.T, k, dim=1).indices
                              for s in range(0, len(tq), rows)]).numpy()

        methods["torch"] = torch_peer
    except ImportError as error:
        print(f"skipping the PyTorch peer ({error}); `make bench` installs it")
    try:
        import faiss

        index = faiss.IndexFlatIP(items.shape[1])
        index.add(items)
        methods["faiss"] = lambda k: index.search(queries, k)[1]
    except ImportError:
        print("faiss not installed: skipping the faiss peer")
    return methods, lambda: None


def cpu_peak_gflops() -> float:
    """Single-precision matrix-multiply rate of this machine's BLAS (best of 5)."""
    a = np.random.default_rng(0).standard_normal((2048, 2048)).astype(np.float32)
    a @ a
    return 2 * 2048**3 / common.time_call(lambda: a @ a, repeat=5)["seconds"] / 1e9


# ---------------------------------------------------------------- GPU methods
def gpu_methods(queries, items, threads):
    import cupy
    import torch

    cq, ci = cupy.asarray(queries), cupy.asarray(items)
    tq, ti = torch.as_tensor(queries, device="cuda"), torch.as_tensor(items, device="cuda")

    def torch_peer(k):
        rows = max(1, (SCORE_BLOCK * 8) // len(items))
        return torch.cat([torch.topk(tq[s:s + rows] @ ti.T, k, dim=1).indices
                          for s in range(0, len(tq), rows)])

    def shoprank_cuda(math=None):
        def run(k):
            if math:  # the kernel's other arithmetic (engine/topk/score_tiles_cuda.cuh)
                os.environ["SHOPRANK_CUDA_TOPK_MATH"] = math
            try:
                return shoprank.topk_inner_product(cq, ci, k, backend="cuda")[1]
            finally:
                os.environ.pop("SHOPRANK_CUDA_TOPK_MATH", None)
        return run

    methods = {
        "shoprank cuda": shoprank_cuda(),
        "shoprank cuda fma": shoprank_cuda("fma"),
        "torch cuda": torch_peer,
    }
    if _compat.numba_cuda_available():
        methods["shoprank numba_cuda"] = lambda k: (
            shoprank.topk_inner_product(cq, ci, k, backend="numba_cuda")[1] if k <= 256 else None)

    def sync():
        cupy.cuda.Device().synchronize()
        torch.cuda.synchronize()

    return methods, sync


def gpu_ceilings() -> dict:
    """Measured float32 matmul rate (TF32 off) and device-to-device copy bandwidth."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    a = torch.randn(8192, 8192, device="cuda")
    x = torch.randn(1 << 29, device="cuda")  # 2 GiB
    y = torch.empty_like(x)
    for _ in range(3):  # warm-up: the clocks ramp up from idle
        a @ a, y.copy_(x)
    timing = common.time_call(lambda: a @ a, repeat=10, sync=torch.cuda.synchronize)
    copy = common.time_call(lambda: y.copy_(x), repeat=10, sync=torch.cuda.synchronize)
    return {"device": torch.cuda.get_device_name(),
            "peak_gflops": 2 * 8192**3 / timing["seconds"] / 1e9,
            "bandwidth_gbs": 2 * x.numel() * 4 / copy["seconds"] / 1e9}


# ---------------------------------------------------------------- the run
def to_host(ids):
    if ids is None:
        return None
    if hasattr(ids, "get"):
        return ids.get()
    if hasattr(ids, "cpu"):
        return ids.cpu().numpy()
    return np.asarray(ids)


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Mean share of each row's ids that two methods agree on (order ignored)."""
    return float(np.mean([np.intersect1d(x, y).size / max(len(x), 1) for x, y in zip(a, b)]))


def run_config(args, batch, n_items, dim, k, ceilings):
    rng = np.random.default_rng(args.seed)
    items = rng.standard_normal((n_items, dim), dtype=np.float32)
    queries = rng.standard_normal((batch, dim), dtype=np.float32)
    make = gpu_methods if args.device == "gpu" else cpu_methods
    methods, sync = make(queries, items, args.threads)
    flop = 2.0 * batch * n_items * dim
    rows, first = [], None
    for name, fn in methods.items():
        if args.methods and name not in args.methods:
            continue
        try:
            ids = to_host(fn(k))  # also the warm-up: JIT, thread pools, allocator caches
        except Exception as error:  # one broken peer must not end the whole run
            print(f"{name} failed at B={batch} N={n_items} d={dim} k={k}: {error!r}")
            continue
        if ids is None:  # this method cannot select this k
            continue
        timing = common.time_call(lambda: fn(k), repeat=args.repeat, budget=args.budget,
                                  sync=sync)
        first = ids if first is None else first
        rows.append({"batch": batch, "items": n_items, "dim": dim, "k": k, "method": name,
                     **timing, "gflops": flop / timing["seconds"] / 1e9,
                     "agreement": overlap(ids, first)})
    if args.device == "gpu":
        bytes_moved = 4 * (batch * dim + n_items * dim) + 12 * batch * k
        floor = max(flop / (ceilings["peak_gflops"] * 1e9),
                    bytes_moved / (ceilings["bandwidth_gbs"] * 1e9))
        for row in rows:
            row["floor_seconds"] = floor
    return rows


def targets(rows, device):
    """The issue's targets, checked wherever their configurations ran."""
    def best(cfg, names):
        times = [r["seconds"] for r in rows if all(r[c] == v for c, v in cfg.items())
                 and r["method"] in names]
        return min(times) if times else None

    checks = []
    if device == "cpu":
        cfg = dict(batch=256, items=1_000_000, dim=64, k=100)
        ours, peers = best(cfg, ["shoprank cpp"]), best(cfg, ["numpy", "torch", "faiss"])
        if ours and peers:
            checks.append(("B=256 N=1e6 d=64 k=100: cpp >= 3x fastest peer", peers / ours, 3.0))
        cfg = dict(batch=1024, items=100_000, dim=128, k=10)
        ours, faiss = best(cfg, ["shoprank cpp"]), best(cfg, ["faiss"])
        if ours and faiss:
            checks.append(("B=1024 N=1e5 d=128 k=10: cpp >= faiss", faiss / ours, 1.0))
    else:
        cfg = dict(batch=1024, items=1_000_000, dim=64, k=100)
        ours, torch_t = best(cfg, ["shoprank cuda"]), best(cfg, ["torch cuda"])
        if ours and torch_t:
            checks.append(("B=1024 N=1e6 d=64 k=100: cuda >= 2x torch", torch_t / ours, 2.0))
            floor = next(r["floor_seconds"] for r in rows if r["method"] == "shoprank cuda"
                         and all(r[c] == v for c, v in cfg.items()))
            checks.append(("  ... and within 2x of the floor (floor/time)", floor / ours, 0.5))
        for batch in (1, 16, 64):  # small batches: at least PyTorch's speed
            cfg = dict(batch=batch, items=1_000_000, dim=64, k=100)
            ours, torch_t = best(cfg, ["shoprank cuda"]), best(cfg, ["torch cuda"])
            if ours and torch_t:
                checks.append((f"B={batch} N=1e6 d=64 k=100: cuda >= torch", torch_t / ours, 1.0))
    return [{"target": t, "ratio": ratio, "needed": need, "met": ratio >= need}
            for t, ratio, need in checks]


def render(payload: dict) -> str:
    """One row per configuration, one column of seconds per method, the issue's targets."""
    rows, ceilings, host = payload["rows"], payload["ceilings"], payload["machine"]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    ours = "shoprank cuda" if payload["device"] == "gpu" else "shoprank cpp"
    peers = [m for m in methods if not m.startswith("shoprank")]
    table = {}
    for r in rows:
        cell = table.setdefault((r["batch"], r["items"], r["dim"], r["k"]), {})
        cell[r["method"]] = r["seconds"] * 1e3
        cell["gflops"] = cell.get("gflops") or (r["gflops"] if r["method"] == ours else None)
        cell["floor"] = r["floor_seconds"] * 1e3 if "floor_seconds" in r else None
    pivot = []
    for (b, n, d, k), cell in table.items():
        best_peer = min((cell[m] for m in peers if m in cell), default=None)
        pivot.append({"B": b, "N": n, "d": d, "k": k, **cell,
                      "speedup": best_peer / cell[ours] if best_peer and ours in cell else None})
    columns = ([("B", "B", "d"), ("N", "N", ".0e"), ("d", "d", "d"), ("k", "k", "d")]
               + [(m, f"{m} ms", ".2f") for m in methods]
               + [("gflops", f"{ours} GFLOP/s", ".0f"), ("speedup", "fastest peer / ours", ".2f")]
               + ([("floor", "floor ms", ".2f")] if payload["device"] == "gpu" else []))
    agreement = min(r["agreement"] for r in rows)
    device_name = ceilings.get("device", host["cpu"])
    header = (f"Measured {host['date']} on {device_name} ({host['cores']} host cores); measured "
              f"peak {ceilings['peak_gflops']:.0f} GFLOP/s (float32 matmul)"
              + (f", {ceilings['bandwidth_gbs']:.0f} GB/s (device copy)"
                 if "bandwidth_gbs" in ceilings else "")
              + f". Median of up to {payload['repeat']} runs per cell. Every method returned the "
              f"same ids as {methods[0]} on at least {agreement:.1%} of them.")
    return "\n".join([header, "", common.markdown_table(pivot, columns), "",
                      common.markdown_table(payload["targets"], [
                          ("target", "target", "s"), ("ratio", "ratio", ".2f"),
                          ("needed", "needed", ".1f"), ("met", "met", "")])])


def plot(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(r["items"], r["dim"], r["k"]) for r in rows})
    cols = min(4, len(panels))
    fig, axes = plt.subplots((len(panels) + cols - 1) // cols, cols, squeeze=False,
                             figsize=(4 * cols, 3.2 * ((len(panels) + cols - 1) // cols)))
    for ax, (n, d, k) in zip(axes.flat, panels):
        for method in dict.fromkeys(r["method"] for r in rows):
            pts = sorted((r["batch"], r["seconds"]) for r in rows
                         if (r["items"], r["dim"], r["k"], r["method"]) == (n, d, k, method))
            if pts:
                ax.plot(*zip(*pts), marker="o", label=method)
        ax.set(xscale="log", yscale="log", xlabel="queries B", ylabel="seconds",
               title=f"N={n:.0e} d={d} k={k}")
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, nargs="+",
                        help="queries per call (default 1 64 256 1024; on the GPU also 16)")
    parser.add_argument("--items", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dim", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--k", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--methods", nargs="*", help="only these methods (default: all)")
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores)")
    parser.add_argument("--repeat", type=int, default=5, help="most timed runs per cell")
    parser.add_argument("--budget", type=float, default=1.0,
                        help="stop repeating a cell once its runs took this many seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--render", type=Path, metavar="JSON",
                        help="print the markdown of an earlier run's JSON and exit")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default benchmarks/results/topk-<device>)")
    args = parser.parse_args(argv)
    out = args.out or common.RESULTS / f"topk-{args.device}"
    if args.render:
        print(render(json.loads(args.render.read_text())))
        return 0

    host = common.machine()
    ceilings = {"peak_gflops": cpu_peak_gflops()} if args.device == "cpu" else gpu_ceilings()
    print(f"{host['cpu']} ({host['cores']} cores), {ceilings}")
    batches = args.batch or ([1, 16, 64, 256, 1024] if args.device == "gpu" else [1, 64, 256, 1024])
    configs = list(itertools.product(batches, args.items, args.dim, args.k))
    rows = []
    try:
        from tqdm import tqdm

        configs_iter = tqdm(configs, desc="configs", file=sys.stderr)
    except ImportError:
        configs_iter = configs
    for batch, n_items, dim, k in configs_iter:
        rows += run_config(args, batch, n_items, dim, k, ceilings)

    checks = targets(rows, args.device)
    payload = {"machine": host, "ceilings": ceilings, "device": args.device, "repeat": args.repeat,
               "rows": rows, "targets": checks}
    markdown = render(payload)
    return common.finish(out, "bench_topk", payload, markdown, lambda path: plot(rows, path))


if __name__ == "__main__":
    sys.exit(main())
