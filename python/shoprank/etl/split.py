"""Splitting logs by time: train is the earliest window, test the latest, valid between.

Logs with a timestamp split at its quantiles (rows sharing a timestamp stay together);
logs without one (Criteo) split by row order, which is their time order. Logs a user has
already split come as files per split (``split_by_files``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shoprank.etl.config import LogsConfig
from shoprank.etl.reading import ROW, find_files, read_logs


def read_and_split(config: LogsConfig) -> tuple[dict, dict, int, dict]:
    """({split: dask DataFrame}, {split: window}, rows read, {reason: rows dropped}), by
    time or by the files given per split."""
    if config.split_files:
        return split_by_files(config)
    ddf, rows_read, dropped = read_logs(config, find_files(config))
    splits, windows = split_by_time(ddf, config, rows_read - sum(dropped.values()))
    return splits, windows, rows_read, dropped


def split_by_files(config: LogsConfig) -> tuple[dict, dict, int, dict]:
    """Each split read from its own files; its window is the time its rows span."""
    splits, windows, rows_read, dropped = {}, {}, 0, {}
    for name in config.split_files:
        splits[name], rows, drops = read_logs(config, find_files(config, name))
        rows_read += rows
        for reason, count in drops.items():
            dropped[reason] = dropped.get(reason, 0) + count
        if config.timestamp:
            stamps = splits[name][config.timestamp]
            windows[name] = [str(stamps.min().compute()), str(stamps.max().compute())]
        else:
            windows[name] = ["files", config.split_files[name]]
    return splits, windows, rows_read, dropped


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
