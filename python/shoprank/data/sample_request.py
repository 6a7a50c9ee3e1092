"""A realistic ranking request for the demo and the benchmarks, drawn from the tables of the
ETL output a model was trained on."""

from __future__ import annotations

import json

import numpy as np


def sample_request(model_dir, candidates: int, seed: int = 0) -> tuple[dict, dict]:
    """A realistic request for demos and benchmarks: (user columns, candidate columns).

    The user is drawn from the users table among those with every column present
    (NVTabular's Categorify fails on a column null in every row, which one broadcast user
    with a missing age band would be); the candidates are item ids drawn from the items
    table, shown at position 0; the time is the start of the test window. For logs that
    `shoprank generate` wrote (device and browsed category are its columns)."""
    import pandas as pd

    from shoprank.etl.config import read_back
    from shoprank.models.folders import etl_folder, model_folder

    etl_dir = etl_folder(model_folder(model_dir))
    summary = json.loads((etl_dir / "summary.json").read_text())
    config = read_back(etl_dir)  # its tables: the ETL output's, not the raw files
    users = pd.read_parquet(config.side_tables["users"].path).dropna()
    items = pd.read_parquet(config.side_tables["items"].path, columns=[config.item_id])
    items = items[config.item_id].to_numpy()
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(summary["splits"]["test"]["window"][0]).to_datetime64()  # test window
    user = {config.user_id: int(users[config.user_id].iloc[rng.integers(len(users))]),
            "device": "app", "context_category": "c003",
            config.timestamp: np.datetime64(start, "ms")}
    chosen = rng.choice(items, candidates, replace=candidates > len(items))
    return user, {config.item_id: chosen, "position": np.zeros(candidates, np.int64)}
