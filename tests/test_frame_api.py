"""sgc frame API: round trips, header fields, keys and clear errors."""
from __future__ import annotations

import struct

import numpy as np
import pytest

import sgc

KEY = b"device-7-secret"


def reseal(frame: bytearray) -> bytes:
    """Recompute the CRC after a deliberate edit, so the field checks run."""
    from sgc._sgc import ffi, lib
    body = bytes(frame[:-4])
    return body + struct.pack("<I", lib.sgc_crc32c_update(0, ffi.from_buffer(body), len(body)))


def test_sparse_frame_round_trips_indices_values_and_header() -> None:
    idx = np.array([0, 5, 999_999], dtype=np.uint32)
    vals = np.array([1.5, -2.25, 1e-30], dtype=np.float32)
    frame = sgc.encode_sparse(1_000_000, idx, vals, device_id=9, round=77, seq=5, segment_id=2,
                              segment_count=3, flags=0x30)
    got = sgc.decode(frame)
    assert (got.n, got.k, got.msg_type) == (1_000_000, 3, sgc.MSG_SPARSE_UPDATE)
    assert (got.device_id, got.round, got.seq, got.segment_id, got.segment_count, got.flags) == \
        (9, 77, 5, 2, 3, 0x30)
    assert got.indices.tolist() == idx.tolist()
    assert got.values.tobytes() == vals.tobytes()


@pytest.mark.parametrize("coding", ["fp32", "fp16", "int8", "sign"])
def test_each_value_coding_decodes_to_what_the_core_quantiser_gives(coding: str) -> None:
    rng = np.random.default_rng(1)
    vals = rng.standard_normal(300).astype(np.float32)
    idx = np.sort(rng.choice(10_000, 300, replace=False))
    got = sgc.decode(sgc.encode_sparse(10_000, idx, vals, value_coding=coding))
    codes, scale = sgc.quantize(vals, coding)
    assert got.values.tobytes() == sgc.dequantize(codes, 300, coding, scale).tobytes()
    assert got.value_coding == coding


def test_dense_frame_round_trips_and_uses_dense_index_coding() -> None:
    vals = np.linspace(-1, 1, 1001, dtype=np.float32)
    got = sgc.decode(sgc.encode_dense(vals, round=4))
    assert got.msg_type == sgc.MSG_DENSE_MODEL and got.index_coding == "dense"
    assert np.array_equal(got.values, vals) and got.indices.tolist() == list(range(1001))


def test_high_density_chooses_the_bitmap_and_low_density_rice() -> None:
    rng = np.random.default_rng(2)
    dense_idx = np.sort(rng.choice(1000, 700, replace=False))
    sparse_idx = np.sort(rng.choice(100_000, 100, replace=False))
    assert sgc.decode(sgc.encode_sparse(1000, dense_idx, np.ones(700))).index_coding == "bitmap"
    assert sgc.decode(sgc.encode_sparse(100_000, sparse_idx, np.ones(100))).index_coding == "rice"


def test_random_k_frame_carries_only_a_seed_and_regenerates_its_indices() -> None:
    vals = np.arange(1, 51, dtype=np.float32)
    frame = sgc.encode_random_k(100_000, 1234, vals)
    got = sgc.decode(frame)
    assert got.index_coding == "stratified" and got.seed == 1234
    assert np.array_equal(got.indices, sgc.stratified_indices(1234, 100_000, 50))
    assert len(frame) == 44 + 8 + 4 * 50


def test_control_frame_carries_its_payload() -> None:
    frame = sgc.encode_control(sgc.MSG_HELLO, b'{"node": 3}', device_id=3)
    got = sgc.decode(frame)
    assert got.is_control and got.payload == b'{"node": 3}' and got.k == 0
    assert got.indices.size == 0 and got.values.size == 0


def test_empty_sparse_update_is_valid() -> None:
    got = sgc.decode(sgc.encode_sparse(10, [], []))
    assert got.k == 0 and got.indices.size == 0


def test_decode_into_accumulates_weighted_updates_like_numpy() -> None:
    rng = np.random.default_rng(3)
    out = rng.standard_normal(5000).astype(np.float32)
    expect = out.copy()
    for seed in range(3):
        r = np.random.default_rng(seed)
        idx = np.sort(r.choice(5000, 200, replace=False))
        vals = r.standard_normal(200).astype(np.float32)
        sgc.decode_into(sgc.encode_sparse(5000, idx, vals), out, 0.25)
        expect[idx] += np.float32(0.25) * vals
    assert np.array_equal(out, expect)


