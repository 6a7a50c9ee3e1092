"""Export a trained model and its fitted Workflow for the native engine.

Writes OUT/ranker.json (raw inputs, the fitted feature transform, the forward pass, the
user and item tables), OUT/tensors.bin (every array, safetensors layout) and
OUT/manifest.json (sizes and SHA-256 of both, checked on every load). Load it with
shoprank.Ranker.load(OUT) in Python or shoprank::Ranker::load in C++; nothing in it is
executed, and no Python, pickle or TensorFlow is needed to read it.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="the model folder (the --out of shoprank train, or its model/)")
    parser.add_argument("--retrieval", metavar="DIR",
                        help="a retrieval model (the --out of shoprank train --model "
                             "two-tower|mf, on the same ETL output): the artifacts then "
                             "recommend from the whole catalogue (shoprank recommend)")
    parser.add_argument("--precision", choices=["fp32", "fp16", "int8"], default="fp32",
                        help="the embedding table's: fp32 (default), fp16 (half the bytes; "
                             "each value rounded to the nearest half float) or int8 (row-wise, "
                             "a quarter of the bytes; each value within half a step)")
    parser.add_argument("--weights", choices=["fp32", "fp16", "bf16"], default="fp32",
                        help="the MLPs' and cross layers' kernels: fp32 (default), fp16 or "
                             "bf16 (half the bytes, rounded to nearest; widened to float32 "
                             "when loaded)")
    parser.add_argument("--prune-below", type=int, metavar="N",
                        help="drop the embedding rows of values seen in fewer than N train "
                             "rows: they read as unseen, whose row becomes their weighted mean")
    parser.add_argument("--out", required=True, help="the artifact folder to write")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace OUT if it exists (only once the new one is complete)")


def run(args: argparse.Namespace, say) -> dict:
    from shoprank.export.artifacts import export_ranker

    result = export_ranker(args.model, args.out, retrieval=args.retrieval,
                           precision=args.precision, weights=args.weights,
                           prune_below=args.prune_below, overwrite=args.overwrite)
    say(f"exported the {result['architecture'].upper()} ranker to {result['out']}: "
        f"{result['features']} features from {len(result['inputs'])} raw inputs "
        f"({', '.join(result['inputs'])}), {result['bytes'] / 2**20:.1f} MiB, embedding "
        f"table {result['precision']}, weights {result['weights']}")
    if result["pruned"]:
        p = result["pruned"]
        which = ", ".join(f"{name} {n:,}" for name, n in p["values_pruned"].items() if n)
        say(f"pruned values seen in fewer than {p['min_count']} train rows: table rows "
            f"{p['rows_before']:,} -> {p['rows_after']:,}" + (f" ({which})" if which else ""))
    if result["retrieval"]:
        r = result["retrieval"]
        say(f"with {r['kind']} retrieval: {r['items']:,} items, {r['users']:,} users, dim "
            f"{r['dim']}; diversity caps by {', '.join(r['labels']) or 'no item column'}")
    return result
