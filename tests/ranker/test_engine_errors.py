"""Bad input to the engine: each case a clear exception naming what was wrong, never a
crash; the artifact folder is checked (manifest sizes and hashes, format version) before
anything in it is used; and a hypothesis fuzz of the bindings finds no crash."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("merlin.models")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

import shoprank  # noqa: E402

USER = {"user_id": 3, "device": "app", "context_category": "c001",
        "timestamp": np.datetime64("2024-02-20T10:00:00", "ms")}


def candidates(n=5):
    return {"item_id": np.arange(n), "position": np.zeros(n, np.int64)}


def rows(n=3):
    return {**{k: [v] * n for k, v in USER.items()}, **candidates(n)}


@pytest.mark.parametrize("change, message", [
    (lambda r: {**r, "colour": ["red"] * 3}, "unknown input column(s): colour (the model reads: "),
    (lambda r: {k: v for k, v in r.items() if k != "timestamp"}, "missing required input column(s): timestamp"),
    (lambda r: {**r, "user_id": ["a", "b", "c"]}, "'user_id': expected integers, got 'a'"),
    (lambda r: {**r, "user_id": [1.5, 2, 3]}, "'user_id': expected integers, got 1.5"),
    (lambda r: {**r, "device": [1, 2, 3]}, "'device': expected text, got 1"),
    (lambda r: {**r, "timestamp": ["soon", None, None]}, "'timestamp': expected timestamps"),
    (lambda r: {**r, "item_id": [1, 2]}, "different lengths"),
    (lambda r: {**r, "tags": ["t001", "t002", "t003"]}, "'tags': expected a list of text per row"),
    (lambda r: {**r, "user_id": 7}, "'user_id': expected a sequence of values"),
    (lambda r: {**r, "position": np.zeros((3, 2))}, "'position': expected a 1-D array"),
])
def test_bad_rows(dlrm, change, message):
    ranker = dlrm[0]
    with pytest.raises(ValueError) as error:
        ranker.score(change(rows()))
    assert message in str(error.value)
    assert len(ranker.score(rows())) == 3  # and the next good call works


def test_bad_rank_requests(dlrm):
    ranker = dlrm[0]
    with pytest.raises(ValueError, match="no candidates to rank"):
        ranker.rank(USER, candidates(0), k=1)
    with pytest.raises(ValueError, match=r"k must be between 1 and the number of candidates \(5\), got 6"):
        ranker.rank(USER, candidates(5), k=6)
    with pytest.raises(ValueError, match="got 0"):
        ranker.rank(USER, candidates(5), k=0)
    with pytest.raises(TypeError, match="k: expected an integer"):
        ranker.rank(USER, candidates(5), k=2.5)
    with pytest.raises(ValueError, match=r"both the user and the candidates: \['device'\]"):
        ranker.rank(USER, {**candidates(2), "device": ["a", "b"]}, k=1)
    with pytest.raises(ValueError, match="'user_id': expected one value, got 2"):
        ranker.rank({**USER, "user_id": [1, 2]}, candidates(3), k=1)
    with pytest.raises(ValueError, match="threads"):
        ranker.score(rows(), threads=-1)
    ids, scores = ranker.rank(USER, candidates(5), k=5)
    assert sorted(ids) == list(range(5)) and np.all(np.diff(scores) <= 0)


@pytest.fixture
def artifacts(dlrm, tmp_path):
    folder = tmp_path / "artifacts"
    shutil.copytree(dlrm[2] / "dlrm-artifacts", folder)
    return folder


def test_tampered_and_foreign_artifacts(artifacts):
    shoprank.Ranker.load(artifacts)
    data = bytearray((artifacts / "tensors.bin").read_bytes())
    data[len(data) // 2] ^= 1
    (artifacts / "tensors.bin").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="tensors.bin does not match its SHA-256"):
        shoprank.Ranker.load(artifacts)
    (artifacts / "tensors.bin").write_bytes(bytes(data[:-8]))
    with pytest.raises(ValueError, match="tensors.bin has .* bytes, the manifest says"):
        shoprank.Ranker.load(artifacts)
    manifest = json.loads((artifacts / "manifest.json").read_text())
    (artifacts / "manifest.json").write_text(json.dumps({**manifest, "version": 99}))
    with pytest.raises(ValueError, match="format version 99, this engine reads version 1"):
        shoprank.Ranker.load(artifacts)
    (artifacts / "manifest.json").write_text(json.dumps(
        {**manifest, "files": {**manifest["files"], "../etc/passwd": {"bytes": 1, "sha256": ""}}}))
    with pytest.raises(ValueError, match="outside the folder"):
        shoprank.Ranker.load(artifacts)
    (artifacts / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="manifest.json"):
        shoprank.Ranker.load(artifacts)
    (artifacts / "manifest.json").unlink()
    with pytest.raises(ValueError, match="no manifest.json"):
        shoprank.Ranker.load(artifacts)
    with pytest.raises(FileNotFoundError, match="no such artifact folder"):
        shoprank.Ranker.load(artifacts / "missing")


def test_export_errors(dlrm, tmp_path):
    from shoprank.export.artifacts import export_ranker

    with pytest.raises(FileNotFoundError, match="no model.json"):
        export_ranker(tmp_path, tmp_path / "out")
    with pytest.raises(FileExistsError, match="exists and is not empty"):
        export_ranker(dlrm[2] / "dlrm", dlrm[2] / "dlrm-artifacts")


VALUES = st.one_of(st.none(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                   st.text(max_size=5), st.binary(max_size=3),
                   st.lists(st.one_of(st.none(), st.text(max_size=3), st.integers()), max_size=3))
COLUMNS = st.sampled_from(["user_id", "item_id", "device", "context_category", "timestamp",
                           "position", "tags", "price", "category", "bogus"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.dictionaries(COLUMNS, st.lists(VALUES, max_size=4), max_size=8),
       k=st.integers(-1, 5))
def test_fuzz_never_crashes(dlrm, data, k):
    ranker = dlrm[0]
    for call in (lambda: ranker.score(data), lambda: ranker.transform(data),
                 lambda: ranker.rank({}, data, k)):
        try:
            call()
        except (ValueError, TypeError, OverflowError):
            pass


@pytest.mark.parametrize("stamp", [1_700_000_000, np.int64(1_700_000_000),
                                   np.array([1_700_000_000])])
def test_epoch_seconds_as_a_timestamp_are_refused_not_misread(dlrm, stamp):
    """Integer timestamps are milliseconds; the logs' integer timestamps are seconds: a
    value that reads as a day in 1970-73 in ms but as 2001-5138 in seconds is refused."""
    ranker, _, _ = dlrm
    user = {**USER, "timestamp": stamp if np.ndim(stamp) == 0 else stamp[0]}
    with pytest.raises(ValueError, match="'timestamp': 1700000000 would be 1970-01-20.* looks "
                                         "like seconds since the epoch .2023-11-14"):
        ranker.rank(user, candidates(), 2)
    ranker.rank({**USER, "timestamp": 1_700_000_000_000}, candidates(), 2)  # ms: fine


def test_python_integer_ids_keep_every_bit():
    """Ids past 2^53 given as Python ints beside a null (an object array) are read exactly,
    not through float64 (where 2^53 and 2^53 + 1 are one id); past 2^63 as the uint64 ids
    the ETL read (their int64 bits)."""
    from shoprank.ranker.raw import normalise

    values = [2**53, 2**53 + 1, None, 2**63 + 3, -5]
    ints = normalise("x", "int64", values)[0]
    assert list(ints[[0, 1, 4]]) == [2**53, 2**53 + 1, -5]
    assert ints[3] == np.array([2**63 + 3], np.uint64).view(np.int64)[0]
    with pytest.raises(ValueError, match=f"'x': {2**64} does not fit 64 bits"):
        normalise("x", "int64", [2**64, None])
    # no silent conversion: digits as text, booleans, floats past 2^53 (they skip integers)
    for values, words in ((["4611686018427387905", 1], r"got '4611686018427387905' \(str\)"),
                          ([True, False], r"got True \(bool\)"),
                          ([float(2**53 + 5)], "is a float beyond 2\\^53")):
        with pytest.raises(ValueError, match=f"'x': .*{words}"):
            normalise("x", "int64", values)
    assert list(normalise("x", "int64", [1.0, None, 3.0])[0][[0, 2]]) == [1, 3]
