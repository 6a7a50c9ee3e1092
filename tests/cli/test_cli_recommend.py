"""shoprank recommend from the command line, in-process (--artifacts): the same items as
the Python API, a readable table, --json, and one-line errors for bad options. (From the
served ensemble: tests/serving/test_triton_recommend.py.)"""

from __future__ import annotations

import json

import numpy as np
import pytest

import shoprank
from shoprank.cli.main import main

pytest.importorskip("merlin.models")

USER = {"user_id": 7, "device": "app", "context_category": "c003", "position": 0,
        "timestamp": "2024-03-20T10:00"}


def recommend(capsys, *options):
    code = main(["recommend", "--user", json.dumps(USER), "--json", *options])
    captured = capsys.readouterr()
    return code, captured


def test_in_process_recommendations_are_the_python_apis(recommend_artifacts, capsys):
    code, captured = recommend(capsys, "--artifacts", str(recommend_artifacts), "--k", "5",
                               "--exclude", "1,2,3", "--relevance-weight", "0.8",
                               "--cap", "category=2")
    assert code == 0, captured.err
    result = json.loads(captured.out)
    user = {**USER, "timestamp": np.datetime64(USER["timestamp"], "ms")}
    ids, scores = shoprank.Recommender.load(recommend_artifacts).recommend(
        user, 5, exclude=[1, 2, 3], relevance_weight=0.8, caps={"category": 2})
    assert result["item_ids"] == ids.tolist()
    np.testing.assert_allclose(result["scores"], scores, rtol=1e-6)
    assert "rank" in captured.err and f"{ids[0]:>12}" in captured.err


@pytest.mark.parametrize("options,reason", [
    (["--k", "0"], "k must be between 1 and the catalogue's"),
    (["--cap", "colour=1"], 'no labels for item column "colour"'),
    (["--exclude", "m1,m2"], "exclude"),  # text ids for int64 items
])
def test_bad_options_get_one_line(recommend_artifacts, capsys, options, reason):
    code, captured = recommend(capsys, "--artifacts", str(recommend_artifacts), *options)
    assert code == 1 and reason in captured.err and "Traceback" not in captured.err
    assert len(captured.err.strip().splitlines()) == 1


def test_a_malformed_cap_is_an_argument_error(capsys):
    with pytest.raises(SystemExit) as done:
        main(["recommend", "--user", "{}", "--cap", "category"])
    assert done.value.code == 2 and "expected COLUMN=N" in capsys.readouterr().err
