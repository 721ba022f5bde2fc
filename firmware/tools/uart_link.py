"""The host side of the firmware's UART link (the Python twin of firmware/link/).

A packet is COBS(one Sparrow frame) followed by 0x00; the frame's CRC-32C
rejects corrupted packets. Every frame but ACK is acknowledged with an ACK
control frame carrying its seq and round; a sender repeats its frame until
that ACK arrives; a receiver delivers each seq once (a HELLO clears that
memory: the peer has just reset). See docs/firmware.md.

The serial gateway opens a board with pyserial exactly like a real port::

    port = serial.serial_for_url("socket://127.0.0.1:5555")   # or "/dev/ttyUSB0"
    link = UartLink(port, device_id=0)
    link.send(encode_control(MSG_HELLO, ...))

The frame helpers here cover what the link and the tests need (control
frames, dense fp32 models, decoding sparse updates); the C core's codec is
the reference for everything else.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MSG_SPARSE_UPDATE = 1
MSG_DENSE_MODEL = 2
MSG_HELLO = 16
MSG_ACK = 18
MSG_RESYNC = 19
IDX_NONE, IDX_DENSE, IDX_RICE, IDX_BITMAP = 0, 1, 2, 3
VAL_FP32, VAL_FP16, VAL_INT8 = 0, 1, 2

HEADER = struct.Struct("<2sBBBBBBIIIHHIIfI")
CRC_BYTES = 4
MTU = 1024  # LINK_MTU of firmware/link/link.h
RETRY_S = 0.2


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) as PROTOCOL.md section 8 defines it."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ b) & 0xFF]
    return crc ^ 0xFFFFFFFF


def cobs_encode(data: bytes) -> bytes:
    """COBS(data) + 0x00, block for block as firmware/link/cobs.c writes it."""
    out = bytearray()
    pos = 0
    while True:
        n = 0
        while pos + n < len(data) and n < 254 and data[pos + n] != 0:
            n += 1
        out.append(n + 1)
        out += data[pos : pos + n]
        pos += n
        if pos < len(data) and n < 254:
            pos += 1
        elif pos >= len(data):
            break
    out.append(0)
    return bytes(out)


def cobs_decode(packet: bytes) -> bytes:
    """Decode one packet (without its 0x00). Raises ValueError when malformed."""
    out = bytearray()
    pos = 0
    while pos < len(packet):
        code = packet[pos]
        if code == 0 or pos + code > len(packet):
            raise ValueError("malformed COBS packet")
        out += packet[pos + 1 : pos + code]
        pos += code
        if code < 0xFF and pos < len(packet):
            out.append(0)
    if not out:
        raise ValueError("empty COBS packet")
    return bytes(out)


@dataclass(frozen=True)
class Frame:
    """A parsed Sparrow frame (header fields and raw payload)."""

    msg_type: int
    flags: int
    index_coding: int
    value_coding: int
    index_param: int
    device_id: int
    round: int
    seq: int
    segment_id: int
    segment_count: int
    n: int
    k: int
    scale: float
    payload: bytes
    raw: bytes = field(repr=False)


def encode_frame(msg_type: int, *, device_id: int = 0, round: int = 0, seq: int = 0,
                 payload: bytes = b"", n: int = 0, k: int = 0, index_coding: int = IDX_NONE,
                 value_coding: int = VAL_FP32, scale: float = 1.0, segment_id: int = 0,
                 segment_count: int = 1) -> bytes:
    """Header + payload + CRC-32C (no HMAC tag)."""
    head = HEADER.pack(b"SP", 1, msg_type, 0, index_coding, value_coding, 0, device_id, round,
                       seq, segment_id, segment_count, n, k, scale, len(payload))
    body = head + payload
    return body + struct.pack("<I", crc32c(body))


def encode_control(msg_type: int, *, device_id: int = 0, round: int = 0, seq: int = 0,
                   payload: bytes = b"") -> bytes:
    """A control frame (HELLO, ACK, RESYNC, ...)."""
    return encode_frame(msg_type, device_id=device_id, round=round, seq=seq, payload=payload)


def encode_dense_model(values: np.ndarray, *, round: int, seq: int, segment_id: int = 0,
                       segment_count: int = 1, device_id: int = 0) -> bytes:
    """A DENSE_MODEL frame carrying float32 values."""
    values = np.ascontiguousarray(values, dtype="<f4")
    return encode_frame(MSG_DENSE_MODEL, device_id=device_id, round=round, seq=seq,
                        payload=values.tobytes(), n=values.size, k=values.size,
                        index_coding=IDX_DENSE, segment_id=segment_id,
                        segment_count=segment_count)


def model_segments(n_params: int, mtu: int = MTU) -> list[tuple[int, int]]:
    """(first, stop) of each DENSE_MODEL segment that fits the link MTU.

    C = ceil(N / per_frame) segments of S = ceil(N / C) values: the rule the
    firmware uses to place segment i at i * S (docs/firmware.md).
    """
    per_frame = (mtu - HEADER.size - CRC_BYTES) // 4
    count = -(-n_params // per_frame)
    size = -(-n_params // count)
    return [(i * size, min(n_params, (i + 1) * size)) for i in range(count)]


def parse(frame: bytes) -> Frame:
    """Check magic, version, length and CRC; return the fields.

    Raises
    ------
    ValueError
        For any malformed frame.
    """
    if len(frame) < HEADER.size + CRC_BYTES:
        raise ValueError("frame truncated")
    fields = HEADER.unpack_from(frame)
    if fields[0] != b"SP" or fields[1] != 1:
        raise ValueError("not a Sparrow v1 frame")
    if struct.unpack_from("<I", frame, len(frame) - CRC_BYTES)[0] != crc32c(frame[:-CRC_BYTES]):
        raise ValueError("CRC-32C mismatch")
    payload_len = fields[15]
    tag = 32 if fields[3] & 1 else 0
    if HEADER.size + payload_len + tag + CRC_BYTES != len(frame):
        raise ValueError("payload_len disagrees with the frame length")
    return Frame(*fields[2:15], payload=frame[HEADER.size : HEADER.size + payload_len], raw=frame)


def _rice_indices(section: bytes, k: int, b: int) -> list[int]:
    bits = np.unpackbits(np.frombuffer(section, dtype=np.uint8), bitorder="little")
    pos, prev, out = 0, -1, []
    for _ in range(k):
        q = 0
        while bits[pos]:
            q += 1
            pos += 1
        pos += 1
        r = sum(int(bits[pos + j]) << j for j in range(b))
        pos += b
        prev = prev + 1 + ((q << b) | r)
        out.append(prev)
    return out


def decode_values(frame: Frame) -> tuple[np.ndarray, np.ndarray]:
    """Indices and float32 values of a data frame (DENSE, RICE or BITMAP
    indices; FP32, FP16 or INT8 values).

    Raises
    ------
    ValueError
        For a coding this helper does not read.
    """
    value_bytes = {VAL_FP32: 4 * frame.k, VAL_FP16: 2 * frame.k, VAL_INT8: frame.k}
    if frame.value_coding not in value_bytes:
        raise ValueError(f"value coding {frame.value_coding} not handled here")
    split = len(frame.payload) - value_bytes[frame.value_coding]
    index_section, value_section = frame.payload[:split], frame.payload[split:]
    if frame.index_coding == IDX_DENSE:
        idx = np.arange(frame.n)
    elif frame.index_coding == IDX_RICE:
        idx = np.array(_rice_indices(index_section, frame.k, frame.index_param), dtype=np.int64)
    elif frame.index_coding == IDX_BITMAP:
        bits = np.unpackbits(np.frombuffer(index_section, dtype=np.uint8), bitorder="little")
        idx = np.flatnonzero(bits[: frame.n])
    else:
        raise ValueError(f"index coding {frame.index_coding} not handled here")
    if frame.value_coding == VAL_FP32:
        vals = np.frombuffer(value_section, dtype="<f4").astype(np.float32)
    elif frame.value_coding == VAL_FP16:
        vals = np.frombuffer(value_section, dtype="<f2").astype(np.float32)
    else:
        q = np.frombuffer(value_section, dtype=np.int8).astype(np.float64)
        vals = (q * frame.scale).astype(np.float32)
    return idx, vals


@dataclass
class LinkCounters:
    """What a UartLink has seen."""

    rx_frames: int = 0
    rx_dropped: int = 0
    rx_dup: int = 0
    tx_frames: int = 0
    tx_retries: int = 0


class UartLink:
    """Reliable Sparrow frames over a serial port (pyserial or anything with
    ``read(n)``, ``write(b)`` and a ``timeout``).

    Parameters
    ----------
    port : serial.Serial-like
        An open port; ``serial_for_url("socket://...")`` or ``/dev/ttyUSB0``.
    device_id : int
        Written into the ACKs this side sends.
    """

    def __init__(self, port: Any, device_id: int = 0) -> None:
        self.port = port
        self.device_id = device_id
        self.counters = LinkCounters()
        self._buffer = bytearray()
        self._last_rx_seq: int | None = None
        self._acks: set[tuple[int, int]] = set()
        self._inbox: list[Frame] = []

    def _write_packet(self, frame: bytes) -> None:
        self.port.write(cobs_encode(frame))

    def _ack(self, frame: Frame) -> None:
        self._write_packet(encode_control(MSG_ACK, device_id=self.device_id, round=frame.round,
                                          seq=frame.seq))

    def _take(self, packet: bytes) -> None:
        try:
            frame = parse(cobs_decode(packet))
        except ValueError:
            self.counters.rx_dropped += 1
            return
        self.counters.rx_frames += 1
        if frame.msg_type == MSG_ACK:
            self._acks.add((frame.seq, frame.round))
            return
        self._ack(frame)
        if frame.msg_type == MSG_HELLO:
            self._last_rx_seq = None
        if frame.seq == self._last_rx_seq:
            self.counters.rx_dup += 1
            return
        self._last_rx_seq = frame.seq
        self._inbox.append(frame)

    def pump(self) -> None:
        """Read what the port holds (waiting at most its timeout) and handle it."""
        data = self.port.read(4096)
        self._buffer += data
        while True:
            end = self._buffer.find(0)
            if end < 0:
                return
            packet, self._buffer = bytes(self._buffer[:end]), self._buffer[end + 1 :]
            if packet:
                self._take(packet)

    def receive(self, timeout: float) -> Frame | None:
        """Next new frame (acknowledged already), or None after timeout seconds."""
        deadline = time.monotonic() + timeout
        while not self._inbox and time.monotonic() < deadline:
            self.pump()
        return self._inbox.pop(0) if self._inbox else None

    def expect(self, msg_type: int, timeout: float) -> Frame:
        """Next new frame of msg_type, skipping others.

        Raises
        ------
        TimeoutError
            When none arrives within timeout seconds.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = self.receive(deadline - time.monotonic())
            if frame is not None and frame.msg_type == msg_type:
                return frame
        raise TimeoutError(f"no frame of type {msg_type} within {timeout} s")

    def send(self, frame: bytes, timeout: float = 10.0) -> None:
        """Send a frame and repeat it every RETRY_S until its ACK arrives.

        Raises
        ------
        TimeoutError
            When no ACK arrives within timeout seconds.
        """
        header = parse(frame)
        key = (header.seq, header.round)
        self._acks.discard(key)
        self.counters.tx_frames += 1
        deadline = time.monotonic() + timeout
        while True:
            self._write_packet(frame)
            resend_at = time.monotonic() + RETRY_S
            while time.monotonic() < resend_at:
                self.pump()
                if key in self._acks:
                    return
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no ACK for seq {header.seq} round {header.round}")
            self.counters.tx_retries += 1
