"""What every benchmark shares: the machine's description, timing, and writing results
(JSON for scripts, a markdown table for benchmarks/README.md)."""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    """The host, so that every table says where it was measured."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def time_call(fn, *, repeat: int, budget: float = float("inf"), sync=lambda: None) -> dict:
    """Median wall time of ``fn()`` over ``repeat`` runs, or fewer (at least one) once the
    runs so far took ``budget`` seconds.

    ``sync`` waits for asynchronous device work, so that device timings are real.
    """
    times = []
    while len(times) < repeat and sum(times) < budget:
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times), "runs": len(times),
            "spread": (max(times) - min(times)) / statistics.median(times)}


def markdown_table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """columns: (key, header, format spec); a missing value prints as '-'."""
    lines = ["| " + " | ".join(h for _, h, _ in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        cells = [format(row[key], spec) if row.get(key) is not None else "-"
                 for key, _, spec in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def finish(out_dir: Path, name: str, payload: dict, markdown: str, plot=None) -> int:
    """Writes the JSON, the markdown table and the PNG that plot(path) draws (if given);
    prints the table and the files. The exit code of a benchmark's main()."""
    files = write_results(out_dir, name, payload, markdown)
    if plot is not None:
        plot(out_dir / f"{name}.png")
        files.append(out_dir / f"{name}.png")
    print(markdown)
    print("wrote", *files)
    return 0


def write_results(out_dir: Path, name: str, payload: dict, markdown: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / f"{name}.json", out_dir / f"{name}.md"
    json_path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    md_path.write_text(markdown + "\n")
    return [json_path, md_path]
