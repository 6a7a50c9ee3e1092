"""shoprank.diversify (greedy MMR with label caps): the C++ engine against the NumPy
reference on fresh random data, exact for ids; its properties; bad input."""

from __future__ import annotations

import numpy as np
import pytest

import shoprank
from shoprank import _engine

BACKENDS = ["cpp", "numpy"]


def candidates(rng, n, d):
    """Scores with many ties, salted with NaN and +-inf; embeddings with zero rows and exact
    duplicates (ties in similarity)."""
    scores = (rng.integers(0, 8, n) / 8).astype(np.float32)
    specials = np.array([np.nan, np.inf, -np.inf], dtype=np.float32)
    salted = rng.random(n) < 0.05
    scores[salted] = rng.choice(specials, size=int(salted.sum()))
    embeddings = rng.standard_normal((n, d)).astype(np.float32)
    embeddings[rng.random(n) < 0.05] = 0
    copies = rng.random(n) < 0.1
    embeddings[copies] = embeddings[rng.integers(0, n, int(copies.sum()))]
    return scores, embeddings


def random_caps(rng, n):
    """A category and a brand cap; label -1 is "no label"."""
    return [(rng.integers(-1, 5, n), int(rng.integers(1, 4))),
            (rng.integers(-1, 20, n), int(rng.integers(1, 3)))]


def assert_same(result, expected):
    np.testing.assert_array_equal(result[1], expected[1])
    np.testing.assert_array_equal(result[0], expected[0])
    assert result[0].dtype == np.float32 and result[1].dtype == np.int64


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.7, 1.0])
@pytest.mark.parametrize("n,d,k", [(1, 1, 1), (5, 3, 8), (40, 4, 40), (500, 1, 20),
                                   (200, 16, 30), (3000, 32, 40)])
def test_engine_matches_reference(n, d, k, weight, rng):
    scores, embeddings = candidates(rng, n, d)
    for caps in ([], random_caps(rng, n)):
        expected = shoprank.diversify(scores, embeddings, k, relevance_weight=weight, caps=caps,
                                      backend="numpy")
        for threads in (1, 2):
            assert_same(shoprank.diversify(scores, embeddings, k, relevance_weight=weight,
                                           caps=caps, num_threads=threads), expected)


def test_worked_example():
    """The penalty is the max similarity, signed: an opposite item gets a bonus."""
    scores = np.array([0.9, 0.85, 0.5, 0.3], np.float32)
    embeddings = np.array([[1, 0], [2, 0], [0, 1], [-1, 0]], np.float32)
    for backend in BACKENDS:
        values, indices = shoprank.diversify(scores, embeddings, 4, relevance_weight=0.5,
                                             backend=backend)
        assert indices.tolist() == [0, 3, 2, 1]
        assert values.tolist() == scores[[0, 3, 2, 1]].tolist()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n,k", [(1, 1), (30, 10), (30, 40), (2000, 64)])
