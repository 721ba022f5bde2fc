"""Pure-Python twin of the Sparrow frame codec, for CPython and MicroPython.

It writes and reads the bytes of docs/PROTOCOL.md exactly as the C codec in
shared_c does (``sgc``): same header, same index coding choice (Rice with the
exact best parameter, or a bitmap when not larger), the core's quantisers bit
for bit (fp32, fp16, int8 + scale, sign + magnitude), CRC-32C, the optional
HMAC-SHA256 tag, and the receiver checks of section 9 in the same order with
the same reasons. It writes (``compact=True`` or ``"auto"``) and reads the
compact header of section 13 as well. Only ``array``, ``struct`` and ``hashlib`` are used, so the
module runs on a MicroPython board; bit loops live in :mod:`twin_kernels`
(viper on MicroPython). Chunking lives in :mod:`twin_chunk`.

Typical use on a node::

    frame = encode_sparse(n, indices, values, value_coding="int8",
                          device_id=7, round=3, seq=41)
    f = decode(frame)            # FrameError with the C reason if malformed
    f.indices, f.values          # array('I'), array('f')
"""
import struct
import sys
from array import array

try:
    from . import twin_kernels as _k
except ImportError:  # MicroPython, or run from the agent/ folder
    import twin_kernels as _k

try:
    import hashlib

    _sha256 = hashlib.sha256
except (ImportError, AttributeError):  # a firmware built without hashlib
    _sha256 = None

if sys.byteorder != "little":
    raise ImportError("frame_twin needs a little-endian machine (raw array views)")

VERSION = 1
HEADER_BYTES = 40
TAG_BYTES = 32
CRC_BYTES = 4
MAX_CONTROL_PAYLOAD = 1024
MAX_N = 0x7FFFFFFF
FLAG_HMAC = 0x01
FLAGS_RESERVED = 0x0E
FLAGS_APP = 0xF0
# compact header (PROTOCOL.md 13): version 2, 11 bytes + n, k (data) + scale (int8, sign)
COMPACT_VERSION = 2
COMPACT_HEADER_BYTES = 11
COMPACT_MAX = 0xFFFF
FLAG_COMPACT = 0x02  # in Frame.flags only: the frame had the compact header
MIN_BYTES = COMPACT_HEADER_BYTES + CRC_BYTES

SPARSE_UPDATE = 1
DENSE_MODEL = 2
SPARSE_MODEL_DELTA = 3
HELLO = 16
ROUND_OPEN = 17
ACK = 18
RESYNC = 19
DATA_TYPES = (SPARSE_UPDATE, DENSE_MODEL, SPARSE_MODEL_DELTA)
CONTROL_TYPES = (HELLO, ROUND_OPEN, ACK, RESYNC)

IDX_NONE = 0
IDX_DENSE = 1
IDX_RICE = 2
IDX_BITMAP = 3
IDX_STRATIFIED = 4
INDEX_CODINGS = ("none", "dense", "rice", "bitmap", "stratified")

VAL_FP32 = 0
VAL_FP16 = 1
VAL_INT8 = 2
VAL_SIGN = 3
VALUE_CODINGS = ("fp32", "fp16", "int8", "sign")

RICE_MAX_PARAM = 31
STRATIFIED_BYTES = 8

# Status codes and messages: those of sgc.h / sgc_strerror (a test checks
# that they stay equal to the C ones).
E_N = -2
E_K = -3
E_NONFINITE = -5
E_OPTION = -7
E_CODING = -10
E_TRUNCATED = -20
E_MAGIC = -21
E_VERSION = -22
E_MSG_TYPE = -23
E_FLAGS = -24
E_HDR_N = -25
E_HDR_K = -26
E_HDR_INDEX_CODING = -27
E_HDR_VALUE_CODING = -28
E_HDR_SCALE = -29
E_HDR_SEGMENT = -30
E_HDR_LENGTH = -31
E_CRC = -32
E_AUTH = -33
E_AUTH_UNSUPPORTED = -34
E_INDICES = -35
E_VALUES = -36
E_TRAILING = -37
E_CHUNK = -38
E_CAPACITY = -4

MESSAGES = {
    E_N: "n must be between 1 and SGC_MAX_N",
    E_K: "k must be between 1 and n",
    E_CAPACITY: "output buffer too small for the result",
    E_NONFINITE: "input holds NaN or Inf (nothing was changed)",
    E_OPTION: "option out of range",
    E_CODING: "unknown value or index coding",
    E_TRUNCATED: "frame truncated: shorter than its header or declared length",
    E_MAGIC: "bad magic: not a Sparrow frame",
    E_VERSION: "unsupported protocol version",
    E_MSG_TYPE: "unknown message type",
    E_FLAGS: "reserved flag bits set",
    E_HDR_N: "header field n out of range",
    E_HDR_K: "header field k out of range for n",
    E_HDR_INDEX_CODING: "header field index_coding unknown",
    E_HDR_VALUE_CODING: "header field value_coding unknown",
    E_HDR_SCALE: "header field scale not finite or negative",
    E_HDR_SEGMENT: "header field segment_id/segment_count inconsistent",
    E_HDR_LENGTH: "header field payload_len disagrees with frame length",
    E_CRC: "CRC-32C mismatch",
    E_AUTH: "authentication tag missing or wrong",
    E_AUTH_UNSUPPORTED: "frame carries an HMAC tag but this build has no HMAC",
    E_INDICES: "index payload malformed",
    E_VALUES: "value payload malformed",
    E_TRAILING: "trailing bytes after the payload",
    E_CHUNK: "chunk header inconsistent with its frame",
}


