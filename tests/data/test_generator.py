"""shoprank generate: the files, their schema, determinism, bounded chunks, the planted
click model, the Criteo layout, and refusing to overwrite."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from shoprank.cli.main import main
from shoprank.data import generate
from shoprank.metrics import auc

SMALL = dict(users=500, items=300, rows=20_000, progress=False)


def digests(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    generate(tmp_path / "a", seed=3, **SMALL)
    generate(tmp_path / "b", seed=3, **SMALL)
    generate(tmp_path / "c", seed=4, **SMALL)
    assert digests(tmp_path / "a") == digests(tmp_path / "b")
    assert digests(tmp_path / "a")["impressions/part-00000.parquet"] != \
        digests(tmp_path / "c")["impressions/part-00000.parquet"]


def test_files_and_schema(tmp_path):
    result = generate(tmp_path / "logs", **SMALL)
    impressions = pq.read_schema(tmp_path / "logs" / "impressions" / "part-00000.parquet")
    assert [(f.name, str(f.type)) for f in impressions] == [
        ("timestamp", "timestamp[ms]"), ("user_id", "int64"), ("session_id", "int64"),
        ("item_id", "int64"), ("position", "int32"), ("device", "string"),
        ("context_category", "string"), ("click", "int8"), ("purchase", "int8"),
        ("_p_click", "float")]
    items = pq.read_schema(tmp_path / "logs" / "items.parquet")
    assert str(items.field("tags").type) == "list<item: string>"
    assert set(pq.read_schema(tmp_path / "logs" / "users.parquet").names) == {
        "user_id", "age_band", "gender", "region", "signup_date"}
    config = json.loads((tmp_path / "logs" / "logs.json").read_text())
    assert config["label"] == "click" and "_p_click" in config["passthrough"]
    assert json.loads((tmp_path / "logs" / "generator.json").read_text())["rows"] == 20_000
    assert result["rows"] == 20_000


def test_chunks_bound_the_work_and_keep_time_order(tmp_path):
    # 6001 is no multiple of the 12 items a request shows: requests straddle the chunks
    generate(tmp_path / "logs", chunk_rows=6_001, **SMALL)
    parts = sorted((tmp_path / "logs" / "impressions").glob("*.parquet"))
    assert [pq.read_metadata(p).num_rows for p in parts] == [6_001, 6_001, 6_001, 1_997]
    frame = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    assert frame["timestamp"].is_monotonic_increasing
    assert frame["position"].between(0, 11).all()
    assert (frame["purchase"] <= frame["click"]).all()
    # a session is one user's; a request (one timestamp) is one user's, slots 0, 1, 2, ...
    assert (frame.groupby("session_id")["user_id"].nunique() == 1).all()
    requests = frame.groupby("timestamp")
    assert (requests["user_id"].nunique() == 1).all()
    assert (requests["device"].nunique() == 1).all()
    assert (requests["position"].agg(lambda p: list(p) == list(range(len(p))))).all()


def test_planted_click_model(tmp_path):
    result = generate(tmp_path / "logs", users=2000, items=1000, rows=200_000, progress=False)
    frame = pd.read_parquet(tmp_path / "logs" / "impressions")
    assert 0.05 < result["click_rate"] < 0.15
    assert 0.74 < result["oracle_auc"] < 0.85
    assert abs(result["oracle_auc"] - auc(frame["click"], frame["_p_click"])) < 1e-4
    # position bias: the first slot is clicked more than the last
    by_position = frame.groupby("position")["click"].mean()
    assert by_position[0] > 1.5 * by_position[11]
    # the click is drawn from _p_click: calibrated within a few percent
    assert abs(frame["click"].mean() - frame["_p_click"].mean()) < 0.005
    # Zipf popularity: the top 10% of items get a large share of impressions
    shown = frame["item_id"].value_counts()
    assert shown.iloc[:100].sum() > 0.3 * len(frame)


def fnv1a_hex(text: str) -> str:
    digest = 0x811C9DC5
    for byte in text.encode():
        digest = ((digest ^ byte) * 0x01000193) & 0xFFFFFFFF
    return f"{digest:08x}"


def test_criteo_layout(tmp_path):
    generate(tmp_path / "criteo", format="criteo", chunk_rows=7_000, **SMALL)
    lines = (tmp_path / "criteo" / "train.tsv").read_text().splitlines()
    assert len(lines) == 20_000
    fields = [line.split("\t") for line in lines]
    assert all(len(f) == 40 for f in fields)
    # C3 is the device, hashed as FNV-1a of "C3:<device>"; about 3% of values missing
    devices = {fnv1a_hex(f"C3:{d}") for d in ("mobile", "desktop", "tablet", "app")}
    c3 = [f[16] for f in fields]
    assert set(c3) <= devices | {""} and 0.01 < c3.count("") / len(c3) < 0.05
    fields = fields[:500]
    assert {f[0] for f in fields} <= {"0", "1"}
    assert all(c == "" or (len(c) == 8 and int(c, 16) >= 0) for f in fields for c in f[14:])
    assert all(i == "" or int(i) >= 0 for f in fields for i in f[1:14])
    p_click = np.load(tmp_path / "criteo" / "p_click.npy", allow_pickle=False)
    assert p_click.shape == (20_000,)
    labels = np.array([int(line.split("\t", 1)[0]) for line in lines])
    assert auc(labels, p_click) > 0.7
    # the same seed gives the same bytes, another seed other values (the missing ones too)
    generate(tmp_path / "again", format="criteo", chunk_rows=7_000, **SMALL)
    generate(tmp_path / "other", format="criteo", chunk_rows=7_000, seed=1, **SMALL)
    assert digests(tmp_path / "again") == digests(tmp_path / "criteo")
    other = (tmp_path / "other" / "train.tsv").read_text().splitlines()
    assert [line.split("\t")[16] == "" for line in other] != [c == "" for c in c3]


def test_refuses_a_non_empty_out_and_leaves_nothing_on_failure(tmp_path):
    out = tmp_path / "logs"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="--overwrite"):
        generate(out, **SMALL)
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    with pytest.raises(ValueError, match="--rows must be >= 1"):
        generate(tmp_path / "new", **dict(SMALL, rows=0))
    assert not (tmp_path / "new").exists()
    assert not list(tmp_path.glob(".*tmp*"))


def test_cli_json(tmp_path, capsys):
    code = main(["generate", "--out", str(tmp_path / "logs"), "--rows", "3000", "--users", "100",
                 "--items", "50", "--json", "--no-progress"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["rows"] == 3000 and 0 < result["oracle_auc"] < 1


def test_drift_moves_category_click_rates_apart_over_the_period(tmp_path):
    """--drift scales how far each category's click log-odds move from the first to the
    last day; the draws (users, items, times) stay those of the seed."""
    logs = {}
    for drift in (0.0, 4.0):
        generate(tmp_path / f"d{drift}", seed=5, drift=drift, **SMALL)
        logs[drift] = pd.read_parquet(tmp_path / f"d{drift}" / "impressions")
        assert json.loads((tmp_path / f"d{drift}" / "generator.json").read_text()
                          )["effects"]["drift"] == drift
    flat, moving = logs[0.0], logs[4.0]
    assert flat.item_id.equals(moving.item_id) and flat.timestamp.equals(moving.timestamp)
    items = pd.read_parquet(tmp_path / "d0.0" / "items.parquet")[["item_id", "category"]]

    def change(frame):  # per category: mean true logit, last fifth minus first fifth
        frame = frame.merge(items, on="item_id")
        logit = np.log(frame._p_click / (1 - frame._p_click))
        late = frame.timestamp >= frame.timestamp.quantile(0.8)
        early = frame.timestamp <= frame.timestamp.quantile(0.2)
        return logit[late].groupby(frame.category[late]).mean() - \
            logit[early].groupby(frame.category[early]).mean()

    assert change(moving).std() > 3 * change(flat).std()
    with pytest.raises(SystemExit):
        main(["generate", "--out", str(tmp_path / "x"), "--drift", "abc"])
