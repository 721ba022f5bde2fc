"""The host side of the UART link (firmware/tools/uart_link.py) on its own."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "firmware" / "tools"))

import uart_link as ul  # noqa: E402


def test_crc32c_has_the_check_value_of_the_protocol():
    assert ul.crc32c(b"123456789") == 0xE3069283


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=1200))
def test_cobs_round_trips_and_leaves_no_zero_inside_a_packet(data: bytes):
    wire = ul.cobs_encode(data)
    assert wire[-1] == 0 and 0 not in wire[:-1]
    assert ul.cobs_decode(wire[:-1]) == data


def test_cobs_decode_rejects_a_block_that_runs_past_the_packet():
    with pytest.raises(ValueError):
        ul.cobs_decode(bytes([0x05, 1, 2]))


def test_parse_rejects_a_frame_with_one_flipped_bit():
    frame = bytearray(ul.encode_control(ul.MSG_HELLO, seq=3, payload=b"board=x"))
    assert ul.parse(bytes(frame)).seq == 3
    frame[20] ^= 0x04
    with pytest.raises(ValueError, match="CRC"):
        ul.parse(bytes(frame))


def test_model_segments_cover_every_parameter_once_and_fit_the_mtu():
    for n in (1, 245, 246, 3319, 10_000):
        segments = ul.model_segments(n)
        covered = np.concatenate([np.arange(a, b) for a, b in segments])
        assert np.array_equal(covered, np.arange(n))
        biggest = max(b - a for a, b in segments)
        assert len(ul.encode_dense_model(np.zeros(biggest), round=0, seq=0)) <= ul.MTU


def test_dense_model_frame_decodes_to_its_values():
    values = np.linspace(-1, 1, 17, dtype=np.float32)
    frame = ul.parse(ul.encode_dense_model(values, round=4, seq=9, segment_id=2,
                                           segment_count=5))
    idx, got = ul.decode_values(frame)
    assert (frame.round, frame.segment_id, frame.segment_count) == (4, 2, 5)
    assert np.array_equal(idx, np.arange(17)) and np.array_equal(got, values)