class FrameError(ValueError):
    """A malformed, truncated, corrupted or unauthenticated frame.

    ``status`` is the C status code (``SGC_E_*``) and the message is C's
    ``sgc_strerror`` text, which names the offending field.
    """

    def __init__(self, status: int, context: str = "") -> None:
        text = MESSAGES.get(status, "unknown status")
        super().__init__(context + ": " + text if context else text)
        self.status = status

    @property
    def reason(self) -> str:
        """The message, as ``sgc.FrameError.reason``."""
        return str(self.args[0])


class ArgumentError(ValueError):
    """A bad argument to an encoder (what ``sgc.ArgumentError`` reports)."""

    def __init__(self, status: int, context: str = "") -> None:
        text = MESSAGES.get(status, "unknown status")
        super().__init__(context + ": " + text if context else text)
        self.status = status


class Frame:
    """A decoded frame: header fields, then content.

    Attributes
    ----------
    msg_type, flags, index_param : int
    device_id, round, seq, segment_id, segment_count, n, k, payload_len : int
    index_coding, value_coding : str
        Names as in ``sgc.Frame``: "none", "dense", "rice", "bitmap",
        "stratified"; "fp32", "fp16", "int8", "sign". The wire codes are
        ``index_code`` and ``value_code``.
    scale : float
    indices : array('I')
        k ascending positions (empty for control frames).
    values : array('f')
        k decoded values.
    payload : bytes
        The opaque payload of a control frame (b"" for data frames).
    seed : int or None
        The shared seed of a STRATIFIED frame, else None.
    authenticated : bool
        True when a key was given and the tag verified.
    header_bytes : int
        40, or the compact header's length (then ``flags`` has FLAG_COMPACT).
    """

    def __init__(self, fields: tuple, header_bytes: int = HEADER_BYTES) -> None:
        (self.msg_type, self.flags, self.index_code, self.value_code, self.index_param,
         self.device_id, self.round, self.seq, self.segment_id, self.segment_count,
         self.n, self.k, self.scale, self.payload_len) = fields
        self.header_bytes = header_bytes
        self.indices = array("I")
        self.values = array("f")
        self.payload = b""
        self.seed = None
        self.authenticated = False

    @property
    def compact(self) -> bool:
        """True when the frame had the compact header (PROTOCOL.md 13)."""
        return bool(self.flags & FLAG_COMPACT)

    @property
    def index_coding(self) -> str:
        """Name of the index coding ("rice", ...; "unknown" before the header check)."""
        c = self.index_code
        return INDEX_CODINGS[c] if c < len(INDEX_CODINGS) else "unknown"

    @property
    def value_coding(self) -> str:
        """Name of the value coding ("fp32", ...; "unknown" before the header check)."""
        c = self.value_code
        return VALUE_CODINGS[c] if c < len(VALUE_CODINGS) else "unknown"

    @property
    def is_control(self) -> bool:
        """True for hello, round open, ack and resync frames."""
        return self.msg_type in CONTROL_TYPES

    def __repr__(self) -> str:
        return "Frame(msg_type=%d, n=%d, k=%d, index_coding=%s, value_coding=%s)" % (
            self.msg_type, self.n, self.k, self.index_coding, self.value_coding)


# ---------------------------------------------------------------- raw views

_HAS_FROMBYTES = hasattr(array("B"), "frombytes")
_F32 = array("f", [0.0])
_HEADER = "<2sBBBBBBIIIHHIIfI"


def _retype(typecode, buf):
    """A new array of ``typecode`` holding the raw bytes of ``buf`` (little-endian)."""
    if not isinstance(buf, (bytes, bytearray)):
        buf = bytes(buf)
    if _HAS_FROMBYTES:
        out = array(typecode)
        out.frombytes(buf)
        return out
    return array(typecode, buf)  # MicroPython copies bytes/bytearray raw


def _is_array(obj, typecode):
    """True for an ``array`` of ``typecode`` (MicroPython arrays have no .typecode)."""
    return isinstance(obj, array) and repr(obj[:0])[7] == typecode


def _zeros(typecode, count):
    return _retype(typecode, bytearray(4 * count))


def _f32(x):
    """``x`` rounded once to binary32 (overflow gives Inf, as a C cast does)."""
    _F32[0] = x
    return _F32[0]


def _bits_to_f32(u):
    return struct.unpack("<f", struct.pack("<I", u))[0]


def _f32_to_bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


# ---------------------------------------------------------------- CRC and tag

