"""The engine on random models (tests/ranker/synthetic.py): DLRM, DCN-v2 stacked and
parallel, fresh random weights and rows every run, no NVTabular or TensorFlow needed.

* CPU: transform equal to the spec's NumPy reference (ids exact, values within 1e-6), scores
  within 1e-5 of numpy_forward on the transformed rows;
* GPU (tests marked gpu, skipped without a device): the CUDA forward within 1e-5 of the CPU
  engine at 1 to 100,000 rows, and device selection equal to CPU selection.
"""

from __future__ import annotations

import numpy as np
import pytest

import shoprank
from shoprank.export.artifacts import write_artifacts
from shoprank.reference.forward import numpy_forward
from shoprank.reference.transform import reference_transform
from tests.ranker.synthetic import ARCHITECTURES, make_spec, random_rows

ATOL = 1e-5


@pytest.fixture(params=ARCHITECTURES)
def model(request, tmp_path, rng):
    spec, tensors = make_spec(request.param, rng)
    write_artifacts(tmp_path / "artifacts", spec, tensors)
    return shoprank.Ranker.load(tmp_path / "artifacts"), spec, tensors


def reference_scores(spec, tensors, raw):
    expected = reference_transform(spec, tensors, raw)
    embedded = {f["name"]: expected[f["name"]] for f in spec["model"]["embeddings"]["features"]}
    continuous = {name: expected[name] for name in spec["model"]["continuous"]}
    return expected, numpy_forward(spec["model"], tensors, embedded, continuous)


def test_cpu_engine_equals_the_references(model, rng):
    ranker, spec, tensors = model
    raw = random_rows(spec, tensors, 700, rng)
    expected, scores = reference_scores(spec, tensors, raw)
    native = ranker.transform(raw)
    for name, want in expected.items():
        got = native[name]
        if isinstance(got, tuple):
            ids, offsets = got
            assert [ids[a:b].tolist() for a, b in zip(offsets[:-1], offsets[1:])] == \
                [w.tolist() for w in want]
        elif got.dtype == np.int32:
            np.testing.assert_array_equal(got, want)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ranker.score(raw, threads=1), scores, rtol=0, atol=ATOL)
    np.testing.assert_array_equal(ranker.score(raw, threads=2), ranker.score(raw, threads=1))


def test_cuda_without_a_device_is_a_clear_error(model, rng):
    ranker, spec, tensors = model
    if shoprank.build_info()["backends"].get("cuda"):
        pytest.skip("a CUDA device is present")
    with pytest.raises(shoprank.DeviceError, match="CUDA"):
        ranker.score(random_rows(spec, tensors, 3, rng), device="cuda")
    with pytest.raises(ValueError, match='device: expected "cpu" or "cuda", got "tpu"'):
        ranker.score(random_rows(spec, tensors, 3, rng), device="tpu")


@pytest.mark.gpu
@pytest.mark.parametrize("rows", [1, 37, 1000, 100_000])
def test_cuda_forward_equals_cpu(model, rows, rng):
    ranker, spec, tensors = model
    raw = random_rows(spec, tensors, rows, rng)
    cpu = ranker.score(raw)
    gpu = ranker.score(raw, device="cuda")
    np.testing.assert_allclose(gpu, cpu, rtol=0, atol=ATOL)
    k = min(rows, 50)
    user = {"user_id": raw["user_id"][0]}
    candidates = {name: raw[name] for name in ("category", "tags", "price")}
    cpu_rows, cpu_scores = ranker.rank(user, candidates, k)
    gpu_rows, gpu_scores = ranker.rank(user, candidates, k, device="cuda")
    np.testing.assert_allclose(gpu_scores, cpu_scores, rtol=0, atol=ATOL)
    # the same rows, unless two candidates' scores lie within rounding of each other
    close = np.abs(np.diff(np.sort(cpu_scores))) < 2 * ATOL
    if not close.any():
        assert set(gpu_rows) == set(cpu_rows)


@pytest.mark.parametrize("change, words", [
    (lambda linear: linear["features"][0].update(cardinality=7),
     "another cardinality or kind than its embedding"),
    (lambda linear: linear["features"][0].update(name="brand"), '"brand" is not an embedded feature'),
    (lambda linear: linear.update(continuous=["size"]), '"size" is not a continuous feature'),
    (lambda linear: linear.update(pooling="max"), "pooling must be mean or sum"),
])
def test_a_bad_linear_part_is_named(tmp_path, rng, change, words):
    """(write_artifacts loads what it wrote before keeping it: the engine's check refuses)"""
    spec, tensors = make_spec("dlrm-linear", rng)
    change(spec["model"]["linear"])
    with pytest.raises(ValueError, match="ranker.json:model.linear") as error:
        write_artifacts(tmp_path / "artifacts", spec, tensors)
    assert words in str(error.value)
    assert not (tmp_path / "artifacts").exists()


@pytest.mark.parametrize("precision", ["fp16", "int8"])
@pytest.mark.parametrize("architecture", ["dlrm", "dcn-parallel-linear"])
def test_a_small_table_equals_the_reference_on_random_models(tmp_path, rng, precision,
                                                             architecture):
    """Random widths (also not a multiple of the 8-wide widening) and fresh values."""
    from shoprank.export.precision import apply_precision

    spec, tensors = make_spec(architecture, rng)
    apply_precision(spec, tensors, precision)
    write_artifacts(tmp_path / "artifacts", spec, tensors)
    ranker = shoprank.Ranker.load(tmp_path / "artifacts")
    raw = random_rows(spec, tensors, 300, rng)
    _, scores = reference_scores(spec, tensors, raw)
    np.testing.assert_allclose(ranker.score(raw, threads=1), scores, rtol=0, atol=ATOL)


@pytest.mark.parametrize("weights", ["fp16", "bf16"])
@pytest.mark.parametrize("architecture", ["dlrm", "dcn-stacked", "dcn-parallel-linear"])
def test_half_width_weights_equal_the_reference_on_random_models(tmp_path, rng, weights,
                                                                 architecture):
    """MLP, cross and output kernels stored at fp16 / bf16 (export --weights), widened at
    load: the engine computes what the reference computes on the widened kernels."""
    from shoprank.export.precision import apply_weights

    spec, tensors = make_spec(architecture, rng)
    apply_weights(spec, tensors, weights)
    write_artifacts(tmp_path / "artifacts", spec, tensors)
    ranker = shoprank.Ranker.load(tmp_path / "artifacts")
    raw = random_rows(spec, tensors, 300, rng)
    _, scores = reference_scores(spec, tensors, raw)
    np.testing.assert_allclose(ranker.score(raw, threads=1), scores, rtol=0, atol=ATOL)
