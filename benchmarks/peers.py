"""The quality peers of the trained models, on the same processed features (the output of
`shoprank etl`), tuned on the valid split only and scored on the test split:

* a logistic regression (scikit-learn): one-hot of every categorical id, multi-hot of list
  columns (mean-pooled), the continuous features as they are; L2 strength C picked on
  valid (shoprank.models.linear_fit, which also fits a small log's linear part);
* gradient-boosted trees (LightGBM): the categorical ids as LightGBM categoricals, the
  continuous features; list columns as their length (trees split on no multi-hot); the
  number of trees picked on valid by early stopping.
"""

from __future__ import annotations

import numpy as np

def _columns(data):
    from merlin.schema import Tags

    features = data.schema.excluding_by_name([data.label])
    categorical = features.select_by_tag(Tags.CATEGORICAL)
    lists = [c.name for c in categorical if c.is_list]
    single = [c.name for c in categorical if not c.is_list]
    sizes = {c.name: int(c.int_domain.max) + 1 for c in categorical}
    continuous = [c for c in features.column_names if c not in sizes]
    return single, lists, continuous, sizes


def linear_model(data, *, seed: int = 0, say=print) -> dict:
    """Logistic regression, C tuned on valid (the fit a small log's linear part uses,
    shoprank.models.linear_fit); test AUC of the best C."""
    from shoprank.metrics import auc
    from shoprank.models.linear_fit import C_GRID, design_matrix, fit_linear
    from shoprank.models.linear_part import linear_layout

    layout = linear_layout(data)
    fit = fit_linear(data, layout, grid=C_GRID, seed=seed, say=say)
    test = data.frame("test")
    scores = fit.model.decision_function(design_matrix(test, layout))
    return {"model": "linear", "valid_auc": fit.valid_auc, "setting": f"C={fit.c}",
            "test_auc": auc(test[data.label].to_numpy(np.int64), scores)}


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
