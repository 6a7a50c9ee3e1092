"""Statistics released with differential-privacy noise (issue 21).

A logs config's ``"privacy": {"epsilon": 1.0, "min_count": 10}`` makes the ETL add Laplace
noise, once, right after the fit on the train window, to the per-value statistics that the
saved workflow and so the exported artifacts carry: the `count` statistics (how often each
value occurred) and the `ctr` statistics (each value's impressions and clicks, from which
the smoothed click-through rate is computed). Every later use (the valid and test splits'
features, serving) reads the noisy figures; the exact ones are never written.

What the noise protects: each released figure, to epsilon-differential privacy with
respect to one impression row (adding or removing one row of the train window), for the
values the release lists. Each statistic gets epsilon / k of the budget (k statistics: a
row counts in each of them): a count changes by at most 1 per row (Laplace scale
k / epsilon), an impressions-and-clicks pair by at most 1 each for a 0/1 label (scale
2k / epsilon for both). Not protected: *which* values are listed (they come from the data,
as Categorify's vocabularies in the same artifacts do; ``min_count`` on the noisy counts
makes a rare value's presence uncertain, which is (epsilon, delta)-style at best, not pure
epsilon), the click-through rates' global mean (exact), and the model's weights (trained
on the exact rows). A user with n rows is protected n times less (group privacy). Values
whose noisy count falls below ``min_count`` are dropped, so they read as unseen (count 0,
the global click rate). Noisy counts are clipped at 0 (and rounded for the count
statistics), noisy clicks to [0, impressions].
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np


@dataclasses.dataclass(frozen=True)
class PrivacyConfig:
    epsilon: float | None = None   # None: the statistics exact (min_count still applies)
    min_count: float = 0
    seed: int = 0
    personal: tuple[str, ...] = ()  # columns replaced by keyed pseudonyms (etl/pseudonyms.py)

    @property
    def releases_statistics(self) -> bool:
        """Whether the statistics are released noisy or thinned (else only pseudonyms)."""
        return self.epsilon is not None or self.min_count > 0

    @classmethod
    def from_dict(cls, raw) -> "PrivacyConfig":
        if not isinstance(raw, dict):
            raise ValueError('privacy: expected an object like {"epsilon": 1.0, "min_count": 10}')
        unknown = sorted(set(raw) - {"epsilon", "min_count", "seed", "personal"})
        if unknown:
            raise ValueError(f"privacy: unknown keys {unknown}; known keys: "
                             "['epsilon', 'min_count', 'personal', 'seed']")
        personal = raw.get("personal", [])
        if not isinstance(personal, list) or not all(isinstance(c, str) for c in personal):
            raise ValueError(f"privacy.personal: expected a list of column names, got "
                             f"{personal!r}")
        config = cls(**{**raw, "personal": tuple(personal)})
        if config.epsilon is not None and (not _number(config.epsilon) or config.epsilon <= 0):
            raise ValueError(f"privacy.epsilon: expected a number > 0 (or null: no noise), got "
                             f"{config.epsilon!r}")
        if not _number(config.min_count) or config.min_count < 0:
            raise ValueError(f"privacy.min_count: expected a number >= 0, got "
                             f"{config.min_count!r}")
        if not isinstance(config.seed, int) or isinstance(config.seed, bool):
            raise ValueError(f"privacy.seed: expected an integer, got {config.seed!r}")
        return config


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def release_statistics(workflow, config: PrivacyConfig) -> dict:
    """Replaces the fitted workflow's count and click-through statistics with their noisy
    release (in memory, and the target encodings' statistics files on disk). Returns
    {statistic: {"values": kept, "dropped": below min_count, "scale": Laplace scale}}."""
    from merlin.dag.node import iter_nodes
    from nvtabular.ops import TargetEncoding

    from shoprank.etl.ops.value_counts import ValueCounts

    ops = [node.op for node in iter_nodes([workflow.output_node])
           if isinstance(node.op, (ValueCounts, TargetEncoding))]
    counts = [(op, name) for op in ops if isinstance(op, ValueCounts) for name in op.counts]
    rates = [(op, name) for op in ops if isinstance(op, TargetEncoding) for name in op.stats]
    share = len(counts) + len(rates)  # the budget is split over every statistic
    rng = np.random.default_rng(config.seed)
    report = {}
    for op, name in counts:
        scale = share / config.epsilon if config.epsilon else 0.0
        op.counts[name], report[f"count {name}"] = _noisy_counts(op.counts[name], scale,
                                                                 config.min_count, rng)
    for op, name in rates:
        if op.kfold > 1:
            raise ValueError("privacy: target encodings with kfold > 1 are not released noisy")
        scale = 2 * share / config.epsilon if config.epsilon else 0.0
        report[f"ctr {name}"] = _noisy_rate_file(op.stats[name], scale, config.min_count, rng)
    return report


def _noisy_counts(counts, scale: float, min_count: float, rng):
    """A {value: count} Series with Laplace(scale) noise, clipped at 0, values below
    min_count dropped."""
    noisy = counts.astype(np.float64) + (rng.laplace(0, scale, len(counts)) if scale else 0)
    noisy = noisy.clip(lower=0).round().astype(np.int64)  # whole counts, as exported
    kept = noisy[noisy >= min_count] if min_count else noisy
    return kept, {"values": int(len(kept)), "dropped": int(len(noisy) - len(kept)),
                  "scale": scale}


def _noisy_rate_file(path, scale: float, min_count: float, rng) -> dict:
    """A target encoding's statistics file (value, count, then each target's sum) rewritten
    with Laplace(scale) noise on the count and the sums (sums clipped to [0, count])."""
    import pandas as pd

    stats = pd.read_parquet(path)
    value, count, *sums = stats.columns
    dtypes = stats.dtypes
    noisy = stats[count].astype(np.float64) + (rng.laplace(0, scale, len(stats)) if scale else 0)
    stats[count] = noisy.clip(lower=0)
    for column in sums:
        stats[column] = (stats[column].astype(np.float64) +
                         (rng.laplace(0, scale, len(stats)) if scale else 0)).clip(lower=0)
        stats[column] = np.minimum(stats[column], stats[count])
    keep = stats[count] >= min_count if min_count else np.ones(len(stats), bool)
    kept = stats[keep | stats[value].isna()]  # the null value's row stays: it is not a value
    kept = kept.astype({value: dtypes[value]})
    _replace_parquet(Path(path), kept)
    return {"values": int(kept[value].notna().sum()), "dropped": int((~keep).sum()),
            "scale": scale}


def _replace_parquet(path: Path, frame) -> None:
    """Writes `frame` where the statistics were: one file, or a folder of parts (NVTabular
    writes either), never leaving the exact figures beside it."""
    if not path.is_dir():
        frame.to_parquet(path, index=False)
        return
    parts = sorted(path.glob("*.parquet"))
    frame.to_parquet(path / "part.0.parquet.tmp", index=False)
    for part in parts:
        part.unlink()
    (path / "part.0.parquet.tmp").rename(path / "part.0.parquet")
