"""Make the shared frame vectors from docs/PROTOCOL.md alone.

This is an independent reference encoder in plain Python (struct, hmac,
hashlib): it does not use ``sgc``, so the C codec, the ``sgc`` wrapper and the
MicroPython twin are all checked against the spec rather than against
themselves. Values are chosen so every quantiser writes them exactly (fp16
representable, int8 codes times a power-of-two scale, signs of one magnitude).

Writes, next to this file:
  frame_<name>.bin    the frame bytes
  frame_<name>.json   the fields and decoded content (and key, chunks)
  frame_vectors.h     the same, as C arrays, for shared_c/tests/test_frame*.c

Usage: python tests/vectors/frame_make.py            (re-make the vectors)
       python tests/vectors/frame_make.py --crc-table (print the CRC-32C table)
"""
from __future__ import annotations

import hashlib
import hmac
import json
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
POLY = 0x82F63B78
MSG = {"sparse_update": 1, "dense_model": 2, "sparse_model_delta": 3,
       "hello": 16, "round_open": 17, "ack": 18, "resync": 19}
IDX = {"none": 0, "dense": 1, "rice": 2, "bitmap": 3, "stratified": 4}
VAL = {"fp32": 0, "fp16": 1, "int8": 2, "sign": 3}
MASK64 = (1 << 64) - 1


def crc_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ POLY if c & 1 else c >> 1
        table.append(c)
    return table


TABLE = crc_table()


