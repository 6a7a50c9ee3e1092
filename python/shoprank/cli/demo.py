"""Run the product end to end on generated data and print a short report.

Stages: generate click logs with planted behaviour (shoprank generate), turn them into
features with NVTabular (shoprank etl: fit on the train window, transform every split),
train a DLRM on them and evaluate it on the test split, its AUC beside the oracle's
(shoprank train), train a two-tower retrieval model on the same features, its recall@100
beside the popularity peer's (shoprank train --model two-tower), export both for the
native engine and rank one request's candidates, its latency and results beside the
Merlin path's (NVTabular + TensorFlow), rank a synthetic catalogue (item vectors) for users
(query vectors), bought items excluded, with every top-k backend this machine can run,
each checked against the NumPy reference; and last serve it all with Triton Inference
Server (shoprank export-triton + serve: the ensemble, the one-step ranker model and the
recommend ensemble), send real client requests over gRPC and HTTP, their answers checked
against the in-process engine, the top items the recommend ensemble gives a few users (one
of them new), checked against the in-process chain; and end with the feedback loop: events
sent to the server, a user's clicks changing their next recommendations at once (real-time
features), a refreshed version trained on the events, judged, loaded under load, the
changed recommendations, and a rollback; then stop the server.
Everything is written under --workdir.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import shoprank
from shoprank import _compat


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workdir", default="shoprank-demo",
                        help="folder for the logs and features (default ./shoprank-demo; "
                             "replaced on each run)")
    parser.add_argument("--log-rows", type=int, default=300_000,
                        help="impressions to generate (default 300000)")
    parser.add_argument("--log-users", type=int, default=5_000, help="users in the logs")
    parser.add_argument("--log-items", type=int, default=2_000, help="items in the logs")
    parser.add_argument("--epochs", type=int, default=2, help="DLRM training epochs (default 2)")
    parser.add_argument("--retrieval-epochs", type=int, default=3,
                        help="two-tower training epochs at most (default 3)")
    parser.add_argument("--candidates", type=int, default=1_000,
                        help="candidates of the request the native engine ranks (default 1000)")
    parser.add_argument("--requests", type=int, default=50,
                        help="Triton requests per model and protocol for the latency (default 50)")
    parser.add_argument("--items", type=int, default=200_000, help="catalogue size (default 200000)")
    parser.add_argument("--users", type=int, default=256, help="users to rank for (default 256)")
    parser.add_argument("--dim", type=int, default=64, help="vector dimension (default 64)")
    parser.add_argument("--k", type=int, default=20, help="items per user (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def run(args: argparse.Namespace, say) -> dict:
    for name in ("items", "users", "dim", "log_rows", "log_users", "log_items", "epochs",
                 "retrieval_epochs", "candidates", "requests"):
        if getattr(args, name) < 1:
            flag = name.replace("_", "-")
            raise ValueError(f"--{flag} must be >= 1, got {getattr(args, name)}")
    info = shoprank.build_info()
    say(f"shoprank {info['version']}: engine built with {info['compiler']}, {info['simd']}, "
        f"OpenMP {info['openmp']} ({info['openmp_max_threads']} threads), "
        f"CUDA {info['cuda']} {info['cuda_architectures']}")
    workdir = Path(args.workdir)
    logs = generate_logs(args, workdir / "logs", say)
    features = build_features(workdir / "logs" / "logs.json", workdir / "features", say)
    model = train_model(args, workdir / "features", workdir / "model", say)
    retrieval = train_two_tower(args, workdir / "features", workdir / "two-tower", say)
    engine = rank_request(args, Path(model["model_dir"]), workdir / "two-tower",
                          workdir / "ranker", say)
    ranking = rank_catalogue(args, say)
    serving = serve_requests(args, Path(model["model_dir"]), workdir, say)
    report = {"build": info, "workdir": str(workdir), "logs": logs, "features": features,
              "model": model, "retrieval": retrieval, "engine": engine, "ranking": ranking,
              "serving": serving}
    say(format_report(report))
    return report


def generate_logs(args, out: Path, say) -> dict:
    from shoprank.data import generate

    say(f"[1/8] generating {args.log_rows:,} impressions ({args.log_users:,} users, "
        f"{args.log_items:,} items, short-term behaviour and real-time features) into {out}")
    start = time.perf_counter()
    result = generate(out, users=args.log_users, items=args.log_items, rows=args.log_rows,
                      seed=args.seed, overwrite=True, realtime=True)
    say(f"      {time.perf_counter() - start:.1f} s; click rate {result['click_rate']:.3f}, "
        f"oracle AUC {result['oracle_auc']:.4f}")
    return result


def build_features(config: Path, out: Path, say) -> dict:
    from shoprank.etl import run_etl

    say(f"[2/8] NVTabular feature pipeline -> {out}")
    summary = run_etl(config, out, overwrite=True, say=lambda line: say("      " + line))
    say(f"      {summary['seconds']:.1f} s on the {summary['device'].upper()}; "
        f"{len(summary['output_columns'])} output columns")
    return summary


def train_model(args, features: Path, out: Path, say) -> dict:
    from shoprank.cli.train import format_evaluation
    from shoprank.models.evaluate import evaluate
    from shoprank.models.settings import train_with_settings

    say(f"[3/8] training DLRM (Merlin Models, fused embeddings) for {args.epochs} epochs")
    result = train_with_settings(features, out, {"epochs": args.epochs, "seed": args.seed},
                                 overwrite=True, progress=False,
                                 say=lambda line: say("      " + line))
    result["test"] = evaluate(result["model_dir"], features)
    say("      " + format_evaluation(result["test"]))
    return {key: result[key] for key in ("model_dir", "epochs_run", "seconds",
                                         "samples_per_second", "test")}


def train_two_tower(args, features: Path, out: Path, say) -> dict:
    from shoprank.models.retrieval import train_retrieval

    say(f"[4/8] training a two-tower retrieval model (Merlin Models, in-batch negatives) for "
        f"at most {args.retrieval_epochs} epochs")
    record = train_retrieval(features, out, kind="two-tower", epochs=args.retrieval_epochs,
                             seed=args.seed, overwrite=True, progress=False,
                             say=lambda line: say("      " + line))
    return {key: record[key] for key in ("kind", "dim", "seconds", "test", "popularity")}


def rank_request(args, model_dir: Path, retrieval: Path, out: Path, say) -> dict:
    from shoprank.export.artifacts import export_ranker
    from shoprank.data.sample_request import sample_request
    from shoprank.models.merlin_ranker import MerlinRanker

    exported = export_ranker(model_dir, out, retrieval=retrieval, overwrite=True)
    say(f"[5/8] exported the ranker and the retrieval model to {out} "
        f"({exported['bytes'] / 2**20:.1f} MiB); ranking {args.candidates:,} candidates of "
        "one request, native engine vs the Merlin path")
    native, python = shoprank.Ranker.load(out), MerlinRanker(model_dir)
    user, candidates = sample_request(model_dir, args.candidates, args.seed)
    ids, scores = native.rank(user, candidates, args.k)
    merlin_user, merlin_candidates = with_realtime_columns(native, user, candidates)
    python_ids, python_scores = python.rank(merlin_user, merlin_candidates, args.k)
    latency = {"native": latency_of(lambda: native.rank(user, candidates, args.k), 200),
               "python": latency_of(lambda: python.rank(merlin_user, merlin_candidates, args.k),
                                    5)}
    result = {"candidates": args.candidates, "k": args.k, "latency": latency,
              "same_items": bool(np.array_equal(np.sort(ids), np.sort(python_ids))),
              "max_score_difference": float(np.abs(np.sort(scores) - np.sort(python_scores)).max())}
    say(f"      native p50 {latency['native']['p50_ms']:.2f} ms, p99 "
        f"{latency['native']['p99_ms']:.2f} ms; Merlin path p50 {latency['python']['p50_ms']:.1f} ms "
        f"({latency['python']['p50_ms'] / latency['native']['p50_ms']:.0f}x); same top "
        f"{args.k}: {result['same_items']}, scores within {result['max_score_difference']:.1e}")
    return result


def with_realtime_columns(ranker, user: dict, candidates: dict) -> tuple[dict, dict]:
    """The request with the real-time columns the engine fills in from its state, for the
    Merlin path (which keeps no state): the user's beside the user, the items' beside them."""
    if ranker.realtime is None:
        return user, candidates
    filled = ranker.realtime_columns({**{k: [v] for k, v in user.items()}, **candidates})
    user = {**user, **{name: values[0] for name, values in filled.items()
                       if not name.startswith("recent_item")}}
    return user, {**candidates, **{name: values for name, values in filled.items()
                                   if name.startswith("recent_item")}}


def latency_of(call, runs: int) -> dict:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return {"p50_ms": float(np.percentile(times, 50) * 1e3),
            "p99_ms": float(np.percentile(times, 99) * 1e3), "runs": runs}


def serve_requests(args, model_dir: Path, workdir: Path, say) -> dict:
    from shoprank.client import RankClient
    from shoprank.data.sample_request import sample_request
    from shoprank.serving.load import client_load
    from shoprank.serving.repository import export_triton
    from shoprank.serving.server import TritonServer, free_port

    repo, log = workdir / "triton", workdir / "triton.log"
    export_triton(workdir / "ranker", repo, overwrite=True, events=workdir / "events")
    say(f"[7/8] serving {repo} with Triton Inference Server (log: {log}); {args.requests} "
        f"requests of {args.candidates:,} candidates per model and protocol")
    user, candidates = sample_request(model_dir, args.candidates, args.seed + 1)
    expected_ids, expected_scores = shoprank.Ranker.load(workdir / "ranker").rank(
        user, candidates, args.k)
    rows = []
    with open(log, "w") as log_file, TritonServer(
            repo, http_port=free_port(), grpc_port=free_port(), metrics_port=free_port(),
            log=lambda line: print(line, file=log_file, flush=True)) as server:
        start = time.perf_counter()
        server.wait_ready()
        say(f"      ready in {time.perf_counter() - start:.1f} s: HTTP {server.http_url}, "
            f"gRPC {server.grpc_url}")
        # with real-time features and an event log, `ranker` alone serves the ranking (the
        # Python ensemble's transform would keep a state of its own)
        models = [m for m in ("ensemble", "ranker") if (repo / m).is_dir()]
        for protocol, url in (("grpc", server.grpc_url), ("http", server.http_url)):
            for model in models:
                with RankClient(url, protocol, model) as client:
                    ids, scores = client.rank(user, candidates, args.k)
                    row = {"protocol": protocol, "model": model,
                           "same_as_in_process": bool(np.array_equal(ids, expected_ids)),
                           "max_score_difference": float(np.abs(scores - expected_scores).max()),
                           **latency_of(lambda: client.rank(user, candidates, args.k),
                                        args.requests)}
                rows.append(row)
                say(f"      {protocol:<5}{model:<9} p50 {row['p50_ms']:6.2f} ms  p99 "
                    f"{row['p99_ms']:6.2f} ms  same top {args.k} as in-process: "
                    f"{row['same_as_in_process']} (scores within {row['max_score_difference']:.0e})")
        loads = []
        for model in models:
            load = client_load(lambda: RankClient(server.grpc_url, "grpc", model),
                               [(user, candidates, args.k)], concurrency=4, seconds=3.0)
            loads.append({"model": model, "concurrency": 4, "seconds": load.seconds,
                          "requests": len(load.answered), "failed": len(load.failed),
                          "requests_per_second": load.requests_per_second})
        for load in loads:
            say(f"      grpc {load['model']:<9} {load['concurrency']} clients at once: "
                f"{load['requests_per_second']:.0f} requests/s "
                f"({load['requests_per_second'] * args.candidates:,.0f} candidates/s), "
                f"{load['failed']} failed")
        recommended = recommend_for_users(args, server, workdir / "ranker", user, say)
        feedback = feedback_loop(args, server, model_dir, workdir, recommended[0], user,
                                 candidates, models[0], say)
    say("      server stopped")
    return {"repo": str(repo), "candidates": args.candidates, "k": args.k, "requests": rows,
            "throughput": loads, "recommended": recommended, "feedback": feedback}


def feedback_loop(args, server, model_dir: Path, workdir: Path, shown: dict, user: dict,
                  candidates, model: str, say) -> dict:
    """[8/8]: the test window's impressions, replayed as if served 60 days later, sent to
    the events model; a user's clicks change their next recommendations at once (the
    real-time features); `refresh` trains a version on the events and judges it; the
    version is loaded under 4 clients; the user's recommendations after; `rollback`."""
    import pandas as pd

    from shoprank.client import RankClient
    from shoprank.feedback.refresh import refresh
    from shoprank.feedback.versions import install_version, rollback
    from shoprank.serving.load import client_load

    raw = pd.read_parquet(workdir / "logs" / "impressions").drop(columns=["_p_click"])
    replay = raw[raw.timestamp >= raw.timestamp.quantile(0.9)]
    say(f"[8/8] the feedback loop: {len(replay):,} impressions of the test window sent to the "
        f"events model as if served 60 days later; a user's clicks and their next "
        f"recommendations; shoprank refresh; the new version loaded under load; rollback")
    sent, last = 0, None
    with RankClient(server.grpc_url, "grpc") as client:
        for start in range(0, len(replay), 1_000):
            batch = replay.iloc[start:start + 1_000]
            batch = batch[[c for c in batch.columns if batch[c].notna().all()]]  # no nulls
            events = {c: batch[c].to_numpy() for c in batch.columns}
            events["timestamp"] = (batch.timestamp + pd.Timedelta(days=60)).to_numpy() \
                .astype("datetime64[ms]").astype(np.int64)
            sent += client.log_events(events)
            last = {c: values[-1] for c, values in events.items()}
        # a minute after the last event, the user asks; clicks three items; asks again
        request = {**user, "position": 0, "user_id": shown["user_id"],
                   "timestamp": np.datetime64(int(last["timestamp"]) + 60_000, "ms")}
        before = client.recommend(request, args.k)[0].tolist()
        clicked = before[args.k // 2:args.k // 2 + 3]
        sent += client.log_events({**{c: [v] * 3 for c, v in last.items()},
                                   "user_id": [shown["user_id"]] * 3, "item_id": clicked,
                                   "click": [1, 1, 1], "purchase": [0, 0, 0],
                                   "timestamp": [int(last["timestamp"]) + s * 1_000
                                                 for s in (10, 20, 30)]})
        now = client.recommend(request, args.k)[0].tolist()
    changed = sum(a != b for a, b in zip(before, now))
    say(f"      user {shown['user_id']} clicked {clicked}: the next recommendations "
        f"{', '.join(map(str, now[:10]))} ... ({changed} of {args.k} places changed)")
    record = refresh(model_dir, workdir / "events", workdir / "refresh", margin=0.01,
                     retrieval=workdir / "two-tower", overwrite=True, progress=False,
                     say=lambda line: say("      " + line))
    out = {"events_sent": sent, "passed": record["passed"], "verdict": record["verdict"],
           "realtime": {"user_id": shown["user_id"], "clicked": clicked, "before": before,
                        "after_clicks": now, "changed": changed}}
    if not record["passed"]:
        return out
    installed = {}
    load = client_load(lambda: RankClient(server.grpc_url, "grpc", model),
                       [(user, candidates, args.k)], concurrency=4, seconds=5.0,
                       during=lambda: installed.update(version=install_version(
                           server.repo, record["artifacts"], say=lambda *_: None)))
    with RankClient(server.grpc_url, "grpc") as client:
        after = client.recommend(request, args.k)[0].tolist()
        back = rollback(server.repo, say=lambda *_: None)
        restored = client.recommend(request, args.k)[0].tolist()
    out.update(version=installed["version"], requests=len(load.answered), failed=len(load.failed),
               after=after, restored=restored, rolled_back=back["rolled_back"])
    say(f"      version {out['version']} loaded while 4 clients sent {out['requests']} "
        f"requests: {out['failed']} failed")
    say(f"      user {shown['user_id']}: {', '.join(map(str, after[:10]))} ... "
        f"({sum(a != b for a, b in zip(after, now))} of {args.k} places changed)")
    say(f"      rollback: version {back['rolled_back']} taken out; the recommendations are "
        f"version 1's again: {restored == now}")
    return out


def recommend_for_users(args, server, artifacts: Path, user: dict, say) -> list[dict]:
    """The recommend ensemble's top items for three users (the last one new), over gRPC,
    each checked against the in-process chain."""
    from shoprank.client import RankClient

    recommender = shoprank.Recommender.load(artifacts)
    user = {**user, "position": 0}  # the slot the answer is shown in
    rng = np.random.default_rng(args.seed)
    users = [int(u) for u in rng.permutation(args.log_users)
             if not recommender.is_new_user({**user, "user_id": int(u)})][:2]
    users.append(10 * args.log_users)  # an id the logs never had
    say(f"      recommend: the top {args.k} of {recommender.items:,} items for users {users}"
        f" (retrieve -> rank {min(500, recommender.items)} candidates -> top {args.k})")
    out = []
    with RankClient(server.grpc_url, "grpc") as client:
        for user_id in users:
            request = {**user, "user_id": user_id}
            ids, scores = client.recommend(request, args.k)
            want_ids, want_scores = recommender.recommend(request, args.k)
            row = {"user_id": user_id, "new_user": recommender.is_new_user(request),
                   "item_ids": ids.tolist(), "scores": scores.tolist(),
                   "same_as_in_process": bool(np.array_equal(ids, want_ids)),
                   "max_score_difference": float(np.abs(scores - want_scores).max(initial=0)),
                   **latency_of(lambda: client.recommend(request, args.k), args.requests)}
            out.append(row)
            say(f"      user {user_id}{' (new: by popularity)' if row['new_user'] else ''}: "
                f"{', '.join(map(str, row['item_ids'][:10]))}{' ...' if args.k > 10 else ''}; "
                f"p50 {row['p50_ms']:.2f} ms; same as in-process: {row['same_as_in_process']}")
    return out


def format_report(report: dict) -> str:
    test, engine = report["model"]["test"], report["engine"]["latency"]
    lines = ["", "report",
             f"  quality     test AUC {test['auc']:.4f}"
             + (f" (oracle {test['oracle_auc']:.4f})" if test.get("oracle_auc") else ""),
             f"  in-process  native engine p50 {engine['native']['p50_ms']:.2f} ms, Merlin path "
             f"p50 {engine['python']['p50_ms']:.1f} ms ({report['engine']['candidates']:,} "
             f"candidates)"]
    for row in report["serving"]["requests"]:
        lines.append(f"  Triton      {row['model']:<8} over {row['protocol']:<4}: p50 "
                     f"{row['p50_ms']:.2f} ms, p99 {row['p99_ms']:.2f} ms; same answers as "
                     f"in-process: {row['same_as_in_process']}")
    for load in report["serving"]["throughput"]:
        lines.append(f"  throughput  {load['model']:<8} over grpc, {load['concurrency']} clients: "
                     f"{load['requests_per_second']:.0f} requests/s, {load['failed']} failed")
    retrieval = report["retrieval"]
    lines.append(f"  retrieval   two-tower recall@100 {retrieval['test']['recall@100']:.4f} "
                 f"(popularity {retrieval['popularity']['recall@100']:.4f}) on the test window")
    feedback = report["serving"]["feedback"]
    realtime = feedback["realtime"]
    lines.append(f"  real-time   user {realtime['user_id']} clicked {realtime['clicked']}: "
                 f"{realtime['changed']} of {len(realtime['before'])} recommended places changed")
    lines.append(f"  feedback    {feedback['events_sent']:,} events in; refresh: "
                 + (f"version {feedback['version']} loaded under load, {feedback['failed']} "
                    f"of {feedback['requests']} requests failed; rolled back"
                    if feedback["passed"] else f"refused ({feedback['verdict']})"))
    for row in report["serving"]["recommended"]:
        lines.append(f"  recommend   user {row['user_id']}{' (new)' if row['new_user'] else ''}: "
                     f"{', '.join(map(str, row['item_ids'][:10]))}; p50 {row['p50_ms']:.2f} ms, "
                     f"same as in-process: {row['same_as_in_process']}")
    return "\n".join(lines)


def rank_catalogue(args, say) -> dict:
    items, users, bought = synthetic_catalogue(args.items, args.users, args.dim, args.seed)
    say(f"[6/8] ranking {args.users} users x {args.items} items (d={args.dim}, k={args.k}), "
        f"{sum(len(b) for b in bought)} bought items excluded")

    reference = shoprank.topk_inner_product(users, items, args.k, exclude=bought, backend="numpy")
    rows = []
    for backend, available in _compat.available_backends().items():
        if not available:
            rows.append({"backend": backend, "available": False})
            continue
        shoprank.topk_inner_product(users[:1], items[:64], args.k, backend=backend)  # warm-up/JIT
        start = time.perf_counter()
        values, indices = shoprank.topk_inner_product(users, items, args.k, exclude=bought,
                                                      backend=backend)
        seconds = time.perf_counter() - start
        rows.append({
            "backend": backend, "available": True, "seconds": seconds,
            "users_per_second": args.users / seconds,
            "ids_equal_to_reference": float((indices == reference[1]).mean()),
            "max_score_difference": float(np.abs(values - reference[0]).max(initial=0.0)),
        })
    say(format_table(rows))
    return {"items": args.items, "users": args.users, "dim": args.dim, "k": args.k,
            "backends": rows}


def synthetic_catalogue(n_items: int, n_users: int, dim: int, seed: int):
    """Item and user vectors with popularity (item norms from a Zipf-like law) and, per
    user, a few already-bought items drawn by popularity."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    rng.shuffle(popularity)
    items = rng.standard_normal((n_items, dim)).astype(np.float32)
    items *= (1.0 + np.log1p(popularity * n_items) / 10).astype(np.float32)[:, None]
    users = rng.standard_normal((n_users, dim)).astype(np.float32)
    weights = popularity / popularity.sum()
    bought = [rng.choice(n_items, size=min(n_items, rng.integers(0, 20)), p=weights)
              for _ in range(n_users)]
    return items, users, bought


def format_table(rows: list[dict]) -> str:
    lines = [f"{'backend':<12}{'seconds':>10}{'users/s':>12}{'ids = ref':>11}{'max |Δscore|':>14}"]
    for row in rows:
        if not row["available"]:
            lines.append(f"{row['backend']:<12}{'not available on this machine':>47}")
            continue
        lines.append(f"{row['backend']:<12}{row['seconds']:>10.4f}{row['users_per_second']:>12.0f}"
                     f"{row['ids_equal_to_reference']:>10.1%}{row['max_score_difference']:>14.2e}")
    return "\n".join(lines)
