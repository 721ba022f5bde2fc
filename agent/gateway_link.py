"""The gateway's side of a board's UART link (the twin of firmware/link/).

A packet on the wire is ``COBS(frame) 0x00`` where ``frame`` is one whole
Sparrow frame with its own CRC-32C (docs/firmware.md, "The UART link"). The
delimiter lets a receiver that joins mid-stream, or loses bytes to line
noise, resynchronise at the next zero; ``sgc.decode`` rejects a packet whose
bits were flipped. Reliability is stop-and-wait: every frame but ``ACK`` is
answered by an ``ACK`` carrying its ``seq`` and ``round``; the sender repeats
its frame until that ACK arrives (the board every 200 ms; this side at twice
the smoothed ACK time, at least :data:`RETRY_S`); the receiver
acknowledges duplicates but delivers each ``seq`` once, and a ``HELLO``
clears that memory (its sender has just reset and counts from 1 again).

The port is anything with pyserial's ``read(n)``/``write(b)`` and a read
timeout, so ``serial.serial_for_url("/dev/ttyUSB0")`` and
``serial.serial_for_url("socket://127.0.0.1:5555")`` both serve.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

import sgc

__all__ = ["LinkCounters", "MAX_RETRY_S", "MTU", "RETRY_S", "SerialLink", "cobs_decode", "cobs_encode",
           "model_frames", "model_segments"]

#: Largest frame either way (LINK_MTU of firmware/link/link.h).
MTU = 1024
#: Shortest time without an ACK after which the outstanding frame is sent again
#: (LINK_RETRY_MS of the firmware).
RETRY_S = 0.2
#: Longest retransmission interval, however slow the board's answers were.
MAX_RETRY_S = 2.0
#: Bytes read from the port per call (a 1 KB frame and its ACK fit).
_READ_BYTES = 4096
#: Frame bytes besides the values budgeted for each model segment. The frame
#: header (40) and CRC-32C (4) take 44; the other 8 are spare, kept as the
#: gateway has always cut its downloads (the board accepts any cut: it places
#: segment i from the segment count alone).
_SEGMENT_OVERHEAD = 52


def cobs_encode(data: bytes) -> bytes:
    """``COBS(data)`` followed by the ``0x00`` delimiter.

    Each block is a code byte (1 + the non-zero bytes that follow, at most
    254 of them) standing in for the zero that ends the block; a full block
    (code 0xFF) stands for no zero. Byte for byte what firmware/link/cobs.c
    writes.
    """
    out = bytearray()
    block = bytearray()
    after_full_block = False
    for byte in data:
        if byte:
            block.append(byte)
            after_full_block = False
            if len(block) == 254:
                out.append(0xFF)
                out += block
                block.clear()
                after_full_block = True
        else:
            out.append(len(block) + 1)
            out += block
            block.clear()
            after_full_block = False
    if block or not after_full_block:
        out.append(len(block) + 1)
        out += block
    out.append(0)
    return bytes(out)


def cobs_decode(packet: bytes) -> bytes:
    """Decode one packet (without its delimiter).

    Raises
    ------
    ValueError
        For a zero byte inside the packet or a block running past its end.
    """
    out = bytearray()
    pos = 0
    while pos < len(packet):
        code = packet[pos]
        if code == 0 or pos + code > len(packet):
            raise ValueError("malformed COBS packet")
        out += packet[pos + 1:pos + code]
        pos += code
        if code < 0xFF and pos < len(packet):
            out.append(0)
    return bytes(out)


def model_segments(n_params: int, mtu: int = MTU) -> list[tuple[int, int]]:
    """``(first, stop)`` of each ``DENSE_MODEL`` segment that fits the link MTU.

    C = ceil(N / per_frame) segments of S = ceil(N / C) values: the rule the
    firmware uses to place segment i at i * S (docs/firmware.md).

    Raises
    ------
    ValueError
        For ``n_params < 1`` or an MTU too small for one value.
    """
    per_frame = (mtu - _SEGMENT_OVERHEAD) // 4
    if n_params < 1 or per_frame < 1:
        raise ValueError(f"cannot segment {n_params} parameters into frames of {mtu} bytes")
    count = -(-n_params // per_frame)
    size = -(-n_params // count)
    return [(i * size, min(n_params, (i + 1) * size)) for i in range(count)]


def model_frames(model: np.ndarray, *, round: int, next_seq: Callable[[], int],
                 device_id: int = 0) -> Iterator[bytes]:
    """The ``DENSE_MODEL`` fp32 frames that carry a model down the link, one per segment.

    Parameters
    ----------
    model : numpy.ndarray
        Every parameter of the model, 1-D.
    round : int
        Header ``round`` of every frame (the round the model opens).
    next_seq : callable() -> int
        Gives the ``seq`` of each frame, called as the frame is made: a
        download abandoned halfway uses no more sequence numbers.
    device_id : int
        Header ``device_id``.

    Yields
    ------
    bytes
        Segment i of :func:`model_segments`, ``segment_id`` i of ``segment_count`` C.
    """
    pieces = model_segments(model.size)
    for i, (first, stop) in enumerate(pieces):
        yield sgc.encode_dense(model[first:stop], round=round, seq=next_seq(), segment_id=i,
                               segment_count=len(pieces), device_id=device_id)


@dataclass
class LinkCounters:
    """What a :class:`SerialLink` has seen and done."""

    rx_frames: int = 0
    rx_dropped: int = 0
    rx_dup: int = 0
    tx_frames: int = 0
    tx_retries: int = 0


class SerialLink:
    """Reliable Sparrow frames over one serial port.

    Parameters
    ----------
    port : serial.Serial-like
        An open port with a short read timeout (tens of milliseconds).
    device_id : int
        Written into the ACKs this side sends.
    """

    def __init__(self, port: Any, device_id: int = 0) -> None:
        self.port = port
        self.device_id = device_id
        self.counters = LinkCounters()
        self._buffer = bytearray()
        self._discarding = False
        self._last_rx_seq: int | None = None
        self._acks: set[tuple[int, int]] = set()
        self._inbox: list[tuple[sgc.Frame, bytes]] = []
        self.srtt: float | None = None

    @property
    def retry_s(self) -> float:
        """Current retransmission interval: twice the smoothed ACK time, within [RETRY_S, MAX_RETRY_S].

        A board busy training, or an emulator sharing a loaded CPU, answers
        slower than the firmware's 200 ms; resending sooner only queues more
        copies in front of the first one.
        """
        if self.srtt is None:
            return RETRY_S
        return min(MAX_RETRY_S, max(RETRY_S, 2.0 * self.srtt))

    def _measured(self, rtt: float) -> None:
        self.srtt = rtt if self.srtt is None else 0.875 * self.srtt + 0.125 * rtt

    # -- receiving ----------------------------------------------------------

    def pump(self) -> None:
        """Read what the port holds (waiting at most its timeout) and handle each packet."""
        data = self.port.read(_READ_BYTES)
        if data:
            self._feed(bytes(data))

    def _feed(self, data: bytes) -> None:
        parts = data.split(b"\x00")
        for i, part in enumerate(parts):
            if not self._discarding:
                self._buffer += part
                if len(self._buffer) > 2 * MTU:
                    # Longer than any COBS-coded frame: noise. Skip to the next delimiter.
                    self._buffer.clear()
                    self._discarding = True
                    self.counters.rx_dropped += 1
            if i == len(parts) - 1:
                return
            packet = bytes(self._buffer)
            self._buffer.clear()
            self._discarding = False
            if packet:
                self._take(packet)

    def _take(self, packet: bytes) -> None:
        try:
            raw = cobs_decode(packet)
            frame = sgc.decode(raw)
        except (ValueError, sgc.Error):
            self.counters.rx_dropped += 1
            return
        self.counters.rx_frames += 1
        if frame.msg_type == sgc.MSG_ACK:
            self._acks.add((frame.seq, frame.round))
            return
        self._write(sgc.encode_control(sgc.MSG_ACK, device_id=self.device_id, round=frame.round,
                                       seq=frame.seq))
        if frame.msg_type == sgc.MSG_HELLO:
            self._last_rx_seq = None
        if frame.seq == self._last_rx_seq:
            self.counters.rx_dup += 1
            return
        self._last_rx_seq = frame.seq
        self._inbox.append((frame, raw))

    def receive(self, timeout: float) -> tuple[sgc.Frame, bytes] | None:
        """The next new frame (already acknowledged) and its bytes, or None after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not self._inbox:
            self.pump()
            if time.monotonic() >= deadline:
                break
        return self._inbox.pop(0) if self._inbox else None

    def expect(self, msg_type: int, timeout: float) -> sgc.Frame:
        """The next new frame of ``msg_type``; new frames of other types are acknowledged and dropped.

        Raises
        ------
        TimeoutError
            When none arrives within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            got = self.receive(max(0.0, deadline - time.monotonic()))
            if got is not None and got[0].msg_type == msg_type:
                return got[0]
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no frame of type {msg_type} within {timeout} s")

    # -- sending ------------------------------------------------------------

    def _write(self, frame: bytes) -> None:
        self.port.write(cobs_encode(frame))

    def send(self, frame: bytes, timeout: float = 10.0,
             abort: Callable[[], bool] | None = None) -> bool:
        """Send a frame and repeat it every :attr:`retry_s` until its ACK arrives.

        Frames that arrive meanwhile are kept for :meth:`receive`.

        Parameters
        ----------
        frame : bytes
            A whole Sparrow frame of at most :data:`MTU` bytes.
        timeout : float
            Give up after this many seconds.
        abort : callable, optional
            Checked after every read; when it returns True the send stops
            (returns False), e.g. because the board said HELLO meanwhile.

        Returns
        -------
        bool
            True when acknowledged, False when aborted.

        Raises
        ------
        ValueError
            For a frame longer than :data:`MTU`.
        TimeoutError
            When no ACK arrives within ``timeout`` seconds.
        """
        if len(frame) > MTU:
            raise ValueError(f"frame of {len(frame)} bytes exceeds the link MTU of {MTU}")
        header = sgc.decode(frame)
        key = (header.seq, header.round)
        self._acks.discard(key)
        self.counters.tx_frames += 1
        deadline = time.monotonic() + timeout
        first_try = True
        while True:
            sent_at = time.monotonic()
            self._write(frame)
            resend_at = sent_at + self.retry_s
            while time.monotonic() < resend_at:
                self.pump()
                if key in self._acks:
                    self._acks.discard(key)
                    if first_try:  # Karn: an ACK after a resend is ambiguous
                        self._measured(time.monotonic() - sent_at)
                    return True
                if abort is not None and abort():
                    return False
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no ACK for seq {header.seq} round {header.round} in {timeout} s")
            self.counters.tx_retries += 1
            first_try = False

    def pending(self) -> list[tuple[sgc.Frame, bytes]]:
        """Frames received but not yet taken by :meth:`receive` (read-only view)."""
        return list(self._inbox)
