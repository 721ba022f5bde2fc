"""Bit-level kernels of the frame twin (docs/PROTOCOL.md sections 4, 5, 8).

Each loop here runs once per bit, byte or value, so on MicroPython it is
compiled by the viper emitter (machine integers and raw buffer pointers,
10-50x faster than bytecode). On CPython ``micropython`` does not exist: the
decorator is then a no-op and ``ptr8``/``ptr32``/``uint`` become plain
indexing and ``int``, so the very same source runs unchanged and gives the same
results (tests/test_frame_twin.py checks both interpreters against the same
vectors). Rules that keep the two in step:

- integers stay below 2**31 or are typed ``uint`` (viper words are 32 bits on a
  microcontroller), and ``ptr32`` is only used on ``array('I')`` buffers;
- at most four arguments per kernel (the viper limit of older firmware);
  extra scalars travel in a small ``array('I')`` of parameters;
- status is returned as an int (0 ok, -1 malformed); the caller raises.
"""
import sys

if sys.implementation.name == "micropython":
    import micropython
else:  # CPython: same source, plain interpretation (a PyPI "micropython" package is not it)

    class micropython:  # noqa: N801 - stands in for the MicroPython module
        """The two code emitters of MicroPython, as no-ops."""

        @staticmethod
        def viper(func):
            """Leave ``func`` as it is (no viper emitter on CPython)."""
            return func

        native = viper

    def ptr8(buf):
        """Index ``buf`` byte by byte (viper's ptr8 on CPython)."""
        return buf

    def ptr32(buf):
        """Index an ``array('I')`` word by word (viper's ptr32 on CPython)."""
        return buf

    uint = int


@micropython.viper
def crc32c_update(crc: uint, buf, n: int, table) -> uint:
    """Run the reflected CRC-32C register ``crc`` over ``buf[0:n]``.

    ``crc`` is the raw register (start with 0xFFFFFFFF, finish with a final
    XOR); ``table`` is the 256-entry ``array('I')`` of :func:`crc32c_table`.
    """
    p = ptr8(buf)
    t = ptr32(table)
    for i in range(n):
        crc = uint(t[(crc ^ uint(p[i])) & 0xFF]) ^ (crc >> 8)
    return crc


@micropython.viper
def rice_decode(sec, params, out) -> int:
    """Decode k Rice-coded gaps into ascending positions (PROTOCOL.md 4.1).

    ``params`` is ``array('I', [nbytes, n, k, b])``; positions go to ``out``
    (``array('I')`` of at least k). Returns 0, or -1 when the section is
    malformed: it ends early, a quotient exceeds ``(n - 1) >> b``, a position
    reaches n, or more than the zero padding of the last byte is left over.
    """
    p = ptr8(sec)
    prm = ptr32(params)
    o = ptr32(out)
    total = int(prm[0]) * 8
    n = int(prm[1])
    k = int(prm[2])
    b = int(prm[3])
    qmax = (n - 1) >> b
    pos = 0
    nxt = 0
    for i in range(k):
        q = 0
        while True:
            if pos >= total:
                return -1
            bit = (p[pos >> 3] >> (pos & 7)) & 1
            pos += 1
            if bit == 0:
                break
            q += 1
            if q > qmax:
                return -1
        if pos + b > total:
            return -1
        r = 0
        j = 0
        while j < b:
            r |= ((p[(pos + j) >> 3] >> ((pos + j) & 7)) & 1) << j
            j += 1
        pos += b
        gap = uint((q << b) | r)
        if gap >= uint(n - nxt):
            return -1
        o[i] = uint(nxt) + gap
        nxt = int(o[i]) + 1
    if total - pos >= 8:
        return -1
    while pos < total:
        if (p[pos >> 3] >> (pos & 7)) & 1:
            return -1
        pos += 1
    return 0


@micropython.viper
def rice_sums(indices, k: int, sums, last: int):
    """``sums[b] = sum(gap_i >> b)`` for b in 0..last over k ascending positions."""
    x = ptr32(indices)
    s = ptr32(sums)
    b = 0
    while b <= last:
        s[b] = 0
        b += 1
    prev = 0
    for i in range(k):
        gap = int(x[i]) - prev
        prev = int(x[i]) + 1
        b = 0
        while b <= last and (gap >> b) != 0:
            s[b] = uint(s[b]) + uint(gap >> b)
            b += 1


@micropython.viper
def rice_encode(indices, params, out):
    """Write the Rice code of k positions with parameter b into ``out``.

    ``params`` is ``array('I', [k, b])``; ``out`` is a zeroed bytearray of
    exactly the section's size (only one-bits are written).
    """
    x = ptr32(indices)
    prm = ptr32(params)
    o = ptr8(out)
    k = int(prm[0])
    b = int(prm[1])
    pos = 0
    prev = 0
    for i in range(k):
        gap = int(x[i]) - prev
        prev = int(x[i]) + 1
        q = gap >> b
        while q > 0:
            o[pos >> 3] = o[pos >> 3] | (1 << (pos & 7))
            pos += 1
            q -= 1
        pos += 1
        j = 0
        while j < b:
            if (gap >> j) & 1:
                o[(pos + j) >> 3] = o[(pos + j) >> 3] | (1 << ((pos + j) & 7))
            j += 1
        pos += b


@micropython.viper
def bitmap_decode(sec, params, out) -> int:
    """Positions of the set bits of an n-bit bitmap (PROTOCOL.md 4.2).

    ``params`` is ``array('I', [nbytes, n, k])``. Writes up to k positions to
    ``out``; returns 0 when exactly k bits are set and none at or past n,
    else -1.
    """
    p = ptr8(sec)
    prm = ptr32(params)
    o = ptr32(out)
    nbytes = int(prm[0])
    n = int(prm[1])
    k = int(prm[2])
    found = 0
    for byte in range(nbytes):
        v = p[byte]
        bit = 0
        while v != 0:
            if v & 1:
                pos = (byte << 3) + bit
                if pos >= n or found >= k:
                    return -1
                o[found] = pos
                found += 1
            v >>= 1
            bit += 1
    if found != k:
        return -1
    return 0


@micropython.viper
def first_nonfinite_f32(words, k: int) -> int:
    """Index of the first Inf/NaN among k float32 bit patterns (``array('I')``), or -1."""
    w = ptr32(words)
    for i in range(k):
        if (uint(w[i]) & uint(0x7F800000)) == uint(0x7F800000):
            return i
    return -1


@micropython.viper
def half_to_f32_bits(sec, k: int, out) -> int:
    """Widen k little-endian binary16 values of ``sec`` to float32 bit patterns.

    Exact (every binary16 value is a binary32 value). Returns the index of the
    first Inf/NaN half (exponent bits all ones), or -1 when all are finite.
    """
    p = ptr8(sec)
    o = ptr32(out)
    for i in range(k):
        h = p[2 * i] | (p[2 * i + 1] << 8)
        sign = uint(h & 0x8000) << 16
        e = (h >> 10) & 0x1F
        m = h & 0x3FF
        if e == 31:
            return i
        if e == 0:
            if m == 0:
                o[i] = sign
                continue
            e = 1
            while (m & 0x400) == 0:
                m <<= 1
                e -= 1
            m &= 0x3FF
        o[i] = sign | (uint(e + 112) << 23) | (uint(m) << 13)
    return -1


def crc32c_table():
    """The 256-entry table of the reflected polynomial 0x82F63B78 (``array('I')``)."""
    from array import array

    table = array("I", [0] * 256)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table[i] = c
    return table
