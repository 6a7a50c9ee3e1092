"""Smaller embedding tables for the engine (issue 21): ``shoprank export --precision fp16``
stores the embedding table as IEEE half floats (2 bytes a value, rounded to nearest), and
``--precision int8`` row-wise quantised, one byte per value:

    value = low + scale * code,  code in 0..255,  low, scale: the row's, as float16

low is the row's minimum and scale (max - low) / 255, both rounded to float16 first (low
down, scale up, so every code fits) and the codes computed against those rounded values: so
every value is within scale / 2 of the trained one, and a row takes dim + 4 bytes instead
of 4 dim (3.2x smaller at dim 16, 3.8x at 64). The engine dequantises in the gather, in
float32. The MLPs stay float32. ranker.json's embeddings then say ``"precision": "int8"``
and name the codes, scales and lows, or ``"fp16"`` and name the F16 table
(engine/io/ARTIFACTS.md).
"""

from __future__ import annotations

import numpy as np

PRECISIONS = ("fp32", "fp16", "int8")
WEIGHTS = ("fp32", "fp16", "bf16")  # the MLPs' (and cross layers') kernels
FP16_MAX = 65_504.0
LEVELS = 255
HALF_MAX = 30_000.0  # |values| up to here keep low and 255 * scale within float16


def quantize_rows(table: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(uint8 codes, float16 scale per row, float16 low per row) of a float table."""
    table = np.asarray(table, np.float32)
    if not np.isfinite(table).all() or np.abs(table).max(initial=0) > HALF_MAX:
        raise ValueError(f"int8 tables need finite values within +-{HALF_MAX:g} (a row's low "
                         "and scale are float16)")
    low = _half(table.min(axis=1), toward=-np.inf)
    span = table.max(axis=1) - low.astype(np.float32)
    scale = _half(span / LEVELS, toward=np.inf)
    step = scale.astype(np.float32)
    safe = np.where(step > 0, step, 1).astype(np.float32)  # a constant row: every code 0
    codes = np.rint((table - low.astype(np.float32)[:, None]) / safe[:, None])
    return np.clip(codes, 0, LEVELS).astype(np.uint8), scale, low


def dequantize_rows(codes: np.ndarray, scale: np.ndarray, low: np.ndarray) -> np.ndarray:
    """The float32 table the engine computes from the codes (low + scale * code)."""
    low, scale = low.astype(np.float32)[:, None], scale.astype(np.float32)[:, None]
    return (low + scale * codes.astype(np.float32)).astype(np.float32)


def _half(values: np.ndarray, toward: float) -> np.ndarray:
    """float32 values as the nearest float16 on the side of `toward` (so low <= min and
    255 scale >= the row's span)."""
    half = values.astype(np.float16)
    off = (half.astype(np.float32) > values) if toward < 0 else (half.astype(np.float32) < values)
    return np.where(off, np.nextafter(half, np.float16(toward)), half).astype(np.float16)


def apply_precision(spec: dict, tensors: dict, precision: str) -> None:
    """Rewrites the forward spec's embedding table (in spec["model"]) at `precision`."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision: expected one of {PRECISIONS}, got {precision!r}")
    emb = spec["model"]["embeddings"]
    emb["precision"] = precision
    if precision == "fp32":
        return
    name = emb["table"]
    if precision == "fp16":  # round to nearest: every value within 2^-11 of it, relatively
        table = np.asarray(tensors.pop(name), np.float32)
        if not np.isfinite(table).all() or np.abs(table).max(initial=0) > FP16_MAX:
            raise ValueError(f"fp16 tables need finite values within +-{FP16_MAX:g}")
        tensors[f"{name}.fp16"] = table.astype(np.float16)
        emb["table"] = f"{name}.fp16"
        return
    codes, scale, low = quantize_rows(tensors.pop(name))
    tensors[f"{name}.int8"], tensors[f"{name}.scale"], tensors[f"{name}.low"] = codes, scale, low
    emb.update(table=f"{name}.int8", scale=f"{name}.scale", low=f"{name}.low")


def table_of(emb: dict, tensors: dict) -> np.ndarray:
    """The float32 embedding table a forward spec describes (dequantised when int8 or
    fp16)."""
    if emb.get("precision", "fp32") == "int8":
        return dequantize_rows(tensors[emb["table"]], tensors[emb["scale"]], tensors[emb["low"]])
    return np.asarray(tensors[emb["table"]], dtype=np.float32)


def apply_weights(spec: dict, tensors: dict, weights: str) -> None:
    """Stores every 2-D kernel of the forward spec (MLPs, cross layers, the output layer) at
    `weights`: fp16 (IEEE half, rounded to nearest) or bf16 (the top 16 bits of the float32,
    rounded to nearest even; stored as uint16 bits, tensor dtype BF16). The engine widens
    them to float32 at load and computes in float32; biases stay float32."""
    if weights not in WEIGHTS:
        raise ValueError(f"weights: expected one of {WEIGHTS}, got {weights!r}")
    spec["model"]["weights"] = weights
    if weights == "fp32":
        return
    for name in kernel_names(spec["model"]):
        kernel = np.asarray(tensors[name], np.float32)
        if kernel.ndim != 2:
            continue
        if not np.isfinite(kernel).all() or (weights == "fp16" and
                                             np.abs(kernel).max(initial=0) > FP16_MAX):
            raise ValueError(f"{weights} weights need finite values"
                             + (f" within +-{FP16_MAX:g}" if weights == "fp16" else "")
                             + f"; {name} has others")
        tensors[name] = kernel.astype(np.float16) if weights == "fp16" else to_bf16(kernel)


def kernel_names(node) -> list[str]:
    """The tensor names under every "kernel" key of a forward spec, once each."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "kernel" and isinstance(value, str):
                found.append(value)
            elif key != "linear":  # the linear part's weights stay float32
                found += kernel_names(value)
    elif isinstance(node, list):
        for value in node:
            found += kernel_names(value)
    return list(dict.fromkeys(found))


def to_bf16(values: np.ndarray) -> np.ndarray:
    """float32 values as bfloat16 bits (uint16), rounded to nearest, ties to even."""
    bits = np.asarray(values, np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def widen(values: np.ndarray) -> np.ndarray:
    """A stored float tensor as float32: fp16 exactly, bf16 bits (uint16) exactly."""
    values = np.asarray(values)
    if values.dtype == np.uint16:
        return (values.astype(np.uint32) << 16).view(np.float32)
    return values.astype(np.float32)
