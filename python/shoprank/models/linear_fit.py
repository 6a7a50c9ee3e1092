"""A logistic regression on the processed features, fitted to convergence: the linear part
of a model (linear_part.py) and the quality peer of benchmarks/peers.py.

Its inputs, as a sparse matrix: one column per row of the fused embedding layout (a single
categorical is one-hot, a list feature multi-hot weighted as the embeddings pool it), then
the continuous features sorted by name. L2 strength C picked on the valid split.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
DEFAULT_C = 0.03  # the grid's most frequent winner (benchmarks/README.md), when no valid split


@dataclasses.dataclass(frozen=True)
class LinearFit:
    model: object         # the fitted sklearn LogisticRegression
    table: np.ndarray     # (rows,) one weight per row of the layout
    kernel: np.ndarray    # (continuous,) sorted by name
    bias: float
    c: float
    valid_auc: float | None
    seconds: float


def design_matrix(frame, layout: dict):
    """The sparse inputs of a DataFrame of processed rows, in ``layout``'s order
    (LinearPart.layout(): features with offsets, pooling, continuous)."""
    import scipy.sparse as sp

    n, rows, cols, weights = len(frame), [], [], []
    for f in layout["features"]:
        values = frame[f["name"]].to_numpy()
        if f["list"]:
            lengths = np.fromiter((len(v) for v in values), np.int64, n)
            ids = np.concatenate(values).astype(np.int64) if lengths.sum() else \
                np.zeros(0, np.int64)
            scale = 1.0 / np.maximum(lengths, 1) if layout["pooling"] == "mean" else \
                np.ones(n)
            rows.append(np.repeat(np.arange(n), lengths))
            weights.append(np.repeat(scale, lengths))
        else:
            ids = values.astype(np.int64)
            rows.append(np.arange(n))
            weights.append(np.ones(n))
        cols.append(ids + f["offset"])
    onehot = sp.csr_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
                           shape=(n, layout["rows"]))
    if not layout["continuous"]:
        return onehot
    dense = sp.csr_matrix(frame[layout["continuous"]].to_numpy(np.float64))
    return sp.hstack([onehot, dense], format="csr")


def fit_linear(data, layout: dict, *, grid=C_GRID, seed: int = 0, say=print) -> LinearFit:
    """The logistic regression of ``data``'s label on the train split; C from ``grid`` by
    valid AUC (DEFAULT_C without a valid split). The grid is walked from the strongest
    shrinkage up and left at the first C that scores worse than the one before: valid AUC
    over C rises to one peak and falls (the weakest shrinkage is also the slowest fit).
    (No warm start: scikit-learn's lbfgs then stops at once for C=1 after C=0.3.)"""
    from sklearn.linear_model import LogisticRegression

    from shoprank.metrics import auc

    start = time.perf_counter()
    columns = [f["name"] for f in layout["features"]] + layout["continuous"]

    def split(name):
        frame = data.frame(name, columns=[*columns, data.label])
        return design_matrix(frame, layout), frame[data.label].to_numpy(np.int64)

    x_train, y_train = split("train")
    has_valid = "valid" in data.splits
    x_valid, y_valid = split("valid") if has_valid else (None, None)
    best, previous = None, None
    for c in sorted(grid) if has_valid else (DEFAULT_C,):
        model = LogisticRegression(C=c, max_iter=400, solver="lbfgs", random_state=seed)
        model.fit(x_train, y_train)
        score = auc(y_valid, model.decision_function(x_valid)) if has_valid else None
        if has_valid:
            say(f"linear part: C={c} valid AUC {score:.4f}")
        if best is None or (score is not None and score > best[0]):
            best = (score, c, model)
        elif previous is not None and score < previous:
            break
        previous = score
    score, c, model = best
    coef, intercept = model.coef_[0], float(model.intercept_[0])
    rows = layout["rows"]
    return LinearFit(model=model, table=coef[:rows].astype(np.float32), kernel=coef[rows:].astype(np.float32),
                     bias=intercept, c=c, valid_auc=score,
                     seconds=round(time.perf_counter() - start, 2))