def test_pure_relevance_equals_topk(backend, n, k, rng):
    scores = rng.integers(-3, 4, n).astype(np.float32)
    specials = np.array([np.nan, np.inf, -np.inf, -0.0], dtype=np.float32)
    salted = rng.random(n) < 0.1
    scores[salted] = rng.choice(specials, size=int(salted.sum()))
    embeddings = rng.standard_normal((n, 8)).astype(np.float32)
    values, indices = shoprank.topk(scores[None], k)
    result = shoprank.diversify(scores, embeddings, k, relevance_weight=1.0, backend=backend)
    assert_same(result, (values[0], indices[0]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_caps_are_never_exceeded_and_padding_means_all_capped(backend, rng):
    for _ in range(20):
        n = int(rng.integers(1, 80))
        scores, embeddings = candidates(rng, n, 4)
        caps = random_caps(rng, n)
        k = int(rng.integers(0, n + 5))
        values, indices = shoprank.diversify(scores, embeddings, k, caps=caps, backend=backend)
        picked = indices[indices >= 0]
        assert len(set(picked.tolist())) == picked.size
        assert (indices[picked.size:] == -1).all() and (values[picked.size:] == -np.inf).all()
        for labels, max_per_label in caps:
            _, counts = np.unique(labels[picked][labels[picked] >= 0], return_counts=True)
            assert (counts <= max_per_label).all()
        if picked.size < k:  # padded: every candidate left is blocked by a full label
            left = np.setdiff1d(np.arange(n), picked)
            full = np.zeros(n, dtype=bool)
            for labels, max_per_label in caps:
                for label in np.unique(labels[picked]):
                    if label >= 0 and (labels[picked] == label).sum() == max_per_label:
                        full |= labels == label
            assert full[left].all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_fewer_eligible_than_k_pads(backend):
    scores = np.array([0.1, 0.9, 0.5, 0.7, 0.3], np.float32)
    embeddings = np.eye(5, dtype=np.float32)
    category = np.array([0, 0, 0, -1, 1])  # item 3 has no category: never capped
    values, indices = shoprank.diversify(scores, embeddings, 6, relevance_weight=1.0,
                                         caps=[(category, 2)], backend=backend)
    assert indices.tolist() == [1, 3, 2, 4, -1, -1]
    np.testing.assert_array_equal(values, np.float32([0.9, 0.7, 0.5, 0.3, -np.inf, -np.inf]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_results(backend):
    scores, embeddings = np.ones(3, np.float32), np.ones((3, 2), np.float32)
    for result in (shoprank.diversify(scores, embeddings, 0, backend=backend),
                   shoprank.diversify(scores[:0], embeddings[:0], 0, backend=backend)):
        assert result[0].shape == result[1].shape == (0,)
        assert result[0].dtype == np.float32 and result[1].dtype == np.int64
    values, indices = shoprank.diversify(scores[:0], embeddings[:0], 2, backend=backend)
    assert indices.tolist() == [-1, -1] and (values == -np.inf).all()


S, E = np.ones(5, np.float32), np.ones((5, 3), np.float32)
NAN_ROW = E.copy()
NAN_ROW[2, 1] = np.nan
INF_ROW = E.copy()
INF_ROW[4, 0] = -np.inf
LABELS = np.arange(5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(embeddings=E[:4]), "embeddings: 4 rows for 5 scores"),
        (dict(scores=S[None]), "scores: expected a 1-D"),
        (dict(embeddings=E[0]), "embeddings: expected a 2-D"),
        (dict(embeddings=NAN_ROW), "embeddings: row 2 is not finite"),
        (dict(embeddings=INF_ROW), "embeddings: row 4 is not finite"),
        (dict(k=-1), "k: must be >= 0"),
        (dict(relevance_weight=-0.1), r"relevance_weight: must be in \[0, 1\]"),
        (dict(relevance_weight=1.5), r"relevance_weight: must be in \[0, 1\]"),
        (dict(relevance_weight=float("nan")), r"relevance_weight: must be in \[0, 1\], got nan"),
        (dict(caps=[(LABELS[:4], 1)]), r"caps\[0\] labels: expected shape \(5,\)"),
        (dict(caps=[(LABELS, 1), (LABELS[None], 1)]), r"caps\[1\] labels: expected shape"),
        (dict(caps=[(LABELS.astype(float), 1)]), r"caps\[0\] labels: expected integers"),
        (dict(caps=[(LABELS.astype(np.uint64), 1)]), r"caps\[0\] labels: expected integers"),
        (dict(caps=[(LABELS, 1), (LABELS, 0)]), r"caps\[1\] max_per_label: must be >= 1"),
        (dict(caps=[(LABELS, 1.5)]), r"caps\[0\] max_per_label: expected an integer"),
        (dict(caps=[LABELS]), r"caps\[0\]: expected a \(labels, max_per_label\) pair"),
        (dict(backend="gpu"), "backend: expected one of"),
    ],
)
def test_bad_input_names_the_argument(backend, kwargs, words):
    arguments = dict(scores=S, embeddings=E, k=2, backend=backend) | kwargs
    with pytest.raises(ValueError, match=words):
        shoprank.diversify(arguments.pop("scores"), arguments.pop("embeddings"),
                           arguments.pop("k"), **arguments)


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: shoprank.diversify(S.astype(np.float64), E, 2), "scores: expected float32"),
        (lambda: shoprank.diversify(S, E.astype(np.float16), 2), "embeddings: expected float32"),
        (lambda: shoprank.diversify(S, E, 1.5), "k: expected an integer"),
        (lambda: shoprank.diversify(S, E, 2, relevance_weight="0.5"),
         "relevance_weight: expected a number"),
    ],
)
def test_wrong_types_raise_type_error(call, words):
    """As for topk: a wrong dtype or type is a TypeError."""
    with pytest.raises(TypeError, match=words):
        call()


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(embeddings=NAN_ROW), "embeddings: row 2 is not finite"),
        (dict(k=-1), "k: must be >= 0"),
        (dict(relevance_weight=float("nan")), "relevance_weight: must be in"),
        (dict(caps=[(LABELS[:4], 1)]), r"caps\[0\] labels: expected 5 entries"),
        (dict(caps=[(LABELS.astype(np.int32), 1)]), r"caps\[0\] labels: expected int64"),
        (dict(caps=[(LABELS, 0)]), r"caps\[0\] max_per_label: must be >= 1"),
        (dict(scores=S[:4]), "embeddings: 5 rows for 4 scores"),
        (dict(embeddings=np.ones((5, 4), np.float32)[:, ::2]), "embeddings: must be C-contiguous"),
    ],
)
def test_engine_binding_checks_its_arguments(kwargs, words):
    arguments = dict(scores=S, embeddings=E, k=2, relevance_weight=0.5) | kwargs
    with pytest.raises(ValueError, match=words):
        _engine.diversify(arguments.pop("scores"), arguments.pop("embeddings"),
                          arguments.pop("k"), **arguments)
