"""The gateway's UART link (agent/gateway_link.py) against a scripted peer, without boards."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sgc

from sparrow.agent.gateway_link import (MTU, SerialLink, cobs_decode, cobs_encode, model_frames,
                                        model_segments)

pytestmark = pytest.mark.timeout(30)


class Pipe:
    """One end of an in-memory serial line: ``write`` goes to the peer's ``read``."""

    def __init__(self, timeout: float = 0.01) -> None:
        self.timeout = timeout
        self.data = bytearray()
        self.cond = threading.Condition()
        self.peer: Pipe | None = None
        self.written: list[bytes] = []

    def write(self, data: bytes) -> int:
        assert self.peer is not None
        self.written.append(bytes(data))
        with self.peer.cond:
            self.peer.data += data
            self.peer.cond.notify_all()
        return len(data)

    def read(self, size: int) -> bytes:
        with self.cond:
            if not self.data:
                self.cond.wait(self.timeout)
            out = bytes(self.data[:size])
            del self.data[:size]
            return out


def _pair() -> tuple[Pipe, Pipe]:
    a, b = Pipe(), Pipe()
    a.peer, b.peer = b, a
    return a, b


def _hello(seq: int = 1) -> bytes:
    return sgc.encode_control(sgc.MSG_HELLO, b"board=x", device_id=9, seq=seq)


def _update(seq: int, rnd: int = 1) -> bytes:
    return sgc.encode_sparse(10, [1, 4], [0.5, -1.0], device_id=9, round=rnd, seq=seq)


# (data, packet) pairs worked out by hand from the COBS rule (Cheshire and
# Baker 1999), around the 254-byte block boundary too: what firmware/link/cobs.c
# writes for the same data.
COBS_VECTORS = [
    (b"", b"\x01\x00"),
    (b"\x00", b"\x01\x01\x00"),
    (b"\x00\x00", b"\x01\x01\x01\x00"),
    (b"\x00\x11\x00", b"\x01\x02\x11\x01\x00"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33\x00"),
    (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44\x00"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01\x00"),
    (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255)) + b"\x00"),
    (bytes(range(0, 255)), b"\x01\xff" + bytes(range(1, 255)) + b"\x00"),
    (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff\x00"),
    (bytes(range(2, 256)) + b"\x00", b"\xff" + bytes(range(2, 256)) + b"\x01\x01\x00"),
    (bytes(range(3, 256)) + b"\x00\x01", b"\xfe" + bytes(range(3, 256)) + b"\x02\x01\x00"),
]


@pytest.mark.parametrize("data, packet", COBS_VECTORS)
def test_cobs_encodes_the_known_answers_block_for_block(data: bytes, packet: bytes) -> None:
    assert cobs_encode(data) == packet
    assert cobs_decode(packet[:-1]) == data


@given(st.binary(max_size=1200))
@settings(max_examples=200, deadline=None)
def test_cobs_round_trips_and_leaves_no_zero_inside_a_packet(data: bytes) -> None:
    packet = cobs_encode(data)
    assert packet.count(0) == 1 and packet.endswith(b"\x00")
    assert cobs_decode(packet[:-1]) == data


def test_cobs_decode_rejects_a_block_running_past_the_packet() -> None:
    with pytest.raises(ValueError, match="malformed"):
        cobs_decode(b"\x05ab")


def test_link_acknowledges_and_delivers_each_frame_once() -> None:
    gw_port, board_port = _pair()
    link = SerialLink(gw_port, device_id=3)
    frame = _update(seq=2)
    for _ in range(3):  # the board repeats its frame: the ACKs were "lost"
        board_port.write(cobs_encode(frame))
    got = link.receive(0.5)
    assert got is not None and got[1] == frame
    assert link.receive(0.05) is None
    assert link.counters.rx_dup == 2
    acks = [sgc.decode(cobs_decode(p[:-1])) for p in gw_port.written]
    assert len(acks) == 3 and all(a.msg_type == sgc.MSG_ACK and a.seq == 2 and a.round == 1 for a in acks)
    assert acks[0].device_id == 3


def test_link_drops_corrupted_packets_and_junk_then_resynchronises() -> None:
    gw_port, board_port = _pair()
    link = SerialLink(gw_port)
    bad = bytearray(cobs_encode(_update(seq=2)))
    bad[20] ^= 0x10
    board_port.write(b"\x13\x37junk" + bytes(bad) + bytes(range(1, 200)) * 12 + b"\x00" + cobs_encode(_update(seq=3)))
    got = link.receive(0.5)
    assert got is not None and got[0].seq == 3
    assert link.counters.rx_dropped >= 2


