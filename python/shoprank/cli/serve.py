"""Serve a model repository with Triton Inference Server (from the nvidia-pytriton wheel).

Starts tritonserver on the repository of shoprank export-triton with every model loaded
(explicit model control, so models can be reloaded while it runs), waits until it is
ready, streams its log, and on Ctrl-C or SIGTERM stops it cleanly: in-flight requests
finish (up to --exit-timeout seconds) before it exits. A model whose Python stub dies
(killed, out of memory) is unloaded and loaded again within seconds: Triton 2.51 neither
restarts it nor reports it unready. If tritonserver itself exits (aborted, killed), it is
started again on the same ports, up to --max-restarts times in --restart-window seconds.
HTTP and gRPC requests pass a guard (nginx) that checks each one before Triton reads it;
Triton's own endpoints (HTTP model control) listen on loopback ports it names. No Docker
and no GPU are needed.
"""

from __future__ import annotations

import argparse
import signal


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", required=True, help="the model repository to serve")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    parser.add_argument("--http-port", type=int, default=8000, help="HTTP, through the guard")
    parser.add_argument("--grpc-port", type=int, default=8001, help="gRPC, through the guard")
    parser.add_argument("--metrics-port", type=int, default=8002, help="Prometheus metrics")
    parser.add_argument("--no-guard", action="store_true",
                        help="serve HTTP and gRPC with Triton's own endpoints, unchecked (a "
                             "request with a lying shape can abort the server)")
    parser.add_argument("--max-restarts", type=int, default=5,
                        help="restarts of tritonserver allowed within --restart-window")
    parser.add_argument("--restart-window", type=float, default=300, help="seconds")
    parser.add_argument("--ready-timeout", type=float, default=120,
                        help="seconds to wait for every model to load (default 120)")
    parser.add_argument("--exit-timeout", type=int, default=30,
                        help="seconds in-flight requests get to finish on stop (default 30)")
    parser.add_argument("--verbose", action="store_true", help="Triton's verbose log")
    parser.add_argument("--key-file", help="the key of artifacts with pseudonymised ids (shoprank "
                        "etl --key-file); default: the file SHOPRANK_KEY_FILE names")


def run(args: argparse.Namespace, say) -> dict:
    from shoprank.serving.server import TritonServer, supervise

    server = TritonServer(args.repo, host=args.host, http_port=args.http_port,
                          grpc_port=args.grpc_port, metrics_port=args.metrics_port,
                          exit_timeout_s=args.exit_timeout, log=say, verbose=args.verbose,
                          guard=not args.no_guard, key_file=args.key_file)
    stopping = []

    def stop(signum, _frame):
        stopping.append(signal.Signals(signum).name)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        server.start()
        server.wait_ready(args.ready_timeout)
        say(f"shoprank serve: ready: HTTP {server.http_url}"
            + f", gRPC {server.grpc_url}"
            + (f" (guarded; Triton's own: HTTP {server.admin_url}, gRPC "
               f"{server.triton_grpc_url})" if server.guard else "")
            + f", metrics {server.host}:{server.metrics_port}; "
            "Ctrl-C stops it")
        supervise(server, say, max_restarts=args.max_restarts, window_s=args.restart_window,
                  ready_timeout_s=args.ready_timeout)
    except KeyboardInterrupt:
        say(f"shoprank serve: {stopping[0] if stopping else 'SIGINT'}: stopping (in-flight "
            f"requests finish first)")
    finally:
        interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second signal would
        signal.signal(signal.SIGTERM, signal.SIG_IGN)             # cut the stop short
        code = server.stop()
        signal.signal(signal.SIGINT, interrupt)
        signal.signal(signal.SIGTERM, previous)
    say(f"shoprank serve: stopped (tritonserver exit code {code})")
    return {"repo": args.repo, "exit_code": code}