def crc32c(data: bytes) -> int:
    c = 0xFFFFFFFF
    for byte in data:
        c = TABLE[(c ^ byte) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


class BitWriter:
    """LSB-first bit stream (PROTOCOL.md section 1)."""

    def __init__(self) -> None:
        self.bits: list[int] = []

    def put(self, value: int, width: int) -> None:
        self.bits.extend((value >> j) & 1 for j in range(width))

    def tobytes(self) -> bytes:
        out = bytearray((len(self.bits) + 7) // 8)
        for j, bit in enumerate(self.bits):
            out[j // 8] |= bit << (j % 8)
        return bytes(out)


def gaps(indices: list[int]) -> list[int]:
    return [idx - (indices[i - 1] + 1 if i else 0) for i, idx in enumerate(indices)]


def rice_param(indices: list[int]) -> int:
    costs = [len(indices) * (b + 1) + sum(g >> b for g in gaps(indices)) for b in range(32)]
    return costs.index(min(costs))


def rice(indices: list[int], b: int) -> bytes:
    w = BitWriter()
    for g in gaps(indices):
        w.put((1 << (g >> b)) - 1, (g >> b) + 1)
        w.put(g & ((1 << b) - 1), b)
    return w.tobytes()


def bitmap(indices: list[int], n: int) -> bytes:
    out = bytearray((n + 7) // 8)
    for i in indices:
        out[i // 8] |= 1 << (i % 8)
    return bytes(out)


def splitmix64(state: int) -> tuple[int, int]:
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return state, z ^ (z >> 31)


def stratified(seed: int, n: int, k: int) -> list[int]:
    out, state = [], seed
    for i in range(k):
        lo, hi = i * n // k, (i + 1) * n // k
        state, r = splitmix64(state)
        out.append(lo + r % (hi - lo))
    return out


def f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def value_section(values: list[float], coding: str) -> tuple[bytes, float]:
    if coding == "fp32":
        return struct.pack(f"<{len(values)}f", *values), 1.0
    if coding == "fp16":
        return struct.pack(f"<{len(values)}e", *values), 1.0
    if coding == "int8":
        scale = f32(max(abs(v) for v in values) / 127)
        return bytes((round(v / scale)) & 0xFF for v in values), scale
    mags = {abs(v) for v in values}
    assert len(mags) == 1, "sign vectors use one magnitude"
    w = BitWriter()
    for v in values:
        w.put(1 if v < 0 else 0, 1)
    return w.tobytes(), mags.pop()


def header(msg: str, flags: int, icoding: str, vcoding: str, param: int, f: dict,
           n: int, k: int, scale: float, payload_len: int) -> bytes:
    return struct.pack("<2sBBBBBBIIIHHIIfI", b"SP", 1, MSG[msg], flags, IDX[icoding],
                       VAL[vcoding], param, f["device_id"], f["round"], f["seq"],
                       f["segment_id"], f["segment_count"], n, k, scale, payload_len)


def compact_code(msg: str) -> int:
    """The 3-bit message code of a compact header (PROTOCOL.md 13)."""
    t = MSG[msg]
    return t if t <= 3 else t - 12


def compact_header(msg: str, flags: int, icoding: str, vcoding: str, param: int, f: dict,
                   n: int, k: int, scale: float) -> bytes:
    """The compact header (PROTOCOL.md 13): no segments, no payload_len, scale when needed."""
    assert (f["segment_id"], f["segment_count"]) == (0, 1)
    head = (flags & 0xF1) | (compact_code(msg) << 1)
    if icoding == "none":
        return struct.pack("<2sBBBHHH", b"SP", 2, head, 0, f["device_id"], f["round"], f["seq"])
    coding = VAL[vcoding] | ((IDX[icoding] - 1) << 2) | (param << 4)
    out = struct.pack("<2sBBBHHHHH", b"SP", 2, head, coding, f["device_id"], f["round"], f["seq"],
                      n, k)
    if vcoding in ("int8", "sign"):
        out += struct.pack("<f", scale)
    return out


def seal(head_and_payload: bytes, key: bytes | None) -> bytes:
    body = head_and_payload
    if key is not None:
        body += hmac.new(key, head_and_payload, hashlib.sha256).digest()
    return body + struct.pack("<I", crc32c(body))


def data_frame(msg: str, n: int, indices: list[int] | None, values: list[float], vcoding: str,
               f: dict, key: bytes | None = None, seed: int | None = None,
               compact: bool = False) -> tuple[bytes, dict]:
    k = len(values)
    if seed is not None:
        icoding, param, isec = "stratified", 0, struct.pack("<Q", seed)
        indices = stratified(seed, n, k)
    elif k == n:
        icoding, param, isec = "dense", 0, b""
        indices = list(range(n))
    else:
        param = rice_param(indices) if k else 0
        r, bm = rice(indices, param), bitmap(indices, n)
        icoding, isec = ("bitmap", bm) if len(bm) <= len(r) else ("rice", r)
        param = 0 if icoding == "bitmap" else param
    vsec, scale = value_section(values, vcoding)
    flags = f.get("flags", 0) | (1 if key is not None else 0)
    payload = isec + vsec
    if compact:
        head = compact_header(msg, flags, icoding, vcoding, param, f, n, k, scale)
        flags |= 0x02  # how a decoder reports a compact header
    else:
        head = header(msg, flags, icoding, vcoding, param, f, n, k, scale, len(payload))
    frame = seal(head + payload, key)
    decoded = dict(msg_type=MSG[msg], flags=flags, index_coding=icoding, value_coding=vcoding,
                   index_param=param, n=n, k=k, scale=scale, payload_len=len(payload),
                   header_bytes=len(head), indices=indices, values=[f32(v) for v in values])
    decoded.update({key: value for key, value in f.items() if key != "flags"})
    return frame, decoded


def control_frame(msg: str, payload: bytes, f: dict, key: bytes | None = None,
                  compact: bool = False):
    flags = f.get("flags", 0) | (1 if key is not None else 0)
    if compact:
        head = compact_header(msg, flags, "none", "fp32", 0, f, 0, 0, 1.0)
        flags |= 0x02
    else:
        head = header(msg, flags, "none", "fp32", 0, f, 0, 0, 1.0, len(payload))
    frame = seal(head + payload, key)
    decoded = dict(msg_type=MSG[msg], flags=flags, index_coding="none", value_coding="fp32",
                   index_param=0, n=0, k=0, scale=1.0, payload_len=len(payload),
                   header_bytes=len(head), payload=payload.hex(), indices=[], values=[])
    decoded.update({key: value for key, value in f.items() if key != "flags"})
    return frame, decoded


def chunks(frame: bytes, max_size: int) -> list[bytes]:
    count = -(-len(frame) // (max_size - 16))
    body = -(-len(frame) // count)
    crc = frame[-4:]
    return [b"SC\x01\x00" + crc + struct.pack("<IHH", len(frame), i, count)
            + frame[i * body:(i + 1) * body] for i in range(count)]


def fields(device_id: int, rnd: int, seq: int, seg: int = 0, segs: int = 1, flags: int = 0) -> dict:
    return dict(device_id=device_id, round=rnd, seq=seq, segment_id=seg, segment_count=segs,
                flags=flags)


def vectors() -> list[tuple[str, bytes, dict]]:
    key = bytes(range(1, 33))
    out = []

    def add(name, made, **extra):
        frame, decoded = made
        decoded.update(extra)
        out.append((name, frame, decoded))

    idx = [3, 17, 18, 64, 200, 333, 517, 640, 901, 999]
    add("sparse_rice_fp32", data_frame(
        "sparse_update", 1000, idx, [0.5, -1.25, 3.0e-3, 7.0, -0.0078125, 1e-7, 2.5, -3.5, 100.0,
                                     -0.25], "fp32", fields(7, 3, 41)))
    bm_idx = [i for i in range(64) if i % 8 not in (2, 5, 6)][:40]
    bm_idx[-1] = 63
    add("sparse_bitmap_fp16", data_frame(
        "sparse_update", 64, bm_idx, [((-1) ** i) * (i + 1) / 64 for i in range(40)], "fp16",
        fields(12, 9, 2, 1, 3)))
    add("dense_model_int8", data_frame(
        "dense_model", 16, None, [q / 256 for q in (127, -127, 0, 1, -1, 64, -64, 100, -5, 3,
                                                     0, 17, -33, 99, -100, 42)], "int8",
        fields(0, 12, 1)))
    add("delta_sign", data_frame(
        "sparse_model_delta", 200, [0, 9, 10, 11, 50, 77, 78, 120, 150, 151, 198, 199],
        [0.125 * s for s in (1, -1, -1, 1, 1, 1, -1, 1, -1, -1, 1, -1)], "sign", fields(1, 5, 9)))
    add("random_k_fp32", data_frame(
        "sparse_update", 100, None, [1.5, -2.0, 0.25, 4.0, -8.0], "fp32", fields(3, 2, 17),
        seed=0x0123456789ABCDEF))
    add("sparse_hmac_fp32", data_frame(
        "sparse_update", 5000, [4, 1000, 4999], [1.0, -2.0, 3.0], "fp32",
        fields(77, 100, 65535, 2, 4, flags=0x50), key=key), key=key.hex())
    add("empty_update", data_frame("sparse_update", 10, [], [], "fp32", fields(5, 1, 0)))
    add("hello_hmac", control_frame("hello", b'{"node":"n7","n":1000}', fields(7, 0, 1), key=key),
        key=key.hex())
    add("ack", control_frame("ack", b"", fields(7, 3, 42)))
    big_idx = list(range(0, 3000, 7))
    big = data_frame("sparse_update", 3000, big_idx, [float(i % 13 - 6) for i in range(len(big_idx))],
                     "fp32", fields(9, 4, 8))
    add("chunked_fp32", big, chunks=[c.hex() for c in chunks(big[0], 256)], chunk_max_size=256)
    # compact headers (PROTOCOL.md 13), appended so the C tests' indices above stay put
    watch_idx = [41, 300, 611, 902, 1203, 1500, 1811, 2104, 2402, 2718, 3300]
    add("compact_watch_int8", data_frame(
        "sparse_update", 3319, watch_idx, [q / 256 for q in (127, -3, 64, -127, 1, 0, 99, -45, 12,
                                                             -1, 5)],
        "int8", fields(7, 3, 41), compact=True))
    add("compact_dense_fp16", data_frame(
        "dense_model", 8, None, [0.5, -1.0, 2.0, 0.0, -0.25, 65504.0, 3.0, -2.0**-14], "fp16",
        fields(300, 65535, 2), compact=True))
    add("compact_bitmap_sign", data_frame(
        "sparse_model_delta", 20, [0, 1, 2, 4, 5, 8, 9, 11, 12, 15, 16, 19],
        [0.5 * s for s in (1, -1, 1, 1, -1, -1, 1, -1, 1, 1, -1, -1)], "sign", fields(65535, 0, 7),
        compact=True))
    add("compact_random_k_fp32", data_frame(
        "sparse_update", 100, None, [1.5, -2.0, 0.25], "fp32", fields(3, 2, 17),
        seed=0xFEDCBA9876543210, compact=True))
    add("compact_hmac_fp32", data_frame(
        "sparse_update", 5000, [4, 1000, 4999], [1.0, -2.0, 3.0], "fp32",
        fields(77, 100, 65535, flags=0x50), key=key, compact=True), key=key.hex())
    add("compact_empty_update", data_frame("sparse_update", 10, [], [], "fp32", fields(5, 1, 0),
                                           compact=True))
    add("compact_ack", control_frame("ack", b"", fields(7, 3, 42, flags=0x20), compact=True))
    add("compact_hello_hmac", control_frame("hello", b'{"node":"n7"}', fields(7, 0, 1), key=key,
                                            compact=True), key=key.hex())
    return out


def c_array(name: str, data: bytes) -> str:
    rows = [", ".join(f"0x{b:02X}" for b in data[i:i + 12]) for i in range(0, len(data), 12)]
    return f"static const uint8_t {name}[{max(len(data), 1)}] = {{\n    " + \
        ",\n    ".join(rows or ["0"]) + "\n};\n"


def c_header(vecs: list[tuple[str, bytes, dict]]) -> str:
    parts = ["/* frame_vectors.h - generated by tests/vectors/frame_make.py; do not edit. */\n",
             "#ifndef FRAME_VECTORS_H\n#define FRAME_VECTORS_H\n\n#include <stddef.h>\n#include <stdint.h>\n\n",
             "typedef struct {\n    const char *name;\n    const uint8_t *frame;\n    uint32_t len;\n"
             "    uint8_t msg_type, flags, index_coding, value_coding, index_param;\n"
             "    uint32_t device_id, round, seq;\n    uint16_t segment_id, segment_count;\n"
             "    uint32_t n, k;\n    float scale;\n    uint32_t header_bytes;\n"
             "    const uint32_t *indices;\n"
             "    const float *values;\n    const uint8_t *key;\n    uint32_t key_len;\n"
             "    const uint8_t *payload;\n    uint32_t payload_len;\n} frame_vector;\n\n"]
    rows = []
    for name, frame, d in vecs:
        parts.append(c_array(f"fv_{name}_frame", frame))
        idx = ", ".join(f"{i}u" for i in d["indices"]) or "0u"
        vals = ", ".join(f"{float(v)!r}f".replace("inf", "INF") for v in d["values"]) or "0.0f"
        parts.append(f"static const uint32_t fv_{name}_indices[] = {{{idx}}};\n")
        parts.append(f"static const float fv_{name}_values[] = {{{vals}}};\n")
        key = bytes.fromhex(d["key"]) if "key" in d else b""
        payload = bytes.fromhex(d["payload"]) if "payload" in d else b""
        parts.append(c_array(f"fv_{name}_key", key))
        parts.append(c_array(f"fv_{name}_payload", payload))
        parts.append("\n")
        rows.append(
            f"    {{\"{name}\", fv_{name}_frame, {len(frame)}u, {d['msg_type']}u, {d['flags']}u, "
            f"{IDX[d['index_coding']]}u, {VAL[d['value_coding']]}u, {d['index_param']}u, "
            f"{d['device_id']}u, {d['round']}u, {d['seq']}u, {d['segment_id']}u, "
            f"{d['segment_count']}u, {d['n']}u, {d['k']}u, {float(d['scale'])!r}f, "
            f"{d['header_bytes']}u, "
            f"fv_{name}_indices, fv_{name}_values, {'fv_' + name + '_key' if key else 'NULL'}, "
            f"{len(key)}u, fv_{name}_payload, {len(payload)}u}},")
    parts.append("static const frame_vector frame_vectors[] = {\n" + "\n".join(rows) + "\n};\n\n")
    parts.append("#define FRAME_VECTOR_COUNT (sizeof frame_vectors / sizeof frame_vectors[0])\n\n")
    for name, _frame, d in vecs:
        if "chunks" not in d:
            continue
        chunk_names = []
        for i, chunk in enumerate(d["chunks"]):
            parts.append(c_array(f"fv_{name}_chunk{i}", bytes.fromhex(chunk)))
            chunk_names.append(f"fv_{name}_chunk{i}")
        lens = ", ".join(f"{len(c) // 2}u" for c in d["chunks"])
        parts.append(f"\n/* chunks of {name} at max_size {d['chunk_max_size']} */\n")
        parts.append(f"#define FV_CHUNKS_MAX_SIZE {d['chunk_max_size']}u\n")
        parts.append(f"#define FV_CHUNK_COUNT {len(chunk_names)}u\n")
        parts.append(f"static const uint8_t *const fv_chunks[] = {{{', '.join(chunk_names)}}};\n")
        parts.append(f"static const uint32_t fv_chunk_lens[] = {{{lens}}};\n\n")
    parts.append("#endif /* FRAME_VECTORS_H */\n")
    return "".join(parts)


def main(argv: list[str]) -> int:
    if "--crc-table" in argv:
        for r in range(0, 256, 6):
            print("    " + ", ".join(f"0x{x:08X}u" for x in TABLE[r:r + 6]) + ",")
        return 0
    vecs = vectors()
    for name, frame, decoded in vecs:
        (HERE / f"frame_{name}.bin").write_bytes(frame)
        text = json.dumps(dict(name=name, generated_by="tests/vectors/frame_make.py",
                               frame_len=len(frame), **decoded), indent=1)
        (HERE / f"frame_{name}.json").write_text(text + "\n")
    (HERE / "frame_vectors.h").write_text(c_header(vecs))
    print(f"wrote {len(vecs)} vectors to {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
