"""Hypothesis properties of the frame codec through the Python wrapper.

decode(encode(x)) == x for every shape and coding; untrusted bytes (random,
or a valid frame mutated) only ever raise sgc.FrameError, never crash or
return garbage silently.
"""
from __future__ import annotations

import struct

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sgc

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def sparse_updates(draw: st.DrawFn) -> tuple[int, np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 5000))
    k = draw(st.integers(0, min(n, 200)))
    idx = np.array(sorted(draw(st.sets(st.integers(0, n - 1), min_size=k, max_size=k))),
                   dtype=np.uint32)
    vals = np.array(draw(st.lists(st.floats(-2.0**100, 2.0**100, width=32), min_size=k, max_size=k)),
                    dtype=np.float32)
    return n, idx, vals


@SETTINGS
@given(sparse_updates(), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_fp32_round_trip_is_exact(update, device_id: int, rnd: int) -> None:
    n, idx, vals = update
    got = sgc.decode(sgc.encode_sparse(n, idx, vals, device_id=device_id, round=rnd))
    assert got.indices.tolist() == idx.tolist()
    assert got.values.tobytes() == vals.tobytes()
    assert (got.device_id, got.round, got.n) == (device_id, rnd, n)


@SETTINGS
@given(sparse_updates(), st.sampled_from(["fp16", "int8", "sign"]))
def test_quantised_round_trip_equals_the_core_quantiser(update, coding: str) -> None:
    n, idx, vals = update
    got = sgc.decode(sgc.encode_sparse(n, idx, vals, value_coding=coding))
    assert got.indices.tolist() == idx.tolist()
    codes, scale = sgc.quantize(vals, coding)
    assert got.values.tobytes() == sgc.dequantize(codes, idx.size, coding, scale).tobytes()


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_never_crash_the_decoder(data: bytes) -> None:
    try:
        sgc.decode(data)
    except sgc.FrameError:
        pass


@SETTINGS
@given(st.binary(min_size=37, max_size=37), st.binary(max_size=200))
def test_random_headers_with_a_valid_crc_get_a_field_error_or_decode(head: bytes,
                                                                     payload: bytes) -> None:
    """Past the CRC every semantic check runs on attacker-chosen fields."""
    from sgc._sgc import ffi, lib
    body = b"SP\x01" + head[:1] + bytes([head[1] & 0xF0]) + head[2:33] + \
        struct.pack("<I", len(payload)) + payload
    frame = body + struct.pack("<I", lib.sgc_crc32c_update(0, ffi.from_buffer(body), len(body)))
    try:
        got = sgc.decode(frame)
    except sgc.FrameError as err:
        assert "CRC" not in str(err) and "truncated" not in str(err)
        return
    assert got.indices.size == got.k and np.all(got.indices < max(got.n, 1))


@SETTINGS
@given(sparse_updates(), st.data())
def test_mutated_frames_are_rejected_or_decode_consistently(update, data: st.DataObject) -> None:
    n, idx, vals = update
    frame = bytearray(sgc.encode_sparse(n, idx, vals))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(frame) - 1))
        frame[pos] = data.draw(st.integers(0, 255))
    try:
        got = sgc.decode(bytes(frame))
    except sgc.FrameError:
        return
    # it got through the CRC: it must still be self-consistent
    assert got.indices.size == got.k and np.all(got.indices < got.n)
    assert np.all(np.diff(got.indices.astype(np.int64)) > 0)
    assert np.all(np.isfinite(got.values))


@SETTINGS
@given(st.binary(min_size=1, max_size=3000), st.integers(64, 600), st.randoms())
def test_chunking_round_trips_any_frame_in_any_order(payload: bytes, max_size: int, rnd) -> None:
    frame = sgc.encode_dense(np.frombuffer(payload.ljust(len(payload) + (-len(payload)) % 4,
                                                         b"\0"), dtype=np.uint8)
                             .astype(np.float32))
    parts = sgc.chunk(frame, max_size)
    rnd.shuffle(parts)
    r = sgc.Reassembler(capacity_bytes=2 * len(frame) + 64, max_frames=1, timeout_s=10)
    done = [out for out in (r.feed(p, now=0) for p in parts) if out is not None]
    assert done == [frame]
