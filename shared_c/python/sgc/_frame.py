"""Sparrow frames (docs/PROTOCOL.md) from Python: encode, decode, chunk.

A typed layer over the C codec in ``sgc._sgc``: it checks dtypes, shapes and
ranges, allocates from the sizes C reports, and turns C status codes into
``sgc.Error`` subclasses with C's own message (``sgc.FrameError`` for
anything malformed, naming the field).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sgc._errors import ArgumentError, check
from sgc._sgc import ffi, lib

MSG_SPARSE_UPDATE: int = lib.SGC_MSG_SPARSE_UPDATE
MSG_DENSE_MODEL: int = lib.SGC_MSG_DENSE_MODEL
MSG_SPARSE_MODEL_DELTA: int = lib.SGC_MSG_SPARSE_MODEL_DELTA
MSG_HELLO: int = lib.SGC_MSG_HELLO
MSG_ROUND_OPEN: int = lib.SGC_MSG_ROUND_OPEN
MSG_ACK: int = lib.SGC_MSG_ACK
MSG_RESYNC: int = lib.SGC_MSG_RESYNC

DATA_MSG_TYPES = frozenset({MSG_SPARSE_UPDATE, MSG_DENSE_MODEL, MSG_SPARSE_MODEL_DELTA})
CONTROL_MSG_TYPES = frozenset({MSG_HELLO, MSG_ROUND_OPEN, MSG_ACK, MSG_RESYNC})
MAX_CONTROL_PAYLOAD: int = lib.SGC_FRAME_MAX_CONTROL_PAYLOAD
DEFAULT_CHUNK_SIZE: int = lib.SGC_CHUNK_DEFAULT_SIZE

VALUE_CODINGS: dict[str, int] = {
    "fp32": lib.SGC_VAL_FP32,
    "fp16": lib.SGC_VAL_FP16,
    "int8": lib.SGC_VAL_INT8,
    "sign": lib.SGC_VAL_SIGN,
}
INDEX_CODINGS: dict[str, int] = {
    "none": lib.SGC_IDX_NONE,
    "dense": lib.SGC_IDX_DENSE,
    "rice": lib.SGC_IDX_RICE,
    "bitmap": lib.SGC_IDX_BITMAP,
    "stratified": lib.SGC_IDX_STRATIFIED,
}
_VALUE_NAMES = {v: k for k, v in VALUE_CODINGS.items()}
_INDEX_NAMES = {v: k for k, v in INDEX_CODINGS.items()}
DROP_REASONS: dict[int, str] = {
    lib.SGC_DROP_TIMEOUT: "timeout",
    lib.SGC_DROP_EVICTED: "evicted",
    lib.SGC_DROP_MISMATCH: "mismatch",
}

# header keyword -> largest value it may take
_HEADER_FIELDS = {
    "device_id": 0xFFFFFFFF,
    "round": 0xFFFFFFFF,
    "seq": 0xFFFFFFFF,
    "segment_id": 0xFFFF,
    "segment_count": 0xFFFF,
    "flags": 0xFF,
}
_U32_MAX = 0xFFFFFFFF
COMPACT_MAX: int = lib.SGC_COMPACT_MAX


@dataclass(frozen=True)
class Frame:
    """A decoded frame: every header field, plus its content.

    ``indices`` (uint32, ascending) and ``values`` (float32) hold the data of a
    data frame, empty for control frames and None after ``decode_into``;
    ``payload`` holds a control frame's opaque payload (empty for data).
    ``authenticated`` is True when a key was given and the tag verified.
    ``flags`` has bit 0x02 (``compact``) set when the frame had the compact
    header (PROTOCOL.md 13); ``header_bytes`` is its header's length.
    """

    msg_type: int
    flags: int
    device_id: int
    round: int
    seq: int
    segment_id: int
    segment_count: int
    n: int
    k: int
    index_coding: str
    index_param: int
    value_coding: str
    scale: float
    payload_len: int
    indices: np.ndarray | None
    values: np.ndarray | None
    payload: bytes
    authenticated: bool
    seed: int | None = None
    header_bytes: int = lib.SGC_FRAME_HEADER_BYTES

    @property
    def is_control(self) -> bool:
        """True for hello, round open, ack and resync frames."""
        return self.msg_type in CONTROL_MSG_TYPES

    @property
    def compact(self) -> bool:
        """True when the frame had the compact header (PROTOCOL.md 13)."""
        return bool(self.flags & lib.SGC_FLAG_COMPACT)

    @property
    def tagged(self) -> bool:
        """True when the frame carries an HMAC tag (PROTOCOL.md 7), verified or not."""
        return bool(self.flags & lib.SGC_FLAG_HMAC)


def _value_coding(name: str) -> int:
    try:
        return VALUE_CODINGS[name]
    except (KeyError, TypeError):
        raise ArgumentError(f"value_coding must be one of {sorted(VALUE_CODINGS)}, got {name!r}") \
            from None


def _header(msg_type: int, fields: dict[str, Any], compact: Any = False, n: int = 0) -> Any:
    unknown = set(fields) - set(_HEADER_FIELDS)
    if unknown:
        raise ArgumentError(f"unknown header field(s) {sorted(unknown)}; "
                            f"known: {sorted(_HEADER_FIELDS)}")
    h = ffi.new("sgc_frame_header *")
    h.msg_type = _ranged("msg_type", msg_type, 0xFF)
    h.segment_count = 1
    for name, value in fields.items():
        setattr(h, name, _ranged(name, value, _HEADER_FIELDS[name]))
    if h.flags & ~lib.SGC_FLAGS_APP:
        raise ArgumentError(f"flags may only use the application bits 0x{lib.SGC_FLAGS_APP:02X} "
                            "(the HMAC bit follows key=, the compact header compact=)")
    if h.segment_count == 0 or h.segment_id >= h.segment_count:
        raise ArgumentError("segment_id must be below segment_count (>= 1)")
    if compact is True:
        misfit = compact_misfit(n, **fields)
        if misfit:
            raise ArgumentError(f"compact=True: {misfit} (use compact='auto' to fall back to "
                                "the full header)")
        h.flags |= lib.SGC_FLAG_COMPACT
    elif compact == "auto":
        h.flags |= lib.SGC_FLAG_COMPACT_AUTO
    elif compact is not False:
        raise ArgumentError(f"compact must be False, True or 'auto', got {compact!r}")
    return h


def compact_misfit(n: int = 0, **header_fields: int) -> str | None:
    """Why the compact header (PROTOCOL.md 13) cannot carry these fields, or None when it can.

    Parameters
    ----------
    n : int
        The data frame's n (0 for a control frame).
    **header_fields : int
        device_id, round, seq, segment_id, segment_count (flags always fit).
    """
    for name in ("device_id", "round", "seq"):
        if header_fields.get(name, 0) > COMPACT_MAX:
            return f"{name} {header_fields[name]} exceeds {COMPACT_MAX}"
    if header_fields.get("segment_id", 0) != 0 or header_fields.get("segment_count", 1) != 1:
        return "segments (segment_count > 1) need the full header"
    if n > COMPACT_MAX:
        return f"n {n} exceeds {COMPACT_MAX}"
    return None


def _ranged(name: str, value: Any, top: int) -> int:
    if isinstance(value, (bool, float)) or not isinstance(value, (int, np.integer)):
        raise ArgumentError(f"{name} must be an integer, got {value!r}")
    if not 0 <= int(value) <= top:
        raise ArgumentError(f"{name} must be in 0..{top}, got {value}")
    return int(value)


def _key(key: bytes | None) -> tuple[Any, int]:
    if key is None:
        return ffi.NULL, 0
    if not isinstance(key, (bytes, bytearray)) or len(key) == 0:
        raise ArgumentError("key must be non-empty bytes")
    return ffi.from_buffer(bytes(key)), len(key)


def _values(values: Any, name: str = "values") -> np.ndarray:
    arr = np.ascontiguousarray(values, dtype=np.float32)
    if arr.ndim != 1:
        raise ArgumentError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def _n(n: Any) -> int:
    n = _ranged("n", n, lib.SGC_MAX_N)
    if n == 0:
        raise ArgumentError("n must be at least 1")
    return n


def _finish(status: int, out: Any, out_len: Any, context: str) -> bytes:
    check(status, context)
    return bytes(ffi.buffer(out, out_len[0]))


def encoded_size_bound(n: int, k: int, value_coding: str = "fp32") -> int:
    """Worst-case bytes of a data frame (tag included) with n positions and k values.

    Parameters
    ----------
    n, k : int
        Gradient length and number of values, 0 <= k <= n.
    value_coding : str
        "fp32", "fp16", "int8" or "sign".

    Returns
    -------
    int
        A size no encoded frame of that shape exceeds.
    """
    bound = lib.sgc_frame_size_bound(_n(n), _ranged("k", k, _U32_MAX), _value_coding(value_coding))
    if bound == 0:
        raise ArgumentError(f"no frame has n={n}, k={k}")
    return int(bound)


def encode_sparse(n: int, indices: Any, values: Any, *, value_coding: str = "fp32",
                  msg_type: int = MSG_SPARSE_UPDATE, key: bytes | None = None,
                  compact: bool | str = False, **header_fields: int) -> bytes:
    """Encode k (index, value) pairs of a length-n vector as one frame.

    The index coding (Golomb-Rice gaps, bitmap, or dense when k == n) is
    chosen for the fewest bytes; values are quantised by the core's
    quantiser for ``value_coding``.

    Parameters
    ----------
    n : int
        Length of the dense vector the indices point into.
    indices : array_like of int
        Strictly ascending positions, each in 0..n-1.
    values : array_like of float
        One finite value per index (converted to float32).
    value_coding : str
        "fp32", "fp16", "int8" or "sign".
    msg_type : int
        MSG_SPARSE_UPDATE (default), MSG_SPARSE_MODEL_DELTA or MSG_DENSE_MODEL.
    key : bytes, optional
        Per-device key: appends an HMAC-SHA256 tag.
    compact : bool or "auto"
        False (default): the 40-byte header. True: the compact header
        (PROTOCOL.md 13), ArgumentError when a field does not fit it
        (device_id, round, seq or n above 65535, segments). "auto": compact
        when every field fits, else the full header.
    **header_fields : int
        device_id, round, seq, segment_id, segment_count, flags (bits 4-7).

    Returns
    -------
    bytes
        The frame.
    """
    n = _n(n)
    idx = np.asarray(indices)
    if idx.ndim != 1:
        raise ArgumentError(f"indices must be 1-D, got shape {idx.shape}")
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise ArgumentError(f"indices must be integers, got dtype {idx.dtype}")
    vals = _values(values)
    if idx.size != vals.size:
        raise ArgumentError(f"indices and values differ in length ({idx.size} != {vals.size})")
    if idx.size:
        if idx.min() < 0 or idx.max() >= n:
            raise ArgumentError(f"indices must lie in 0..{n - 1}")
        if idx.size > 1 and not np.all(np.diff(idx.astype(np.int64)) > 0):
            raise ArgumentError("indices must be strictly ascending")
    if not np.all(np.isfinite(vals)):
        raise ArgumentError("values hold NaN or Inf")
    idx32 = np.ascontiguousarray(idx, dtype=np.uint32)
    coding = _value_coding(value_coding)
    h = _header(msg_type, header_fields, compact, n)
    kp, kl = _key(key)
    cap = lib.sgc_frame_size_bound(n, idx32.size, coding)
    out = ffi.new("uint8_t[]", cap)
    out_len = ffi.new("size_t *")
    st = lib.sgc_frame_encode_sparse(h, n, ffi.from_buffer("uint32_t[]", idx32), idx32.size,
                                     ffi.from_buffer("float[]", vals), coding, kp, kl, out, cap,
                                     out_len)
    return _finish(st, out, out_len, "encode_sparse")


def encode_dense(values: Any, *, value_coding: str = "fp32", msg_type: int = MSG_DENSE_MODEL,
                 key: bytes | None = None, compact: bool | str = False,
                 **header_fields: int) -> bytes:
    """Encode every value of a vector as one frame (index coding "dense").

    Parameters
    ----------
    values : array_like of float
        The whole vector (converted to float32, 1-D, finite, at least 1 value).
    value_coding, msg_type, key, compact, **header_fields
        As for :func:`encode_sparse`; msg_type defaults to MSG_DENSE_MODEL.

    Returns
    -------
    bytes
        The frame.
    """
    vals = _values(values)
    n = _n(vals.size)
    coding = _value_coding(value_coding)
    h = _header(msg_type, header_fields, compact, n)
    kp, kl = _key(key)
    cap = lib.sgc_frame_size_bound(n, n, coding)
    out = ffi.new("uint8_t[]", cap)
    out_len = ffi.new("size_t *")
    st = lib.sgc_frame_encode_dense(h, n, ffi.from_buffer("float[]", vals), coding, kp, kl, out,
                                    cap, out_len)
    return _finish(st, out, out_len, "encode_dense")


def stratified_indices(seed: int, n: int, k: int) -> np.ndarray:
    """The k positions a random-k frame with this seed stands for (PROTOCOL.md 4.3)."""
    n = _n(n)
    k = _ranged("k", k, n)
    out = np.empty(k, dtype=np.uint32)
    check(lib.sgc_stratified_indices(_ranged("seed", seed, 2**64 - 1), n, k,
                                     ffi.from_buffer("uint32_t[]", out)), "stratified_indices")
    return out


def encode_random_k(n: int, seed: int, values: Any, *, value_coding: str = "fp32",
                    msg_type: int = MSG_SPARSE_UPDATE, key: bytes | None = None,
                    compact: bool | str = False, **header_fields: int) -> bytes:
    """Encode values at ``stratified_indices(seed, n, len(values))``: 8 bytes of seed, no indices.

    Parameters
    ----------
    n : int
        Length of the dense vector.
    seed : int
        Shared 64-bit seed.
    values : array_like of float
        One value per stratum, k = len(values) >= 1.
    value_coding, msg_type, key, compact, **header_fields
        As for :func:`encode_sparse`.
    """
    n = _n(n)
    vals = _values(values)
    coding = _value_coding(value_coding)
    h = _header(msg_type, header_fields, compact, n)
    kp, kl = _key(key)
    k = vals.size
    if not 1 <= k <= n:
        raise ArgumentError(f"random-k needs 1 <= len(values) <= n, got {k}")
    cap = lib.sgc_frame_size_bound(n, k, coding)
    out = ffi.new("uint8_t[]", cap)
    out_len = ffi.new("size_t *")
    st = lib.sgc_frame_encode_stratified(h, n, k, _ranged("seed", seed, 2**64 - 1),
                                         ffi.from_buffer("float[]", vals), coding, kp, kl, out,
                                         cap, out_len)
    return _finish(st, out, out_len, "encode_random_k")


def encode_control(msg_type: int, payload: bytes = b"", *, key: bytes | None = None,
                   compact: bool | str = False, **header_fields: int) -> bytes:
    """Encode a control frame (hello, round open, ack, resync) with an opaque payload.

    Parameters
    ----------
    msg_type : int
        MSG_HELLO, MSG_ROUND_OPEN, MSG_ACK or MSG_RESYNC.
    payload : bytes
        At most MAX_CONTROL_PAYLOAD bytes; layouts in docs/TOPICS.md.
    key, compact, **header_fields
        As for :func:`encode_sparse` (a compact control frame has an
        11-byte header).
    """
    if not isinstance(payload, (bytes, bytearray)):
        raise ArgumentError("payload must be bytes")
    if msg_type not in CONTROL_MSG_TYPES:
        raise ArgumentError(f"msg_type {msg_type} is not a control type")
    if len(payload) > MAX_CONTROL_PAYLOAD:
        raise ArgumentError(f"control payload is {len(payload)} bytes; the limit is "
                            f"{MAX_CONTROL_PAYLOAD}")
    h = _header(msg_type, header_fields, compact)
    kp, kl = _key(key)
    cap = len(payload) + lib.SGC_FRAME_OVERHEAD_BYTES
    out = ffi.new("uint8_t[]", cap)
    out_len = ffi.new("size_t *")
    st = lib.sgc_frame_encode_control(h, ffi.from_buffer(bytes(payload)), len(payload), kp, kl,
                                      out, cap, out_len)
    return _finish(st, out, out_len, "encode_control")


def _as_bytes(frame: Any) -> bytes:
    if isinstance(frame, (bytes, bytearray, memoryview)):
        return bytes(frame)
    raise ArgumentError(f"frame must be bytes, got {type(frame).__name__}")


def _parse(frame: bytes, key: bytes | None, context: str) -> Any:
    view = ffi.new("sgc_frame_view *")
    kp, kl = _key(key)
    buf = ffi.from_buffer(frame)
    check(lib.sgc_frame_parse(buf, len(frame), kp, kl, view), context)
    return view, buf


def _frame(view: Any, frame: bytes, buf: Any, indices: np.ndarray | None,
           values: np.ndarray | None) -> Frame:
    h = view.header
    control = h.msg_type in CONTROL_MSG_TYPES
    start = int(ffi.cast("uintptr_t", view.payload)) - int(ffi.cast("uintptr_t", buf))
    payload = frame[start:start + h.payload_len]
    return Frame(msg_type=h.msg_type, flags=h.flags, device_id=h.device_id, round=h.round,
                 seq=h.seq, segment_id=h.segment_id, segment_count=h.segment_count, n=h.n, k=h.k,
                 index_coding=_INDEX_NAMES[h.index_coding], index_param=h.index_param,
                 value_coding=_VALUE_NAMES[h.value_coding], scale=float(h.scale),
                 payload_len=h.payload_len, indices=indices, values=values,
                 payload=payload if control else b"", authenticated=bool(view.authenticated),
                 seed=int(view.seed) if h.index_coding == lib.SGC_IDX_STRATIFIED else None,
                 header_bytes=start)


def decode(frame: bytes, *, key: bytes | None = None) -> Frame:
    """Check and decode one frame (full or compact header).

    Parameters
    ----------
    frame : bytes
        Untrusted bytes.
    key : bytes, optional
        The sender's key: then a valid HMAC tag is required.

    Returns
    -------
    Frame

    Raises
    ------
    FrameError
        For anything malformed; the message names the field (C's reason).
    """
    frame = _as_bytes(frame)
    view, buf = _parse(frame, key, "decode")
    k = view.header.k
    indices = np.empty(k, dtype=np.uint32)
    values = np.empty(k, dtype=np.float32)
    if view.header.msg_type in DATA_MSG_TYPES:
        check(lib.sgc_frame_decode(view, ffi.from_buffer("uint32_t[]", indices),
                                   ffi.from_buffer("float[]", values), k), "decode")
    return _frame(view, frame, buf, indices, values)


def decode_into(frame: bytes, out: np.ndarray, weight: float = 1.0, *,
                key: bytes | None = None) -> Frame:
    """Add ``weight * value`` into ``out[index]`` for every value of a data frame.

    Nothing is added unless the whole frame is valid. Dense frames too.

    Parameters
    ----------
    frame : bytes
        Untrusted bytes of a data frame.
    out : np.ndarray
        Contiguous, writable float32 array of length n (the frame's n).
    weight : float
        Finite factor applied to every value.
    key : bytes, optional
        As for :func:`decode`.

    Returns
    -------
    Frame
        The header fields; ``indices`` and ``values`` are None.
    """
    if not isinstance(out, np.ndarray) or out.dtype != np.float32 or out.ndim != 1:
        raise ArgumentError("out must be a 1-D float32 numpy array")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ArgumentError("out must be contiguous and writable")
    weight = float(weight)
    if not np.isfinite(weight):
        raise ArgumentError("weight must be finite")
    frame = _as_bytes(frame)
    view, buf = _parse(frame, key, "decode_into")
    if view.header.msg_type not in DATA_MSG_TYPES:
        raise ArgumentError(f"decode_into needs a data frame, got msg_type {view.header.msg_type}")
    if out.size != view.header.n:
        raise ArgumentError(f"out has {out.size} elements; the frame's n is {view.header.n}")
    check(lib.sgc_frame_decode_into(view, ffi.from_buffer("float[]", out), out.size, weight),
          "decode_into")
    return _frame(view, frame, buf, None, None)


def verify(frame: bytes, key: bytes) -> None:
    """Check a frame's framing, CRC and HMAC tag under ``key`` without decoding its values.

    Raises
    ------
    FrameError
        The frame is malformed, or its tag is missing or wrong (C's ``AUTH``
        reason).
    """
    if key is None:
        raise ArgumentError("verify needs a key")
    _parse(_as_bytes(frame), key, "verify")


def sign(frame: bytes, key: bytes) -> bytes:
    """Add the HMAC-SHA256 tag under ``key`` to an untagged frame (PROTOCOL.md section 7).

    The result is byte for byte what the encoder writes when given ``key=``:
    the HMAC bit is set in the header (full or compact), the tag is computed
    over header and payload, appended, and the CRC is recomputed. It lets a
    sender tag the frames it made without a key in one place.

    Raises
    ------
    FrameError
        ``frame`` is malformed.
    ArgumentError
        ``frame`` already carries a tag, or ``key`` is empty.
    """
    frame = _as_bytes(frame)
    view, _ = _parse(frame, None, "sign")
    if view.header.flags & lib.SGC_FLAG_HMAC:
        raise ArgumentError("frame already carries an HMAC tag")
    kp, kl = _key(key)
    body = bytearray(frame[:-lib.SGC_FRAME_CRC_BYTES])
    # The HMAC bit: bit 0 of the flags byte (offset 4) or of the compact header's head byte (offset 3).
    body[3 if body[2] == lib.SGC_FRAME_COMPACT_VERSION else 4] |= lib.SGC_FLAG_HMAC
    tag = ffi.new("uint8_t[]", lib.SGC_FRAME_TAG_BYTES)
    check(lib.sgc_hmac_sha256(kp, kl, ffi.from_buffer(body), len(body), tag), "sign")
    body += ffi.buffer(tag)[:]
    crc = lib.sgc_crc32c_update(0, ffi.from_buffer(body), len(body))
    return bytes(body) + int(crc).to_bytes(lib.SGC_FRAME_CRC_BYTES, "little")


def chunk(frame: bytes, max_size: int = DEFAULT_CHUNK_SIZE) -> list[bytes]:
    """Split a frame into chunks of at most ``max_size`` bytes (PROTOCOL.md 10).

    A frame that fits comes back whole, as the only element.
    """
    frame = _as_bytes(frame)
    max_size = _ranged("max_size", max_size, _U32_MAX)
    count = lib.sgc_chunk_count(len(frame), max_size)
    if count == 0:
        raise ArgumentError(f"cannot chunk {len(frame)} bytes at max_size={max_size} "
                            f"(needs max_size >= {lib.SGC_CHUNK_MIN_SIZE} and at most "
                            f"{lib.SGC_CHUNK_MAX_COUNT} chunks)")
    if count == 1:
        return [frame]
    buf = ffi.from_buffer(frame)
    out = ffi.new("uint8_t[]", max_size)
    out_len = ffi.new("size_t *")
    chunks = []
    for i in range(count):
        st = lib.sgc_chunk_make(buf, len(frame), max_size, i, out, max_size, out_len)
        chunks.append(_finish(st, out, out_len, "chunk"))
    return chunks


@dataclass(frozen=True)
class DropRecord:
    """A frame the reassembler gave up on."""

    frame_id: int
    total_len: int
    received: int
    count: int
    reason: str


class Reassembler:
    """Bounded-memory reassembly of chunked frames.

    Parameters
    ----------
    capacity_bytes : int
        Memory for frames in flight, split evenly among ``max_frames`` slots;
        a frame (plus one bit per chunk) must fit one slot.
    max_frames : int
        Frames assembled at once (1..SGC_REASM_MAX_SLOTS).
    timeout_s : float
        An incomplete frame older than this (from its first chunk) is dropped.

    Notes
    -----
    One reassembler per stream (e.g. per MQTT topic), fed from one thread:
    the C call runs without the GIL, so concurrent feeds need a lock.
    """

    def __init__(self, capacity_bytes: int = 1 << 20, max_frames: int = 4,
                 timeout_s: float = 30.0) -> None:
        capacity_bytes = _ranged("capacity_bytes", capacity_bytes, 2**62)
        max_frames = _ranged("max_frames", max_frames, lib.SGC_REASM_MAX_SLOTS)
        if not (np.isfinite(timeout_s) and 0 <= timeout_s * 1000 <= _U32_MAX // 2):
            raise ArgumentError("timeout_s must be finite, >= 0 and below 24 days")
        self._buf = ffi.new("uint8_t[]", capacity_bytes)
        self._state = ffi.new("sgc_reasm *")
        check(lib.sgc_reasm_init(self._state, self._buf, capacity_bytes, max_frames,
                                 int(timeout_s * 1000)), "Reassembler")
        self._frame = ffi.new("const uint8_t **")
        self._len = ffi.new("size_t *")

    def feed(self, chunk: bytes, now: float) -> bytes | None:
        """Take one message (a chunk or a whole frame) received at time ``now`` (seconds).

        Returns
        -------
        bytes or None
            The complete frame when this message completes one, else None.

        Raises
        ------
        FrameError
            When the chunk is malformed (it is then counted and ignored).
        ArgumentError
            When the frame would not fit a slot.
        """
        msg = _as_bytes(chunk)
        now_ms = int(now * 1000) & _U32_MAX
        st = lib.sgc_reasm_feed(self._state, ffi.from_buffer(msg), len(msg), now_ms, self._frame,
                                self._len)
        check(st, "reassemble")
        if self._frame[0] == ffi.NULL:
            return None
        return bytes(ffi.buffer(self._frame[0], self._len[0]))

    @property
    def dropped(self) -> int:
        """Frames dropped so far (timed out, evicted, or inconsistent)."""
        return int(self._state.dropped)

    @property
    def rejected(self) -> int:
        """Chunks rejected with an error so far."""
        return int(self._state.rejected)

    def drain_dropped(self) -> list[DropRecord]:
        """The drops not reported yet (oldest first), forgotten once returned."""
        recs = ffi.new("sgc_drop_record[]", lib.SGC_REASM_DROP_LOG)
        got = lib.sgc_reasm_drain(self._state, recs, lib.SGC_REASM_DROP_LOG)
        return [DropRecord(r.frame_id, r.total_len, r.received, r.count,
                           DROP_REASONS.get(r.reason, str(r.reason))) for r in recs[0:got]]
