"""MicroPython: every shared vector decodes, re-encodes byte for byte, chunks
and reassembles, and every truncation and single-bit flip is rejected.

Usage: micropython tests/micropython/run_vectors.py AGENT_DIR VECTORS_DIR
"""
import json
import os
import sys

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
              seq=f.seq, segment_id=f.segment_id, segment_count=f.segment_count)
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


def check_vector(name):
    frame, meta = load(name)
    key = bytes.fromhex(meta["key"]) if "key" in meta else None
    f = ft.decode(frame, key)
    for field in ("msg_type", "flags", "device_id", "round", "seq", "segment_id",
                  "segment_count", "n", "k", "index_param", "payload_len", "index_coding",
                  "value_coding"):
        check(name + " decodes " + field, getattr(f, field) == meta[field],
              "%r != %r" % (getattr(f, field), meta[field]))
    check(name + " decodes scale", f.scale == meta["scale"])
    check(name + " decodes indices", list(f.indices) == meta["indices"])
    check(name + " decodes values", list(f.values) == meta["values"])
    check(name + " decodes payload", f.payload == bytes.fromhex(meta.get("payload", "")))
    check(name + " authenticates with its key", f.authenticated == (key is not None))
    check(name + " re-encodes byte for byte", reencode(f, key) == frame)
    if "chunks" in meta:
        chunks = tc.chunk(frame, meta["chunk_max_size"])
        check(name + " chunks byte for byte", [c.hex() for c in chunks] == meta["chunks"])
        r = tc.Reassembler(4 * len(frame), 2, 1.0)
        got = None
        for c in reversed(chunks + chunks[:1]):
            got = r.feed(c, 0.0) or got
        check(name + " reassembles out of order with a duplicate", got == frame)
    bad = [n for n in range(len(frame)) if status_of(frame[:n], key) != ft.E_TRUNCATED]
    check(name + " rejects every truncation as TRUNCATED", not bad, bad[:5])
    framing = (ft.E_MAGIC, ft.E_VERSION, ft.E_FLAGS, ft.E_TRUNCATED, ft.E_TRAILING, ft.E_CRC)
    missed = []
    buf = bytearray(frame)
    for pos in flip_positions(len(frame)):
        for bit in range(8):
            buf[pos] ^= 1 << bit
            if status_of(buf, key) not in framing:
                missed.append((pos, bit))
            buf[pos] ^= 1 << bit
    check(name + " rejects every single-bit flip at checks 2-7", not missed, missed[:5])
    if key is not None:
        raises_status(name + " rejects a wrong key", lambda: ft.decode(frame, b"wrong"), ft.E_AUTH)


names = sorted(fn[6:-5] for fn in os.listdir(VECTORS)
               if fn.startswith("frame_") and fn.endswith(".json"))
check("vectors found", len(names) > 0, VECTORS)
for vector in names:
    check_vector(vector)
finish()
