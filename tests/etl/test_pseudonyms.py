"""Pseudonymised ids (etl/pseudonyms.py, engine/privacy/pseudonyms.cpp): the keyed hash is
HMAC-SHA256 as Python's hmac computes it; the key file's rules and every mistake with a key
or a config are named; and through the pipeline (a log whose user ids are e-mail addresses,
tests/personal_logs.py) no raw personal value reaches any output file, the artifacts refuse
to work without their key, and the engine fed raw ids computes the ETL's own features."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat

import numpy as np
import pandas as pd
import pytest

from shoprank import _engine
from shoprank.etl.pseudonyms import pseudonymise_frame
from tests.personal_logs import PERSONAL, raw_patterns

QUIET = dict(progress=False, say=lambda *_: None)


def _reference_int(key: bytes, value: int) -> int:
    digest = hmac.new(key, str(value).encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _reference_text(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]


@pytest.mark.parametrize("key_bytes", [16, 32, 64, 65, 200])  # RFC 2104: > 64 is hashed first
def test_pseudonyms_are_hmac_sha256(tmp_path, rng, key_bytes):
    key = bytes(rng.integers(0, 256, key_bytes, dtype=np.uint8))
    key = key.replace(b"\n", b"x").replace(b"\r", b"x")  # a trailing newline is not key
    (tmp_path / "key").write_bytes(key)
    pseudonyms = _engine.Pseudonyms(str(tmp_path / "key"))
    ints = rng.integers(-2**63, 2**63 - 1, 200, dtype=np.int64, endpoint=True)
    assert list(pseudonyms.ints(ints)) == [_reference_int(key, int(v)) for v in ints]
    texts = ["", "a", "ä€😀", "x" * 55, "y" * 56, "z" * 64, "w" * 1000,
             *("".join(map(chr, rng.integers(32, 0x3000, rng.integers(1, 40)))) for _ in range(50))]
    assert pseudonyms.strings(texts) == [_reference_text(key, t) for t in texts]
    check = hmac.new(key, b"shoprank key check", hashlib.sha256).hexdigest()[:16]
    assert pseudonyms.key_check == check


def test_the_key_files_rules(tmp_path):
    (tmp_path / "plain").write_bytes(b"k" * 16)
    (tmp_path / "newline").write_bytes(b"k" * 16 + b"\r\n")
    (tmp_path / "short").write_bytes(b"k" * 15 + b"\n")
    plain = _engine.Pseudonyms(str(tmp_path / "plain"))
    assert plain.key_check == _engine.Pseudonyms(str(tmp_path / "newline")).key_check
    with pytest.raises(ValueError, match="short: 15 bytes; a key needs at least 16"):
        _engine.Pseudonyms(str(tmp_path / "short"))
    with pytest.raises(ValueError, match="missing: cannot be read"):
        _engine.Pseudonyms(str(tmp_path / "missing"))


def test_keygen_makes_a_private_key_and_never_replaces_one(tmp_path, capsys):
    from shoprank.cli.main import main

    assert main(["keygen", str(tmp_path / "key")]) == 0
    text = (tmp_path / "key").read_text()
    assert len(text) == 65 and text.endswith("\n") and int(text, 16) >= 0
    assert stat.S_IMODE(os.stat(tmp_path / "key").st_mode) == 0o600
    assert main(["keygen", str(tmp_path / "key")]) != 0
    assert "File exists" in capsys.readouterr().err
    assert (tmp_path / "key").read_text() == text


def test_frames_keep_types_nulls_and_lists(tmp_path):
    (tmp_path / "key").write_text("0123456789abcdef0123")
    key = b"0123456789abcdef0123"
    frame = pd.DataFrame({"n": np.array([5, 7, 5], np.int64), "t": ["a", None, "a"],
                          "l": [["x", "y"], [], None], "other": [1.5, 2.5, 3.5]})
    out = pseudonymise_frame(frame, ["n", "t", "l"], tmp_path / "key")
    assert out["n"].dtype == np.int64 and list(out["n"]) == [_reference_int(key, v)
                                                             for v in (5, 7, 5)]
    assert list(out["t"])[0] == _reference_text(key, "a") and out["t"][1] is None
    assert list(out["l"][0]) == [_reference_text(key, "x"), _reference_text(key, "y")]
    assert list(out["l"][1]) == [] and out["l"][2] is None
    assert out["other"].equals(frame["other"]) and frame["n"][0] == 5  # a copy
    floats = pd.DataFrame({"user": [1.0, np.nan]})
    with pytest.raises(ValueError, match="column 'user' is read as float64; only integer"):
        pseudonymise_frame(floats, ["user"], tmp_path / "key")
    huge = pd.DataFrame({"user": np.array([1, 2**63 + 5], np.uint64)})
    with pytest.raises(ValueError, match=f"column 'user' holds {2**63 + 5}, beyond int64"):
        pseudonymise_frame(huge, ["user"], tmp_path / "key")
    small = pseudonymise_frame(huge.iloc[:1], ["user"], tmp_path / "key")
    assert list(small["user"]) == [_reference_int(key, 1)]


@pytest.mark.parametrize("privacy,key,message", [
    ({"personal": ["user_id"]}, False, r"privacy.personal lists \['user_id'\]: give the key"),
    ({}, True, "a key file was given, but the logs config lists no personal columns"),
    ({"personal": ["nickname"]}, False, r"\['nickname'\] are not columns the ETL reads"),
    ({"personal": ["clicked"]}, False, r"\['clicked'\] are labels or the timestamp"),
    ({"personal": ["item_id"]}, False, "'item_id' is the item id, which recommendations"),
    ({"personal": "user_id"}, False, "privacy.personal: expected a list of column names"),
    ({"personal": ["age"]}, False, r"\['age'\] are continuous features"),
])
def test_config_and_key_mistakes_are_named_before_anything_is_written(tmp_path, privacy, key,
                                                                      message):
    pytest.importorskip("nvtabular")
    from shoprank.etl import run_etl
    from tests.personal_logs import write_logs

    write_logs(tmp_path / "logs")
    config = json.loads((tmp_path / "logs" / "logs.json").read_text())
    config = {**config, "privacy": privacy, "continuous": ["age"]}
    (tmp_path / "logs" / "logs.json").write_text(json.dumps(config))
    (tmp_path / "key").write_text("k" * 32)
    with pytest.raises(ValueError, match=message):
        run_etl(tmp_path / "logs" / "logs.json", tmp_path / "out",
                key_file=tmp_path / "key" if key else None, **QUIET)
    assert not (tmp_path / "out").exists()


def _output_files(root):
    for folder in ("features", "dlrm", "two-tower", "artifacts"):
        yield from (p for p in (root / folder).rglob("*") if p.is_file())


def test_no_raw_personal_value_reaches_any_output(pseudonymised_world):
    """Every file the ETL, training, retrieval training and export wrote: no raw value's
    bytes (text, or an integer as text or 8 bytes either way), and in every Parquet file
    no cell equal to one (compressed pages would hide bytes)."""
    import pyarrow.parquet as pq

    root, values = pseudonymised_world
    patterns = raw_patterns(values)
    raw = {str(v) for column in values.values() for v in column}
    files = list(_output_files(root))
    assert len(files) > 30
    for path in files:
        data = path.read_bytes()
        found = [p for p in patterns if p in data]
        assert not found, f"{path}: holds raw personal values {found[:3]}"
        if path.suffix == ".parquet":
            for column in pq.read_table(path).to_pandas().items():
                cells = {str(v) for v in column[1].explode().dropna()}
                assert not cells & raw, f"{path}: column {column[0]} holds raw personal values"
    key = (root / "key").read_bytes()
    assert not any(key.strip() in path.read_bytes() for path in files)


def test_the_artifacts_need_their_key(pseudonymised_world, monkeypatch, tmp_path):
    import shoprank
    from shoprank.export.artifacts import export_ranker

    root, _ = pseudonymised_world
    monkeypatch.delenv("SHOPRANK_KEY_FILE", raising=False)
    spec = json.loads((root / "artifacts" / "ranker.json").read_text())
    assert spec["pseudonymised"]["columns"] == PERSONAL
    for load in (shoprank.Ranker.load, shoprank.Recommender.load):
        with pytest.raises(ValueError, match=r"pseudonymise personal ids \(user_id, device_id, "
                                             r"postcode\); give the key file"):
            load(root / "artifacts")
        with pytest.raises(ValueError, match="other.key is not the key these artifacts were "
                                             "made with"):
            load(root / "artifacts", key_file=root / "other.key")
        load(root / "artifacts", key_file=root / "key")
    monkeypatch.setenv("SHOPRANK_KEY_FILE", str(root / "key"))
    assert shoprank.Ranker.load(root / "artifacts").item_key == "item_id"
    native = _engine.Ranker(str(root / "artifacts"), "")
    monkeypatch.delenv("SHOPRANK_KEY_FILE")
    keyless = _engine.Ranker(str(root / "artifacts"), "")
    with pytest.raises(ValueError, match="column user_id holds personal ids the artifacts know "
                                         "only by pseudonym"):
        shoprank.Ranker(keyless).transform({"user_id": ["x"], "item_id": [1]})
    assert native.has_pseudonym_key and not keyless.has_pseudonym_key
    # a stale variable naming another key fails a load that needs the key, and nothing that
    # only reads what the artifacts describe: export's own check, export-triton's
    monkeypatch.setenv("SHOPRANK_KEY_FILE", str(root / "other.key"))
    with pytest.raises(ValueError, match="other.key is not the key these artifacts"):
        shoprank.Ranker.load(root / "artifacts")
    for load in (shoprank.Ranker.load, shoprank.Recommender.load):
        load(root / "artifacts", key_required=False)
    export_ranker(root / "dlrm", tmp_path / "again", retrieval=root / "two-tower")


def test_fed_raw_ids_the_engine_computes_the_etls_features(pseudonymised_world):
    """The log replayed in time order through a ranker loaded with the key (each
    timestamp's rows transformed, then observed, all with raw ids): the test window's
    features are the ETL's, ids, side-table columns, counts and real-time state included."""
    import shoprank
    from tests.online.replay import replayed_features

    root, _ = pseudonymised_world
    ranker = shoprank.Ranker.load(root / "artifacts", key_file=root / "key")
    raw = pd.read_parquet(root / "logs" / "impressions").sort_values("timestamp",
                                                                     kind="stable")
    raw = raw.reset_index(drop=True)
    raw["timestamp"] = pd.to_datetime(raw["timestamp"], unit="s")  # the ETL reads epoch seconds
    files = sorted((root / "features" / "test").glob("*.parquet"))
    etl = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    test_start = len(raw) - len(etl)
    got = replayed_features(ranker, raw, test_start)
    for name in ("user_id", "device_id", "postcode", "segment"):  # ids: exactly
        values = np.concatenate([v[skip:] for v, skip in got[name]])
        np.testing.assert_array_equal(values, etl[name].to_numpy(), err_msg=name)
    for name in ("user_id_count", "recent_user_impressions", "recent_user_clicks",
                 "recent_item_clicks"):  # float32 arithmetic: within rounding
        values = np.concatenate([v[skip:] for v, skip in got[name]])
        np.testing.assert_allclose(values, etl[name].to_numpy(), rtol=0, atol=1e-5,
                                   err_msg=name)
    assert (etl["user_id"] > 2).mean() > 0.9  # the raw ids found their pseudonyms' rows


def test_recommendations_find_the_user_by_raw_id(pseudonymised_world):
    import shoprank

    root, values = pseudonymised_world
    recommender = shoprank.Recommender.load(root / "artifacts", key_file=root / "key")
    known = {"user_id": values["user_id"][0], "device_id": values["device_id"][0],
             "timestamp": np.datetime64("2023-11-20T00:00", "ms")}
    assert not recommender.is_new_user(known)
    assert recommender.is_new_user({**known, "user_id": "nobody@example.org"})
    ids, scores = recommender.recommend(known, 5)
    assert len(ids) == 5 and np.all(np.diff(scores) <= 0)


def test_integer_ids_of_any_width_in_a_side_table_with_misses(tmp_path):
    """An int32 personal key in a side table that some log rows do not match: each source
    is hashed before the join, so the keys still match and the pseudonyms stay int64."""
    pytest.importorskip("nvtabular")
    from shoprank.etl import run_etl

    rng = np.random.default_rng(0)
    rows = 600
    (tmp_path / "logs" / "clicks").mkdir(parents=True)
    member = rng.integers(0, 40, rows).astype(np.int32)
    pd.DataFrame({"timestamp": (1_700_000_000 + 60 * np.arange(rows)).astype(np.int64),
                  "member": member, "item_id": rng.integers(0, 30, rows),
                  "clicked": rng.integers(0, 2, rows)}).to_parquet(
        tmp_path / "logs" / "clicks" / "part.parquet", index=False)
    pd.DataFrame({"member": np.arange(30, dtype=np.int32),  # members 30..39 unmatched
                  "club": rng.choice(["a", "b"], 30)}).to_parquet(
        tmp_path / "logs" / "members.parquet", index=False)
    (tmp_path / "logs" / "logs.json").write_text(json.dumps({
        "impressions": "clicks/*.parquet", "timestamp": "timestamp", "label": "clicked",
        "user_id": "member", "item_id": "item_id",
        "side_tables": {"members": {"path": "members.parquet", "key": "member"}},
        "categorical": ["member", "item_id", "club"], "privacy": {"personal": ["member"]}}))
    (tmp_path / "key").write_text("k" * 32)
    run_etl(tmp_path / "logs" / "logs.json", tmp_path / "out", key_file=tmp_path / "key",
            **QUIET)
    table = pd.read_parquet(tmp_path / "out" / "tables" / "members.parquet")
    key = b"k" * 32
    assert table["member"].dtype == np.int64
    assert list(table["member"]) == [_reference_int(key, m) for m in range(30)]
    train = pd.concat(pd.read_parquet(f) for f in (tmp_path / "out" / "train").glob("*.parquet"))
    assert (train["club"] > 2).mean() > 0.6  # joined on pseudonyms: clubs found


def test_the_merlin_path_refuses_pseudonymised_models(pseudonymised_world):
    from shoprank.models.merlin_ranker import MerlinRanker

    root, _ = pseudonymised_world
    with pytest.raises(ValueError, match="trained on pseudonymised ids; the Merlin path does "
                                         "not hash them"):
        MerlinRanker(root / "dlrm")


def test_the_event_log_of_a_pseudonymised_deployment_goes_through_the_etl(pseudonymised_world,
                                                                          tmp_path):
    """The event log holds raw ids beside copies of the ETL output's tables (pseudonyms): an
    ETL of it with the same key hashes the events only, so the log's own rows logged as
    events give the first ETL's features exactly; with another key it is refused."""
    from shoprank.etl import run_etl
    from shoprank.events.log import EventLog

    root, _ = pseudonymised_world
    log = EventLog.create(tmp_path / "events", root / "features")
    # a log made before the marks, or listing the real-time columns, is made whole on reuse
    logs, meta = tmp_path / "events" / "logs.json", tmp_path / "events" / "events.json"
    config, older = json.loads(logs.read_text()), json.loads(meta.read_text())
    assert {t.pop("pseudonymised") for t in config["side_tables"].values()} == {
        json.loads((root / "features" / "inputs.json").read_text())["pseudonymised"]["key_check"]}
    logs.write_text(json.dumps(config))
    log = EventLog.create(tmp_path / "events", root / "features")
    assert all("pseudonymised" in t for t in json.loads(logs.read_text())["side_tables"].values())
    older["schema"]["columns"]["recent_clicks"] = "string_list"
    older["schema"]["dtypes"]["recent_clicks"] = "object"
    (tmp_path / "older").mkdir()
    (tmp_path / "older" / "events.json").write_text(json.dumps(older))
    (tmp_path / "older" / "logs.json").write_text(logs.read_text())
    EventLog.create(tmp_path / "older", root / "features")
    raw = pd.read_parquet(root / "logs" / "impressions").sort_values("timestamp",
                                                                     kind="stable")
    events = {c: raw[c].to_numpy() for c in log.schema.columns}
    events["timestamp"] = raw["timestamp"].to_numpy() * 1000  # the events carry ms
    assert log.append(events) == len(raw)
    run_etl(tmp_path / "events" / "logs.json", tmp_path / "features", key_file=root / "key",
            **QUIET)
    for split in ("train", "valid", "test"):
        def read(folder):
            files = sorted((folder / split).glob("*.parquet"))
            return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
        again, first = read(tmp_path / "features"), read(root / "features")
        pd.testing.assert_frame_equal(again[first.columns], first, check_dtype=False,
                                      obj=split)
    with pytest.raises(ValueError, match="side table users .* another key"):
        run_etl(tmp_path / "events" / "logs.json", tmp_path / "other", key_file=root /
                "other.key", **QUIET)
    assert not (tmp_path / "other").exists()
