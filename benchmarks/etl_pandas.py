"""The ETL's peer for bench_etl.py: the same operations in plain pandas, in memory.

Reads the logs a config describes, joins the side tables, splits by time, fits every
statistic on train (category maps with a frequency threshold, hash buckets, crosses, hour
and weekday, fill/clip/log/normalise, value counts, smoothed click-through rates, list
categories) and writes the transformed splits as Parquet. What a user writes without
NVTabular; it needs the whole input in memory.
"""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pandas as pd

from shoprank.etl.config import LogsConfig
from shoprank.etl.workflow import NULL_ID, UNSEEN_ID

FIRST_ID = UNSEEN_ID + 1  # NVTabular's first id of a known value


def run_pandas_etl(config: LogsConfig, out) -> dict:
    out = Path(out)
    frame = pd.concat([pd.read_parquet(f) for f in sorted(glob.glob(str(config.root / config.impressions)))],
                      ignore_index=True)
    for table in config.side_tables.values():
        frame = frame.merge(pd.read_parquet(table.path), how="left", on=table.key)
    stamps = frame[config.timestamp]
    cuts = stamps.quantile([1 - config.valid_fraction - config.test_fraction,
                            1 - config.test_fraction], interpolation="lower").tolist()
    splits = {"train": frame[stamps < cuts[0]], "valid": frame[(stamps >= cuts[0]) & (stamps < cuts[1])],
              "test": frame[stamps >= cuts[1]]}
    transform = fit(config, splits["train"])
    out.mkdir(parents=True, exist_ok=True)
    for name, split in splits.items():
        transform(split).to_parquet(out / f"{name}.parquet", index=False)
    return {name: len(split) for name, split in splits.items()}


def fit(config: LogsConfig, train: pd.DataFrame):
    """Fits every statistic on train; returns the function that transforms a split."""
    for column in config.time_features:
        train = train.assign(**{f"{column}_hour": train[column].dt.hour,
                                f"{column}_weekday": train[column].dt.weekday})
    crosses = {"_".join(c): list(c) for c in config.crosses}
    for name, columns in crosses.items():
        train = train.assign(**{name: _combine(train, columns)})
    time_columns = [f"{c}_{p}" for c in config.time_features for p in ("hour", "weekday")]
    vocab = {c: _vocabulary(train[c], config.freq_threshold)
             for c in [*config.categorical, *crosses, *time_columns]}
    list_vocab = {c: _vocabulary(train[c].explode(), config.freq_threshold)
                  for c in config.multi_valued}
    continuous = {c: np.log1p(train[c].fillna(0).clip(lower=0)) for c in config.continuous}
    counts = {c: train[c].value_counts() for c in config.count_statistics}
    for c, table in counts.items():
        continuous[f"{c}_count"] = np.log1p(train[c].map(table).fillna(0))
    prior = train[config.label].mean()
    ctr = {}
    for c in config.ctr_statistics:
        stats = train.groupby(c)[config.label].agg(["sum", "count"])
        ctr[c] = (stats["sum"] + 20 * prior) / (stats["count"] + 20)
        continuous[f"TE_{c}_{config.label}"] = train[c].map(ctr[c]).fillna(prior)
    moments = {c: (v.mean(), v.std()) for c, v in continuous.items()}

    def transform(split: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for column in config.time_features:
            out[f"{column}_hour"] = split[column].dt.hour
            out[f"{column}_weekday"] = split[column].dt.weekday
        for name, columns in crosses.items():
            out[name] = _combine(split, columns)
        for c, table in vocab.items():
            out[c] = _encode(out[c] if c in out else split[c], table)
        for c, table in list_vocab.items():
            flat = split[c].explode()
            ids = _encode(flat, table).groupby(level=0).agg(list)
            out[c] = ids.reindex(split.index).to_numpy()
        for c, buckets in config.hashed.items():
            out[c] = pd.util.hash_pandas_object(split[c], index=False).to_numpy() % buckets
        values = {c: np.log1p(split[c].fillna(0).clip(lower=0)) for c in config.continuous}
        for c, table in counts.items():
            values[f"{c}_count"] = np.log1p(split[c].map(table).fillna(0))
        for c, table in ctr.items():
            values[f"TE_{c}_{config.label}"] = split[c].map(table).fillna(prior)
        for c, v in values.items():
            mean, std = moments[c]
            out[c] = ((v - mean) / std).astype(np.float32)
        for c in [*config.labels, *config.passthrough_columns]:
            out[c] = split[c]
        return pd.DataFrame(out, index=split.index)

    return transform


def _combine(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    return frame[columns].astype(str).agg("|".join, axis=1)


def _vocabulary(values: pd.Series, threshold: int) -> pd.Series:
    counts = values.value_counts()
    kept = counts[counts >= max(threshold, 1)].index
    return pd.Series(np.arange(FIRST_ID, FIRST_ID + len(kept)), index=kept)


def _encode(values: pd.Series, table: pd.Series) -> pd.Series:
    ids = values.map(table)
    ids = ids.where(values.isna() | ids.notna(), UNSEEN_ID)
    return ids.fillna(NULL_ID).astype(np.int64)