_CRC_TABLE = _k.crc32c_table()


def crc32c(data: bytes, crc: int = 0) -> int:
    """CRC-32C (Castagnoli) of ``data``, continuing from ``crc`` (start with 0)."""
    reg = _k.crc32c_update(crc ^ 0xFFFFFFFF, data, len(data), _CRC_TABLE)
    return (reg ^ 0xFFFFFFFF) & 0xFFFFFFFF


def hmac_sha256(key: bytes, msg: bytes) -> bytes:
    """HMAC-SHA256 (RFC 2104) of ``msg`` under ``key``, 32 bytes."""
    if _sha256 is None:
        raise FrameError(E_AUTH_UNSUPPORTED)
    if len(key) > 64:
        key = _sha256(key).digest()
    pad = bytearray(64)
    pad[:len(key)] = key
    inner = _sha256(bytes(b ^ 0x36 for b in pad))
    inner.update(msg)
    outer = _sha256(bytes(b ^ 0x5C for b in pad))
    outer.update(inner.digest())
    return outer.digest()


def _tag_equal(a, b):
    diff = 0
    for i in range(TAG_BYTES):
        diff |= a[i] ^ b[i]
    return diff == 0


# ---------------------------------------------------------------- values

def value_bytes(coding: int, k: int) -> int:
    """Bytes of k values in ``coding`` (PROTOCOL.md section 5)."""
    if coding == VAL_FP32:
        return 4 * k
    if coding == VAL_FP16:
        return 2 * k
    if coding == VAL_INT8:
        return k
    return (k + 7) // 8


def _half_bits(v, u):
    """binary16 code of the f32 value ``v`` (bits ``u``), as the core's fp16 quantiser.

    Nearest-even, saturating at 65504; from 2^29 up the largest half that is a
    multiple of ulp(v) (0 once ulp(v) exceeds 65504), so v - decoded stays
    exact in float32 (sgc_quant.c, fp16_code).
    """
    sign = (u >> 16) & 0x8000
    a = u & 0x7FFFFFFF
    if a >= 0x4E000000:
        step = _ulp(a)
        m = float(int(65504.0 / step)) * step  # exact: step is a power of two
        if v < 0.0:
            m = -m
        return _half_bits(m, _f32_to_bits(m))
    if a >= 0x477FF000:
        return sign | 0x7BFF
    if a < 0x38800000:
        x = (-v if v < 0 else v) * 16777216.0  # exact: a multiple of 2^-24 below 2^-14
        h = int(x)
        frac = x - h
        if frac > 0.5 or (frac == 0.5 and (h & 1)):
            h += 1
        return sign | h
    a -= 0x38000000
    h = a >> 13
    rem = a & 0x1FFF
    if rem > 0x1000 or (rem == 0x1000 and (h & 1)):
        h += 1
    return sign | h


def _int8_codes(vals, words, k):
    mx = 0
    for i in range(k):
        key = words[i] & 0x7FFFFFFF
        if key > mx:
            mx = key
    scale = _f32(_bits_to_f32(mx) / 127.0)
    out = bytearray(k)
    if scale > 0.0:
        for i in range(k):
            v = vals[i]
            r = _f32(v / scale)
            q = int(_f32(r + (0.5 if r >= 0.0 else -0.5)))
            q = 127 if q > 127 else (-127 if q < -127 else q)
            if (q == 1 or q == -1) and 2.0 * (-v if v < 0.0 else v) < scale:
                q = 0
            out[i] = q & 0xFF
    return out, scale


def _ulp(key):
    e = key >> 23
    if e > 23:
        return _bits_to_f32((e - 23) << 23)
    return _bits_to_f32(1 << (e - 1) if e > 0 else 1)


