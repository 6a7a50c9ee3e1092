"""The same pipeline on Criteo-format logs, and on a Dask LocalCluster."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.etl.logs_factory import write_logs

pytest.importorskip("nvtabular")
from shoprank.etl import run_etl  # noqa: E402


def run(config_path, out, **kwargs):
    return run_etl(config_path, out, progress=False, say=lambda *_: None, **kwargs)


def write_criteo(folder, rows=2000, seed=0):
    """label, I1..I13 (some missing), C1..C26 (8-hex hashes, some missing), tab-separated."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    p_click = rng.random(rows).astype(np.float32)
    lines = []
    for i in range(rows):
        ints = ["" if rng.random() < 0.1 else str(rng.integers(0, 50)) for _ in range(13)]
        cats = ["" if rng.random() < 0.05 else f"{rng.integers(0, 30):08x}" for _ in range(26)]
        lines.append("\t".join([str(int(rng.random() < p_click[i])), *ints, *cats]))
    (folder / "train.tsv").write_text("\n".join(lines) + "\n")
    np.save(folder / "p_click.npy", p_click)
    config = {"format": "criteo", "impressions": "train.tsv", "timestamp": None,
              "label": "label", "categorical": ["C1", "C2"],
              "hashed": {f"C{i}": 1000 for i in range(3, 27)},
              "continuous": [f"I{i}" for i in range(1, 14)],
              "split": {"valid": 0.1, "test": 0.1}, "freq_threshold": 2,
              "p_click": "p_click.npy"}
    (folder / "logs.json").write_text(json.dumps(config))
    return folder / "logs.json", p_click


def test_criteo_tsv_splits_by_row_order(tmp_path):
    config, p_click = write_criteo(tmp_path / "criteo")
    summary = run(config, tmp_path / "out")
    rows = {name: s["rows_out"] for name, s in summary["splits"].items()}
    assert rows == {"train": 1600, "valid": 200, "test": 200}
    test = pd.read_parquet(sorted((tmp_path / "out" / "test").glob("*.parquet")))
    np.testing.assert_array_equal(test["_p_click"], p_click[1800:])  # the last rows, in order
    assert test["I1"].notna().all()  # missing integers filled, then normalised
    assert 0 < summary["splits"]["test"]["oracle_auc"] < 1


def test_local_cluster_gives_the_same_output(tmp_path):
    config = write_logs(tmp_path / "logs", files=3)
    run(config, tmp_path / "local")
    summary = run(config, tmp_path / "cluster", workers=2)
    assert summary["workers"] == 2
    for name in ("train", "valid", "test"):
        local = pd.read_parquet(sorted((tmp_path / "local" / name).glob("*.parquet")))
        cluster = pd.read_parquet(sorted((tmp_path / "cluster" / name).glob("*.parquet")))
        pd.testing.assert_frame_equal(local, cluster)


@pytest.mark.parametrize("fmt", ["shoprank", "criteo"])
def test_generated_logs_of_either_format(tmp_path, fmt):
    from shoprank.data import generate

    generated = generate(tmp_path / "logs", users=300, items=200, rows=8000, format=fmt,
                         progress=False)
    summary = run(tmp_path / "logs" / "logs.json", tmp_path / "out")
    assert sum(s["rows_out"] for s in summary["splits"].values()) == 8000
    # each split's oracle AUC (800 to 6400 rows: noisy) near the generator's overall one
    oracle = [s["oracle_auc"] for s in summary["splits"].values()]
    assert all(abs(a - generated["oracle_auc"]) < 0.1 for a in oracle), oracle
