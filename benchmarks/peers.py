"""The quality peers of the trained models, on the same processed features (the output of
`shoprank etl`), tuned on the valid split only and scored on the test split:

* a logistic regression (scikit-learn): one-hot of every categorical id, multi-hot of list
  columns, the continuous features as they are; L2 strength C picked on valid;
* gradient-boosted trees (LightGBM): the categorical ids as LightGBM categoricals, the
  continuous features; list columns as their length (trees split on no multi-hot); the
  number of trees picked on valid by early stopping.
"""

from __future__ import annotations

import numpy as np

C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


def _columns(data):
    from merlin.schema import Tags

    features = data.schema.excluding_by_name([data.label])
    categorical = features.select_by_tag(Tags.CATEGORICAL)
    lists = [c.name for c in categorical if c.is_list]
    single = [c.name for c in categorical if not c.is_list]
    sizes = {c.name: int(c.int_domain.max) + 1 for c in categorical}
    continuous = [c for c in features.column_names if c not in sizes]
    return single, lists, continuous, sizes


def _one_hot(frame, single, lists, continuous, sizes):
    """A sparse matrix: one block of columns per categorical (its ids), then continuous."""
    import scipy.sparse as sp

    blocks, n = [], len(frame)
    for name in single:
        ids = np.minimum(frame[name].to_numpy(np.int64), sizes[name] - 1)
        blocks.append(sp.csr_matrix((np.ones(n), (np.arange(n), ids)), shape=(n, sizes[name])))
    for name in lists:
        values = frame[name].to_numpy()
        lengths = np.fromiter((len(v) for v in values), np.int64, n)
        ids = np.minimum(np.concatenate(values).astype(np.int64), sizes[name] - 1) \
            if lengths.sum() else np.zeros(0, np.int64)
        rows = np.repeat(np.arange(n), lengths)
        weights = np.repeat(1.0 / np.maximum(lengths, 1), lengths)  # mean pooling, as trained
        blocks.append(sp.csr_matrix((weights, (rows, ids)), shape=(n, sizes[name])))
    if continuous:
        blocks.append(sp.csr_matrix(frame[continuous].to_numpy(np.float64)))
    return sp.hstack(blocks, format="csr")


def linear_model(data, *, seed: int = 0, say=print) -> dict:
    """Logistic regression, C tuned on valid; test AUC of the best C."""
    from sklearn.linear_model import LogisticRegression

    from shoprank.metrics import auc

    columns = _columns(data)
    frames = {split: data.frame(split) for split in ("train", "valid", "test")}
    x = {split: _one_hot(frame, *columns) for split, frame in frames.items()}
    y = {split: frame[data.label].to_numpy(np.int64) for split, frame in frames.items()}
    del frames  # the sparse matrices hold what the models read
    best = None
    for c in C_GRID:
        model = LogisticRegression(C=c, max_iter=400, solver="lbfgs", random_state=seed)
        model.fit(x["train"], y["train"])
        valid = auc(y["valid"], model.predict_proba(x["valid"])[:, 1])
        say(f"  linear C={c}: valid AUC {valid:.4f}")
        if best is None or valid > best[0]:
            best = (valid, c, model)
    valid, c, model = best
    return {"model": "linear", "valid_auc": valid, "setting": f"C={c}",
            "test_auc": auc(y["test"], model.predict_proba(x["test"])[:, 1])}


def boosted_trees(data, *, seed: int = 0, say=print) -> dict:
    """LightGBM with early stopping on valid; test AUC at the best iteration."""
    import lightgbm as lgb

    from shoprank.metrics import auc

    single, lists, continuous, _ = _columns(data)

    def table(split):
        frame = data.frame(split)
        out = frame[single + continuous].copy()
        for name in lists:
            out[f"{name}_length"] = frame[name].map(len)
        return out, frame[data.label].to_numpy(np.int64)

    (x_train, y_train), (x_valid, y_valid), (x_test, y_test) = (
        table(s) for s in ("train", "valid", "test"))
    model = lgb.LGBMClassifier(n_estimators=2000, learning_rate=0.05, num_leaves=63,
                               min_child_samples=50, cat_smooth=20, subsample=0.8,
                               subsample_freq=1, colsample_bytree=0.8, random_state=seed,
                               verbose=-1)
    model.fit(x_train, y_train, eval_set=[(x_valid, y_valid)], eval_metric="auc",
              categorical_feature=single,
              callbacks=[lgb.early_stopping(50, verbose=False)])
    valid = auc(y_valid, model.predict_proba(x_valid)[:, 1])
    say(f"  boosted trees: {model.best_iteration_} trees, valid AUC {valid:.4f}")
    return {"model": "boosted trees", "valid_auc": valid,
            "setting": f"{model.best_iteration_} trees",
            "test_auc": auc(y_test, model.predict_proba(x_test)[:, 1])}
