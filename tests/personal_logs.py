"""A small click log whose ids are personal, as a shop's own log may be: users named by
e-mail address (text), a device id per user (large integers), and a users side table with
each user's postcode (text) and a segment. The logs config marks the e-mail, the device id
and the postcode personal ("privacy": {"personal": [...]}), asks for real-time features and
a count statistic of the user; no numeric column. Every raw personal value carries a random
marker, so finding one in an output file is no accident."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import numpy as np
import pandas as pd

USERS, ITEMS, ROWS = 90, 50, 4_000
PERSONAL = ["user_id", "device_id", "postcode"]


def write_logs(folder: Path, seed: int = 0) -> dict[str, list]:
    """Writes folder/{impressions/part.parquet, users.parquet, logs.json}; returns every raw
    personal value by column."""
    rng = np.random.default_rng(seed)
    marker = secrets.token_hex(4)
    emails = np.array([f"person{u:03d}.{marker}@example.org" for u in range(USERS)])
    devices = rng.integers(2**40, 2**62, USERS, dtype=np.int64)
    postcodes = np.array([f"PC{marker}-{rng.integers(10_000, 99_999)}" for _ in range(USERS)])
    segment = rng.choice(["new", "regular", "loyal"], USERS)
    quality = rng.normal(0, 1, ITEMS)
    likes = {"new": 0.0, "regular": 0.5, "loyal": 1.0}
    user = rng.integers(0, USERS, ROWS)
    item = rng.integers(0, ITEMS, ROWS)
    logit = quality[item] + np.vectorize(likes.get)(segment[user]) - 1.0
    minutes = np.sort(rng.integers(0, 5 * 24 * 60, ROWS))  # whole minutes: ties in time
    impressions = pd.DataFrame({
        "timestamp": (1_700_000_000 + 60 * minutes).astype(np.int64),
        "user_id": emails[user], "device_id": devices[user], "item_id": item.astype(np.int64),
        "clicked": (rng.random(ROWS) < 1 / (1 + np.exp(-logit))).astype(np.int8)})
    (folder / "impressions").mkdir(parents=True)
    impressions.to_parquet(folder / "impressions" / "part.parquet", index=False)
    pd.DataFrame({"user_id": emails, "postcode": postcodes, "segment": segment}).to_parquet(
        folder / "users.parquet", index=False)
    config = {
        "format": "parquet", "impressions": "impressions/*.parquet", "timestamp": "timestamp",
        "label": "clicked", "user_id": "user_id", "item_id": "item_id",
        "side_tables": {"users": {"path": "users.parquet", "key": "user_id"}},
        "categorical": ["user_id", "device_id", "item_id", "postcode", "segment"],
        "statistics": {"count": ["user_id"]},
        "realtime": {"recent_clicks": 3, "window_minutes": 240},
        "privacy": {"personal": PERSONAL},
        "split": {"valid": 0.15, "test": 0.15},
    }
    (folder / "logs.json").write_text(json.dumps(config, indent=1))
    return {"user_id": list(emails), "device_id": [int(d) for d in devices],
            "postcode": list(postcodes)}


def raw_patterns(values: dict[str, list]) -> list[bytes]:
    """The byte patterns a raw value would leave in a file: text as UTF-8; an integer as
    its decimal text and as 8 bytes in either order."""
    patterns = []
    for column in values.values():
        for value in column:
            if isinstance(value, str):
                patterns.append(value.encode())
            else:
                patterns += [str(value).encode(), int(value).to_bytes(8, "little", signed=True),
                             int(value).to_bytes(8, "big", signed=True)]
    return patterns
