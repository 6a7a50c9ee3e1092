"""One Triton server for the serving tests that only send requests (test_triton.py,
test_triton_recommend.py, test_triton_events.py): the DLRM exported with a two-tower
retrieval model, so it serves the ensemble, the one-step ranker, the Merlin baseline, the
recommend ensemble and the events model (its event log in a folder of its own)."""

from __future__ import annotations

import pytest

from tests.serving.running import running_server


@pytest.fixture(scope="session")
def served(dlrm, recommend_artifacts, tmp_path_factory):
    """(TritonServer, in-process Ranker, world) for the session; stopped at its end."""
    pytest.importorskip("pytriton")
    ranker, _, world = dlrm
    root = tmp_path_factory.mktemp("serving")
    with running_server(recommend_artifacts, root / "repo", max_candidates=5_000,
                        baseline=world / "dlrm", events=root / "events") as server:
        server.events = root / "events"
        yield server, ranker, world
    assert server.process is None
