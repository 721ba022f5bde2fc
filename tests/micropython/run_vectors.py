"""MicroPython: every shared vector decodes, re-encodes byte for byte, chunks
and reassembles, and every truncation and single-bit flip is rejected.

Usage: micropython tests/micropython/run_vectors.py AGENT_DIR VECTORS_DIR
"""
import json
import os
import sys
from array import array

sys.path.insert(0, sys.argv[0].rsplit("/", 1)[0] if "/" in sys.argv[0] else ".")
from mp_check import check, finish, raises_status, use_agent  # noqa: E402

use_agent(sys.argv[1])
import frame_twin as ft  # noqa: E402
import twin_chunk as tc  # noqa: E402

VECTORS = sys.argv[2]
FLIP_LIMIT = 400  # frames longer than this get every flip in the first and last 200 bytes


def load(name):
    with open(VECTORS + "/frame_" + name + ".bin", "rb") as fh:
        frame = fh.read()
    with open(VECTORS + "/frame_" + name + ".json") as fh:
        meta = json.load(fh)
    return frame, meta


def reencode(f, key):
    kw = dict(key=key, flags=f.flags & ft.FLAGS_APP, device_id=f.device_id, round=f.round,
              seq=f.seq, segment_id=f.segment_id, segment_count=f.segment_count,
              compact=f.compact)
    if f.is_control:
        return ft.encode_control(f.msg_type, f.payload, **kw)
    if f.index_coding == "stratified":
        return ft.encode_random_k(f.n, f.seed, f.values, f.value_coding, msg_type=f.msg_type, **kw)
    if f.index_coding == "dense":
        return ft.encode_dense(f.values, f.value_coding, msg_type=f.msg_type, **kw)
    return ft.encode_sparse(f.n, f.indices, f.values, f.value_coding, msg_type=f.msg_type, **kw)


def flip_positions(length):
    if length <= FLIP_LIMIT:
        return range(length)
    return list(range(200)) + list(range(length - 200, length))


def status_of(frame, key):
    try:
        ft.decode(frame, key)
    except ft.FrameError as exc:
        return exc.status
    return 0


def compact_min_len(head, coding):
    """Bytes a compact frame with this head and coding byte needs (PROTOCOL.md 13)."""
    code = (head >> 1) & 7
    header = 11 + ((8 if coding & 3 >= 2 else 4) if 1 <= code <= 3 else 0)
    return header + (32 if head & 1 else 0) + 4


def predicted_flip(frame, pos, bit):
    """The status a single-bit flip must get (sections 9 and 13)."""
    if pos < 2:
        return ft.E_MAGIC
    if pos == 2:
        return ft.E_VERSION
    if frame[2] != ft.COMPACT_VERSION:
        return None  # full header: any framing status (the C suite predicts each)
    head = frame[3] ^ (1 << bit) if pos == 3 else frame[3]
    coding = frame[4] ^ (1 << bit) if pos == 4 else frame[4]
    return ft.E_TRUNCATED if len(frame) < compact_min_len(head, coding) else ft.E_CRC


