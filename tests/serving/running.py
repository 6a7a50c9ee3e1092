"""One way the serving tests start a deployment: a repository exported from artifacts and
a Triton server on free loopback ports, stopped when the block ends."""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def running_server(artifacts, repo, *, max_candidates: int, baseline=None, events=None,
                   key_file=None):
    """baseline: a trained model folder, also served the Merlin way (the `baseline` model);
    events: a folder for the event log (the `events` model); key_file: the key of
    artifacts with pseudonymised ids."""
    from shoprank.serving.repository import ServingOptions, export_triton
    from shoprank.serving.server import TritonServer, free_port

    export_triton(artifacts, repo, ServingOptions(max_candidates=max_candidates),
                  baseline=baseline, events=events)
    server = TritonServer(repo, http_port=free_port(), grpc_port=free_port(),
                          metrics_port=free_port(), exit_timeout_s=10, key_file=key_file)
    with server:
        server.wait_ready()
        yield server
