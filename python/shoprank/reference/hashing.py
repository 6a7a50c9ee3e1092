"""pandas' hashing of text, as NVTabular's StableHashBucket uses it (pandas 1.5 hash_array),
in plain Python and NumPy: the hash_bucket feature's spec and its reference."""

from __future__ import annotations

import numpy as np

SIPHASH_KEY = b"0123456789123456"
MASK64 = (1 << 64) - 1
NULL_HASH = MASK64  # a null string hashes to max(uint64), without the mixer
MIX_1, MIX_2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def siphash24(data: bytes, key: bytes = SIPHASH_KEY) -> int:
    """SipHash-2-4 (64-bit output) of data, as pandas._libs.hashing computes it."""
    def rotl(x, b):
        return ((x << b) | (x >> (64 - b))) & MASK64

    def rounds(v0, v1, v2, v3, n):
        for _ in range(n):
            v0 = (v0 + v1) & MASK64
            v1 = rotl(v1, 13) ^ v0
            v0 = rotl(v0, 32)
            v2 = (v2 + v3) & MASK64
            v3 = rotl(v3, 16) ^ v2
            v0 = (v0 + v3) & MASK64
            v3 = rotl(v3, 21) ^ v0
            v2 = (v2 + v1) & MASK64
            v1 = rotl(v1, 17) ^ v2
            v2 = rotl(v2, 32)
        return v0, v1, v2, v3

    k0 = int.from_bytes(key[:8], "little")
    k1 = int.from_bytes(key[8:16], "little")
    v0, v1 = 0x736F6D6570736575 ^ k0, 0x646F72616E646F6D ^ k1
    v2, v3 = 0x6C7967656E657261 ^ k0, 0x7465646279746573 ^ k1
    whole = len(data) - len(data) % 8
    for i in range(0, whole, 8):
        m = int.from_bytes(data[i:i + 8], "little")
        v3 ^= m
        v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 2)
        v0 ^= m
    b = ((len(data) & 0xFF) << 56) | int.from_bytes(data[whole:], "little")
    v3 ^= b
    v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 2)
    v0 ^= b
    v2 ^= 0xFF
    v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 4)
    return v0 ^ v1 ^ v2 ^ v3


def mix64(x: np.ndarray) -> np.ndarray:
    """pandas' final redistribution of 64-bit hashes (uint64 in, uint64 out)."""
    x = np.array(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(MIX_1)
        x ^= x >> np.uint64(27)
        x *= np.uint64(MIX_2)
        x ^= x >> np.uint64(31)
    return x


def hash_text(values) -> np.ndarray:
    """pandas' hash_array of text values (None: null), uint64 per value."""
    cache: dict[str, int] = {}
    out = np.empty(len(values), dtype=np.uint64)
    for i, v in enumerate(values):
        if v is None:
            out[i] = NULL_HASH
            continue
        if v not in cache:
            cache[v] = int(mix64(np.array([siphash24(v.encode("utf-8"))], np.uint64))[0])
        out[i] = cache[v]
    return out
