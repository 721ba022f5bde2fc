"""Fuzzing the control payload parsers (agent/common/control.py) the way the frame decoder is fuzzed.

Every control payload reaches the host or a node from MQTT, so any byte
string may arrive. The parsers' contract: either a ValueError, or an object
whose own ``pack`` gives back the bytes it was read from (so nothing is
silently reinterpreted). Random payloads and single-byte mutations, bit
flips and truncations of valid payloads are tried.
"""
from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparrow.common.control import Ack, Hello, PullPlan, Resync, RoundOpen, RoundStats

LAYOUTS = (Hello, PullPlan, RoundOpen, Ack, Resync, RoundStats)
VALID = {
    Hello: [Hello(60000).pack(), Hello(12, plan=PullPlan(7, (0, 2, 5))).pack()],
    PullPlan: [PullPlan(3, (0, 1)).pack()],
    RoundOpen: [RoundOpen(12, 30000, 64, 1, 0xDEADBEEF, 0x12345678).pack()],
    Ack: [Ack(9, "late_applied").pack()],
    Resync: [Resync(41).pack()],
    RoundStats: [RoundStats(5, 0.25, 0.5, 64).pack()],
}
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _parse_or_reject(layout: type, payload: bytes) -> object | None:
    """The parser's verdict; any exception other than ValueError fails the test."""
    try:
        return layout.unpack(payload)
    except ValueError:
        return None


def _assert_faithful(layout: type, payload: bytes, parsed: object) -> None:
    """A parsed payload packs back to the bytes it came from (short ROUND_OPEN forms and reserved bytes aside)."""
    packed = parsed.pack()  # type: ignore[attr-defined]
    if layout is RoundOpen and len(payload) < len(packed):
        assert packed[:len(payload)] == payload and not packed[len(payload):].strip(b"\0")
    elif layout is RoundStats:
        assert struct.unpack("<IffI", packed) == pytest.approx(struct.unpack("<IffI", payload), nan_ok=True)
    elif layout in (Hello, Ack):
        # Reserved bytes are ignored on read and written as zeros.
        assert len(packed) == len(payload)
        assert type(parsed).unpack(packed) == parsed
    else:
        assert packed == payload


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.__name__)
@FUZZ
@given(payload=st.binary(max_size=64))
def test_a_random_control_payload_is_either_rejected_or_read_faithfully(layout: type, payload: bytes) -> None:
    parsed = _parse_or_reject(layout, payload)
    if parsed is not None:
        _assert_faithful(layout, payload, parsed)


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.__name__)
@FUZZ
@given(data=st.data())
def test_a_mutated_valid_control_payload_is_either_rejected_or_read_faithfully(layout: type,
                                                                              data: st.DataObject) -> None:
    payload = bytearray(data.draw(st.sampled_from(VALID[layout])))
    action = data.draw(st.sampled_from(["flip", "byte", "truncate", "extend"]))
    if action == "flip":
        bit = data.draw(st.integers(0, 8 * len(payload) - 1))
        payload[bit // 8] ^= 1 << (bit % 8)
    elif action == "byte":
        payload[data.draw(st.integers(0, len(payload) - 1))] = data.draw(st.integers(0, 255))
    elif action == "truncate":
        del payload[data.draw(st.integers(0, len(payload) - 1)):]
    else:
        payload += data.draw(st.binary(min_size=1, max_size=8))
    parsed = _parse_or_reject(layout, bytes(payload))
    if parsed is not None:
        _assert_faithful(layout, bytes(payload), parsed)


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.__name__)
def test_every_truncation_of_a_valid_control_payload_is_rejected(layout: type) -> None:
    for payload in VALID[layout]:
        for cut in range(len(payload)):
            short = payload[:cut]
            if layout is RoundOpen and cut in (12, 16):
                continue  # the older short forms of the pointer are read on purpose
            if layout is Hello and cut == 8:
                continue  # a HELLO without its pull plan is a valid HELLO
            assert _parse_or_reject(layout, short) is None, (layout.__name__, cut)
