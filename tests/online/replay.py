"""Replaying a raw log through a ranker with real-time features, as serving would see it:
the rows of each timestamp ranked (their features filled in from the state as of that
time), then observed."""

from __future__ import annotations

import numpy as np


def replayed_features(ranker, raw, test_start: int) -> dict[str, list]:
    """raw: the log in time order (a DataFrame); returns, for every feature, the transform's
    outputs of the rows from test_start on, as (value, rows of it to skip) pieces."""
    columns = [c for c in ranker.inputs if c in raw.columns]
    spec = ranker.realtime
    features = {name: [] for name in ranker.feature_names}
    stamps = raw[spec["timestamp"]].to_numpy()
    bounds = np.flatnonzero(np.r_[True, stamps[1:] != stamps[:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:]):
        part = raw.iloc[a:b]
        if b > test_start:
            for name, value in ranker.transform({c: part[c].to_numpy() for c in columns}).items():
                features[name].append((value, max(test_start - a, 0)))
        ranker.observe({c: part[c].to_numpy() for c in (spec["user"], spec["item"],
                                                        spec["timestamp"], spec["label"])})
    return features