def test_link_hello_clears_the_duplicate_memory_of_a_board_that_reset() -> None:
    gw_port, board_port = _pair()
    link = SerialLink(gw_port)
    board_port.write(cobs_encode(_hello(seq=1)))
    board_port.write(cobs_encode(_update(seq=2)))
    assert [link.receive(0.5)[0].seq for _ in range(2)] == [1, 2]
    # Reset: the board counts from 1 again, and its seq 2 is new.
    board_port.write(cobs_encode(_hello(seq=1)))
    board_port.write(cobs_encode(_update(seq=2, rnd=2)))
    assert [link.receive(0.5)[0].msg_type for _ in range(2)] == [sgc.MSG_HELLO, sgc.MSG_SPARSE_UPDATE]


def test_link_send_repeats_until_the_ack_arrives() -> None:
    gw_port, board_port = _pair()
    link = SerialLink(gw_port)
    frame = sgc.encode_dense([1.0, 2.0], round=4, seq=7)

    def board() -> None:
        copies = 0
        while copies < 2:  # ignore the first copy: as if it was lost on the line
            if board_port.read(4096):
                copies += 1
        board_port.write(cobs_encode(sgc.encode_control(sgc.MSG_ACK, round=4, seq=7)))

    thread = threading.Thread(target=board)
    thread.start()
    assert link.send(frame, timeout=5) is True
    thread.join()
    assert link.counters.tx_retries >= 1


def test_link_send_times_out_without_an_ack() -> None:
    gw_port, _ = _pair()
    link = SerialLink(gw_port)
    with pytest.raises(TimeoutError, match="no ACK"):
        link.send(sgc.encode_dense([1.0], round=1, seq=1), timeout=0.5)


def test_link_send_stops_when_asked_to_abort() -> None:
    gw_port, board_port = _pair()
    link = SerialLink(gw_port)
    board_port.write(cobs_encode(_hello()))
    hello_seen = lambda: any(f.msg_type == sgc.MSG_HELLO for f, _ in link.pending())  # noqa: E731
    assert link.send(sgc.encode_dense([1.0], round=1, seq=1), timeout=5, abort=hello_seen) is False
    assert link.receive(0.1)[0].msg_type == sgc.MSG_HELLO


def test_link_refuses_a_frame_longer_than_the_mtu() -> None:
    link = SerialLink(_pair()[0])
    with pytest.raises(ValueError, match="MTU"):
        link.send(sgc.encode_dense([0.5] * MTU, round=1, seq=1))


@pytest.mark.parametrize("n", [1, 243, 244, 245, 246, 3319, 10_000])
def test_model_segments_cover_every_parameter_once_in_frames_that_fit_the_link(n: int) -> None:
    pieces = model_segments(n)
    covered = np.concatenate([np.arange(first, stop) for first, stop in pieces])
    assert np.array_equal(covered, np.arange(n))
    size = pieces[0][1] - pieces[0][0]
    for i, (first, stop) in enumerate(pieces):
        assert first == i * size  # where the board puts segment i: S = ceil(N / C)
        assert size == -(-n // len(pieces))
        frame = sgc.encode_dense(np.zeros(stop - first, np.float32), round=1, segment_id=i,
                                 segment_count=len(pieces))
        assert len(frame) <= MTU


def test_model_segments_rejects_an_empty_model() -> None:
    with pytest.raises(ValueError, match="cannot segment"):
        model_segments(0)


def test_model_frames_carry_the_model_in_order_with_fresh_seqs() -> None:
    model = np.linspace(-1, 1, 600, dtype=np.float32)
    seqs = iter(range(40, 50))
    frames = [sgc.decode(f) for f in model_frames(model, round=4, next_seq=lambda: next(seqs),
                                                    device_id=7)]
    assert [f.segment_id for f in frames] == list(range(len(frames)))
    assert {f.segment_count for f in frames} == {len(frames)} and len(frames) > 1
    assert [f.seq for f in frames] == list(range(40, 40 + len(frames)))
    assert all(f.round == 4 and f.device_id == 7 and f.msg_type == sgc.MSG_DENSE_MODEL for f in frames)
    assert np.array_equal(np.concatenate([f.values for f in frames]), model)


def test_link_expect_skips_other_frames_and_times_out_without_its_type() -> None:
    gw_port, board_port = _pair()
    link = SerialLink(gw_port)
    board_port.write(cobs_encode(_hello(seq=1)))
    board_port.write(cobs_encode(_update(seq=2, rnd=5)))
    assert link.expect(sgc.MSG_SPARSE_UPDATE, 1.0).round == 5
    with pytest.raises(TimeoutError, match="no frame of type"):
        link.expect(sgc.MSG_HELLO, 0.2)
