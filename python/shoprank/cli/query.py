"""Send one ranking request to a served model and print the k best items.

    shoprank query --user '{"user_id": 7, "device": "app", "timestamp": "2024-06-01T10:00"}' \
                   --items 12,40,41,99 --k 2

The user's columns are JSON (timestamps as ISO text or milliseconds since the epoch);
the candidates are item ids (their features are looked up from the item table exported
with the model), given on the command line or, with @FILE, one per line in a file.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=None,
                        help="host:port (default localhost:8001 for gRPC, :8000 for HTTP)")
    parser.add_argument("--protocol", choices=["grpc", "http"], default="grpc")
    parser.add_argument("--model", choices=["ensemble", "ranker"], default="ensemble")
    parser.add_argument("--user", required=True, type=_json_object,
                        help="the user's and the request's columns as a JSON object")
    parser.add_argument("--items", required=True, type=item_ids,
                        help="candidate item ids (integers, or text for a model whose item ids "
                             "are text), comma-separated, or @FILE (one per line)")
    parser.add_argument("--k", type=int, default=10, help="how many to return (default 10)")


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not JSON: {error}")
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object of columns")
    return value


def item_ids(text: str) -> list:
    """Comma-separated ids, or @FILE of one per line: integers where every one is, else
    text (a model whose item ids are text)."""
    if text.startswith("@"):
        text = Path(text[1:]).read_text().replace("\n", ",")
    parts = [part.strip() for part in text.split(",") if part.strip()]
    try:
        return [int(part) for part in parts]
    except ValueError:
        return parts


def run(args: argparse.Namespace, say) -> dict:
    import time

    from shoprank.client import RankClient

    with RankClient(args.url, args.protocol, args.model) as client:
        start = time.perf_counter()
        ids, scores = client.rank(args.user, args.items, args.k)
        latency_ms = (time.perf_counter() - start) * 1e3
    say(f"{args.model} at {client.url} ({args.protocol}): the {len(ids)} best of "
        f"{len(args.items)} candidates in {latency_ms:.1f} ms")
    say(f"{'rank':>4}  {'item id':>10}  {'score':>8}")
    for rank, (item, score) in enumerate(zip(ids, scores), 1):
        say(f"{rank:>4}  {item:>10}  {score:8.4f}")
    return {"item_ids": ids.tolist(), "scores": scores.tolist(), "latency_ms": latency_ms}
