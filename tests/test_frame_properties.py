"""Hypothesis properties of the frame codec through the Python wrapper.

decode(encode(x)) == x for every shape and coding; untrusted bytes (random,
or a valid frame mutated, with its CRC recomputed so that the field, index and
value checks see the damage) only ever raise sgc.FrameError, never crash or
return garbage silently.
"""
from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
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


def _reseal(frame: bytes | bytearray) -> bytes:
    """``frame`` with its last 4 bytes set to the CRC-32C of the bytes before them.

    PROTOCOL.md 8: the crc field is the final u32 (little-endian) and covers
    every byte before it, so a mutated body resealed this way passes check 7
    and reaches the field, index and value checks.
    """
    from sgc._sgc import ffi, lib
    body = bytes(frame[:-4])
    return body + struct.pack("<I", lib.sgc_crc32c_update(0, ffi.from_buffer(body), len(body)))


def _decode_or_status(frame: bytes) -> sgc.Frame | int:
    """The decoded frame, or the status of the FrameError it was rejected with."""
    try:
        return sgc.decode(frame)
    except sgc.FrameError as err:
        assert err.status < 0
        return err.status


def _assert_self_consistent(got: sgc.Frame, frame_len: int) -> None:
    """What every frame that decode() returns must satisfy, whatever its bytes."""
    assert got.header_bytes == (40 if not got.compact else got.header_bytes)
    assert got.payload_len == frame_len - got.header_bytes - 4 - (32 if got.flags & 0x01 else 0)
    assert got.indices.size == got.k and got.values.size == got.k
    assert np.all(got.indices < got.n)
    assert np.all(np.diff(got.indices.astype(np.int64)) > 0)
    assert np.all(np.isfinite(got.values))
    if got.is_control:
        assert got.n == 0 and got.k == 0 and got.index_coding == "none"
        return
    assert 1 <= got.n and got.k <= got.n
    if got.index_coding == "dense":
        assert got.indices.tolist() == list(range(got.n))
    scale = np.float32(got.scale)
    if got.value_coding in ("fp32", "fp16"):
        assert got.scale == 1.0
    elif got.value_coding == "int8":
        assert np.all(np.abs(got.values) <= np.float32(127 * got.scale))
    else:  # sign: every value is +scale or -scale
        assert np.all(np.abs(got.values) == scale)


@SETTINGS
@given(sparse_updates(), st.sampled_from(["fp32", "fp16", "int8", "sign"]), st.data())
def test_a_burst_of_corrupted_bytes_under_the_old_crc_is_always_rejected(
        update, coding: str, data: st.DataObject) -> None:
    """CRC-32C detects every burst up to 32 bits (PROTOCOL.md 8): 1-4 adjacent bytes."""
    n, idx, vals = update
    original = sgc.encode_sparse(n, idx, vals, value_coding=coding)
    frame = bytearray(original)
    start = data.draw(st.integers(0, len(frame) - 1), label="start")
    width = data.draw(st.integers(1, min(4, len(frame) - start)), label="width")
    frame[start:start + width] = data.draw(st.binary(min_size=width, max_size=width), label="bytes")
    assume(bytes(frame) != original)
    with pytest.raises(sgc.FrameError):
        sgc.decode(bytes(frame))


