"""AUC of probabilities accumulated chunk by chunk in constant memory: positives and
negatives counted in 2^16 equal bins of [0, 1]; pairs inside a bin count half, so the
error is below 1/2^16 of the pairs that share a bin."""

from __future__ import annotations

import numpy as np

BINS = 1 << 16


class AucHistogram:
    def __init__(self):
        self.positives = np.zeros(BINS, np.int64)
        self.negatives = np.zeros(BINS, np.int64)

    def add(self, labels, probabilities) -> None:
        bins = np.minimum((np.asarray(probabilities, np.float64) * BINS).astype(np.int64), BINS - 1)
        positive = np.asarray(labels) != 0
        self.positives += np.bincount(bins[positive], minlength=BINS)
        self.negatives += np.bincount(bins[~positive], minlength=BINS)

    def value(self) -> float | None:
        pos, neg = self.positives.sum(), self.negatives.sum()
        if pos == 0 or neg == 0:
            return None
        below = np.cumsum(self.negatives) - self.negatives  # negatives in lower bins
        pairs = (self.positives * below).sum() + 0.5 * (self.positives * self.negatives).sum()
        return float(pairs / (pos * neg))
