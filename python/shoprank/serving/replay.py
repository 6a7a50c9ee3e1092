"""The real-time state rebuilt when the server starts: the events the repository's event
log holds, read before tritonserver is launched (so that none is counted twice: what
arrives later goes through the events model) and sent to its `observe` model once the server
is ready, in batches over gRPC. Until that is done, requests see part of the history.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

BATCH = 10_000


def observed_columns(repo) -> dict[str, str] | None:
    """{column: type} the repository's observe model takes, or None when it has none."""
    from shoprank.serving import wire
    from shoprank.serving.repository import config_parameter

    if not (Path(repo) / "observe").is_dir():
        return None
    described = config_parameter(repo, "events", "observed_columns")
    return wire.parse_inputs(described) if described else None


def read_logged(repo) -> dict | None:
    """The logged events' observed columns ({column: array}, time order), or None."""
    from shoprank.events import EventLog
    from shoprank.serving.repository import event_log_of

    kinds = observed_columns(repo)
    if kinds is None:
        return None
    events = EventLog(event_log_of(Path(repo))).read()
    if not len(events):
        return {name: np.array([]) for name in kinds}
    user, item, timestamp, label = kinds  # repository._observed_columns' order
    # an event without a user or an item counts for nothing; one without a label, no click
    events = events[list(kinds)].dropna(subset=[user, item]).fillna({label: 0})
    events = events.sort_values(timestamp, kind="stable")
    return {name: events[name].to_numpy() for name in kinds}


def replay(grpc_url: str, repo, logged: dict) -> int:
    """Sends the events to the observe model; returns how many it took."""
    import tritonclient.grpc as grpc

    from shoprank.serving import wire

    kinds = observed_columns(repo)
    client = grpc.InferenceServerClient(grpc_url)
    rows, taken = len(next(iter(logged.values()))), 0
    try:
        for start in range(0, rows, BATCH):
            tensors = {}
            for name, kind in kinds.items():
                tensors.update(wire.encode_column(name, kind, logged[name][start:start + BATCH],
                                                  nulls=False))
            result = client.infer("observe", wire.infer_inputs(grpc, tensors),
                                  outputs=[grpc.InferRequestedOutput(wire.OBSERVED)])
            taken += int(result.as_numpy(wire.OBSERVED).reshape(-1)[0])
    finally:
        client.close()
    return taken