def test_decode_into_takes_dense_frames() -> None:
    out = np.ones(64, dtype=np.float32)
    sgc.decode_into(sgc.encode_dense(np.full(64, 2.0)), out, 0.5)
    assert np.all(out == 2.0)


def test_decode_into_refuses_a_buffer_of_the_wrong_length_or_dtype() -> None:
    frame = sgc.encode_sparse(100, [1], [1.0])
    with pytest.raises(sgc.ArgumentError, match="n is 100"):
        sgc.decode_into(frame, np.zeros(99, np.float32))
    with pytest.raises(sgc.ArgumentError, match="float32"):
        sgc.decode_into(frame, np.zeros(100, np.float64))
    with pytest.raises(sgc.ArgumentError, match="data frame"):
        sgc.decode_into(sgc.encode_control(sgc.MSG_ACK), np.zeros(100, np.float32))


def test_keyed_frame_authenticates_and_wrong_or_missing_tags_are_refused() -> None:
    frame = sgc.encode_sparse(100, [1, 2], [1.0, 2.0], key=KEY, device_id=7)
    assert sgc.decode(frame, key=KEY).authenticated
    assert not sgc.decode(frame).authenticated
    with pytest.raises(sgc.FrameError, match="authentication"):
        sgc.decode(frame, key=b"another key")
    with pytest.raises(sgc.FrameError, match="authentication"):
        sgc.decode(sgc.encode_sparse(100, [1], [1.0]), key=KEY)


def test_size_bound_holds_for_every_coding_and_density() -> None:
    rng = np.random.default_rng(4)
    for n, k in [(1, 1), (10, 0), (1000, 1), (1000, 999), (100_000, 100), (100_000, 30_000)]:
        idx = np.sort(rng.choice(n, k, replace=False))
        for coding in ("fp32", "fp16", "int8", "sign"):
            frame = sgc.encode_sparse(n, idx, rng.standard_normal(k), value_coding=coding, key=KEY)
            assert len(frame) <= sgc.encoded_size_bound(n, k, coding)


@pytest.mark.parametrize("offset,value,reason", [
    (3, 9, "message type"),
    (5, 9, "index_coding"),
    (6, 9, "value_coding"),
    (22, 0, "segment"),
    (27, 0x80, "field n "),
    (29, 0x7F, "field k "),
    (35, 0x7F, "scale"),
    (28, 200, "payload_len"),
])
def test_each_bad_header_field_is_named_in_the_error(offset: int, value: int, reason: str) -> None:
    frame = bytearray(sgc.encode_sparse(1000, [1, 2, 3], [1.0, 2.0, 3.0]))
    frame[offset] = value
    with pytest.raises(sgc.FrameError, match=reason):
        sgc.decode(reseal(frame))


def test_nan_value_inside_a_resealed_frame_is_rejected_as_a_bad_value() -> None:
    frame = bytearray(sgc.encode_sparse(1000, [1], [1.0]))
    frame[-8:-4] = struct.pack("<f", float("nan"))
    with pytest.raises(sgc.FrameError, match="value payload"):
        sgc.decode(reseal(frame))


def test_garbage_and_wrong_types_get_clear_errors() -> None:
    with pytest.raises(sgc.FrameError, match="magic"):
        sgc.decode(b"XX" + bytes(60))
    with pytest.raises(sgc.ArgumentError, match="bytes"):
        sgc.decode("not bytes")  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs,reason", [
    (dict(indices=[3, 3], values=[1.0, 2.0]), "ascending"),
    (dict(indices=[1, 100], values=[1.0, 2.0]), "0..99"),
    (dict(indices=[-1], values=[1.0]), "0..99"),
    (dict(indices=[1, 2], values=[1.0]), "differ in length"),
    (dict(indices=[1], values=[float("inf")]), "NaN or Inf"),
    (dict(indices=[1.5], values=[1.0]), "integers"),
    (dict(indices=[1], values=[1.0], value_coding="bf16"), "value_coding"),
    (dict(indices=[1], values=[1.0], colour=3), "unknown header field"),
    (dict(indices=[1], values=[1.0], device_id=2**32), "device_id"),
    (dict(indices=[1], values=[1.0], segment_id=1), "segment_id"),
    (dict(indices=[1], values=[1.0], flags=1), "application bits"),
    (dict(indices=[1], values=[1.0], msg_type=sgc.MSG_ACK), "message type"),
])
def test_encode_sparse_rejects_bad_arguments_clearly(kwargs: dict, reason: str) -> None:
    with pytest.raises(sgc.Error, match=reason):
        sgc.encode_sparse(100, **kwargs)


