"""``shoprank.Ranker``: the native engine over an exported artifact folder.

    ranker = shoprank.Ranker.load("artifacts/")
    ranker.score({"user_id": [7, 7], "item_id": [12, 40], "timestamp": [...], ...})
    ids, scores = ranker.rank({"user_id": 7, "timestamp": now, "device": "app"},
                              [12, 40, 41, 99], k=2)

Columns are named as in the raw logs; item and user columns the request leaves out are
looked up from the tables exported with the model (by item_id / user_id). One Ranker may be
used by many threads at once: the engine runs with the GIL released.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shoprank import _engine
from shoprank.ranker.raw import normalise, normalise_columns, request_columns


def key_argument(key_file, key_required: bool) -> str:
    """The engine's key_file: the file given; else where a key is required the one
    SHOPRANK_KEY_FILE names (""), else none at all (a stale variable must not fail a load
    that only reads what the artifacts describe)."""
    if key_file:
        return str(key_file)
    return "" if key_required else _engine.WITHOUT_KEY


class Ranker:
    def __init__(self, native: _engine.Ranker):
        self._native = native
        self.inputs = {name: kind for name, kind, _ in native.inputs}
        self.tables = {name: table for name, _, table in native.inputs if table is not None}
        self.item_key = native.item_key or None

    @classmethod
    def load(cls, folder, key_file=None, *, key_required: bool = True) -> "Ranker":
        """Loads the folder ``shoprank export`` wrote, checking every file against its
        manifest (sizes, SHA-256) and the format version; nothing in it is executed.
        key_file: the key of artifacts with pseudonymised ids (shoprank etl --key-file);
        default: the file the environment variable SHOPRANK_KEY_FILE names. key_required
        False: such artifacts load without it (the environment not read), for what they
        describe (export-triton), and every call given a personal column fails."""
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"{folder}: no such artifact folder (shoprank export writes one)")
        native = _engine.Ranker(str(folder), key_argument(key_file, key_required))
        if key_required:  # such artifacts are of no use without their key: said at load
            native.require_pseudonym_key()
        return cls(native)

    @property
    def architecture(self) -> str:
        return self._native.architecture

    @property
    def feature_names(self) -> list[str]:
        return list(self._native.feature_names)

    def transform(self, raw: dict) -> dict:
        """The model inputs of raw rows: {feature: int32 ids | float32 values | (int32 ids,
        int64 offsets) for list features}, exactly as the fitted NVTabular Workflow gives them."""
        return self._native.transform(normalise_columns(self.inputs, raw))

    def score(self, raw: dict, threads: int = 0, device: str = "cpu") -> np.ndarray:
        """Click probabilities (float32), one per row. threads: CPU threads, 0 = all cores;
        device "cuda" runs the forward pass on the GPU (the transform stays on the CPU)."""
        return self._native.score(normalise_columns(self.inputs, raw), _threads(threads), device)

    def forward(self, features: dict, threads: int = 0, device: str = "cpu") -> np.ndarray:
        """Click probabilities of rows already transformed (what transform returns): the
        forward pass alone, as a serving step after a separate transform step. Every model
        feature must be given; ids outside their table are an error."""
        if not isinstance(features, dict):
            raise TypeError(f"expected a dict of model features, got {type(features).__name__}")
        return self._native.forward(features, _threads(threads), device)

    def rank(self, user: dict, candidates, k: int, threads: int = 0, device: str = "cpu"):
        """The k best candidates for one request: (candidate ids, scores), best first.

        user: the request's own columns, one value each (user_id, timestamp, device, ...).
        candidates: {column: one value per candidate} or a sequence of item ids; the ids
        returned are the candidates' item ids (their row numbers if none are given).
        device "cuda": forward and selection on the GPU (k <= 1024)."""
        k = _integer_k(k)
        candidates = request_columns(self.inputs, self.item_key, user, candidates)
        columns = normalise_columns(self.inputs, candidates)
        lengths = {name: _length(value) for name, value in columns.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"candidate columns have different lengths: {lengths}")
        for name, value in user.items():
            columns[name] = normalise(name, self.inputs[name], _one_row(name, value, self.inputs[name]))
        rows, scores = self._native.rank(columns, k, _threads(threads), device)
        ids = candidates.get(self.item_key) if self.item_key else None
        if ids is None:
            return rows, scores
        return np.asarray(ids)[rows], scores

    @property
    def realtime(self) -> dict | None:
        """The real-time features' spec (event columns, recent_clicks, window_ms, bounds and
        the columns the state fills in), or None for a model without them."""
        state = self._native.online_state
        return None if state is None else state.spec

    def observe(self, events: dict) -> int:
        """Takes in served events ({column: values}: the user and item ids, the timestamp and
        the label, one value per event), so that the next request's real-time features count
        them. Returns how many."""
        spec = self._realtime_spec()
        kinds = {spec["user"]: self.inputs[spec["user"]], spec["item"]: self.inputs[spec["item"]],
                 spec["timestamp"]: "timestamp_ms", spec["label"]: "float64"}
        missing = [name for name in kinds if name not in events]
        if missing:
            raise ValueError(f"events: missing column(s) {missing} (events carry {list(kinds)})")
        return self._native.observe(
            {name: (kind, normalise(name, kind, events[name])) for name, kind in kinds.items()})

    def realtime_columns(self, raw: dict, now=None) -> dict:
        """The real-time columns the state fills in for raw rows (what a request's features
        are made from): as of each row's timestamp where the rows carry one, else as of
        `now` (datetime64 or epoch ms; default: the wall clock)."""
        self._realtime_spec()
        now_ms = (int(np.datetime64("now", "ms").astype(np.int64)) if now is None
                  else int(normalise("now", "timestamp_ms", [now])[0][0]))
        return self._native.realtime_columns(normalise_columns(self.inputs, raw), now_ms)

    def online_stats(self) -> dict:
        """{users, items, events} the real-time state holds (users and items bounded)."""
        return self._native.online_state.stats()

    def _realtime_spec(self) -> dict:
        if self.realtime is None:
            raise ValueError("this model has no real-time features (export it from an ETL run "
                             "whose logs config has \"realtime\")")
        return self.realtime

    def rank_request(self, tensors: dict, max_candidates: int = 0, threads: int = 0):
        """One request as the served models receive it ({name: array [1, n]}, the layout of
        engine/include/shoprank/request.h, what serving.wire encodes), read and checked by
        the engine's one request reader: (item ids, scores), best first."""
        if not isinstance(tensors, dict):
            raise TypeError(f"expected a dict of request tensors, got {type(tensors).__name__}")
        return self._native.rank_request(tensors, max_candidates, _threads(threads))

    def rank_rows(self, raw: dict, k: int, threads: int = 0, device: str = "cpu"):
        """The k best rows of raw columns: (row indices, scores), best first. A one-row
        column (the user's, the request's time) is given to every row."""
        return self._native.rank(normalise_columns(self.inputs, raw), _integer_k(k),
                                 _threads(threads), device)


def _integer_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k: expected an integer, got {type(k).__name__}")
    return int(k)


def _one_row(name, value, kind):
    """A user value as a one-row column (a list value is one row of a string_list column)."""
    if kind == "string_list":
        return [value]
    if isinstance(value, (list, tuple, np.ndarray)):
        if len(value) != 1:
            raise ValueError(f"user column {name!r}: expected one value, got {len(value)}")
        return list(value)
    return [value]


def _length(column) -> int:
    if len(column) == 4:  # string_list: (flat, offsets, valid, element_valid)
        return len(column[1]) - 1
    return len(column[0])


def _threads(threads) -> int:
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 0:
        raise ValueError(f"threads: expected an integer >= 0 (0: all cores), got {threads!r}")
    return int(threads)
