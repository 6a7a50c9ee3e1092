"""export.forward: the extracted forward pass of DLRM, DCN stacked and DCN parallel (on fused
and on per-feature tables) equals the Keras model's predictions, on the test split and on
fresh random rows (empty lists included); from the live model, from the model folder's
model.json + weights.npz, and from the reloaded SavedModel. TensorFlow on the CPU; tiny
models, one epoch."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("merlin.models")
import merlin.models.tf as mm  # noqa: E402
import tensorflow as tf  # noqa: E402

from shoprank.data import generate  # noqa: E402
from shoprank.etl import run_etl  # noqa: E402
from shoprank.models.build import ModelSpec, build_model  # noqa: E402
from shoprank.models.data import load_processed  # noqa: E402
from shoprank.models.export import export_model  # noqa: E402
from shoprank.models.folders import load_keras_model, load_weights  # noqa: E402
from shoprank.export.forward import extract_forward, extract_forward_from_folder  # noqa: E402
from shoprank.reference.forward import numpy_forward  # noqa: E402

QUIET = dict(progress=False, say=lambda *_: None)
SMALL = dict(embedding_dim=8, bottom_mlp=(16, 8), top_mlp=(32, 16))
SPECS = {"dlrm": ModelSpec(**SMALL),
         "dcn-stacked": ModelSpec(architecture="dcn", **SMALL),
         # dropout trains only: the served forward is the same (identity when serving)
         "dcn-parallel": ModelSpec(architecture="dcn", stacked=False, dropout=0.2, **SMALL),
         # Merlin's per-feature tables, read as one table stacked from them
         "dlrm-per-feature": ModelSpec(tables="per-feature", dropout=0.2, **SMALL),
         "dcn-per-feature": ModelSpec(architecture="dcn", tables="per-feature", **SMALL)}
TOLERANCE = 1e-5  # absolute, on probabilities


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("forward")
    generate(root / "logs", users=200, items=150, rows=5000, progress=False)
    run_etl(root / "logs" / "logs.json", root / "features", **QUIET)
    return load_processed(root / "features")


@pytest.fixture(scope="module")
def models(data):
    """Each architecture trained for one epoch (build + fit, as train() does, without the
    SavedModel that train() writes: the folder test below exports one)."""
    out = {}
    for name, spec in SPECS.items():
        tf.keras.utils.set_random_seed(0)
        model = build_model(data.schema, data.label, spec)
        model.compile(optimizer=tf.keras.optimizers.Adam(2e-3))
        model.fit(mm.Loader(data.dataset("train"), batch_size=512, shuffle=True), epochs=1,
                  verbose=0)
        out[name] = model
    return out


def split_batch(data, split="test"):
    return next(iter(mm.Loader(data.dataset(split), batch_size=100_000, shuffle=False)))[0]


def numpy_inputs(description, batch):
    """The model-input batch as numpy_forward takes it: list features as one array a row."""
    categorical = {}
    for f in description["embeddings"]["features"]:
        if f["list"]:
            values = batch[f["name"] + "__values"].numpy()
            offsets = batch[f["name"] + "__offsets"].numpy()
            categorical[f["name"]] = np.split(values, offsets[1:-1])
        else:
            categorical[f["name"]] = batch[f["name"]].numpy()
    continuous = {n: batch[n].numpy() for n in description["continuous"]}
    return categorical, continuous


def random_batch(description, n, rng):
    """n fresh rows: valid random ids, list lengths 0..5 (some rows empty), random
    continuous values; as the Merlin Loader shapes a batch (list = __values/__offsets)."""
    batch = {}
    for f in description["embeddings"]["features"]:
        if f["list"]:
            lengths = rng.integers(0, 6, n)
            lengths[rng.choice(n, n // 5, replace=False)] = 0
            values = rng.integers(0, f["cardinality"], lengths.sum())
            batch[f["name"] + "__values"] = values
            batch[f["name"] + "__offsets"] = np.concatenate([[0], np.cumsum(lengths)])
        else:
            batch[f["name"]] = rng.integers(0, f["cardinality"], n)
    for name in description["continuous"]:
        batch[name] = rng.normal(0, 2, n)
    return {k: tf.constant(v) for k, v in batch.items()}


def keras_predict(model, batch) -> np.ndarray:
    return model(batch, training=False).numpy().reshape(-1)


@pytest.mark.parametrize("name", list(SPECS))
def test_numpy_forward_equals_keras(name, models, data, rng):
    model = models[name]
    description, tensors = extract_forward(model, SPECS[name], data.schema, data.label)
    assert description["architecture"] == SPECS[name].architecture
    json.dumps(description)
    assert all(k.startswith("model/") and v.dtype == np.float32 for k, v in tensors.items())
    for batch in (split_batch(data), random_batch(description, 400, rng)):
        expected = keras_predict(model, batch)
        got = numpy_forward(description, tensors, *numpy_inputs(description, batch))
        assert got.dtype == np.float32 and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)
        assert 0.001 < expected.std()  # the rows do not all score alike


def test_orders_and_layers(models, data):
    dlrm = extract_forward(models["dlrm"], SPECS["dlrm"], data.schema, data.label)[0]
    categorical = [f["name"] for f in dlrm["embeddings"]["features"]]
    assert dlrm["continuous"] == sorted(dlrm["continuous"]) and "price" in dlrm["continuous"]
    # the stacked vectors: the embeddings and the bottom output ("bottom_block"), by key
    keys = [v.get("name", "bottom_block") for v in dlrm["interaction"]["vectors"]]
    assert keys == sorted(categorical + ["bottom_block"])
    assert dlrm["interaction"]["width"] == len(keys) * (len(keys) - 1) // 2
    assert dlrm["top_input"] == ["bottom_mlp", "interaction"]
    assert [d["activation"] for d in dlrm["bottom_mlp"] + dlrm["top_mlp"]] == ["relu"] * 4
    assert dlrm["output"]["activation"] == "sigmoid"
    dcn = extract_forward(models["dcn-parallel"], SPECS["dcn-parallel"], data.schema,
                          data.label)[0]
    assert [x["name"] for x in dcn["input"]] == sorted(categorical + dcn["continuous"])
    assert len(dcn["cross"]) == 2 and all(c["bias"] for c in dcn["cross"])
    assert sorted(dcn["parallel_concat"]) == ["cross", "deep"]


def test_parallel_branch_order_follows_keras_names(data, rng):
    """The parallel DCN concatenates its branches by sorted Keras layer name: with the deep
    block named sequential_block_9 and the cross block sequential_block_10 (or 99 / 100),
    cross comes first. Also sum pooling. Untrained weights: the math is the same."""
    def counter():
        return int(mm.SequentialBlock([tf.keras.layers.Activation("linear")]).name
                   .rsplit("_", 1)[-1])

    spec = ModelSpec(architecture="dcn", stacked=False, pooling="sum", **SMALL)
    before = counter()
    offset = min(int(k.rsplit("_", 1)[-1])
                 for k in _branch_keys(build_model(data.schema, data.label, spec))) - before
    target = 10 ** len(str(counter() + offset + 1)) - 1  # deep at 9, 99, 999...
    while counter() + offset < target:
        pass
    model = build_model(data.schema, data.label, spec)
    keys = _branch_keys(model)
    assert sorted(int(k.rsplit("_", 1)[-1]) for k in keys) == [target, target + 1], keys
    keras_predict(model, split_batch(data))  # builds the weights
    description, tensors = extract_forward(model, spec, data.schema, data.label)
    assert description["parallel_concat"] == ["cross", "deep"]
    assert description["embeddings"]["pooling"] == "sum"
    batch = random_batch(description, 300, rng)
    got = numpy_forward(description, tensors, *numpy_inputs(description, batch))
    np.testing.assert_allclose(got, keras_predict(model, batch), rtol=0, atol=TOLERANCE)


def _branch_keys(model):
    from merlin.models.tf.core.combinators import ParallelBlock

    for layer in model._flatten_layers():
        if isinstance(layer, ParallelBlock) and "categorical" not in layer.parallel_dict \
                and len(layer.parallel_dict) == 2:
            return list(layer.parallel_dict)
    raise AssertionError("no parallel branches")


@pytest.mark.slow
def test_folder_and_reloaded_model(models, data, tmp_path, rng):
    """export_model stores the forward in model.json; the folder alone (model.json +
    weights.npz) gives the live model's description and tensors; the reloaded SavedModel
    predicts the same and extracts the same."""
    name = "dcn-parallel"
    model, spec = models[name], SPECS[name]
    training = dict(epochs_run=1, seed=0, batch_size=512, learning_rate=2e-3,
                    schedule="constant", processed=str(data.folder))
    export_model(model, data, spec, tmp_path / "model", training)
    live_description, live_tensors = extract_forward(model, spec, data.schema, data.label)
    model_json, weights = load_weights(tmp_path / "model")
    assert set(model_json["forward"]["tensors"].values()) <= set(weights)
    description, tensors = extract_forward_from_folder(tmp_path / "model")
    assert description == live_description
    assert tensors.keys() == live_tensors.keys()
    for key in tensors:
        np.testing.assert_array_equal(tensors[key], live_tensors[key], err_msg=key)
    loaded = load_keras_model(tmp_path / "model")
    assert extract_forward(loaded, spec, data.schema, data.label)[0] == description
    for batch in (split_batch(data), random_batch(description, 300, rng)):
        expected = keras_predict(model, batch)
        np.testing.assert_allclose(keras_predict(loaded, batch), expected, rtol=0, atol=1e-6)
        got = numpy_forward(description, tensors, *numpy_inputs(description, batch))
        np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)


def test_empty_lists_pool_to_zeros_and_bad_ids(models, data):
    description, tensors = extract_forward(models["dlrm"], SPECS["dlrm"])
    features = description["embeddings"]["features"]
    listed = next(f for f in features if f["list"])
    n = 3
    categorical = {f["name"]: np.zeros(n, np.int64) for f in features if not f["list"]}
    continuous = {c: np.zeros(n) for c in description["continuous"]}
    as_lists = numpy_forward(description, tensors, {**categorical, listed["name"]: [
        np.zeros(0, np.int64), np.array([1, 2]), np.zeros(0, np.int64)]}, continuous)
    as_offsets = numpy_forward(description, tensors, {**categorical, listed["name"]: (
        np.array([1, 2]), np.array([0, 0, 2, 2]))}, continuous)
    np.testing.assert_array_equal(as_lists, as_offsets)
    assert as_lists[0] == as_lists[2]
    with pytest.raises(ValueError, match=rf"feature '{listed['name']}': id .* outside"):
        numpy_forward(description, tensors, {**categorical, listed["name"]: [
            np.array([listed["cardinality"]])] * n}, continuous)
    with pytest.raises(ValueError, match="continuous feature .* is missing"):
        numpy_forward(description, tensors, {**categorical, listed["name"]: [[]] * n}, {})