def check_vector(name):
    frame, meta = load(name)
    key = bytes.fromhex(meta["key"]) if "key" in meta else None
    f = ft.decode(frame, key)
    for field in ("msg_type", "flags", "device_id", "round", "seq", "segment_id",
                  "segment_count", "n", "k", "index_param", "payload_len", "index_coding",
                  "value_coding", "header_bytes"):
        check(name + " decodes " + field, getattr(f, field) == meta[field],
              "%r != %r" % (getattr(f, field), meta[field]))
    check(name + " decodes scale", f.scale == meta["scale"])
    check(name + " decodes indices", list(f.indices) == meta["indices"])
    check(name + " decodes values", list(f.values) == meta["values"])
    check(name + " decodes payload", f.payload == bytes.fromhex(meta.get("payload", "")))
    check(name + " authenticates with its key", f.authenticated == (key is not None))
    check(name + " re-encodes byte for byte", reencode(f, key) == frame)
    if not f.is_control:
        dense = array("f", bytearray(4 * f.n))
        ft.decode_into(frame, dense, 1.0, key)
        expect = array("f", bytearray(4 * f.n))
        for i in range(f.k):
            expect[f.indices[i]] = f.values[i]
        check(name + " decode_into scatters the values", bytes(dense) == bytes(expect))
    if "chunks" in meta:
        chunks = tc.chunk(frame, meta["chunk_max_size"])
        check(name + " chunks byte for byte", [c.hex() for c in chunks] == meta["chunks"])
        r = tc.Reassembler(4 * len(frame), 2, 1.0)
        got = None
        for c in reversed(chunks + chunks[:1]):
            got = r.feed(c, 0.0) or got
        check(name + " reassembles out of order with a duplicate", got == frame)
    # a compact frame has no payload_len: cut past its header, tag and crc it meets the CRC
    least = len(frame) + 1
    if f.compact:
        least = f.header_bytes + ft.CRC_BYTES + (ft.TAG_BYTES if f.flags & ft.FLAG_HMAC else 0)
    bad = [n for n in range(len(frame))
           if status_of(frame[:n], key) != (ft.E_TRUNCATED if n < least else ft.E_CRC)]
    check(name + " rejects every truncation (TRUNCATED, or CRC when compact)", not bad, bad[:5])
    framing = (ft.E_MAGIC, ft.E_VERSION, ft.E_FLAGS, ft.E_TRUNCATED, ft.E_TRAILING, ft.E_CRC)
    missed = []
    buf = bytearray(frame)
    for pos in flip_positions(len(frame)):
        for bit in range(8):
            buf[pos] ^= 1 << bit
            got = status_of(buf, key)
            want = predicted_flip(frame, pos, bit)
            if got not in framing or (want is not None and got != want):
                missed.append((pos, bit))
            buf[pos] ^= 1 << bit
    check(name + " rejects every single-bit flip at checks 2-7", not missed, missed[:5])
    if key is not None:
        raises_status(name + " rejects a wrong key", lambda: ft.decode(frame, b"wrong"), ft.E_AUTH)


# RFC 4231 test cases 1 and 6 (a key shorter than a block, and one longer)
check("hmac_sha256 matches RFC 4231 case 1",
      ft.hmac_sha256(b"\x0b" * 20, b"Hi There").hex()
      == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
check("hmac_sha256 matches RFC 4231 case 6",
      ft.hmac_sha256(b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First").hex()
      == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
check("crc32c has the standard check value", ft.crc32c(b"123456789") == 0xE3069283)

def check_reassembler_drops():
    frame, meta = load("chunked_fp32")
    chunks = tc.chunk(frame, meta["chunk_max_size"])
    r = tc.Reassembler(2 * (len(frame) + 8), 2, 1.0)
    r.feed(chunks[0], 0.0)
    r.feed(chunks[1], 1.5)  # the first frame timed out; this one starts again
    drops = r.drain_dropped()
    check("reassembler drops a frame past its timeout",
          len(drops) == 1 and drops[0].reason == "timeout" and drops[0].received == 1)
    other = bytearray(frame)
    other[-1] ^= 1  # another frame id
    third = bytearray(frame)
    third[-2] ^= 1
    r.feed(tc.chunk(bytes(other), 256)[0], 1.6)
    r.feed(tc.chunk(bytes(third), 256)[0], 1.7)  # both slots busy: evicts the oldest
    drops = r.drain_dropped()
    check("reassembler evicts the oldest incomplete frame",
          len(drops) == 1 and drops[0].reason == "evicted" and r.dropped == 2)
    bad = [c[:4] + bytes([c[4] ^ 0xFF]) + c[5:] for c in chunks]  # frame_id disagrees
    r2 = tc.Reassembler(len(frame) + 8, 1, 1.0)
    for c in bad[:-1]:
        r2.feed(c, 0.0)
    raises_status("reassembler drops a frame whose id is not its CRC",
                  lambda: r2.feed(bad[-1], 0.0), ft.E_CHUNK)
    check("the mismatch is reported", r2.drain_dropped()[0].reason == "mismatch")
    raises_status("reassembler rejects a frame larger than a slot",
                  lambda: tc.Reassembler(512, 1, 1.0).feed(chunks[0], 0.0), ft.E_CAPACITY)


check_reassembler_drops()
names = sorted(fn[6:-5] for fn in os.listdir(VECTORS)
               if fn.startswith("frame_") and fn.endswith(".json"))
check("vectors found", len(names) > 0, VECTORS)
for vector in names:
    check_vector(vector)
finish()
