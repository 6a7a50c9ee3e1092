"""``shoprank.Recommender``: recommendations from the whole catalogue for one user, by the
native engine over an artifact folder exported with a retrieval model
(``shoprank export --model RANKER --retrieval RETRIEVAL --out ART``):

    recommender = shoprank.Recommender.load("ART")
    ids, scores = recommender.recommend({"user_id": 7, "timestamp": now, "device": "app"},
                                        k=10, exclude=[12, 40])

Three steps (engine/include/shoprank/recommender.h): retrieval (the user's vector against
every item's, the best ``candidates`` kept, ``exclude`` never returned), the ranker's click
probability for each, and the k best by it; ``relevance_weight`` < 1 and ``caps`` turn on
the diversity re-rank (MMR over the retrieval model's item vectors; at most so many items
per category, brand, ...). A user the retrieval model has no vector for (a new user) gets
the train window's most clicked items, ranked the same way (``is_new_user`` tells).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shoprank import _engine
from shoprank.ranker.ranker import _integer_k, _one_row, _threads, key_argument
from shoprank.ranker.raw import check_recommend_columns, normalise


class Recommender:
    def __init__(self, native: _engine.Recommender):
        self._native = native
        self.inputs = dict(native.request_inputs)
        self.user_key, self.item_key = native.user_key, native.item_key
        self.item_key_type = native.item_key_type
        self.label_columns = list(native.label_columns)

    @classmethod
    def load(cls, folder, key_file=None, *, key_required: bool = True) -> "Recommender":
        """Loads and checks the folder (manifest sizes and SHA-256, format versions).
        key_file: as Ranker.load's."""
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"{folder}: no such artifact folder (shoprank export "
                                    "--retrieval writes one)")
        native = _engine.Recommender(str(folder), key_argument(key_file, key_required))
        if key_required:
            native.ranker.require_pseudonym_key()
        return cls(native)

    @property
    def items(self) -> int:
        """The catalogue's size: the items the retrieval model has vectors for."""
        return self._native.items

    @property
    def kind(self) -> str:
        return self._native.kind

    def recommend(self, user: dict, k: int, *, exclude=(), candidates: int = 500,
                  relevance_weight: float = 1.0, caps: dict | None = None,
                  threads: int = 0):
        """The k best items for one request: (item ids, click probabilities), best first.

        user: the request's own columns, one value each (user id, time, device, ...; the
        columns of ``inputs``). exclude: item ids never to recommend (bought, already shown);
        ids outside the catalogue are ignored. candidates: how many items retrieval hands to
        the ranker (at least k). relevance_weight in [0, 1] and caps ({item column: at most
        so many}, columns of ``label_columns``): the diversity re-rank. Fewer than k items
        come back only when the exclusions leave fewer."""
        columns = self._columns(user)
        caps = self._caps(caps)
        if isinstance(exclude, (str, bytes)) or np.ndim(exclude) == 0:
            raise TypeError(f"exclude: expected a sequence of item ids, got "
                            f"{type(exclude).__name__}")
        ids, scores, _ = self._native.recommend(
            columns, normalise("exclude", self.item_key_type, list(exclude)), _integer_k(k),
            _integer("candidates", candidates), _weight(relevance_weight), caps,
            _threads(threads))
        return ids, scores

    def is_new_user(self, user: dict) -> bool:
        """Whether retrieval has no vector for this request's user (it then returns the most
        clicked items)."""
        return not self._native.knows_user(self._columns(user))

    def recommend_request(self, tensors: dict, candidates: int = 500,
                          max_candidates: int = 0, threads: int = 0):
        """One request as the `recommend` ensemble receives it ({name: array [1, n]}, the
        layout of engine/include/shoprank/recommend_request.h, what serving.wire encodes),
        read and checked by the engine's reader: (item ids, scores), best first."""
        if not isinstance(tensors, dict):
            raise TypeError(f"expected a dict of request tensors, got {type(tensors).__name__}")
        ids, scores, _ = self._native.recommend_request(tensors, candidates, max_candidates,
                                                        _threads(threads))
        return ids, scores

    def _columns(self, user) -> dict:
        check_recommend_columns(self.inputs, user)
        return {name: normalise(name, self.inputs[name], _one_row(name, value, self.inputs[name]))
                for name, value in user.items()}

    def _caps(self, caps) -> list[tuple[str, int]]:
        if caps is None:
            return []
        if not isinstance(caps, dict):
            raise TypeError(f"caps: expected {{item column: at most so many}}, got "
                            f"{type(caps).__name__}")
        return [(str(column), _integer(f"caps[{column!r}]", most))
                for column, most in caps.items()]


def _integer(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")
    return int(value)


def _weight(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"relevance_weight: expected a number in [0, 1], got "
                        f"{type(value).__name__}")
    return float(value)
