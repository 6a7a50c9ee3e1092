"""Small hand-made logs for ETL tests: every column role of a logs config, in a few
thousand rows, with known values to check the statistics against."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

CONFIG = {
    "format": "parquet", "impressions": "impressions/*.parquet", "timestamp": "timestamp",
    "label": "click", "other_labels": ["purchase"], "user_id": "user_id", "item_id": "item_id",
    "side_tables": {"users": {"path": "users.parquet", "key": "user_id"},
                    "items": {"path": "items.parquet", "key": "item_id"}},
    "categorical": ["user_id", "item_id", "device", "age_band", "category"],
    "hashed": {"session_id": 50}, "multi_valued": ["tags"], "continuous": ["price", "position"],
    "crosses": [["user_id", "category"]], "time_features": ["timestamp"],
    "statistics": {"count": ["item_id"], "ctr": ["item_id"]}, "passthrough": ["_p_click"],
    "split": {"valid": 0.2, "test": 0.2}, "freq_threshold": 1,
}


def impressions(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.integers(0, 30 * 86400, rows))
    frame = pd.DataFrame({
        "timestamp": pd.Timestamp("2024-03-01") + pd.to_timedelta(seconds, unit="s"),
        "user_id": rng.integers(0, 60, rows), "session_id": rng.integers(0, 400, rows),
        "item_id": rng.integers(0, 40, rows), "position": rng.integers(0, 8, rows).astype("int32"),
        "device": rng.choice(["mobile", "desktop", None], rows),
        "click": (rng.random(rows) < 0.3).astype("int8"),
        "_p_click": rng.random(rows).astype("float32"),
    })
    frame["purchase"] = (frame["click"] * (rng.random(rows) < 0.3)).astype("int8")
    return frame


def side_tables(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed + 1)
    users = pd.DataFrame({"user_id": np.arange(60), "age_band": rng.choice(["18-24", "55+"], 60)})
    items = pd.DataFrame({
        "item_id": np.arange(45),  # items 40..44 appear only where a test puts them
        "category": rng.choice(["c1", "c2", "c3"], 45),
        "price": np.where(rng.random(45) < 0.1, np.nan, rng.lognormal(3, 1, 45)).astype("float32"),
        "tags": [list(rng.choice(["a", "b", "c", "d"], rng.integers(0, 3), replace=False))
                 for _ in range(45)],
    })
    return users, items


def write_logs(folder: Path, *, rows: int = 3000, seed: int = 0, frame: pd.DataFrame | None = None,
               config: dict | None = None, files: int = 2) -> Path:
    """Writes impressions (split over `files` Parquet files), side tables and logs.json;
    returns the config path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "impressions").mkdir(exist_ok=True)
    frame = impressions(rows, seed) if frame is None else frame
    for i, part in enumerate(np.array_split(np.arange(len(frame)), files)):
        frame.iloc[part].to_parquet(folder / "impressions" / f"part-{i:05d}.parquet", index=False)
    users, items = side_tables(seed)
    users.to_parquet(folder / "users.parquet", index=False)
    items.to_parquet(folder / "items.parquet", index=False)
    path = folder / "logs.json"
    path.write_text(json.dumps(config or CONFIG, indent=1))
    return path
