"""sgc.chunk and sgc.Reassembler: split, shuffle, duplicate, lose, time out."""
from __future__ import annotations

import random

import numpy as np
import pytest

import sgc


def big_frame(n: int = 20_000, seed: int = 0) -> bytes:
    return sgc.encode_dense(np.random.default_rng(seed).standard_normal(n), seq=seed)


def test_chunks_respect_the_maximum_size_and_a_small_frame_stays_whole() -> None:
    frame = big_frame()
    parts = sgc.chunk(frame, 1024)
    assert len(parts) > 1 and all(len(p) <= 1024 for p in parts)
    small = sgc.encode_control(sgc.MSG_ACK)
    assert sgc.chunk(small) == [small]


def test_reassembler_rebuilds_a_frame_from_shuffled_duplicated_chunks() -> None:
    frame = big_frame()
    parts = sgc.chunk(frame, 512)
    stream = parts + parts[::3]
    random.Random(5).shuffle(stream)
    r = sgc.Reassembler(capacity_bytes=4 * len(frame), max_frames=2, timeout_s=5)
    done = [out for out in (r.feed(p, now=1.0) for p in stream) if out is not None]
    assert done == [frame]
    assert r.dropped == 0 and r.drain_dropped() == []


def test_two_interleaved_frames_both_complete() -> None:
    a, b = big_frame(seed=1), big_frame(seed=2)
    pa, pb = sgc.chunk(a, 700), sgc.chunk(b, 700)
    stream = [p for pair in zip(pa, pb) for p in pair]
    r = sgc.Reassembler(capacity_bytes=3 * len(a), max_frames=2, timeout_s=5)
    done = [out for out in (r.feed(p, now=0.0) for p in stream) if out is not None]
    assert sorted(done) == sorted([a, b])


def test_incomplete_frame_is_dropped_after_the_timeout_and_reported() -> None:
    frame = big_frame()
    parts = sgc.chunk(frame, 1024)
    r = sgc.Reassembler(capacity_bytes=2 * len(frame), max_frames=1, timeout_s=2.0)
    for p in parts[:-1]:
        assert r.feed(p, now=10.0) is None
    assert r.feed(sgc.encode_control(sgc.MSG_ACK), now=12.5) is not None  # passes through
    assert r.dropped == 1
    (rec,) = r.drain_dropped()
    assert (rec.reason, rec.received, rec.count, rec.total_len) == \
        ("timeout", len(parts) - 1, len(parts), len(frame))
    assert r.feed(parts[-1], now=12.6) is None  # the straggler starts anew, harmlessly


def test_reassembled_frame_decodes() -> None:
    vals = np.arange(5000, dtype=np.float32)
    frame = sgc.encode_dense(vals, value_coding="fp32")
    r = sgc.Reassembler(capacity_bytes=len(frame) + 64, max_frames=1, timeout_s=1)
    out = [r.feed(p, now=0) for p in sgc.chunk(frame)]
    assert np.array_equal(sgc.decode(out[-1]).values, vals)


def test_malformed_chunk_raises_frame_error_and_is_counted() -> None:
    parts = sgc.chunk(big_frame(), 256)
    bad = bytearray(parts[0])
    bad[14] = 0  # count 0
    bad[15] = 0
    r = sgc.Reassembler(capacity_bytes=1 << 20, max_frames=2, timeout_s=1)
    with pytest.raises(sgc.FrameError, match="chunk header"):
        r.feed(bytes(bad), now=0)
    with pytest.raises(sgc.FrameError, match="magic"):
        r.feed(b"ZZ" + bytes(30), now=0)
    assert r.rejected == 2


def test_frame_too_big_for_a_slot_is_refused() -> None:
    r = sgc.Reassembler(capacity_bytes=1000, max_frames=1, timeout_s=1)
    with pytest.raises(sgc.ArgumentError, match="too small"):
        r.feed(sgc.chunk(big_frame(), 256)[0], now=0)


def test_bad_reassembler_and_chunk_arguments_are_refused() -> None:
    with pytest.raises(sgc.ArgumentError):
        sgc.Reassembler(capacity_bytes=100, max_frames=0, timeout_s=1)
    with pytest.raises(sgc.ArgumentError, match="max_size"):
        sgc.chunk(big_frame(), 32)