def _sign_codes(vals, words, k):
    out = bytearray((k + 7) // 8)
    mx = 0
    mn = 0xFFFFFFFF
    total = 0.0
    for i in range(k):
        key = words[i] & 0x7FFFFFFF
        v = vals[i]
        total = _f32(total + (-v if v < 0.0 else v))
        mx = key if key > mx else mx
        mn = key if key < mn else mn
        if v < 0.0:  # -0.0 is not negative, as in C
            out[i >> 3] |= 1 << (i & 7)
    if mx == 0:
        return out, 0.0
    m0 = _f32(total / k)
    twice_min = _f32(2.0 * _bits_to_f32(mn))
    if m0 > twice_min:
        m0 = twice_min
    if m0 > _bits_to_f32(mx):
        m0 = _bits_to_f32(mx)
    u = _ulp(mx)
    x = _f32(m0 / u)
    t = float(int(x))
    if t > x:
        t -= 1.0
    return out, _f32(t * u)


def quantize(coding: int, values: array) -> tuple:
    """Encode values as the core's ``sgc_quantize`` does.

    Parameters
    ----------
    coding : int
        VAL_FP32, VAL_FP16, VAL_INT8 or VAL_SIGN.
    values : array('f') or sequence of float
        Finite values (rounded to float32 first).

    Returns
    -------
    (bytes, float)
        The value section and the message scale.
    """
    vals = values if _is_array(values, "f") else array("f", values)
    k = len(vals)
    words = _retype("I", vals)
    if _k.first_nonfinite_f32(words, k) >= 0:
        raise ArgumentError(E_NONFINITE, "values")
    if coding == VAL_FP32:
        return bytes(vals), 1.0
    if coding == VAL_FP16:
        out = bytearray(2 * k)
        for i in range(k):
            h = _half_bits(vals[i], words[i])
            out[2 * i] = h & 0xFF
            out[2 * i + 1] = h >> 8
        return bytes(out), 1.0
    if coding == VAL_INT8:
        out, scale = _int8_codes(vals, words, k)
    else:
        out, scale = _sign_codes(vals, words, k)
    return bytes(out), (scale if k > 0 else 0.0)


def dequantize(coding: int, section: bytes, k: int, scale: float) -> array:
    """Decode a validated value section into ``array('f')`` (f32, exact)."""
    if coding == VAL_FP32:
        return _retype("f", section)
    if coding == VAL_FP16:
        words = _zeros("I", k)
        _k.half_to_f32_bits(section, k, words)
        return _retype("f", words)
    out = _zeros("f", k)
    if coding == VAL_INT8:
        for i in range(k):
            q = section[i]
            out[i] = (q - 256 if q > 127 else q) * scale  # exact in f64, rounded once
    else:
        neg = -scale
        for i in range(k):
            out[i] = neg if (section[i >> 3] >> (i & 7)) & 1 else scale
    return out


def _values_valid(coding, section, k):
    if coding == VAL_FP32:
        return _k.first_nonfinite_f32(_retype("I", section), k) < 0
    if coding == VAL_FP16:
        return _k.half_to_f32_bits(section, k, _zeros("I", k)) < 0
    if coding == VAL_INT8:
        return 0x80 not in bytes(section)
    return (k & 7) == 0 or (section[k >> 3] >> (k & 7)) == 0


def _scale_valid(coding, scale):
    if coding in (VAL_FP32, VAL_FP16):
        return scale == 1.0
    if not (scale >= 0.0) or scale == float("inf"):  # NaN fails the first test
        return False
    return coding != VAL_INT8 or _f32(127.0 * scale) != float("inf")


# ---------------------------------------------------------------- indices

def _as_indices(indices):
    if _is_array(indices, "I"):
        return indices
    try:
        return array("I", indices)
    except OverflowError:
        raise ArgumentError(E_INDICES, "indices must be integers in 0..2**32-1") from None


def rice_param(indices: array, k: int) -> tuple:
    """Rice parameter b minimising ``k(b + 1) + sum(gap >> b)`` (smallest on ties) and its bits."""
    max_gap = 0
    prev = 0
    for i in range(k):
        max_gap |= indices[i] - prev
        prev = indices[i] + 1
    last = min(_bit_length(max_gap), RICE_MAX_PARAM)
    sums = array("I", [0] * (RICE_MAX_PARAM + 1))
    _k.rice_sums(indices, k, sums, last)
    best = 0
    best_bits = 0
    for b in range(last + 1):
        cost = k * (b + 1) + sums[b]
        if b == 0 or cost < best_bits:
            best, best_bits = b, cost
    return best, best_bits


def _bit_length(x):
    n = 0
    while x:
        n += 1
        x >>= 1
    return n


def rice_bound_bits(n: int, k: int) -> int:
    """Upper bound on the best Rice code of any k of n positions (for size bounds)."""
    if k == 0:
        return 0
    best = 0
    for b in range(RICE_MAX_PARAM + 1):
        cost = k * (b + 1) + ((n - k) >> b)
        if b == 0 or cost < best:
            best = cost
    return best


def _splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return state, z ^ (z >> 31)


def stratified_indices(seed: int, n: int, k: int) -> array:
    """The k positions of a STRATIFIED frame (PROTOCOL.md 4.3), ``array('I')``."""
    if not 1 <= n <= MAX_N:
        raise ArgumentError(E_N, "n")
    if not 1 <= k <= n:
        raise ArgumentError(E_K, "k")
    out = _zeros("I", k)
    state = seed & 0xFFFFFFFFFFFFFFFF
    for i in range(k):
        lo = i * n // k
        hi = (i + 1) * n // k
        state, r = _splitmix64(state)
        out[i] = lo + r % (hi - lo)
    return out


def _bitmap(indices, k, n):
    out = bytearray((n + 7) // 8)
    for i in range(k):
        j = indices[i]
        out[j >> 3] |= 1 << (j & 7)
    return out


def _index_plan(n, indices, k):
    """(coding, param, section) as PROTOCOL.md 4.4 chooses them."""
    if k == n:
        return IDX_DENSE, 0, b""
    b, bits = rice_param(indices, k) if k else (0, 0)
    rice_bytes = (bits + 7) // 8
    bitmap_bytes = (n + 7) // 8
    if bitmap_bytes <= rice_bytes:
        return IDX_BITMAP, 0, _bitmap(indices, k, n)
    out = bytearray(rice_bytes)
    _k.rice_encode(indices, array("I", [k, b]), out)
    return IDX_RICE, b, out


# ---------------------------------------------------------------- encoding

def _coding_code(value_coding):
    if isinstance(value_coding, str):
        if value_coding in VALUE_CODINGS:
            return VALUE_CODINGS.index(value_coding)
    elif 0 <= value_coding < len(VALUE_CODINGS):
        return value_coding
    raise ArgumentError(E_CODING, "value_coding")


def _check_fields(msg_type, flags, device_id, round, seq, segment_id, segment_count):
    if flags & (FLAGS_RESERVED | FLAG_HMAC) or not 0 <= flags <= 0xFF:
        raise ArgumentError(E_OPTION, "flags (application bits 0xF0 only)")
    if not 1 <= segment_count <= 0xFFFF or not 0 <= segment_id < segment_count:
        raise ArgumentError(E_OPTION, "segment_id/segment_count")
    for name, v in (("device_id", device_id), ("round", round), ("seq", seq)):
        if not 0 <= v <= 0xFFFFFFFF:
            raise ArgumentError(E_OPTION, name)


def _check_key(key):
    if key is not None and (not isinstance(key, (bytes, bytearray)) or len(key) == 0):
        raise ArgumentError(E_OPTION, "key must be non-empty bytes")


def _compact_code(msg_type):
    """The 3-bit message code of a compact header: types 1-3 and 16-19."""
    return msg_type if msg_type <= 3 else msg_type - 12


def _compact_type(code):
    return code + 12 if code >= 4 else code


def _compact_header_bytes(code, value_code):
    if 1 <= code <= 3:
        return COMPACT_HEADER_BYTES + (8 if value_code in (VAL_INT8, VAL_SIGN) else 4)
    return COMPACT_HEADER_BYTES


def compact_misfit(n=0, device_id=0, round=0, seq=0, segment_id=0, segment_count=1):
    """Why the compact header cannot carry these fields (a str), or None when it can."""
    for name, v in (("device_id", device_id), ("round", round), ("seq", seq)):
        if v > COMPACT_MAX:
            return "%s %d exceeds %d" % (name, v, COMPACT_MAX)
    if segment_id != 0 or segment_count != 1:
        return "segments need the full header"
    if n > COMPACT_MAX:
        return "n %d exceeds %d" % (n, COMPACT_MAX)
    return None


def _use_compact(compact, n, device_id, round, seq, segment_id, segment_count):
    """Whether to write the compact header: compact=True (ArgumentError when a
    field does not fit), "auto" (when every field fits) or False."""
    if compact is False:
        return False
    if compact is not True and compact != "auto":
        raise ArgumentError(E_OPTION, "compact must be False, True or 'auto'")
    misfit = compact_misfit(n, device_id, round, seq, segment_id, segment_count)
    if misfit is not None and compact is True:
        raise ArgumentError(E_OPTION, "compact=True: " + misfit)
    return misfit is None


def _compact_head(msg_type, flags, icoding, coding, param, device_id, round, seq, n, k, scale):
    head = struct.pack("<2sBBBHHH", b"SP", COMPACT_VERSION,
                       (flags & (FLAG_HMAC | FLAGS_APP)) | (_compact_code(msg_type) << 1),
                       0 if icoding == IDX_NONE else coding | ((icoding - 1) << 2) | (param << 4),
                       device_id, round, seq)
    if icoding == IDX_NONE:
        return head
    head += struct.pack("<HH", n, k)
    if coding in (VAL_INT8, VAL_SIGN):
        head += struct.pack("<f", scale)
    return head


def _seal(head, index_section, value_section, key):
    """header || payload [|| tag] || crc as bytes."""
    body = bytearray(head)
    body.extend(index_section)
    body.extend(value_section)
    if key is not None:
        body.extend(hmac_sha256(key, body))
    body.extend(struct.pack("<I", crc32c(body)))
    return bytes(body)


def _encode_data(n, k, plan, values, coding, key, msg_type, flags, device_id, round, seq,
                 segment_id, segment_count, compact):
    if msg_type not in DATA_TYPES:
        raise ArgumentError(E_MSG_TYPE, "msg_type")
    if msg_type == DENSE_MODEL and plan[0] != IDX_DENSE:
        raise ArgumentError(E_K, "a dense model carries every position")
    _check_fields(msg_type, flags, device_id, round, seq, segment_id, segment_count)
    compact = _use_compact(compact, n, device_id, round, seq, segment_id, segment_count)
    _check_key(key)
    section, scale = quantize(coding, values)
    icoding, param, isec = plan
    payload_len = len(isec) + len(section)
    flags |= FLAG_HMAC if key is not None else 0
    if compact:
        head = _compact_head(msg_type, flags, icoding, coding, param, device_id, round, seq, n, k,
                             scale)
    else:
        head = struct.pack(_HEADER, b"SP", VERSION, msg_type, flags, icoding, coding, param,
                           device_id, round, seq, segment_id, segment_count, n, k, scale,
                           payload_len)
    return _seal(head, isec, section, key)


def _check_n_k(n, k):
    if not 1 <= n <= MAX_N:
        raise ArgumentError(E_N, "n")
    if not 0 <= k <= n:
        raise ArgumentError(E_K, "k")


def encode_sparse(n: int, indices: array, values: array, value_coding: str = "fp32",
                  key: bytes | None = None, msg_type: int = SPARSE_UPDATE, flags: int = 0,
                  device_id: int = 0, round: int = 0, seq: int = 0, segment_id: int = 0,
                  segment_count: int = 1, compact=False) -> bytes:
    """Encode a sparse data frame (``sgc.encode_sparse``'s bytes exactly).

    Parameters
    ----------
    n : int
        Length of the dense vector, 1..2**31-1.
    indices : array('I') or sequence of int
        k strictly ascending positions < n.
    values : array('f') or sequence of float
        k finite values, quantised with ``value_coding``.
    value_coding : str or int
        "fp32", "fp16", "int8" or "sign".
    key : bytes or None
        Per-device HMAC key; when given, a 32-byte tag is appended.
    msg_type, flags, device_id, round, seq, segment_id, segment_count : int
        Header fields (flags: application bits 0xF0 only).
    compact : bool or "auto"
        As ``sgc``: True writes the compact header (ArgumentError when a field
        does not fit), "auto" when every field fits, False the full one.

    Returns
    -------
    bytes
        The frame.
    """
    coding = _coding_code(value_coding)
    idx = _as_indices(indices)
    k = len(idx)
    _check_n_k(n, k)
    if len(values) != k:
        raise ArgumentError(E_K, "len(values) != len(indices)")
    prev = -1
    for i in range(k):
        if idx[i] >= n or idx[i] <= prev:
            raise ArgumentError(E_INDICES, "indices must be ascending and < n")
        prev = idx[i]
    return _encode_data(n, k, _index_plan(n, idx, k), values, coding, key, msg_type, flags,
                        device_id, round, seq, segment_id, segment_count, compact)


def encode_dense(values: array, value_coding: str = "fp32", key: bytes | None = None,
                 msg_type: int = DENSE_MODEL, flags: int = 0, device_id: int = 0, round: int = 0,
                 seq: int = 0, segment_id: int = 0, segment_count: int = 1,
                 compact=False) -> bytes:
    """Encode every value (index coding DENSE); see :func:`encode_sparse`."""
    n = len(values)
    _check_n_k(n, n)
    return _encode_data(n, n, (IDX_DENSE, 0, b""), values, _coding_code(value_coding), key,
                        msg_type, flags, device_id, round, seq, segment_id, segment_count, compact)


def encode_random_k(n: int, seed: int, values: array, value_coding: str = "fp32",
                    key: bytes | None = None, msg_type: int = SPARSE_UPDATE, flags: int = 0,
                    device_id: int = 0, round: int = 0, seq: int = 0, segment_id: int = 0,
                    segment_count: int = 1, compact=False) -> bytes:
    """Encode values at ``stratified_indices(seed, n, len(values))``: 8 seed bytes, no indices."""
    k = len(values)
    _check_n_k(n, k)
    if k == 0:
        raise ArgumentError(E_K, "k")
    if not 0 <= seed <= 0xFFFFFFFFFFFFFFFF:
        raise ArgumentError(E_OPTION, "seed")
    plan = (IDX_STRATIFIED, 0, struct.pack("<Q", seed))
    return _encode_data(n, k, plan, values, _coding_code(value_coding), key, msg_type, flags,
                        device_id, round, seq, segment_id, segment_count, compact)


def encode_control(msg_type: int, payload: bytes = b"", key: bytes | None = None, flags: int = 0,
                   device_id: int = 0, round: int = 0, seq: int = 0, segment_id: int = 0,
                   segment_count: int = 1, compact=False) -> bytes:
    """Encode a control frame (hello, round open, ack, resync) with an opaque payload."""
    if msg_type not in CONTROL_TYPES:
        raise ArgumentError(E_MSG_TYPE, "msg_type")
    if len(payload) > MAX_CONTROL_PAYLOAD:
        raise ArgumentError(E_OPTION, "control payload longer than 1024 bytes")
    _check_fields(msg_type, flags, device_id, round, seq, segment_id, segment_count)
    compact = _use_compact(compact, 0, device_id, round, seq, segment_id, segment_count)
    _check_key(key)
    flags |= FLAG_HMAC if key is not None else 0
    if compact:
        head = _compact_head(msg_type, flags, IDX_NONE, VAL_FP32, 0, device_id, round, seq, 0, 0,
                             1.0)
    else:
        head = struct.pack(_HEADER, b"SP", VERSION, msg_type, flags, IDX_NONE, VAL_FP32, 0,
                           device_id, round, seq, segment_id, segment_count, 0, 0, 1.0,
                           len(payload))
    return _seal(head, payload, b"", key)


def encoded_size_bound(n: int, k: int, value_coding: str = "fp32") -> int:
    """Worst-case frame size (tag included) of a sparse frame, as ``sgc.encoded_size_bound``."""
    coding = _coding_code(value_coding)
    _check_n_k(n, k)
    if k == n:
        index_bytes = 0
    else:
        index_bytes = max(min((rice_bound_bits(n, k) + 7) // 8, (n + 7) // 8), STRATIFIED_BYTES)
    return HEADER_BYTES + index_bytes + value_bytes(coding, k) + TAG_BYTES + CRC_BYTES


# ---------------------------------------------------------------- decoding

def _compact_fields(frame, header_bytes, payload_len):
    """The header fields of a compact frame (PROTOCOL.md 13), as the full header's."""
    head, coding, device_id, round, seq = struct.unpack_from("<BBHHH", frame, 3)
    code = (head >> 1) & 7
    flags = (head & (FLAG_HMAC | FLAGS_APP)) | FLAG_COMPACT
    value_code = coding & 3
    n = k = 0
    scale = 1.0
    if 1 <= code <= 3:
        index_code = ((coding >> 2) & 3) + 1
        n, k = struct.unpack_from("<HH", frame, 11)
        if value_code in (VAL_INT8, VAL_SIGN):
            scale = struct.unpack_from("<f", frame, 15)[0]
    else:  # control: nonzero coding bits fail the control field checks
        index_code = (coding >> 2) & 3
    return (_compact_type(code), flags, index_code, value_code, coding >> 4, device_id, round,
            seq, 0, 1, n, k, scale, payload_len)


def _check_framing(frame):
    """Checks 1-7 of PROTOCOL.md section 9 (13 for a compact header); returns
    the header fields and the header's length."""
    length = len(frame)
    if length < MIN_BYTES:
        raise FrameError(E_TRUNCATED)
    if frame[0] != 0x53 or frame[1] != 0x50:
        raise FrameError(E_MAGIC)
    if frame[2] == COMPACT_VERSION:
        header_bytes = _compact_header_bytes((frame[3] >> 1) & 7, frame[4] & 3)
        least = header_bytes + CRC_BYTES + (TAG_BYTES if frame[3] & FLAG_HMAC else 0)
        if length < least:
            raise FrameError(E_TRUNCATED)
        fields = _compact_fields(frame, header_bytes, length - least)
    else:
        if frame[2] != VERSION:
            raise FrameError(E_VERSION)
        if length < HEADER_BYTES + CRC_BYTES:
            raise FrameError(E_TRUNCATED)
        header_bytes = HEADER_BYTES
        fields = struct.unpack_from(_HEADER, frame, 0)[2:]
        flags = fields[1]
        if flags & FLAGS_RESERVED:
            raise FrameError(E_FLAGS)
        expected = HEADER_BYTES + fields[-1] + CRC_BYTES + (TAG_BYTES if flags & FLAG_HMAC else 0)
        if length < expected:
            raise FrameError(E_TRUNCATED)
        if length > expected:
            raise FrameError(E_TRAILING)
    body = length - CRC_BYTES
    if crc32c(memoryview(frame)[:body]) != struct.unpack_from("<I", frame, body)[0]:
        raise FrameError(E_CRC)
    return fields, header_bytes


def _check_tag(frame, f, key):
    """Checks 8-9; True when a key was given and the tag verified."""
    tagged = f.flags & FLAG_HMAC
    if tagged and _sha256 is None:
        raise FrameError(E_AUTH_UNSUPPORTED)
    if key is None:
        return False
    if not tagged:
        raise FrameError(E_AUTH)
    signed = f.header_bytes + f.payload_len
    view = memoryview(frame)
    if not _tag_equal(hmac_sha256(key, view[:signed]), view[signed:signed + TAG_BYTES]):
        raise FrameError(E_AUTH)
    return True


def _check_control(f):
    if f.n != 0:
        raise FrameError(E_HDR_N)
    if f.index_code != IDX_NONE or f.index_param != 0:
        raise FrameError(E_HDR_INDEX_CODING)
    if f.k != 0:
        raise FrameError(E_HDR_K)
    if f.value_code != VAL_FP32:
        raise FrameError(E_HDR_VALUE_CODING)
    if f.scale != 1.0:
        raise FrameError(E_HDR_SCALE)
    if f.payload_len > MAX_CONTROL_PAYLOAD:
        raise FrameError(E_HDR_LENGTH)


def _check_data(f):
    """Checks 12-17 for a data frame; returns the index section's length."""
    c = f.index_code
    if not 1 <= f.n <= MAX_N:
        raise FrameError(E_HDR_N)
    if c not in (IDX_DENSE, IDX_RICE, IDX_BITMAP, IDX_STRATIFIED):
        raise FrameError(E_HDR_INDEX_CODING)
    if f.msg_type == DENSE_MODEL and c != IDX_DENSE:
        raise FrameError(E_HDR_INDEX_CODING)
    if f.index_param > (RICE_MAX_PARAM if c == IDX_RICE else 0):
        raise FrameError(E_HDR_INDEX_CODING)
    if f.k > f.n or (c == IDX_DENSE and f.k != f.n) or (c == IDX_STRATIFIED and f.k == 0):
        raise FrameError(E_HDR_K)
    if f.value_code >= len(VALUE_CODINGS):
        raise FrameError(E_HDR_VALUE_CODING)
    if not _scale_valid(f.value_code, f.scale):
        raise FrameError(E_HDR_SCALE)
    vbytes = value_bytes(f.value_code, f.k)
    if vbytes > f.payload_len:
        raise FrameError(E_HDR_LENGTH)
    return f.payload_len - vbytes


def parse(frame: bytes, key: bytes | None = None) -> "Frame":
    """Run checks 1-17 of PROTOCOL.md section 9 on untrusted bytes.

    Returns a :class:`Frame` with the header fields (and the control payload)
    but no indices or values; raises :class:`FrameError` at the first failed
    check. With ``key`` a valid tag is required.
    """
    _check_key(key)
    fields, header_bytes = _check_framing(frame)
    f = Frame(fields, header_bytes)
    f.authenticated = _check_tag(frame, f, key)
    if f.msg_type not in DATA_TYPES and f.msg_type not in CONTROL_TYPES:
        raise FrameError(E_MSG_TYPE)
    if f.segment_count == 0 or f.segment_id >= f.segment_count:
        raise FrameError(E_HDR_SEGMENT)
    if f.msg_type in CONTROL_TYPES:
        _check_control(f)
        f.payload = bytes(frame[header_bytes:header_bytes + f.payload_len])
    return f


def _decode_indices(f, section, dense_positions):
    c = f.index_code
    n, k = f.n, f.k
    if c == IDX_DENSE:
        if len(section) != 0:
            raise FrameError(E_INDICES)
        return array("I", range(n)) if dense_positions else array("I")
    if c == IDX_STRATIFIED:
        if len(section) != STRATIFIED_BYTES:
            raise FrameError(E_INDICES)
        f.seed = struct.unpack("<Q", section)[0]
        return stratified_indices(f.seed, n, k)
    out = _zeros("I", k)
    if c == IDX_BITMAP:
        if len(section) != (n + 7) // 8:
            raise FrameError(E_INDICES)
        status = _k.bitmap_decode(section, array("I", [len(section), n, k]), out)
    else:
        status = _k.rice_decode(section, array("I", [len(section), n, k, f.index_param]), out)
    if status != 0:
        raise FrameError(E_INDICES)
    return out


def decode(frame: bytes, key: bytes | None = None) -> "Frame":
    """Decode untrusted frame bytes (full or compact header) into a :class:`Frame`.

    Parameters
    ----------
    frame : bytes, bytearray or memoryview
        One whole frame (reassemble chunks first, see :mod:`twin_chunk`).
    key : bytes or None
        The sender's HMAC key; when given, a valid tag is required.

    Raises
    ------
    FrameError
        At the first failed check of PROTOCOL.md section 9, with C's reason.
    """
    f = parse(frame, key)
    if f.msg_type in DATA_TYPES:
        _decode_sections(frame, f, _check_data(f), True)
    return f


def _decode_sections(frame, f, index_bytes, dense_positions):
    """Checks 18-19 of a data frame whose header passed; fills f.indices (left
    empty for a DENSE frame unless ``dense_positions``) and f.values."""
    view = memoryview(frame)
    start = f.header_bytes
    isec = view[start:start + index_bytes]
    vsec = view[start + index_bytes:start + f.payload_len]
    f.indices = _decode_indices(f, isec, dense_positions)
    if not _values_valid(f.value_code, vsec, f.k):
        raise FrameError(E_VALUES)
    f.values = dequantize(f.value_code, vsec, f.k, f.scale)


def decode_into(frame: bytes, dense: array, weight: float = 1.0,
                key: bytes | None = None) -> "Frame":
    """Add ``weight * value`` into ``dense[index]`` for every value of a data frame.

    ``dense`` is an ``array('f')`` of length n; arithmetic is float32 as in
    ``sgc_frame_decode_into`` (each product and sum rounded once). Nothing is
    written unless the whole frame is valid. A dense frame's positions are not
    materialised (a model update needs no index array). Returns the decoded
    :class:`Frame`.
    """
    w = _f32(weight)
    if w != w or w in (float("inf"), float("-inf")):
        raise ArgumentError(E_NONFINITE, "weight")
    f = parse(frame, key)
    if f.msg_type not in DATA_TYPES:
        raise ArgumentError(E_MSG_TYPE, "decode_into needs a data frame")
    index_bytes = _check_data(f)
    if len(dense) != f.n:
        raise ArgumentError(E_N, "len(dense) != n")
    _decode_sections(frame, f, index_bytes, False)
    vals = f.values
    if f.index_code == IDX_DENSE:
        for i in range(f.k):
            dense[i] = dense[i] + _f32(w * vals[i])
        return f
    idx = f.indices
    for i in range(f.k):
        j = idx[i]
        dense[j] = dense[j] + _f32(w * vals[i])
    return f
