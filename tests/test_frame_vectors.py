"""The shared frame vectors (tests/vectors/frame_*) through the Python API.

The vectors come from tests/vectors/frame_make.py, an independent encoder
written from docs/PROTOCOL.md; here ``sgc`` must decode each one field by
field, re-encode it byte for byte, and reject every truncation and every
single-bit flip with a specific error.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sgc

VECTORS = Path(__file__).resolve().parent / "vectors"
NAMES = sorted(p.stem[len("frame_"):] for p in VECTORS.glob("frame_*.json"))
FIELDS = ("msg_type", "flags", "device_id", "round", "seq", "segment_id", "segment_count", "n",
          "k", "index_coding", "index_param", "value_coding", "payload_len", "header_bytes")
COMPACT_NAMES = [name for name in NAMES if name.startswith("compact_")]


def load(name: str) -> tuple[bytes, dict]:
    return (VECTORS / f"frame_{name}.bin").read_bytes(), \
        json.loads((VECTORS / f"frame_{name}.json").read_text())


def key_of(meta: dict) -> bytes | None:
    return bytes.fromhex(meta["key"]) if "key" in meta else None


def reencode(meta: dict) -> bytes:
    header = {f: meta[f] for f in ("device_id", "round", "seq", "segment_id", "segment_count")}
    header["flags"] = meta["flags"] & 0xF0
    header["compact"] = bool(meta["flags"] & 0x02)
    key = key_of(meta)
    if meta["index_coding"] == "none":
        return sgc.encode_control(meta["msg_type"], bytes.fromhex(meta["payload"]), key=key,
                                  **header)
    values = np.array(meta["values"], dtype=np.float32)
    if meta["index_coding"] == "stratified":
        frame, _ = load(meta["name"])
        start = meta["header_bytes"]
        seed = int.from_bytes(frame[start:start + 8], "little")
        return sgc.encode_random_k(meta["n"], seed, values, value_coding=meta["value_coding"],
                                   msg_type=meta["msg_type"], key=key, **header)
    if meta["msg_type"] == sgc.MSG_DENSE_MODEL:
        return sgc.encode_dense(values, value_coding=meta["value_coding"], key=key, **header)
    return sgc.encode_sparse(meta["n"], meta["indices"], values, value_coding=meta["value_coding"],
                             msg_type=meta["msg_type"], key=key, **header)


def test_vector_set_covers_every_message_kind_and_coding() -> None:
    metas = [load(name)[1] for name in NAMES]
    assert {m["index_coding"] for m in metas} >= {"none", "dense", "rice", "bitmap", "stratified"}
    assert {m["value_coding"] for m in metas} >= {"fp32", "fp16", "int8", "sign"}
    assert {m["msg_type"] for m in metas} >= {sgc.MSG_SPARSE_UPDATE, sgc.MSG_DENSE_MODEL,
                                              sgc.MSG_SPARSE_MODEL_DELTA, sgc.MSG_HELLO,
                                              sgc.MSG_ACK}


@pytest.mark.parametrize("name", NAMES)
def test_decode_reads_every_field_of_the_vector(name: str) -> None:
    frame, meta = load(name)
    got = sgc.decode(frame, key=key_of(meta))
    for field in FIELDS:
        assert getattr(got, field) == meta[field], field
    assert np.float32(got.scale) == np.float32(meta["scale"])
    assert got.indices.tolist() == meta["indices"]
    assert got.values.tobytes() == np.array(meta["values"], dtype=np.float32).tobytes()
    assert got.payload == bytes.fromhex(meta.get("payload", ""))
    assert got.authenticated == ("key" in meta)


@pytest.mark.parametrize("name", NAMES)
def test_encode_reproduces_the_vector_byte_for_byte(name: str) -> None:
    frame, meta = load(name)
    assert reencode(meta) == frame


def compact_min_len(head: int, coding: int) -> int:
    """Bytes a compact frame with this head and coding byte needs (PROTOCOL.md 13)."""
    code = (head >> 1) & 7
    header = 11 + ((4 + (4 if coding & 3 >= 2 else 0)) if 1 <= code <= 3 else 0)
    return header + (32 if head & 1 else 0) + 4


def expected_truncation_error(frame: bytes, cut: int) -> str:
    """A full frame cut short fails a length check; a compact one (no payload_len)
    fails its length check while header and tag do not fit, and the CRC beyond."""
    if frame[2] == 2 and cut >= compact_min_len(frame[3], frame[4]):
        return "CRC-32C mismatch"
    return "frame truncated"


@pytest.mark.parametrize("name", NAMES)
def test_every_truncation_is_rejected_as_predicted(name: str) -> None:
    frame, _ = load(name)
    for cut in range(len(frame)):
        with pytest.raises(sgc.FrameError, match=expected_truncation_error(frame, cut)):
            sgc.decode(frame[:cut])


def expected_flip_error(frame: bytes, byte: int, bit: int) -> str:
    """The check of PROTOCOL.md section 9 (13 for a compact header) that a flip of
    (byte, bit) must trip."""
    was_set = (frame[byte] >> bit) & 1
    if byte < 2:
        return "bad magic"
    if byte == 2:
        return "unsupported protocol version"
    if frame[2] == 2:  # compact: head and coding set the header length, the CRC the rest
        head, coding = frame[3], frame[4]
        if byte == 3:
            head ^= 1 << bit
        elif byte == 4:
            coding ^= 1 << bit
        return "frame truncated" if len(frame) < compact_min_len(head, coding) \
            else "CRC-32C mismatch"
    if byte == 4 and bit == 0:  # the tag flag changes the declared length
        return "trailing bytes" if was_set else "frame truncated"
    if byte == 4 and bit in (1, 2, 3):
        return "reserved flag bits"
    if 36 <= byte < 40:  # payload_len
        return "trailing bytes" if was_set else "frame truncated"
    return "CRC-32C mismatch"


@pytest.mark.parametrize("name", NAMES)
def test_every_single_bit_flip_is_rejected_and_the_crc_catches_the_rest(name: str) -> None:
    frame, _ = load(name)
    buf = bytearray(frame)
    for bit in range(len(frame) * 8):
        buf[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(sgc.FrameError) as err:
            sgc.decode(bytes(buf))
        assert expected_flip_error(frame, bit // 8, bit % 8) in str(err.value), (bit, str(err.value))
        buf[bit // 8] ^= 1 << (bit % 8)


def test_chunks_of_the_chunked_vector_match_byte_for_byte() -> None:
    frame, meta = load("chunked_fp32")
    assert sgc.chunk(frame, meta["chunk_max_size"]) == [bytes.fromhex(c) for c in meta["chunks"]]


def test_vector_files_are_what_the_generator_makes(tmp_path: Path) -> None:
    script = VECTORS / "frame_make.py"
    work = tmp_path / "vectors"
    work.mkdir()
    (work / "frame_make.py").write_bytes(script.read_bytes())
    subprocess.run([sys.executable, str(work / "frame_make.py")], check=True, capture_output=True)
    for made in work.glob("frame_*"):
        assert made.read_bytes() == (VECTORS / made.name).read_bytes(), made.name


@pytest.mark.parametrize("name", COMPACT_NAMES)
def test_compact_vectors_decode_the_same_as_their_full_twins(name: str) -> None:
    """Re-encoded with the full header, a compact vector carries the same content."""
    frame, meta = load(name)
    got = sgc.decode(frame, key=key_of(meta))
    assert got.compact and got.header_bytes == meta["header_bytes"] < 20
    full = sgc.decode(reencode({**meta, "flags": meta["flags"] & ~0x02}), key=key_of(meta))
    assert not full.compact and full.header_bytes == 40
    for field in FIELDS:
        if field not in ("flags", "header_bytes"):
            assert getattr(full, field) == getattr(got, field), field
    assert full.flags == got.flags & ~0x02
    assert full.indices.tolist() == got.indices.tolist()
    assert full.values.tobytes() == got.values.tobytes()
    assert full.payload == got.payload
