"""The Merlin path: the saved NVTabular Workflow on a pandas DataFrame, then the TensorFlow
model; the way a Merlin user serves a model, and the baseline the native engine is tested
(parity) and benchmarked (latency) against. Needs the full install (NVTabular, TensorFlow).
"""

from __future__ import annotations

import json

import numpy as np


class MerlinRanker:
    """Loads a trained model folder, its Workflow and the side tables once."""

    def __init__(self, model_dir):
        import shoprank.etl  # noqa: F401  (quiets TensorFlow and Merlin's CPU warnings)
        import nvtabular as nvt
        import pandas as pd

        from shoprank.etl.config import read_back
        from shoprank.etl.inputs import read_pseudonymised, read_raw_columns
        from shoprank.models.folders import etl_folder, load_keras_model, model_folder

        model_dir = model_folder(model_dir)
        etl_dir = etl_folder(model_dir)
        if read_pseudonymised(etl_dir):  # its vocabularies hold pseudonyms, requests raw ids
            raise ValueError(f"{model_dir}: trained on pseudonymised ids; the Merlin path does "
                             "not hash them: rank with the engine (shoprank.Ranker.load(..., "
                             "key_file=...))")
        self.config = read_back(etl_dir)
        self.workflow = nvt.Workflow.load(str(etl_dir / "workflow"))
        self.model = load_keras_model(model_dir)
        model_json = json.loads((model_dir / "model.json").read_text())
        self.categorical = model_json["categorical"]
        self.continuous = model_json["continuous"]
        self.lists = {name for name in self.categorical
                      if self.workflow.output_schema[name].is_list}
        self.types = {name: column["type"]
                      for name, column in read_raw_columns(etl_dir, self.config).items()}
        # the ETL output's snapshots (read_back), not the side tables' original files
        self.tables = {name: pd.read_parquet(table.path)
                       for name, table in self.config.side_tables.items()}
        self.item_key = self.config.item_id

    def frame(self, raw: dict):
        """raw columns as the Workflow reads them: one-row columns broadcast, side-table
        columns joined by their keys, labels and passthrough columns zero."""
        import pandas as pd

        lengths = {len(v) for v in raw.values() if len(v) != 1}
        if len(lengths) > 1:
            raise ValueError(f"raw columns have different lengths: {sorted(lengths)}")
        rows = lengths.pop() if lengths else 1
        frame = pd.DataFrame({name: list(values) * rows if len(values) == 1 and rows != 1
                              else list(values) for name, values in raw.items()})
        for name in frame.columns:
            kind = self.types.get(name)
            if kind == "timestamp_ms" and frame[name].dtype.kind in "iu":
                frame[name] = pd.to_datetime(frame[name], unit="ms")
            elif kind == "timestamp_ms":
                frame[name] = pd.to_datetime(frame[name])
        for name, table in self.config.side_tables.items():
            missing = [c for c in self.tables[name].columns if c not in frame and c != table.key]
            if missing and table.key in frame:
                side = self.tables[name][[table.key, *missing]]
                frame = frame.merge(side, how="left", on=table.key)
        for column in (*self.config.labels, *self.config.passthrough_columns):
            if column not in frame:
                frame[column] = np.zeros(len(frame), np.float32)
        return frame

    def transform(self, raw: dict):
        """The Workflow's output DataFrame for raw rows."""
        return self.workflow.transform(self.frame(raw))

    def score(self, raw: dict) -> np.ndarray:
        """Click probabilities from TensorFlow on the Workflow's output."""
        import tensorflow as tf

        features = self.transform(raw)
        batch = {}
        for name in self.categorical:
            if name in self.lists:
                values = features[name]
                lengths = values.map(len).to_numpy()
                flat = np.concatenate([np.asarray(v, np.int64) for v in values]) \
                    if len(values) else np.zeros(0, np.int64)
                batch[f"{name}__values"] = tf.constant(flat.astype(np.int64))
                batch[f"{name}__offsets"] = tf.constant(np.r_[0, np.cumsum(lengths)].astype(np.int32))
            else:
                batch[name] = tf.constant(features[name].to_numpy(np.int64))
        for name in self.continuous:
            batch[name] = tf.constant(features[name].to_numpy(np.float32))
        return self.model(batch, training=False).numpy().reshape(-1).astype(np.float32)

    def rank(self, user: dict, candidates, k: int):
        """(item ids, scores) of the k best candidates: transform, predict, argpartition."""
        if not isinstance(candidates, dict):
            candidates = {self.item_key: candidates}
        raw = {**{name: [value] for name, value in user.items()}, **candidates}
        rows, scores = self.rank_rows(raw, k)
        return np.asarray(candidates[self.item_key])[rows], scores

    def rank_rows(self, raw: dict, k: int):
        """(row indices, scores) of the k best rows of raw columns (one-row columns given to
        every row): transform, predict, argpartition; ties to the lower row."""
        scores = self.score(raw)
        if not 1 <= k <= len(scores):
            raise ValueError(f"k must be between 1 and the number of candidates ({len(scores)})")
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.lexsort((best, -scores[best]))]
        return best, scores[best]


def merlin_score(model_dir, raw: dict) -> np.ndarray:
    """Click probabilities of raw rows by the Merlin path (NVTabular Workflow + TensorFlow)."""
    return MerlinRanker(model_dir).score(raw)
