"""fp16 and int8 embedding tables (shoprank export --precision) and fp16 / bf16 MLP weights
(--weights): the row-wise quantiser keeps every value within half a step on fresh random
tables, bf16 rounds to nearest even; the engine's forward on such an export equals the NumPy
reference on the widened tensors (1e-5) and stays close to the float32 export's (measured
bounds below); an int8 row takes dim + 4 bytes, an fp16 table is the float32 one rounded; a
bad precision or values beyond float16 are refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

import shoprank
from shoprank.export.precision import dequantize_rows, quantize_rows, to_bf16, widen
from shoprank.export.tensors import read_tensors

pytest.importorskip("merlin.models")


@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (300, 16), (50, 64)])
def test_quantised_rows_stay_within_half_a_step(rng, shape):
    table = (rng.standard_normal(shape) * rng.uniform(0.01, 10, (shape[0], 1))).astype(np.float32)
    table[0] = 0.25  # a constant row
    codes, scale, low = quantize_rows(table)
    assert codes.dtype == np.uint8 and scale.dtype == low.dtype == np.float16
    back = dequantize_rows(codes, scale, low)
    error = np.abs(back - table)
    step = scale.astype(np.float32)[:, None]
    # half a (stored) step, plus float32 rounding of low + scale * code
    assert (error <= step / 2 + 1e-6 * np.abs(table).max(axis=1, keepdims=True)).all()
    # the stored step is the row's span / 255 but for float16 rounding of low and scale
    assert (step <= 1.01 * (table.max(axis=1) - table.min(axis=1))[:, None] / 255 + 1e-7).all()
    np.testing.assert_allclose(back[0], table[0], atol=1e-3)  # a constant row: its low


def test_values_beyond_float16_are_refused():
    with pytest.raises(ValueError, match="int8 tables need finite values"):
        quantize_rows(np.array([[1.0, 1e6]], np.float32))


def test_bf16_rounds_to_nearest_even(rng):
    values = (rng.standard_normal(1000) * 10.0 ** rng.uniform(-3, 3, 1000)).astype(np.float32)
    back = widen(to_bf16(values))
    assert (np.abs(back - values) <= np.abs(values) * 2.0 ** -8).all()  # 8 bits of mantissa
    exact = np.array([1.0, -2.5, 0.0, 2.0 ** 100], np.float32)  # held exactly: kept as they are
    np.testing.assert_array_equal(widen(to_bf16(exact)), exact)
    # halfway between two bfloat16 values: to the even one
    low = np.array([1.0], np.float32).view(np.uint32)
    halfway = (low + np.uint32(0x8000)).view(np.float32)   # 1 + 2^-8: between 1 and 1 + 2^-7
    above = (low + np.uint32(0x18000)).view(np.float32)    # 1 + 3 * 2^-8: towards 1 + 2^-6
    assert widen(to_bf16(halfway))[0] == 1.0 and widen(to_bf16(above))[0] == 1 + 2.0 ** -6


EXPORTS = [("int8", "fp32"), ("fp16", "fp32"), ("fp32", "fp16"), ("fp32", "bf16")]


@pytest.fixture(scope="module", params=EXPORTS, ids=[f"{p}-{w}" for p, w in EXPORTS])
def small_export(request, dlrm, tmp_path_factory):
    """(table precision, weights, artifact folder) of the world's DLRM so exported."""
    from shoprank.export.artifacts import export_ranker

    precision, weights = request.param
    out = tmp_path_factory.mktemp(f"{precision}-{weights}") / "artifacts"
    export_ranker(dlrm[2] / "dlrm", out, precision=precision, weights=weights)
    return precision, weights, out


# a click probability moves by less than this from fp32's (int8: within half a step of
# each row's range; fp16: within 2^-11 of each value, relatively; bf16 weights: 2^-8)
DRIFT = {("int8", "fp32"): 5e-3, ("fp16", "fp32"): 5e-4, ("fp32", "fp16"): 5e-4,
         ("fp32", "bf16"): 5e-3}


def test_the_engine_equals_its_reference_and_is_close_to_fp32(dlrm, small_export, rng):
    from shoprank.reference.forward import numpy_forward
    from tests.ranker.test_engine import request_rows

    precision, weights, folder = small_export
    fp32, _, world = dlrm
    small = shoprank.Ranker.load(folder)
    raw = request_rows(world, rng, n=500)
    spec = json.loads((folder / "ranker.json").read_text())
    tensors = read_tensors(folder / "tensors.bin")
    features = small.transform(raw)
    emb = spec["model"]["embeddings"]
    categorical = {f["name"]: features[f["name"]] for f in emb["features"]}
    continuous = {name: features[name] for name in spec["model"]["continuous"]}
    want = numpy_forward(spec["model"], tensors, categorical, continuous)
    got = small.score(raw)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    drift = np.abs(got - fp32.score(raw)).max()
    assert drift < DRIFT[precision, weights], drift
    assert emb["precision"] == precision and spec["model"]["weights"] == weights
    assert tensors[emb["table"]].dtype == {"int8": np.uint8, "fp16": np.float16,
                                           "fp32": np.float32}[precision]
    kernel = tensors[spec["model"]["top_mlp"][0]["kernel"]]
    assert kernel.dtype == {"fp32": np.float32, "fp16": np.float16, "bf16": np.uint16}[weights]


def test_an_fp16_table_is_the_rounded_fp32_one(dlrm, small_export):
    precision, _, folder = small_export
    if precision != "fp16":
        pytest.skip("fp16 only")
    fp32 = read_tensors(dlrm[2] / "dlrm-artifacts" / "tensors.bin")["model/embeddings/table"]
    half = read_tensors(folder / "tensors.bin")["model/embeddings/table.fp16"]
    np.testing.assert_array_equal(half, fp32.astype(np.float16))
    assert half.nbytes * 2 == fp32.nbytes


def test_values_beyond_half_floats_are_refused_for_fp16():
    from shoprank.export.precision import apply_precision

    spec = {"model": {"embeddings": {"table": "t"}}}
    with pytest.raises(ValueError, match="fp16 tables need finite values within"):
        apply_precision(spec, {"t": np.array([[1.0, 1e5]], np.float32)}, "fp16")


def test_an_int8_row_takes_dim_plus_4_bytes(dlrm, small_export):
    precision, _, int8_export = small_export
    if precision != "int8":
        pytest.skip("int8 only")
    world = dlrm[2]
    rows, dim = read_tensors(world / "dlrm-artifacts" / "tensors.bin")[
        "model/embeddings/table"].shape
    int8 = read_tensors(int8_export / "tensors.bin")
    small = sum(int8[f"model/embeddings/table.{p}"].nbytes for p in ("int8", "scale", "low"))
    assert small == rows * (dim + 4)  # fp32: 4 dim (here dim 8: 2.7x; 16: 3.2x; 64: 3.8x)


def test_a_bad_precision_is_refused(dlrm, tmp_path):
    from shoprank.export.artifacts import export_ranker

    with pytest.raises(ValueError, match="precision: expected one of"):
        export_ranker(dlrm[2] / "dlrm", tmp_path / "out", precision="int4")
    with pytest.raises(ValueError, match="weights: expected one of"):
        export_ranker(dlrm[2] / "dlrm", tmp_path / "out", weights="fp8")
    assert not (tmp_path / "out").exists()