def test_encode_control_rejects_data_types_and_oversized_payloads() -> None:
    with pytest.raises(sgc.ArgumentError, match="control type"):
        sgc.encode_control(sgc.MSG_SPARSE_UPDATE)
    with pytest.raises(sgc.ArgumentError, match="limit"):
        sgc.encode_control(sgc.MSG_HELLO, bytes(2000))


def test_message_type_constants_come_from_c() -> None:
    from sgc._sgc import lib
    assert sgc.MSG_SPARSE_UPDATE == lib.SGC_MSG_SPARSE_UPDATE
    assert len({sgc.MSG_SPARSE_UPDATE, sgc.MSG_DENSE_MODEL, sgc.MSG_SPARSE_MODEL_DELTA,
                sgc.MSG_HELLO, sgc.MSG_ROUND_OPEN, sgc.MSG_ACK, sgc.MSG_RESYNC}) == 7


def test_frame_error_is_an_sgc_error_and_a_value_error() -> None:
    assert issubclass(sgc.FrameError, sgc.Error) and issubclass(sgc.FrameError, ValueError)


def test_compact_true_fails_clearly_and_auto_falls_back_to_the_full_header() -> None:
    vals = np.array([1.0, -2.0], dtype=np.float32)
    small = sgc.encode_sparse(1000, [3, 9], vals, compact=True, device_id=65535, round=65535,
                              seq=65535, flags=0x30)
    got = sgc.decode(small)
    assert got.compact and got.flags == 0x32 and got.header_bytes == 15
    assert (got.device_id, got.round, got.seq, got.segment_count) == (65535, 65535, 65535, 1)
    for field, value in (("device_id", 65536), ("round", 2**20), ("seq", 70000)):
        with pytest.raises(sgc.ArgumentError, match=field):
            sgc.encode_sparse(1000, [3, 9], vals, compact=True, **{field: value})
        auto = sgc.encode_sparse(1000, [3, 9], vals, compact="auto", **{field: value})
        assert auto == sgc.encode_sparse(1000, [3, 9], vals, **{field: value})
        assert getattr(sgc.decode(auto), field) == value and not sgc.decode(auto).compact
    with pytest.raises(sgc.ArgumentError, match="segments"):
        sgc.encode_dense(vals, compact=True, segment_id=0, segment_count=2)
    with pytest.raises(sgc.ArgumentError, match="n 70000"):
        sgc.encode_sparse(70000, [3, 9], vals, compact=True)
    with pytest.raises(sgc.ArgumentError, match="compact"):
        sgc.encode_sparse(1000, [3, 9], vals, compact="yes")
    assert sgc.encode_sparse(1000, [3, 9], vals, compact="auto") == \
        sgc.encode_sparse(1000, [3, 9], vals, compact=True)
    assert sgc.compact_misfit(100, device_id=3) is None


def test_compact_frames_of_every_kind_round_trip_with_and_without_a_key() -> None:
    key = b"k" * 16
    vals = np.array([0.5, -0.25, 0.125], dtype=np.float32)
    for coding, header in (("fp32", 15), ("fp16", 15), ("int8", 19), ("sign", 19)):
        frame = sgc.encode_random_k(50, 99, vals, value_coding=coding, compact=True, key=key)
        got = sgc.decode(frame, key=key)
        assert got.authenticated and got.header_bytes == header and got.seed == 99
        assert len(frame) == header + 8 + got.payload_len - 8 + 32 + 4
        out = np.zeros(50, dtype=np.float32)
        sgc.decode_into(frame, out, key=key)
        assert np.count_nonzero(out) == 3
    ack = sgc.encode_control(sgc.MSG_ACK, b"xy", compact=True, seq=5)
    assert len(ack) == 11 + 2 + 4 and sgc.decode(ack).payload == b"xy"
    hello = sgc.encode_control(sgc.MSG_HELLO, b"hi", compact=True, key=key)
    with pytest.raises(sgc.FrameError, match="authentication"):
        sgc.decode(hello, key=b"other")
    assert sgc.chunk(ack) == [ack]
    r = sgc.Reassembler(4096, 1, 1.0)
    assert r.feed(ack, 0.0) == ack
