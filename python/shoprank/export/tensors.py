"""Named arrays in one file, in the safetensors layout, readable without pickle or Python.

Layout: 8 bytes little-endian header length, a JSON header
{name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}}, then the raw
little-endian bytes (offsets relative to the end of the header). The C++ engine reads the
same file (engine/io). Text columns are stored as two arrays: the UTF-8 bytes of every
value back to back (uint8) and int64 offsets of length n + 1 (see encode_strings).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64,
          "U8": np.uint8, "F16": np.float16,
          "BF16": np.uint16}  # bfloat16 as its bits (export/precision.py's to_bf16, widen)
CODES = {np.dtype(v): k for k, v in DTYPES.items()}
ALIGN = 8


def write_tensors(path, tensors: dict[str, np.ndarray]) -> None:
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        code = CODES.get(array.dtype)
        if code is None:
            raise TypeError(f"tensor {name!r}: dtype {array.dtype} is not one of "
                            f"{sorted(str(np.dtype(v)) for v in DTYPES.values())}")
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": code, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        pad = -len(data) % ALIGN  # keep every tensor 8-byte aligned for the engine
        blobs.append(data + b"\0" * pad)
        offset += len(data) + pad
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(len(text) + 8) % ALIGN)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def read_tensors(path) -> dict[str, np.ndarray]:
    raw = Path(path).read_bytes()
    if len(raw) < 8:
        raise ValueError(f"{path}: too short to be a tensor file")
    (size,) = struct.unpack("<Q", raw[:8])
    if 8 + size > len(raw):
        raise ValueError(f"{path}: header length {size} runs past the end of the file")
    header = json.loads(raw[8:8 + size])
    body = memoryview(raw)[8 + size:]
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        dtype = np.dtype(DTYPES[entry["dtype"]]).newbyteorder("<")
        if not 0 <= begin <= end <= len(body):
            raise ValueError(f"{path}: tensor {name!r} lies outside the file")
        out[name] = np.frombuffer(body[begin:end], dtype=dtype).reshape(entry["shape"]).copy()
    return out


def encode_strings(values) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 bytes, int64 offsets of length n + 1) for a sequence of str."""
    encoded = [str(v).encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), offsets


def decode_strings(data: np.ndarray, offsets: np.ndarray) -> list[str]:
    raw = data.tobytes()
    return [raw[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(len(offsets) - 1)]
