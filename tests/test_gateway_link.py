"""The gateway's UART link (agent/gateway_link.py) against a scripted peer, without boards."""
from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sgc

from sparrow.agent.gateway_link import MTU, SerialLink, cobs_decode, cobs_encode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "firmware" / "tools"))
import uart_link  # noqa: E402  (the tests' own model of the firmware's COBS)

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


@given(st.binary(max_size=700))
@settings(max_examples=200, deadline=None)
def test_cobs_round_trips_and_matches_the_firmware_encoder(data: bytes) -> None:
    packet = cobs_encode(data)
    assert packet == uart_link.cobs_encode(data)
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
