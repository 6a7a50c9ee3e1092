"""shoprank.Recommender (engine/include/shoprank/recommender.h) against NumPy, step by step:
retrieval is the NumPy top-`candidates` by inner product (the most clicked items for a new
user), the ranker orders them by shoprank.Ranker's own scores, the re-rank is
shoprank.diversify's; every bad argument gets a defined answer or a clear error, in Python
and in the wire layout (recommend_request.h); a log with text item ids works the same; and
export --retrieval refuses what it cannot join.

Tolerances: the engine scores retrieval in float32 (FMA), the reference in float64, so a
candidate set may differ only by items tied with the cut-off within RETRIEVAL_TOL; the
ranker's scores are the engine's on both sides (within SCORE_ATOL; in practice bitwise, so
orders are compared exactly)."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

pytest.importorskip("merlin.models")

import shoprank  # noqa: E402
from shoprank.export.tensors import decode_strings, read_tensors, write_tensors  # noqa: E402
from tests.recommend import reference  # noqa: E402

RETRIEVAL_TOL = 1e-5  # float32 vs float64 inner products of dim-8 vectors
SCORE_ATOL = 1e-6     # the ranker's click probabilities, engine vs shoprank.Ranker
# the generated logs' request columns but the user id (tests/trained_models.py's world)
REQUEST = {"timestamp": np.datetime64("2024-01-02T10:00", "ms"), "device": "app",
           "context_category": "c001", "position": 0}
QUIET = dict(progress=False, say=lambda *_: None)


class Catalogue:
    """An artifact folder exported with --retrieval: its engines, and its retrieval tensors
    read back with NumPy (the reference's inputs)."""

    def __init__(self, folder, request: dict):
        self.folder, self.request = folder, request
        self.recommender = shoprank.Recommender.load(folder)
        self.ranker = shoprank.Ranker.load(folder)
        tensors = read_tensors(folder / "tensors.bin")
        self.item_keys = _keys(tensors, "retrieval/item_keys")
        self.user_keys = _keys(tensors, "retrieval/user_keys")
        self.item_vectors = tensors["retrieval/item_vectors"]
        self.user_vectors = tensors["retrieval/user_vectors"]
        self.clicks = tensors["retrieval/item_train_clicks"]
        prefix = "retrieval/labels/"
        self.labels = {n[len(prefix):]: v for n, v in tensors.items() if n.startswith(prefix)}
        self.position = {key: p for p, key in enumerate(self.item_keys.tolist())}
        self.user_row = {key: r for r, key in enumerate(self.user_keys.tolist())}

    def user(self, user_id) -> dict:
        return {**self.request, "user_id": user_id}

    def recommend(self, user_id, k, **options):
        return self.recommender.recommend(self.user(user_id), k, **options)

    def positions(self, ids) -> np.ndarray:
        """Catalogue positions of ids the engine returned (all in the catalogue)."""
        return np.array([self.position[i] for i in ids], np.int64)

    def excluded(self, ids) -> np.ndarray:
        """Positions of the ids that are in the catalogue (the others are ignored)."""
        return np.unique([self.position[i] for i in ids if i in self.position]).astype(np.int64)

    def retrieval_scores(self, user_id) -> np.ndarray:
        row = self.user_row.get(user_id)
        vector = None if row is None else self.user_vectors[row]
        return reference.retrieval_scores(vector, self.item_vectors, self.clicks)

    def ranker_scores(self, user_id, positions) -> np.ndarray:
        """shoprank.Ranker's scores of the items: the request's columns broadcast, and
        the item id (the items table supplies the rest)."""
        n = len(positions)
        columns = {name: [value] * n for name, value in self.user(user_id).items()}
        columns[self.recommender.item_key] = self.item_keys[positions].tolist()
        return self.ranker.score(columns)


def _keys(tensors, name) -> np.ndarray:
    if name in tensors:
        return tensors[name]
    return np.array(decode_strings(tensors[f"{name}.bytes"], tensors[f"{name}.offsets"]),
                    dtype=object)


@pytest.fixture(scope="module")
def art(recommend_artifacts):
    return Catalogue(recommend_artifacts, REQUEST)


def known_users(art, rng, n):
    return [art.user_keys[i].item() for i in rng.choice(len(art.user_keys), n, replace=False)]


def random_exclude(art, rng, user_id, n) -> list:
    """Ids to exclude: some of the user's own best, some anywhere in the catalogue, two
    outside it (ignored), one repeated."""
    best = reference.top_positions(art.retrieval_scores(user_id), n)
    chosen = np.concatenate([rng.choice(best, n // 3, replace=False),
                             rng.choice(len(art.item_keys), n // 3, replace=False)])
    ids = art.item_keys[chosen].tolist()
    outside = ["no-such-item", ""] if art.recommender.item_key_type == "string" else [-1, 10**12]
    return ids + outside + ids[:1]


def assert_same_candidates(got, want, scores):
    """The candidate sets are equal but for items tied with the cut-off (float32 vs
    float64 inner products)."""
    cut = scores[want[-1]]
    for p in set(got) ^ set(want):
        assert abs(scores[p] - cut) <= RETRIEVAL_TOL * max(1.0, abs(cut)), (p, scores[p], cut)
    assert len(got) == len(want)


def check_recommend_all_candidates(art, user_id, n, exclude=()):
    """recommend(k = candidates = n): the retrieved set, ordered by the ranker's score."""
    ids, scores = art.recommend(user_id, n, candidates=n, exclude=exclude)
    got = art.positions(ids)
    excluded = art.excluded(exclude)
    retrieval = art.retrieval_scores(user_id)
    assert_same_candidates(got, reference.top_positions(retrieval, n, excluded), retrieval)
    assert not set(got) & set(excluded)
    retrieved = reference.in_retrieval_order(got, retrieval)
    ranker = art.ranker_scores(user_id, retrieved)
    order = reference.best_first(ranker)
    np.testing.assert_array_equal(ids, art.item_keys[retrieved[order]])
    np.testing.assert_allclose(scores, ranker[order], rtol=0, atol=SCORE_ATOL)
    return retrieved, ranker


# 1. retrieval ---------------------------------------------------------------------------

@pytest.mark.parametrize("excluding", [False, True], ids=["all", "exclude"])
def test_retrieval_is_the_numpy_top_candidates_ordered_by_the_ranker(art, rng, excluding):
    for user_id in known_users(art, rng, 4):
        assert not art.recommender.is_new_user(art.user(user_id))
        exclude = random_exclude(art, rng, user_id, 30) if excluding else []
        check_recommend_all_candidates(art, user_id, 30, exclude)


# 2. rerank ------------------------------------------------------------------------------

def test_without_diversity_the_answer_is_the_rankers_top_k(art, rng):
    for user_id in known_users(art, rng, 3):
        retrieved, ranker = check_recommend_all_candidates(art, user_id, 40)
        ids, scores = art.recommend(user_id, 10, candidates=40)
        best = reference.best_first(ranker)[:10]
        np.testing.assert_array_equal(ids, art.item_keys[retrieved[best]])
        np.testing.assert_allclose(scores, ranker[best], rtol=0, atol=SCORE_ATOL)


@pytest.mark.parametrize("weight, caps", [
    (0.5, None), (0.0, None), (1.0, {"category": 1}), (0.3, {"category": 2, "brand": 1}),
])
def test_the_diversity_rerank_is_diversify_of_the_candidates(art, rng, weight, caps):
    for user_id in known_users(art, rng, 3):
        retrieved, ranker = check_recommend_all_candidates(art, user_id, 40)
        ids, scores = art.recommend(user_id, 10, candidates=40, relevance_weight=weight,
                                    caps=caps)
        cap_list = [(art.labels[c][retrieved], most) for c, most in (caps or {}).items()]
        values, picks = shoprank.diversify(ranker, art.item_vectors[retrieved], 10,
                                           relevance_weight=weight, caps=cap_list,
                                           backend="numpy")
        np.testing.assert_array_equal(ids, art.item_keys[retrieved[picks[picks >= 0]]])
        np.testing.assert_allclose(scores, values[picks >= 0], rtol=0, atol=SCORE_ATOL)
        for column, most in (caps or {}).items():
            labels = art.labels[column][art.positions(ids)]
            assert np.bincount(labels[labels >= 0]).max(initial=0) <= most


# 3. new users ---------------------------------------------------------------------------

@pytest.mark.parametrize("user_id", [10**9, None], ids=["unknown", "null"])
def test_a_new_user_gets_the_most_clicked_items(art, rng, user_id):
    assert user_id not in art.user_row and art.recommender.is_new_user(art.user(user_id))
    # clicks tie often: the cut-off then goes to the lower position, exactly
    check_recommend_all_candidates(art, user_id, 25)
    check_recommend_all_candidates(art, user_id, 25, random_exclude(art, rng, user_id, 25))


# 4. defined answers and clear errors ------------------------------------------------------

@pytest.mark.parametrize("arguments, message", [
    (dict(k=0), r"k must be between 1 and the catalogue's 198 items, got 0"),
    (dict(k=199), r"catalogue's 198 items, got 199"),
    (dict(k=5, candidates=0), r"candidates must be >= 1, got 0"),
    (dict(k=5, candidates=-3), r"candidates must be >= 1, got -3"),
    (dict(k=5, relevance_weight=-0.1), r"relevance_weight must be in \[0, 1\]"),
    (dict(k=5, relevance_weight=1.5), r"relevance_weight must be in \[0, 1\]"),
    (dict(k=5, relevance_weight=float("nan")), r"relevance_weight must be in \[0, 1\]"),
    (dict(k=5, caps={"colour": 1}), r"no labels for item column \"colour\".*brand, category"),
    (dict(k=5, caps={"category": 0}), r"max per category must be >= 1, got 0"),
])
def test_bad_arguments_are_value_errors(art, arguments, message):
    assert art.recommender.items == 198  # the generated world's catalogue (the messages name it)
    with pytest.raises(ValueError, match=message):
        art.recommend(art.user_keys[0].item(), **arguments)


@pytest.mark.parametrize("column, value", [("category", "x"), ("brand", "b1"), ("item_id", 3)])
def test_item_columns_in_the_request_are_value_errors(art, column, value):
    with pytest.raises(ValueError, match=rf"request column\(s\) \['{column}'\]: .*own columns"):
        art.recommender.recommend({**art.user(art.user_keys[0].item()), column: value}, 5)


@pytest.mark.parametrize("call", [
    lambda r, u: r.recommend(u, 2.0),
    lambda r, u: r.recommend(u, True),
    lambda r, u: r.recommend(u, 5, candidates="10"),
    lambda r, u: r.recommend(u, 5, relevance_weight="0.5"),
    lambda r, u: r.recommend(u, 5, caps=[("category", 1)]),
    lambda r, u: r.recommend(u, 5, caps={"category": 1.0}),
    lambda r, u: r.recommend(list(u.items()), 5),
    lambda r, u: r.is_new_user(None),
    lambda r, u: r.recommend_request([("k", 5)]),
])
def test_wrong_types_are_type_errors(art, call):
    with pytest.raises(TypeError):
        call(art.recommender, art.user(art.user_keys[0].item()))


def test_fewer_candidates_than_k_still_ranks_k(art):
    user_id = art.user_keys[1].item()
    ids, scores = art.recommend(user_id, 10, candidates=3)
    want_ids, want_scores = art.recommend(user_id, 10, candidates=10)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_array_equal(scores, want_scores)
    # and more candidates than the catalogue is the whole catalogue
    assert len(art.recommend(user_id, 198, candidates=10**9)[0]) == 198


def test_exclusions(art, rng):
    user_id = known_users(art, rng, 1)[0]
    plain = art.recommend(user_id, 8, candidates=30)
    for same in ([], np.array([], np.int64), [-7, 10**12, None]):  # nothing excluded
        for got, want in zip(art.recommend(user_id, 8, candidates=30, exclude=same), plain):
            np.testing.assert_array_equal(got, want)
    ids, scores = art.recommend(user_id, 8, exclude=art.item_keys)
    assert ids.shape == scores.shape == (0,) and ids.dtype == np.int64
    kept = rng.choice(len(art.item_keys), 3, replace=False)
    rest = np.delete(art.item_keys, kept)
    for who in (user_id, None):  # by vector and by popularity
        ids, scores = art.recommend(who, 5, exclude=rest)
        assert sorted(ids.tolist()) == sorted(art.item_keys[kept].tolist())
        assert np.all(np.diff(scores) <= 0)


# 5. the wire layout ---------------------------------------------------------------------

def wire_request(user_id, k, *, exclude=None, **options) -> dict:
    """One request as tensors [1, n] in request.h's types, built by hand for the generated
    logs' columns: int64 as INT64, text as BYTES, timestamp_ms as INT64 milliseconds."""
    tensors = {
        "user_id": np.array([[user_id]], np.int64),
        "timestamp": np.array([[REQUEST["timestamp"].astype(np.int64)]], np.int64),
        "device": np.array([[REQUEST["device"].encode()]], np.object_),
        "context_category": np.array([[REQUEST["context_category"].encode()]], np.object_),
        "position": np.array([[REQUEST["position"]]], np.int64),
        "k": np.array([[k]], np.int64),
    }
    if exclude is not None:
        tensors["exclude"] = np.asarray(exclude, np.int64).reshape(1, -1)
    if "candidates" in options:
        tensors["candidates"] = np.array([[options.pop("candidates")]], np.int64)
    if "relevance_weight" in options:
        tensors["relevance_weight"] = np.array([[options.pop("relevance_weight")]], np.float32)
    for column, most in options.pop("caps", {}).items():
        tensors[f"max_per_{column}"] = np.array([[most]], np.int64)
    assert not options, options
    return tensors


@pytest.mark.parametrize("options", [
    {}, dict(candidates=40), dict(candidates=40, relevance_weight=0.5),
    dict(candidates=60, relevance_weight=0.75, caps={"category": 1, "brand": 2}),
])
def test_the_wire_layout_answers_as_recommend(art, rng, options):
    user_id = known_users(art, rng, 1)[0]
    exclude = random_exclude(art, rng, user_id, 30)
    ids, scores = art.recommender.recommend_request(wire_request(user_id, 7, exclude=exclude,
                                                                 **options))
    # recommend_request's own `candidates` (500) is the default the request may override
    want_ids, want_scores = art.recommend(user_id, 7, exclude=exclude,
                                          **{"candidates": 500, **options})
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_array_equal(scores, want_scores)


def test_bad_wire_requests_are_value_errors(art):
    user_id = art.user_keys[0].item()
    send = art.recommender.recommend_request

    def fails(tensors, message, **limits):
        with pytest.raises(ValueError, match=message):
            send(tensors, **limits)

    fails(wire_request(user_id, 5, candidates=30), r"30 candidates in one request; this model "
          r"takes at most 20 \(export-triton --max-candidates\)", candidates=10, max_candidates=20)
    fails(wire_request(user_id, 5, exclude=np.arange(25)), r"25 excluded items in one request; "
          r"this model takes at most 20 \(export-triton --max-candidates\)", candidates=10,
          max_candidates=20)
    fails(wire_request(user_id, 21), r"21 candidates in one request", candidates=10,
          max_candidates=20)  # k counts: at least k are ranked
    send(wire_request(user_id, 5, exclude=np.arange(20), candidates=20), max_candidates=20)

    fails({n: t for n, t in wire_request(user_id, 5).items() if n != "k"}, r"missing input k")
    fails({**wire_request(user_id, 5), "k": np.array([[5]], np.float32)}, r"^k: ")
    fails(wire_request(user_id, 0), r"k must be between 1 and the catalogue's 198 items")
    fails(wire_request(user_id, 5, candidates=0), r"candidates must be >= 1, got 0")
    fails(wire_request(user_id, 5, relevance_weight=1.5), r"relevance_weight must be in \[0, 1\]")
    fails({**wire_request(user_id, 5), "relevance_weight": np.array([[0.5]], np.float64)},
          r"^relevance_weight: ")
    fails(wire_request(user_id, 5, caps={"category": 0}), r"max_per_category must be >= 1, got 0")
    fails({**wire_request(user_id, 5), "exclude": np.array([[1, 2]], np.int32)}, r"^exclude: ")
    fails({**wire_request(user_id, 5), "user_id": np.array([[1, 2]], np.int64)},
          r"request column user_id: one value per request, got 2")


# 6. another shape: text item ids, derived side tables, MF retrieval -----------------------

@pytest.fixture(scope="module")
def text_ids(text_ids_world):
    """(Catalogue, the log's item ids) of the ratings log with text item ids."""
    root, frame = text_ids_world
    return Catalogue(root / "artifacts", {}), set(frame["item_id"])


def test_text_item_ids(text_ids, rng):
    art, logged = text_ids
    recommender = art.recommender
    assert (recommender.item_key_type, recommender.kind) == ("string", "mf")
    # the request carries the user id and the user table's columns, never a timestamp
    # (not a feature of this log) nor the genre list (an item column)
    assert set(recommender.inputs) == {"user_id", "gender", "age", "occupation"}
    # genres, the items table's only column, is a list: no labels to cap by
    assert recommender.label_columns == [] and art.labels == {}
    with pytest.raises(ValueError, match=r"to cap by \(the items table's int64 / text "
                                         r"columns: none\)"):
        art.recommend(art.user_keys[0].item(), 5, caps={"genres": 1})

    user_id = known_users(art, rng, 1)[0]
    ids, _ = art.recommend(user_id, 10)
    assert all(type(i) is str for i in ids) and set(ids) <= logged
    exclude = random_exclude(art, rng, user_id, 12)
    check_recommend_all_candidates(art, user_id, 12, exclude)
    again, _ = art.recommend(user_id, 10, exclude=ids[:4])
    assert not set(again) & set(ids[:4]) and len(again) == 10
    with pytest.raises(ValueError, match="'exclude': expected text, got 1"):
        art.recommend(user_id, 5, exclude=[1])
    assert recommender.is_new_user({"user_id": 10**6})
    check_recommend_all_candidates(art, 10**6, 12, exclude)
    wire = {"user_id": np.array([[user_id]], np.int64), "k": np.array([[10]], np.int64),
            "exclude": np.array([[i.encode() for i in ids[:4]]], np.object_)}
    np.testing.assert_array_equal(recommender.recommend_request(wire)[0], again)


# 7. export errors -----------------------------------------------------------------------

def _leftovers(folder):
    return [p.name for p in folder.iterdir()]


def test_export_refuses_what_it_cannot_join(world, recommend_artifacts, tmp_path):
    from shoprank.export.artifacts import export_ranker

    trained = world / "two-tower"
    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    shutil.copy(trained / "retrieval.json", incomplete)
    out = tmp_path / "out"
    with pytest.raises(FileNotFoundError, match=r"incomplete: no vectors.npz"):
        export_ranker(world / "dlrm", out, retrieval=incomplete)
    assert _leftovers(tmp_path) == ["incomplete"]

    foreign = tmp_path / "foreign"
    shutil.copytree(trained, foreign)
    record = json.loads((foreign / "retrieval.json").read_text())
    (foreign / "retrieval.json").write_text(json.dumps({**record, "processed": str(tmp_path)}))
    with pytest.raises(ValueError, match=r"their ids would not match"):
        export_ranker(world / "dlrm", out, retrieval=foreign)
    assert sorted(_leftovers(tmp_path)) == ["foreign", "incomplete"]

    with pytest.raises(ValueError, match=r"no retrieval model \(export with shoprank export "
                                         r"--retrieval DIR\)"):
        shoprank.Recommender.load(world / "dlrm-artifacts")
    with pytest.raises(FileNotFoundError, match="no such artifact folder"):
        shoprank.Recommender.load(tmp_path / "missing")


# defects found once, kept fixed ------------------------------------------------------------

def rewrite_tensors(source, folder, change):
    """A copy of the artifact folder with change(tensors) applied, its manifest updated."""
    shutil.copytree(source, folder)
    tensors = read_tensors(folder / "tensors.bin")
    change(tensors)
    write_tensors(folder / "tensors.bin", tensors)
    data = (folder / "tensors.bin").read_bytes()
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["tensors.bin"] = {"bytes": len(data),
                                        "sha256": hashlib.sha256(data).hexdigest()}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_the_most_clicked_item_wins_above_float32_precision(recommend_artifacts, tmp_path):
    def clicks(tensors):
        tensors["retrieval/item_train_clicks"][:] = 0
        tensors["retrieval/item_train_clicks"][:2] = [2**24, 2**24 + 1]

    art = Catalogue(rewrite_tensors(recommend_artifacts, tmp_path / "a", clicks), REQUEST)
    ids, _ = art.recommend(None, 1, candidates=1)
    assert ids.tolist() == [art.item_keys[1]]  # 2**24 + 1 clicks beat 2**24


def test_one_text_id_as_exclude_is_refused_or_excluded(text_ids):
    art, _ = text_ids
    user_id = art.user_keys[0].item()
    ids, _ = art.recommend(user_id, 3)
    with pytest.raises(TypeError, match="exclude: expected a sequence of item ids"):
        art.recommend(user_id, 3, exclude=ids[0])
