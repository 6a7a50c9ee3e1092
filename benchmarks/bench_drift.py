"""Drift: does `shoprank refresh` keep a model current? A generated log whose category
popularity moves strongly over its 60 days (`generate --drift`); the first --history days
go through `shoprank etl` and `train` (defaults); then, step by step, the next --step-days of
impressions are sent to an event log (shoprank.events) and `refresh` warm-starts the current
model on them, judged on their latest fifth. After each step both the stale model (the
first one) and the current one rank the *following* step's impressions, scored by the
engine as served (shoprank.Ranker on the raw events): next-step AUC, beside the oracle's.

    python benchmarks/bench_drift.py                         # drift 3.0, then 0.3 (default)
    python benchmarks/bench_drift.py --drifts 3.0 --steps 3

Writes JSON, a markdown table and a PNG plot to --out.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def history_log(logs: Path, folder: Path, end) -> None:
    """The generated log cut at ``end``: its impressions before it, its tables, logs.json."""
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(logs, folder, ignore=shutil.ignore_patterns("impressions"))
    impressions = pd.read_parquet(logs / "impressions")
    (folder / "impressions").mkdir()
    impressions[impressions.timestamp < end].to_parquet(folder / "impressions" / "part.parquet",
                                                        index=False)


def as_events(frame: pd.DataFrame, columns) -> dict:
    """A step's impressions as one event batch (time order, timestamps in ms)."""
    frame = frame.sort_values("timestamp", kind="stable")
    batch = {c: frame[c].to_numpy() for c in columns if c in frame}
    batch["timestamp"] = frame["timestamp"].to_numpy().astype("datetime64[ms]").astype(np.int64)
    return batch


def next_step_auc(ranker, frame: pd.DataFrame) -> float:
    from shoprank.metrics import auc

    raw = {c: frame[c].to_numpy() for c in ranker.inputs if c in frame}
    return auc(frame["click"].to_numpy(), ranker.score(raw))


def simulate(drift: float, args, say=print) -> list[dict]:
    import shoprank
    from shoprank.data import generate
    from shoprank.etl import run_etl
    from shoprank.events import EventLog
    from shoprank.export.artifacts import export_ranker
    from shoprank.feedback.refresh import refresh
    from shoprank.metrics import auc
    from shoprank.models.settings import train_with_settings

    work = args.out / f"drift-{drift:g}"
    logs = work / "logs"
    if not (logs / "logs.json").exists():
        say(f"generating {args.rows:,} rows, drift {drift}")
        generate(logs, rows=args.rows, users=args.users, items=args.items, seed=args.seed,
                 drift=drift, progress=False, overwrite=True)
    impressions = pd.read_parquet(logs / "impressions")
    start = impressions.timestamp.min().normalize()
    day = pd.Timedelta(days=1)
    cut = start + args.history * day
    history_log(logs, work / "history", cut)
    say(f"history: {(impressions.timestamp < cut).sum():,} rows before {cut}")
    run_etl(work / "history" / "logs.json", work / "features", overwrite=True, progress=False,
            say=lambda *_: None)
    train_with_settings(work / "features", work / "stale", {"seed": args.seed},
                        overwrite=True, progress=False, say=lambda *_: None)
    export_ranker(work / "stale", work / "stale-artifacts", overwrite=True)
    stale = shoprank.Ranker.load(work / "stale-artifacts")
    shutil.rmtree(work / "events", ignore_errors=True)
    log = EventLog.create(work / "events", work / "features")
    columns = [c for c in log.schema.columns]
    current, current_ranker, rows = work / "stale", stale, []
    for step in range(args.steps):
        begin = cut + step * args.step_days * day
        end = begin + args.step_days * day
        sent = impressions[(impressions.timestamp >= begin) & (impressions.timestamp < end)]
        following = impressions[(impressions.timestamp >= end)
                                & (impressions.timestamp < end + args.step_days * day)]
        log.append(as_events(sent, columns))
        record = refresh(current, work / "events", work / f"refresh-{step}", margin=args.margin,
                         overwrite=True, progress=False, say=lambda *_: None)
        if record["passed"]:
            current = work / f"refresh-{step}" / "run"
            current_ranker = shoprank.Ranker.load(record["artifacts"])
        row = {"drift": drift, "step": step + 1, "events": len(sent),
               "window": f"{begin:%m-%d}..{end:%m-%d}", "passed": record["passed"],
               "held_out_served": record["held_out_auc"]["served"],
               "held_out_new": record["held_out_auc"]["new"],
               "next_rows": len(following),
               "next_stale": next_step_auc(stale, following),
               "next_refreshed": next_step_auc(current_ranker, following),
               "next_oracle": auc(following["click"].to_numpy(), following["_p_click"].to_numpy())}
        say(f"  step {row['step']}: {'loaded' if row['passed'] else 'refused'}; next step AUC "
            f"stale {row['next_stale']:.4f}, refreshed {row['next_refreshed']:.4f}, "
            f"oracle {row['next_oracle']:.4f}")
        rows.append(row)
    return rows


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drifts = sorted({r["drift"] for r in rows}, reverse=True)
    fig, axes = plt.subplots(1, len(drifts), figsize=(5 * len(drifts), 3.6), squeeze=False)
    for ax, drift in zip(axes[0], drifts):
        mine = [r for r in rows if r["drift"] == drift]
        steps = [r["step"] for r in mine]
        for key, label in (("next_oracle", "oracle"), ("next_refreshed", "refreshed"),
                           ("next_stale", "stale")):
            ax.plot(steps, [r[key] for r in mine], marker="o", label=label)
        ax.set_title(f"drift {drift:g}")
        ax.set_xlabel("step (the model after it, on the next step's impressions)")
        ax.set_ylabel("AUC")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--drifts", type=float, nargs="+", default=[3.0, 0.3])
    parser.add_argument("--rows", type=int, default=600_000)
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--history", type=int, default=40, help="days through etl and train")
    parser.add_argument("--step-days", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--margin", type=float, default=0.001)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=common.RESULTS / "drift")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = [row for drift in args.drifts for row in simulate(drift, args)]
    machine = common.machine()
    (args.out / "bench_drift.json").write_text(json.dumps({"machine": machine, "rows": rows,
                                                           "args": vars(args)}, indent=1,
                                                          default=str) + "\n")
    lines = ["| drift | step | events | refresh | held-out AUC served / new | next step: "
             "stale | refreshed | oracle |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['drift']:g} | {r['step']} ({r['window']}) | {r['events']:,} | "
                     f"{'loaded' if r['passed'] else 'refused'} | {r['held_out_served']:.4f} / "
                     f"{r['held_out_new']:.4f} | {r['next_stale']:.4f} | "
                     f"**{r['next_refreshed']:.4f}** | {r['next_oracle']:.4f} |")
    (args.out / "bench_drift.md").write_text("\n".join(lines) + "\n")
    plot(rows, args.out / "bench_drift.png")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
