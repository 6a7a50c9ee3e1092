"""One Triton server for the serving tests that only send requests (test_triton.py,
test_triton_recommend.py): the DLRM exported with a two-tower retrieval model, so it serves
the ensemble, the one-step ranker, the Merlin baseline and the recommend ensemble."""

from __future__ import annotations

import pytest

from tests.serving.running import running_server


@pytest.fixture(scope="session")
def served(dlrm, recommend_artifacts, tmp_path_factory):
    """(TritonServer, in-process Ranker, world) for the session; stopped at its end."""
    pytest.importorskip("pytriton")
    ranker, _, world = dlrm
    repo = tmp_path_factory.mktemp("serving") / "repo"
    with running_server(recommend_artifacts, repo, max_candidates=5_000,
                        baseline=world / "dlrm") as server:
        yield server, ranker, world
    assert server.process is None
