"""Write a Triton Inference Server model repository for an exported ranker.

REPO gets five models, each with a generated config.pbtxt and a versioned folder:
transform (raw request columns -> model features), score (the DLRM / DCN forward), select
(top-k), the ensemble wiring the three, and ranker (all three in one call, for the lowest
latency: it runs in shoprank's C++ Triton backend, inside the server's process). The
others are Python-backend models calling the native engine. Each reads the artifacts of
shoprank export, copied into its version folder. With an existing REPO, --version N adds
version N beside the served one (load it with the server's model control).

Artifacts exported with a retrieval model (shoprank export --retrieval) also get the
`recommend` ensemble: retrieve (the whole catalogue, exclusions skipped) -> score_candidates
(the ranker) -> rerank (top-k, or the diversity re-rank), each step in the C++ backend.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--artifacts", required=True, help="the folder shoprank export wrote")
    parser.add_argument("--repo", required=True, help="the model repository to write")
    parser.add_argument("--version", type=int, default=1, help="the model version (default 1)")
    parser.add_argument("--max-batch-size", type=int, default=16,
                        help="requests the dynamic batcher may hand a model at once (default 16)")
    parser.add_argument("--max-queue-delay-us", type=int, default=0,
                        help="how long the batcher waits to fill a batch (default 0: it batches "
                             "the requests that queued while the model was busy, and a lone "
                             "request waits for nothing)")
    parser.add_argument("--no-dynamic-batching", action="store_true",
                        help="hand every request to the model on its own")
    parser.add_argument("--instances", type=int, default=1,
                        help="instances of each model (default 1; a Python-backend model's are processes)")
    parser.add_argument("--threads", type=int, default=1,
                        help="engine CPU threads per instance, 0 = all cores (default 1)")
    parser.add_argument("--max-candidates", type=int, default=100_000,
                        help="candidates one request may carry, and items a recommendation "
                             "request may exclude (default 100000)")
    parser.add_argument("--candidates", type=int, default=500,
                        help="recommend: items retrieval hands to the ranker when a request "
                             "does not say (default 500)")
    parser.add_argument("--baseline", metavar="MODEL_DIR",
                        help="also serve the Merlin path (NVTabular + TensorFlow in the model) "
                             "of this trained model as 'baseline', for benchmarks")
    parser.add_argument("--events", metavar="DIR",
                        help="also serve 'events': impressions / clicks / purchases sent to it "
                             "are appended durably to the event log in DIR (created for the "
                             "model's ETL output, or reused), in the layout shoprank etl reads")
    parser.add_argument("--max-lateness-s", type=float, default=3600.0,
                        help="events older than the newest logged by more than this are "
                             "refused (default 3600)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace REPO if it exists (only once the new one is complete)")


def run(args: argparse.Namespace, say) -> dict:
    from shoprank.serving.repository import ServingOptions, export_triton

    options = ServingOptions(max_batch_size=args.max_batch_size,
                             max_queue_delay_us=args.max_queue_delay_us,
                             dynamic_batching=not args.no_dynamic_batching,
                             instances=args.instances, threads=args.threads,
                             max_candidates=args.max_candidates, candidates=args.candidates)
    result = export_triton(args.artifacts, args.repo, options, version=args.version,
                           overwrite=args.overwrite, baseline=args.baseline,
                           events=args.events, max_lateness_s=args.max_lateness_s)
    say(f"wrote version {result['version']} of {', '.join(result['models'])} "
        f"({result['architecture'].upper()}) to {result['repo']}")
    say(f"serve it: shoprank serve --repo {result['repo']}")
    return result
