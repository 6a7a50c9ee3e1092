"""``evaluate``: how good a trained model is on a split of the processed data.

AUC and log loss over every impression; NDCG@k and recall@k over each user's impressions
(clicks as relevance); and, on generated logs, the oracle AUC of the true click
probabilities beside the model's.
"""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

from shoprank.etl.config import P_CLICK
from shoprank.metrics import auc, log_loss, ranking_metrics
from shoprank.models.data import load_processed


def predict(model, data, split: str, batch_size: int = 8192) -> np.ndarray:
    import merlin.models.tf as mm

    loader = mm.Loader(data.dataset(split), batch_size=batch_size, shuffle=False)
    return np.asarray(model.predict(loader, verbose=0)).reshape(-1)


def evaluate(model_dir, processed_dir, *, split: str = "test", k: int = 10, model=None,
             user_column: str = "user_id") -> dict:
    from shoprank.models.folders import load_keras_model

    data = load_processed(processed_dir)
    if split not in data.splits:
        raise ValueError(f"{processed_dir}: no {split}/ split to evaluate on")
    model = model or load_keras_model(model_dir)
    scores = predict(model, data, split)
    labels = data.column(split, data.label)
    if scores.shape != labels.shape:
        raise RuntimeError(f"{scores.size} predictions for {labels.size} rows")
    result = {"split": split, "rows": int(labels.size), "auc": auc(labels, scores),
              "log_loss": log_loss(labels, scores)}
    if user_column in data.schema.column_names:
        result.update(ranking_metrics(data.column(split, user_column), labels, scores, k))
    if P_CLICK in pq.read_schema(data.files(split)[0]).names:  # generated logs only
        result["oracle_auc"] = auc(labels, data.column(split, P_CLICK))
    return result
