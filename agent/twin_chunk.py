"""Chunks of the frame twin: splitting and bounded reassembly (PROTOCOL.md 10).

Mirrors ``sgc_chunk_make`` / ``sgc_reasm_*`` of shared_c byte for byte and
decision for decision: the same chunk bytes, the same slot table carved out of
one preallocated buffer (so memory is fixed at construction, as on a board),
the same duplicate, timeout and eviction rules and the same drop records.
"""
import struct

try:
    from . import frame_twin as _ft
except ImportError:  # MicroPython, or run from the agent/ folder
    import frame_twin as _ft

CHUNK_HEADER_BYTES = 16
CHUNK_MIN_SIZE = 64
CHUNK_DEFAULT_SIZE = 1024
CHUNK_MAX_COUNT = 65535
REASM_MAX_SLOTS = 16
REASM_DROP_LOG = 16

DROP_TIMEOUT = 1
DROP_EVICTED = 2
DROP_MISMATCH = 3
DROP_REASONS = {DROP_TIMEOUT: "timeout", DROP_EVICTED: "evicted", DROP_MISMATCH: "mismatch"}

_FREE = 0
_FILLING = 1
_COMPLETE = 2
_MIN_FRAME = _ft.MIN_BYTES  # the smallest frame: a compact control frame


def chunk_count(frame_len: int, max_size: int = CHUNK_DEFAULT_SIZE) -> int:
    """Chunks a frame of ``frame_len`` bytes needs (1: sent whole; 0: cannot be chunked)."""
    if max_size < CHUNK_MIN_SIZE or frame_len == 0:
        return 0
    if frame_len <= max_size:
        return 1
    body = max_size - CHUNK_HEADER_BYTES
    count = (frame_len + body - 1) // body
    return 0 if count > CHUNK_MAX_COUNT else count


def _body_size(total_len, count):
    return (total_len + count - 1) // count


def chunk(frame: bytes, max_size: int = CHUNK_DEFAULT_SIZE) -> list:
    """The messages that carry ``frame`` over a link of ``max_size`` bytes.

    A frame that fits is returned whole (one message); a longer one as
    numbered chunks of at most ``max_size`` bytes.
    """
    length = len(frame)
    if length < _MIN_FRAME:
        raise _ft.ArgumentError(_ft.E_TRUNCATED, "frame")
    count = chunk_count(length, max_size)
    if count == 0:
        raise _ft.ArgumentError(_ft.E_OPTION, "max_size")
    if count == 1:
        return [bytes(frame)]
    body = _body_size(length, count)
    crc = bytes(frame[length - 4:])
    out = []
    for i in range(count):
        head = b"SC\x01\x00" + crc + struct.pack("<IHH", length, i, count)
        out.append(head + bytes(frame[i * body:min((i + 1) * body, length)]))
    return out


def parse_chunk(msg: bytes) -> tuple:
    """Check a chunk header; returns (frame_id, total_len, index, count, offset).

    Raises FrameError: TRUNCATED below 16 bytes, MAGIC when it is not a chunk,
    CHUNK when its header disagrees with itself or its body length.
    """
    if len(msg) < CHUNK_HEADER_BYTES:
        raise _ft.FrameError(_ft.E_TRUNCATED)
    if msg[0] != 0x53 or msg[1] != 0x43:
        raise _ft.FrameError(_ft.E_MAGIC)
    frame_id, total_len, index, count = struct.unpack_from("<IIHH", msg, 4)
    if msg[2] != _ft.VERSION or msg[3] != 0 or count == 0 or index >= count \
            or total_len < _MIN_FRAME:
        raise _ft.FrameError(_ft.E_CHUNK)
    body = _body_size(total_len, count)
    if (count - 1) * body >= total_len:
        raise _ft.FrameError(_ft.E_CHUNK)
    offset = index * body
    if len(msg) - CHUNK_HEADER_BYTES != min(body, total_len - offset):
        raise _ft.FrameError(_ft.E_CHUNK)
    return frame_id, total_len, index, count, offset


class DropRecord:
    """A frame the reassembler gave up on: why ("timeout", "evicted", "mismatch") and when."""

    def __init__(self, frame_id: int, total_len: int, received: int, count: int,
                 reason: str) -> None:
        self.frame_id = frame_id
        self.total_len = total_len
        self.received = received
        self.count = count
        self.reason = reason

    def __repr__(self) -> str:
        return "DropRecord(frame_id=0x%08x, received=%d/%d, reason=%s)" % (
            self.frame_id, self.received, self.count, self.reason)


