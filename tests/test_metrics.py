"""AUC and log loss against brute-force references on fresh random data, and their errors."""

from __future__ import annotations

import numpy as np
import pytest

from shoprank.data.auc_histogram import AucHistogram
from shoprank.metrics import auc, coverage, intra_list_diversity, log_loss


def pairwise_auc(labels, scores):
    pos, neg = scores[labels == 1], scores[labels == 0]
    diff = pos[:, None] - neg[None, :]
    return ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size


def test_auc_matches_pairwise_reference_with_ties(rng):
    labels = rng.integers(0, 2, 800)
    scores = rng.integers(0, 20, 800).astype(float)  # many ties
    assert auc(labels, scores) == pytest.approx(pairwise_auc(labels, scores), abs=1e-12)


def test_histogram_auc_matches_exact(rng):
    p = rng.random(50_000)
    labels = (rng.random(50_000) < p).astype(int)
    hist = AucHistogram()
    for chunk in range(5):
        hist.add(labels[chunk::5], p[chunk::5])
    assert hist.value() == pytest.approx(auc(labels, p), abs=1e-4)


def test_log_loss_reference(rng):
    labels = rng.integers(0, 2, 100)
    p = rng.uniform(0.01, 0.99, 100)
    want = -np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p))
    assert log_loss(labels, p) == pytest.approx(want)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="both positive and negative"):
        auc([1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match="3 labels but 2 scores"):
        auc([0, 1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match="2 labels but 1 probabilities"):
        log_loss([0, 1], [0.5])


def pairwise_diversity(vectors):
    distances = []
    for i in range(len(vectors)):
        for j in range(i + 1, len(vectors)):
            a, b = vectors[i].astype(np.float64), vectors[j].astype(np.float64)
            norms = np.linalg.norm(a) * np.linalg.norm(b)
            distances.append(1.0 - (a @ b / norms if norms > 0 else 0.0))
    return np.mean(distances)


def test_intra_list_diversity_matches_pairwise_reference(rng):
    vectors = rng.standard_normal((12, 5)).astype(np.float32)
    vectors[3] = 0  # a zero vector: similarity 0, distance 1
    assert intra_list_diversity(vectors) == pytest.approx(pairwise_diversity(vectors), abs=1e-12)


def test_intra_list_diversity_known_values():
    assert intra_list_diversity([[1, 0], [2, 0]]) == pytest.approx(0.0)
    assert intra_list_diversity([[1, 0], [0, 3]]) == pytest.approx(1.0)
    assert intra_list_diversity([[1, 0], [-1, 0]]) == pytest.approx(2.0)
    assert intra_list_diversity([[1, 0], [0, 0]]) == pytest.approx(1.0)
    assert intra_list_diversity([[1, 0]]) == 0.0
    assert intra_list_diversity(np.zeros((0, 4))) == 0.0
    with pytest.raises(ValueError, match="intra_list_diversity: expected a 2-D"):
        intra_list_diversity([1.0, 2.0])


def test_coverage():
    assert coverage([3, 3, 7, -1]) == 0.5  # 2 distinct labels over 4 items; -1 covers nothing
    assert coverage(np.arange(5)) == 1.0
    assert coverage([-1, -1]) == 0.0
    assert coverage([]) == 0.0
    with pytest.raises(ValueError, match="coverage: expected integer labels"):
        coverage([0.5, 1.0])
