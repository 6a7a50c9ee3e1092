"""The diversity re-rank, the last step of a multi-stage recommender: greedy Maximal Marginal
Relevance (MMR) over the candidates' item embeddings, with hard caps per label (category,
brand). One request at a time. The engine's side is engine/diversity/mmr.cpp, the
reference diversity_reference.py.

Semantics, identical on both backends:

* repeatedly pick, among the candidates not yet picked and not blocked by a cap, the one
  maximising ``w * score[i] - (1 - w) * max(sim(i, j) for j picked)``, with
  ``w = relevance_weight`` in [0, 1] (1: pure relevance); with nothing picked yet the penalty
  term is 0; ``w * score`` is taken as 0 when ``w = 0`` and the score is a number (0 * inf);
* ``sim`` is the cosine similarity of the embeddings; a zero vector has similarity 0 with
  everything;
* the objective is evaluated in float64 and compared as float32 in top-k's order: a NaN score
  gives a NaN objective, never picked before a candidate with a number; ties go to the lower
  candidate index. So ``w = 1`` without caps returns the indices of ``shoprank.topk``;
* a cap ``(labels, max_per_label)`` blocks every candidate whose label already appears
  ``max_per_label`` times among the picks; a label < 0 means "no label", never capped;
* when fewer than ``k`` candidates are eligible the result is padded with index -1 and
  score -inf; ``k = 0`` gives empty arrays.

Cost: O(k * n * d); each candidate keeps its running max similarity, updated against the
newest pick only.
"""

from __future__ import annotations

import numbers
import operator

import numpy as np

from shoprank import _engine
from shoprank.selection.topk import _check_k, _host_matrix

DIVERSITY_BACKENDS = ("cpp", "numpy")


def diversify(scores, embeddings, k: int, *, relevance_weight: float = 0.5, caps=(),
              backend: str = "cpp", num_threads: int = 0):
    """Re-ranks one request's candidates for diversity: greedy MMR with label caps.

    Parameters
    ----------
    scores : array, float32, shape (n,)
        The candidates' relevance (the ranker's click probabilities).
    embeddings : array, float32, shape (n, d), finite
        The candidates' item embeddings, one row per candidate.
    k : int
        How many to pick (>= 0).
    relevance_weight : float in [0, 1]
        ``w`` of the objective: 1 is pure relevance, 0 pure diversity. The two terms keep
        their own scales (click probabilities are often small next to cosine similarities),
        so tune it on your data.
    caps : sequence of (labels, max_per_label) pairs
        Hard caps, e.g. one for category and one for brand: labels are integers, shape (n,),
        < 0 for "no label"; max_per_label an int >= 1.
    backend : str
        ``"cpp"`` (the C++ engine, multithreaded, the GIL released) or ``"numpy"`` (the
        reference).
    num_threads : int
        Threads for the ``"cpp"`` backend (0: all cores).

    Returns
    -------
    (values, indices) : float32 (k,) and int64 (k,)
        The picked candidates' scores and indices, in pick order, padded with (-inf, -1).

    Examples
    --------
    >>> import numpy as np, shoprank
    >>> scores = np.array([0.9, 0.8, 0.7], np.float32)
    >>> embeddings = np.array([[1, 0], [1, 0], [0, 1]], np.float32)  # 0 and 1 look alike
    >>> shoprank.diversify(scores, embeddings, 2, relevance_weight=0.5)[1].tolist()
    [0, 2]
    >>> shoprank.diversify(scores, embeddings, 2, relevance_weight=1.0)[1].tolist()
    [0, 1]
    >>> brand = np.array([7, 3, 7])  # one item per brand: 2 has 0's brand
    >>> values, indices = shoprank.diversify(scores, embeddings, 3, relevance_weight=1.0,
    ...                                      caps=[(brand, 1)])
    >>> indices.tolist(), float(values[-1])  # padded: 2 is blocked
    ([0, 1, -1], -inf)
    """
    k = _check_k(k)
    scores = np.asarray(scores)
    if scores.dtype != np.float32:
        raise TypeError(f"scores: expected float32, got {scores.dtype} (convert with .astype)")
    if scores.ndim != 1:
        raise ValueError(f"scores: expected a 1-D array, got {scores.ndim}-D shape {scores.shape}")
    n = scores.shape[0]
    embeddings = _host_matrix(embeddings, "embeddings")
    if embeddings.shape[0] != n:
        raise ValueError(f"embeddings: {embeddings.shape[0]} rows for {n} scores "
                         "(one row per candidate)")
    weight = _check_weight(relevance_weight)
    caps = _check_caps(caps, n)
    if backend not in DIVERSITY_BACKENDS:
        raise ValueError(f"backend: expected one of {DIVERSITY_BACKENDS}, got {backend!r}")
    scores = np.ascontiguousarray(scores)
    if backend == "cpp":
        return _engine.diversify(scores, embeddings, k, relevance_weight=weight, caps=caps,
                                 num_threads=num_threads)
    from shoprank.selection import diversity_reference

    # the engine checks this itself, in the same words. Summed in float64 a finite row
    # cannot overflow: a non-finite sum means a non-finite row.
    bad = np.flatnonzero(~np.isfinite(embeddings.sum(axis=1, dtype=np.float64)))
    if bad.size:
        raise ValueError(f"embeddings: row {bad[0]} is not finite")
    return diversity_reference.diversify(scores, embeddings, k, weight, caps)


def _check_weight(weight) -> float:
    if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
        raise TypeError(f"relevance_weight: expected a number, got {type(weight).__name__}")
    weight = float(weight)
    if not 0.0 <= weight <= 1.0:  # NaN fails too
        raise ValueError(f"relevance_weight: must be in [0, 1], got {weight}")
    return weight


def _check_caps(caps, n: int) -> list:
    """Each cap as (C-contiguous int64 labels of length n, int max_per_label >= 1)."""
    checked = []
    for c, cap in enumerate(caps):
        name = f"caps[{c}]"
        try:
            labels, max_per_label = cap
        except (TypeError, ValueError):
            raise ValueError(f"{name}: expected a (labels, max_per_label) pair") from None
        labels = np.asarray(labels)
        if labels.dtype.kind not in "iu" or not np.can_cast(labels.dtype, np.int64):
            raise ValueError(f"{name} labels: expected integers (int64), got {labels.dtype}")
        if labels.shape != (n,):
            raise ValueError(f"{name} labels: expected shape ({n},), one per candidate, "
                             f"got {labels.shape}")
        if isinstance(max_per_label, bool) or not isinstance(max_per_label, numbers.Integral):
            raise ValueError(f"{name} max_per_label: expected an integer, got {max_per_label!r}")
        max_per_label = operator.index(max_per_label)
        if max_per_label < 1:
            raise ValueError(f"{name} max_per_label: must be >= 1, got {max_per_label}")
        checked.append((np.ascontiguousarray(labels, dtype=np.int64), max_per_label))
    return checked
