"""Recommend items from the whole catalogue for one user, and print them.

    shoprank recommend --artifacts ART --user '{"user_id": 7, "device": "app",
                       "timestamp": "2024-06-01T10:00"}' --k 10 --exclude 12,40
    shoprank recommend --url localhost:8001 --user ... --relevance-weight 0.7 --cap category=2

With --artifacts (a folder shoprank export --retrieval wrote) the engine runs in this
process; otherwise the request goes to the served `recommend` ensemble (shoprank serve).
The user's columns are JSON (timestamps as ISO text or milliseconds since the epoch); an
unknown user gets the most clicked items, ranked for them. Retrieval hands --candidates
items to the ranker; --relevance-weight below 1 and --cap (at most N items per value of
an item column) diversify the answer.
"""

from __future__ import annotations

import argparse
import time

from shoprank.cli.query import _json_object, item_ids


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--artifacts", metavar="DIR",
                       help="recommend in this process from the artifact folder (shoprank "
                            "export --retrieval); default: ask the server")
    where.add_argument("--url", default=None,
                       help="host:port of the server (default localhost:8001 for gRPC, "
                            ":8000 for HTTP)")
    parser.add_argument("--protocol", choices=["grpc", "http"], default="grpc")
    parser.add_argument("--key-file", help="with --artifacts: the key of artifacts with "
                        "pseudonymised ids (default: the file SHOPRANK_KEY_FILE names)")
    parser.add_argument("--user", required=True, type=_json_object,
                        help="the user's and the request's columns as a JSON object")
    parser.add_argument("--k", type=int, default=10, help="how many to return (default 10)")
    parser.add_argument("--exclude", type=item_ids, default=[],
                        help="item ids never to recommend (bought, already shown), "
                             "comma-separated, or @FILE (one per line)")
    parser.add_argument("--candidates", type=int, default=None,
                        help="items retrieval hands to the ranker (default: 500, or the "
                             "server's setting)")
    parser.add_argument("--relevance-weight", type=float, default=None,
                        help="diversity re-rank: 1 = the ranker's order (default), lower "
                             "values trade relevance for variety (MMR)")
    parser.add_argument("--cap", type=_cap, action="append", default=[], metavar="COLUMN=N",
                        help="at most N items per value of an item column, e.g. category=2 "
                             "(repeatable)")


def _cap(text: str) -> tuple[str, int]:
    column, _, most = text.partition("=")
    try:
        return column.strip(), int(most)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected COLUMN=N, e.g. category=2, got {text!r}")


def run(args: argparse.Namespace, say) -> dict:
    options = {"exclude": args.exclude, "caps": dict(args.cap) or None}
    if args.candidates is not None:
        options["candidates"] = args.candidates
    if args.relevance_weight is not None:
        options["relevance_weight"] = args.relevance_weight
    if args.artifacts:
        import shoprank

        recommender = shoprank.Recommender.load(args.artifacts, key_file=args.key_file)
        start = time.perf_counter()
        ids, scores = recommender.recommend(args.user, args.k, **options)
        where = f"in-process from {args.artifacts}"
        new_user = recommender.is_new_user(args.user)
    else:
        from shoprank.client import RankClient

        with RankClient(args.url, args.protocol) as client:
            start = time.perf_counter()
            ids, scores = client.recommend(args.user, args.k, **options)
            where = f"recommend at {client.url} ({args.protocol})"
        new_user = None
    latency_ms = (time.perf_counter() - start) * 1e3
    say(f"{where}: {len(ids)} items in {latency_ms:.1f} ms"
        + (" (a new user: retrieved by popularity)" if new_user else ""))
    say(f"{'rank':>4}  {'item id':>12}  {'score':>8}")
    for rank, (item, score) in enumerate(zip(ids, scores), 1):
        say(f"{rank:>4}  {str(item):>12}  {score:8.4f}")
    return {"item_ids": ids.tolist(), "scores": scores.tolist(), "latency_ms": latency_ms,
            "new_user": new_user}
