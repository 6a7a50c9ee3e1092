"""Generate realistic e-commerce click logs with a planted, known ground truth.

Users, items (category, brand, price, tags) and impressions (timestamp, user, session,
item, position, device, browsed category, click, purchase) drawn from a behaviour model
(latent taste, category affinity, brand loyalty, price sensitivity, position bias, Zipf
popularity, sessions, drift over time). Each impression's true click probability is kept
in `_p_click` (never a feature), so the best possible AUC is known. Writes Parquet (or the
Criteo TSV layout) chunk by chunk in bounded memory, plus logs.json for `shoprank etl`.
The same arguments give the same bytes.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from shoprank.data.behaviour import EFFECTS
    from shoprank.data.generator import (DEFAULT_CHUNK_ROWS, DEFAULT_ITEMS, DEFAULT_ROWS,
                                         DEFAULT_USERS)

    parser.add_argument("--out", required=True, help="output folder (must be new or empty)")
    parser.add_argument("--users", type=int, default=DEFAULT_USERS,
                        help=f"users (default {DEFAULT_USERS})")
    parser.add_argument("--items", type=int, default=DEFAULT_ITEMS,
                        help=f"items (default {DEFAULT_ITEMS})")
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS,
                        help=f"impressions (default {DEFAULT_ROWS})")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--format", choices=["shoprank", "criteo"], default="shoprank",
                        help="shoprank: Parquet + side tables; criteo: the Criteo TSV layout")
    parser.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS,
                        help=f"rows per chunk: bounds memory (default {DEFAULT_CHUNK_ROWS})")
    parser.add_argument("--drift", type=float, default=EFFECTS["drift"],
                        help="how far category popularity moves over the period (log-odds)")
    parser.add_argument("--realtime", action="store_true",
                        help="plant short-term behaviour (a weekly interest, trending items) "
                             "and ask the ETL for the real-time features that reveal it")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace, say) -> dict:
    import time

    from shoprank.data import generate

    start = time.perf_counter()
    result = generate(args.out, users=args.users, items=args.items, rows=args.rows,
                      seed=args.seed, format=args.format, chunk_rows=args.chunk_rows,
                      progress=not args.no_progress, overwrite=args.overwrite,
                      drift=args.drift, realtime=args.realtime)
    result["seconds"] = round(time.perf_counter() - start, 2)
    say(f"wrote {args.rows:,} impressions to {result['out']} in {result['seconds']:.1f} s: "
        f"click rate {result['click_rate']:.3f}, oracle AUC {result['oracle_auc']:.4f}")
    return result