@SETTINGS
@given(sparse_updates(), st.sampled_from(["fp32", "fp16", "int8", "sign"]), st.data())
def test_mutated_frames_with_a_recomputed_crc_fail_a_field_check_or_decode_consistently(
        update, coding: str, data: st.DataObject) -> None:
    """Past a valid CRC, decode() either names a field or returns a coherent frame."""
    from sgc._sgc import lib
    n, idx, vals = update
    original = sgc.encode_sparse(n, idx, vals, value_coding=coding)
    frame = bytearray(original)
    body_len = len(frame) - 4
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        # half the picks land in the header past magic and version (the burst test covers
        # those), whose fields gate every later check; the rest anywhere before the crc
        pos = data.draw(st.one_of(st.integers(3, 39), st.integers(0, body_len - 1)), label="pos")
        frame[pos] = data.draw(st.integers(0, 255), label="byte")
    resealed = _reseal(frame)
    got = _decode_or_status(resealed)
    if isinstance(got, int):
        assert got != lib.SGC_E_CRC, "the resealed CRC must never be what rejects the frame"
        event(f"rejected: {sgc._errors.message(got)}")
        return
    event("decoded" + (" (unchanged)" if resealed == original else ""))
    _assert_self_consistent(got, len(resealed))


def _sweep_frames() -> list[bytes]:
    """A fixed set of valid frames covering every index and value coding."""
    rng = np.random.default_rng(20240607)
    frames = []
    for coding in ("fp32", "fp16", "int8", "sign"):
        vals = rng.uniform(-4, 4, size=24).astype(np.float32)
        rice_idx = np.sort(rng.choice(5000, size=24, replace=False)).astype(np.uint32)
        frames.append(sgc.encode_sparse(5000, rice_idx, vals, value_coding=coding, device_id=7))
        bitmap_idx = np.sort(rng.choice(40, size=24, replace=False)).astype(np.uint32)
        frames.append(sgc.encode_sparse(40, bitmap_idx, vals, value_coding=coding, round=3))
        frames.append(sgc.encode_dense(vals, value_coding=coding, seq=9))
        frames.append(sgc.encode_random_k(300, 0x1234_5678_9ABC_DEF0, vals, value_coding=coding))
    return frames


def test_resealed_single_byte_mutations_reach_the_field_checks_and_often_decode() -> None:
    """A deterministic sweep: every body byte of every sweep frame, XORed with 3 masks.

    Shows that the consistent-decode branch of the property above is not dead:
    a good share of mutated, resealed frames decode, and the rejections come
    from many different checks past the CRC.
    """
    from sgc._sgc import lib
    assert _reseal(b"123456789" + b"\0" * 4)[-4:] == struct.pack("<I", 0xE3069283)
    decoded, statuses, codings = 0, set(), set()
    payload_decodes = total = 0
    for original in _sweep_frames():
        assert _reseal(original) == original
        before = sgc.decode(original)
        codings.add(before.index_coding)
        for pos in range(len(original) - 4):
            for mask in (0x01, 0x80, 0xFF):
                frame = bytearray(original)
                frame[pos] ^= mask
                resealed = _reseal(frame)
                got = _decode_or_status(resealed)
                total += 1
                if isinstance(got, int):
                    assert got != lib.SGC_E_CRC
                    assert not 8 <= pos < 20, f"a change to carried field byte {pos} was rejected"
                    statuses.add(got)
                    continue
                _assert_self_consistent(got, len(resealed))
                decoded += 1
                payload_decodes += pos >= 40
                if 8 <= pos < 20:  # device_id, round, seq: carried unchanged, content untouched
                    assert got.indices.tolist() == before.indices.tolist()
                    assert got.values.tobytes() == before.values.tobytes()
                    assert (got.device_id, got.round, got.seq) != \
                        (before.device_id, before.round, before.seq)
    assert codings == {"rice", "bitmap", "dense", "stratified"}
    assert decoded >= total // 2, f"only {decoded} of {total} resealed mutations decoded"
    assert payload_decodes >= decoded // 2, "most decodes should come from payload mutations"
    # past the CRC, the header, index and value checks all get to reject something
    for check in ("SGC_E_MSG_TYPE", "SGC_E_HDR_N", "SGC_E_HDR_K", "SGC_E_HDR_INDEX_CODING",
                  "SGC_E_HDR_VALUE_CODING", "SGC_E_INDICES", "SGC_E_VALUES"):
        assert getattr(lib, check) in statuses, f"{check} never fired"


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