class Reassembler:
    """Bounded-memory reassembly of chunked frames, as ``sgc.Reassembler``.

    Parameters
    ----------
    capacity_bytes : int
        Bytes of the one buffer allocated here, split into ``max_frames``
        equal slots; a slot holds a frame plus ``ceil(count / 8)`` bitmap bytes.
    max_frames : int
        Frames held at once, 1..16.
    timeout_s : float
        An incomplete frame older than this (from its first chunk) is dropped.
    """

    def __init__(self, capacity_bytes: int, max_frames: int = 4, timeout_s: float = 30.0) -> None:
        if not 1 <= max_frames <= REASM_MAX_SLOTS or capacity_bytes // max_frames == 0:
            raise _ft.ArgumentError(_ft.E_OPTION, "max_frames/capacity_bytes")
        if not 0 <= timeout_s * 1000 <= 0x7FFFFFFF:
            raise _ft.ArgumentError(_ft.E_OPTION, "timeout_s")
        self._buf = bytearray(capacity_bytes)
        self._view = memoryview(self._buf)
        self.slot_bytes = capacity_bytes // max_frames
        self.timeout_ms = int(timeout_s * 1000)
        self.dropped = 0
        self.rejected = 0
        self._log = []
        # per slot: [state, frame_id, total_len, count, received, first_ms]
        self._slots = [[_FREE, 0, 0, 0, 0, 0] for _ in range(max_frames)]

    def _drop(self, j, reason):
        s = self._slots[j]
        self.dropped += 1
        if len(self._log) < REASM_DROP_LOG:
            self._log.append(DropRecord(s[1], s[2], s[4], s[3], DROP_REASONS[reason]))
        s[0] = _FREE

    def _expire(self, now_ms):
        for j, s in enumerate(self._slots):
            if s[0] != _FREE and ((now_ms - s[5]) & 0xFFFFFFFF) > self.timeout_ms:
                if s[0] == _FILLING:
                    self._drop(j, DROP_TIMEOUT)
                else:
                    s[0] = _FREE

    def _take(self, now_ms):
        for state in (_FREE, _COMPLETE):
            for j, s in enumerate(self._slots):
                if s[0] == state:
                    return j
        oldest = 0
        oldest_age = 0
        for j, s in enumerate(self._slots):
            age = (now_ms - s[5]) & 0xFFFFFFFF
            if j == 0 or age > oldest_age:
                oldest, oldest_age = j, age
        self._drop(oldest, DROP_EVICTED)
        return oldest

    def feed(self, msg: bytes, now: float) -> bytes | None:
        """Take one message (a chunk, or a whole frame starting with "SP") at ``now`` seconds.

        Returns the completed frame's bytes, or None while chunks are
        missing (and for duplicates). Raises FrameError for a bad chunk
        (counted in ``rejected``), CHUNK when a completed frame's last 4
        bytes are not its frame_id (dropped), and ArgumentError(CAPACITY)
        when a frame cannot fit a slot.
        """
        now_ms = int(now * 1000) & 0xFFFFFFFF
        self._expire(now_ms)
        if len(msg) >= 2 and msg[0] == 0x53 and msg[1] == 0x50:
            return bytes(msg)
        try:
            frame_id, total_len, index, count, offset = parse_chunk(msg)
        except _ft.FrameError:
            self.rejected += 1
            raise
        return self._place(msg, frame_id, total_len, index, count, offset, now_ms)

    def _place(self, msg, frame_id, total_len, index, count, offset, now_ms):
        found = -1
        for j, s in enumerate(self._slots):
            if s[0] != _FREE and s[1] == frame_id and s[2] == total_len and s[3] == count:
                found = j
                break
        bitmap_bytes = (count + 7) // 8
        if found >= 0 and self._slots[found][0] == _COMPLETE:
            return None
        if found < 0:
            if bitmap_bytes + total_len > self.slot_bytes:
                self.rejected += 1
                raise _ft.ArgumentError(_ft.E_CAPACITY, "frame larger than a slot")
            found = self._take(now_ms)
            self._slots[found] = [_FILLING, frame_id, total_len, count, 0, now_ms]
            base = found * self.slot_bytes
            for i in range(bitmap_bytes):
                self._buf[base + i] = 0
        s = self._slots[found]
        base = found * self.slot_bytes
        mask = 1 << (index & 7)
        if self._buf[base + (index >> 3)] & mask:
            return None
        self._buf[base + (index >> 3)] |= mask
        start = base + bitmap_bytes + offset
        body = memoryview(msg)[CHUNK_HEADER_BYTES:]
        self._view[start:start + len(body)] = body
        s[4] += 1
        if s[4] < count:
            return None
        frame = bytes(self._view[base + bitmap_bytes:base + bitmap_bytes + total_len])
        if struct.unpack_from("<I", frame, total_len - 4)[0] != frame_id:
            self._drop(found, DROP_MISMATCH)
            raise _ft.FrameError(_ft.E_CHUNK)
        s[0] = _COMPLETE
        return frame

    def drain_dropped(self) -> list:
        """The drop records kept since the last drain, oldest first (then forgotten)."""
        out = self._log
        self._log = []
        return out
