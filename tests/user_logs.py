"""A small log of another shape than the generator's, as a user's own data arrives: a
ratings log already joined (ids, categorical user and item attributes, one multi-valued
genre list, no numeric column, no side tables) with ties in its timestamps. Each test picks
a config variant of it (with or without a list column, a continuous column, derived side
tables, explicit split files)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

USERS, ITEMS = 120, 80
GENRES = np.array(["action", "comedy", "drama", "horror", "romance", "sci-fi"])

BASE_CONFIG = {
    "format": "parquet", "impressions": "ratings/*.parquet", "timestamp": "timestamp",
    "label": "liked", "user_id": "user_id", "item_id": "item_id",
    "categorical": ["user_id", "item_id", "gender", "age", "occupation"],
    "multi_valued": ["genres"],
    "split": {"valid": 0.15, "test": 0.15},
}


def config(*, lists: bool = True, continuous: bool = False, derived: bool = False) -> dict:
    """A logs.json for the ratings: with or without the genre list as a feature, the
    item's year as a continuous feature, and the users / items tables derived by the ETL."""
    out = dict(BASE_CONFIG, multi_valued=["genres"] if lists else [])
    if continuous:
        out["continuous"] = ["year"]
    if derived:
        out.update(user_columns=["gender", "age", "occupation"],
                   item_columns=["genres", "year"] if continuous else ["genres"])
    return out


def ratings(rows: int = 4000, seed: int = 0) -> pd.DataFrame:
    """Ratings with a planted signal (a user's age group likes some genres, items have a
    quality); timestamps in whole minutes, so many rows share one. The item's year (a
    number, sometimes missing) is there for configs that want a continuous feature."""
    rng = np.random.default_rng(seed)
    gender = rng.choice(["F", "M"], USERS)
    age = rng.choice(["18", "25", "35", "50"], USERS)
    occupation = rng.choice([f"job{j}" for j in range(8)], USERS)
    genres = [list(rng.choice(GENRES, rng.integers(1, 4), replace=False)) for _ in range(ITEMS)]
    quality = rng.normal(0, 1, ITEMS)
    year = np.where(rng.random(ITEMS) < 0.1, np.nan, rng.integers(1950, 2024, ITEMS))
    taste = {a: rng.normal(0, 1.5, len(GENRES)) for a in ("18", "25", "35", "50")}
    user = rng.integers(0, USERS, rows)
    item = rng.integers(0, ITEMS, rows)
    logit = quality[item] + np.array([
        taste[age[u]][np.isin(GENRES, genres[i])].mean() for u, i in zip(user, item)])
    minutes = np.sort(rng.integers(0, 3 * 24 * 60, rows))
    return pd.DataFrame({
        "timestamp": (1_700_000_000 + 60 * minutes).astype(np.int64),
        "user_id": user, "item_id": item,
        "gender": gender[user], "age": age[user], "occupation": occupation[user],
        "genres": [genres[i] for i in item], "year": year[item],
        "liked": (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int8),
    })


def write(folder: Path, config: dict | None = None, *, frame: pd.DataFrame | None = None,
          files: int = 2) -> Path:
    """The ratings as Parquet files under folder/ratings and the config as folder/logs.json;
    returns the config's path."""
    config = config or BASE_CONFIG
    frame = ratings() if frame is None else frame
    if "year" not in config.get("continuous", []):  # no numeric column unless asked
        frame = frame.drop(columns=["year"], errors="ignore")
    (folder / "ratings").mkdir(parents=True, exist_ok=True)
    for i, part in enumerate(np.array_split(np.arange(len(frame)), files)):
        frame.iloc[part].to_parquet(folder / "ratings" / f"part-{i}.parquet", index=False)
    path = folder / "logs.json"
    path.write_text(json.dumps(config, indent=1))
    return path
