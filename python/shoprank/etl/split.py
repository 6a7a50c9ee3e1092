"""Splitting logs by time: train is the earliest window, test the latest, valid between.

Logs with a timestamp split at its quantiles (rows sharing a timestamp stay together);
logs without one (Criteo) split by row order, which is their time order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shoprank.etl.config import LogsConfig
from shoprank.etl.reading import ROW

SPLITS = ("train", "valid", "test")


def split_by_time(ddf, config: LogsConfig, rows: int) -> tuple[dict, dict]:
    """Returns ({split: dask DataFrame}, {split: [start, end) of the window, as text})."""
    train_end = 1.0 - config.valid_fraction - config.test_fraction
    valid_end = 1.0 - config.test_fraction
    if config.timestamp is None:
        column = ddf[ROW]
        cuts = [int(rows * train_end), int(rows * valid_end)]
    else:
        column = ddf[config.timestamp]
        cuts = [pd.Timestamp(int(q)) for q in _quantiles(column, [train_end, valid_end], rows)]
    masks = {"train": column < cuts[0], "valid": (column >= cuts[0]) & (column < cuts[1]),
             "test": column >= cuts[1]}
    windows = {"train": ["start", str(cuts[0])], "valid": [str(cuts[0]), str(cuts[1])],
               "test": [str(cuts[1]), "end"]}
    splits = {name: ddf[mask] for name, mask in masks.items()
              if name != "valid" or config.valid_fraction > 0}
    return splits, {name: windows[name] for name in splits}


EXACT_LIMIT = 50_000_000  # timestamps (8 bytes each) held in memory for exact quantiles


def _quantiles(column, fractions: list[float], rows: int) -> list[int]:
    """Exact quantiles of the timestamps up to EXACT_LIMIT rows; beyond, Dask's approximate
    ones (it merges per-partition percentiles: deterministic, but coarse on few partitions)."""
    stamps = column.astype("int64")
    if rows > EXACT_LIMIT:
        return stamps.quantile(fractions).compute().tolist()
    return np.quantile(stamps.compute().to_numpy(), fractions, method="lower").tolist()
