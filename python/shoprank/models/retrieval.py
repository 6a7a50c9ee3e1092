"""Candidate generation (issue 19): matrix factorisation and a two-tower model, Merlin
Models' MatrixFactorizationModelV2 and TwoTowerModelV2, trained on the train window's clicks
with in-batch negatives (each click's item scored against the other clicked items of its
batch, a softmax over them).

The towers: MF embeds the user id and the item id only; the two-tower model's query tower
reads the user id and the users table's features, its candidate tower the item id and the
items table's (inputs.json says which raw column came from which table, a side table or one
the ETL derived from user_columns / item_columns; a log without either gets towers of the
ids alone). Every user's and item's vector is written as
plain arrays (OUT/vectors.npz: user_vectors, item_vectors, rows indexed by the ETL's ids)
with every item's train clicks (the popularity a user without a vector falls back to),
beside OUT/retrieval.json (settings, recall@k and NDCG@k on the test window beside the
popularity peer). ``shoprank export --retrieval OUT`` puts them into the engine's artifacts.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

KINDS = ("mf", "two-tower")


def tower_columns(data) -> tuple[list[str], list[str]]:
    """(query tower's features, candidate tower's features) of a processed folder."""
    from merlin.schema import Tags

    schema = data.schema
    user_id = schema.select_by_tag(Tags.USER_ID).column_names
    item_id = schema.select_by_tag(Tags.ITEM_ID).column_names
    if len(user_id) != 1 or len(item_id) != 1:
        raise ValueError(f"{data.folder}: retrieval needs one user id and one item id column "
                         f"(logs.json's user_id and item_id), found {user_id} and {item_id}")
    inputs = json.loads((Path(data.folder) / "inputs.json").read_text())
    config, columns = inputs["config"], inputs["columns"]
    # the side tables and those the ETL derived (user_columns / item_columns) alike
    sides = {name: ("user" if table["key"] == config["user_id"] else
                    "item" if table["key"] == config["item_id"] else None)
             for name, table in inputs.get("tables", {}).items()}
    side_of = {column: sides.get(entry.get("table")) for column, entry in columns.items()}
    features = [c for c in schema.column_names if c != data.label]
    users = user_id + [c for c in features if side_of.get(c) == "user" and c not in user_id]
    items = item_id + [c for c in features if side_of.get(c) == "item" and c not in item_id]
    return users, items


def build(schema, kind: str, dim: int, users: list[str], items: list[str],
          item_clicks: np.ndarray):
    """MF or two-tower. In-batch negatives are drawn in proportion to popularity, so the
    softmax would learn each item's lift over its popularity, not its chance: the logits
    are corrected by log(item's share of the train clicks) in training (logQ correction),
    and the plain dot product of the towers then ranks by the chance itself."""
    import merlin.models.tf as mm
    from merlin.models.tf.outputs.base import DotProduct
    from merlin.models.tf.transforms.bias import PopularityLogitsCorrection

    item_schema = schema.select_by_name([items[0]])
    output = mm.ContrastiveOutput(
        DotProduct(), negative_samplers="in-batch", schema=item_schema, store_negative_ids=True,
        post=PopularityLogitsCorrection(np.maximum(item_clicks, 1).astype(np.float32),
                                        schema=item_schema))
    if kind == "mf":
        return mm.MatrixFactorizationModelV2(schema.select_by_name([users[0], items[0]]), dim,
                                             outputs=output)
    if kind != "two-tower":
        raise ValueError(f"retrieval model: expected one of {KINDS}, got {kind!r}")

    def tower(columns):
        return mm.Encoder(schema.select_by_name(columns),
                          mm.MLPBlock([4 * dim, dim], no_activation_last_layer=True))

    return mm.TwoTowerModelV2(tower(users), tower(items), outputs=output)


def _vectors(encoder, frame, id_column: str, tag, rows: int, schema, batch_size=4096):
    """One vector per id (rows x dim, float32); ids absent from ``frame`` stay zero."""
    from merlin.io import Dataset

    frame = frame.drop_duplicates(id_column, keep="last").reset_index(drop=True)
    encoded = encoder.encode(Dataset(frame, schema=schema.select_by_name(list(frame.columns))),
                             index=tag, batch_size=batch_size).compute()
    values = encoded.to_numpy(np.float32)
    out = np.zeros((rows, values.shape[1]), np.float32)
    out[encoded.index.to_numpy(np.int64)] = values
    return out


def train_retrieval(processed_dir, out_dir, *, kind: str = "two-tower", dim: int = 64,
                    epochs: int = 10, batch_size: int = 256, learning_rate: float = 3e-3,
                    patience: int = 2, seed: int = 0, k: int = 100, overwrite: bool = False,
                    progress: bool = True, say=print) -> dict:
    """Trains, writes OUT/vectors.npz and OUT/retrieval.json (each complete or absent),
    returns the latter's record."""
    import merlin.models.tf as mm
    import pandas as pd
    from merlin.io import Dataset
    from merlin.schema import Tags

    from shoprank.models.data import load_processed
    from shoprank.models.fused_embeddings import cardinality
    from shoprank.models.train import KeepBest
    from shoprank.retrieval.evaluate import evaluate_retrieval

    if kind not in KINDS:
        raise ValueError(f"retrieval model: expected one of {KINDS}, got {kind!r}")
    for name, value in (("dim", dim), ("epochs", epochs), ("batch_size", batch_size), ("k", k),
                        ("patience", patience)):
        if value < 1:
            raise ValueError(f"{name}: must be >= 1, got {value}")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} is not empty: --overwrite to train again there")
    data = load_processed(processed_dir)
    for split in ("train", "test"):
        if split not in data.splits:
            raise ValueError(f"{processed_dir}: no {split}/ split (retrieval is judged on the "
                             "test window)")
    users, items = tower_columns(data)
    if kind == "mf":
        users, items = users[:1], items[:1]
    columns = users + items
    frames = {split: data.frame(split, columns + [data.label]) for split in data.splits}
    train = frames["train"]
    clicks = train[train[data.label] != 0][columns].reset_index(drop=True)
    if len(clicks) < 2:
        raise ValueError(f"{processed_dir}: the train window has {len(clicks)} clicks; "
                         "retrieval learns from clicks")
    say(f"training {kind} retrieval (dim {dim}) on {len(clicks):,} train clicks; user tower "
        f"{users}, item tower {items}")
    tf.keras.utils.set_random_seed(seed)
    schema = data.schema.select_by_name(columns)
    item_rows = cardinality(data.schema[items[0]])
    item_clicks = np.bincount(clicks[items[0]].to_numpy(np.int64), minlength=item_rows)
    model = build(schema, kind, dim, users, items, item_clicks)
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate))
    # every id's vector from its latest known features; (users, items, labels) per split
    rows = pd.concat([frames[s] for s in ("train", "valid", "test") if s in frames],
                     ignore_index=True)
    ids = {s: tuple(f[c].to_numpy() for c in (users[0], items[0], data.label))
           for s, f in frames.items()}

    def vectors():
        return (_vectors(model.query_encoder, rows[users], users[0], Tags.USER_ID,
                         cardinality(data.schema[users[0]]), schema),
                _vectors(model.candidate_encoder, rows[items], items[0], Tags.ITEM_ID,
                         item_rows, schema))

    def judge(split, user_vectors, item_vectors):
        return evaluate_retrieval(ids["train"], ids[split], k, query_vectors=user_vectors,
                                  item_vectors=item_vectors)

    stopping = [ValidRecall(lambda: judge("valid", *vectors())[f"recall@{k}"], say),
                KeepBest(monitor="val_recall", mode="max", patience=patience,
                         restore_best_weights=True)]
    start = time.perf_counter()
    history = model.fit(mm.Loader(Dataset(clicks, schema=schema), batch_size=batch_size,
                                  shuffle=True, seed_fn=lambda: seed),
                        epochs=epochs, verbose=1 if progress else 0,
                        callbacks=stopping if "valid" in data.splits else [])
    seconds = time.perf_counter() - start
    user_vectors, item_vectors = vectors()
    judged = judge("test", user_vectors, item_vectors)
    peer = evaluate_retrieval(ids["train"], ids["test"], k, n_items=item_rows)
    say(f"test window, {judged['users']:,} users: recall@{k} {judged[f'recall@{k}']:.4f} "
        f"(popularity {peer[f'recall@{k}']:.4f}), NDCG@{k} {judged[f'ndcg@{k}']:.4f} "
        f"(popularity {peer[f'ndcg@{k}']:.4f})")
    record = {"format": "shoprank-retrieval", "version": 1, "kind": kind, "dim": dim,
              "user_tower": users, "item_tower": items, "epochs": epochs,
              "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed,
              "train_clicks": len(clicks), "seconds": round(seconds, 2),
              "loss": [float(v) for v in history.history.get("loss", [])],
              f"valid_recall@{k}": history.history.get("val_recall", []),
              "test": judged, "popularity": peer, "processed": str(processed_dir)}
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "vectors.npz.partial", "wb") as file:
        np.savez(file, user_vectors=user_vectors, item_vectors=item_vectors,
                 item_train_clicks=item_clicks.astype(np.int64))
    (out / "retrieval.json.partial").write_text(json.dumps(record, indent=1) + "\n")
    for name in ("vectors.npz", "retrieval.json"):  # complete files only, under their names
        (out / f"{name}.partial").replace(out / name)
    return record


class ValidRecall(tf.keras.callbacks.Callback):
    """Adds the valid window's recall@k to each epoch's logs as ``val_recall``, computed
    from every user's and item's vector, for KeepBest to stop on (the contrastive loss on
    valid would judge the popularity-corrected logits, not the ranking served)."""

    def __init__(self, score, say):
        super().__init__()
        self.score, self.say = score, say

    def on_epoch_end(self, epoch, logs=None):
        logs["val_recall"] = value = self.score()
        self.say(f"epoch {epoch + 1}: valid recall {value:.4f}")
