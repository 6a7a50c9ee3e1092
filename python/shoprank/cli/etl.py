"""Turn raw interaction logs into model-ready features with NVTabular.

Reads the logs a config describes (logs.json: which columns are ids, categorical,
multi-valued, continuous, labels, timestamp; `shoprank generate` writes one), splits them
by time into train / valid / test, fits an NVTabular Workflow on train only and transforms
every split. Writes OUT/{train,valid,test}/ (Parquet + Merlin schema), OUT/workflow/,
OUT/summary.json, OUT/tables/ (the side tables' snapshots, the derived tables) and
OUT/inputs.json (what export needs about the inputs: the raw logs may move afterwards).
Runs on the CPU (pandas) or the GPU (cuDF), in this process or on a Dask cluster
(--workers N: a LocalCluster; --scheduler ADDRESS: an existing one).
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True,
                        help="the logs config (logs.json), or the folder that holds it")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto",
                        help="auto: the GPU where RAPIDS cuDF is installed, else the CPU")
    cluster = parser.add_mutually_exclusive_group()
    cluster.add_argument("--workers", type=int, help="run on a Dask LocalCluster of N workers")
    cluster.add_argument("--scheduler", help="run on the Dask cluster at this scheduler address")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace OUT if it exists (only once the new output is complete)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--key-file", help="the key of the pseudonyms of the personal columns "
                        "the config lists (\"privacy\": {\"personal\": [...]}); read, never "
                        "written (make one with shoprank keygen FILE)")


def run(args: argparse.Namespace, say) -> dict:
    from shoprank.etl import run_etl

    summary = run_etl(args.config, args.out, device=args.device, workers=args.workers,
                      scheduler=args.scheduler, overwrite=args.overwrite,
                      progress=not args.no_progress, key_file=args.key_file, say=say)
    say(f"wrote {summary['out']} in {summary['seconds']:.1f} s "
        f"({summary['rows_read']:,} rows read, dropped: {summary['dropped'] or 'none'})")
    return summary
