"""The size targets of issue 3, checked on every run (bench/codec.py has the full table).

Index bits within 1.03x of log2(C(n,k)) from 0.01% to 10% density at n = 1e6,
and at 0.1% density fp16 frames <= 0.45 and int8 frames <= 0.32 of int32+fp32
COO.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import sgc

N = 1_000_000


def sample(k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(N, k, replace=False)), rng.laplace(0, 1e-3, k).astype(np.float32)


@pytest.mark.parametrize("density", [1e-4, 1e-3, 1e-2, 5e-2, 1e-1])
def test_index_bits_stay_within_three_percent_of_the_bound(density: float) -> None:
    k = round(N * density)
    idx, vals = sample(k)
    head = sgc.decode(sgc.encode_sparse(N, idx, vals, value_coding="sign"))
    index_bits = 8 * (head.payload_len - (k + 7) // 8)
    bound = (math.lgamma(N + 1) - math.lgamma(k + 1) - math.lgamma(N - k + 1)) / math.log(2)
    assert index_bits <= 1.03 * bound


@pytest.mark.parametrize("coding,limit", [("fp16", 0.45), ("int8", 0.32)])
def test_frame_at_one_per_mille_beats_coo_by_the_target(coding: str, limit: float) -> None:
    idx, vals = sample(N // 1000)
    frame = sgc.encode_sparse(N, idx, vals, value_coding=coding)
    assert len(frame) <= limit * 8 * idx.size


def test_compact_header_fits_a_watch_update_in_a_lora_payload() -> None:
    """The compact header (PROTOCOL.md 13) for a 3,319-parameter model at 300x: n = 3319,
    k = 11 int8 values. Full: 40-byte header + 4 crc; compact: 19 (15 + the int8 scale)."""
    rng = np.random.default_rng(3319)
    idx = np.sort(rng.choice(3319, 11, replace=False))
    vals = rng.normal(0, 1e-2, 11).astype(np.float32)
    full = sgc.encode_sparse(3319, idx, vals, value_coding="int8", device_id=7, round=3, seq=41)
    small = sgc.encode_sparse(3319, idx, vals, value_coding="int8", device_id=7, round=3, seq=41,
                              compact=True)
    assert sgc.decode(small).header_bytes == 19 and sgc.decode(full).header_bytes == 40
    assert len(full) - len(small) == 21
    assert len(small) <= 50
    got = sgc.decode(small)
    assert got.indices.tolist() == idx.tolist() and got.compact
