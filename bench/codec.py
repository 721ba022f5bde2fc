"""Benchmark of the Sparrow frame codec (docs/PROTOCOL.md): size and speed.

Prints one JSON object per line:

  {"kind": "index", ...}   bits per index of the chosen index coding against
                           the information bound log2(C(n,k))/k, for k
                           uniformly random positions out of n.
  {"kind": "size", ...}    frame bytes per non-zero for each value coding,
                           against plain COO (int32 index + fp32 value, what
                           GRACE and DGC send) and zlib (level 9) over COO.
  {"kind": "speed", ...}   encode MB/s (of COO input, 8 bytes a non-zero) and
                           decode MB/s (of dense float32 output, via
                           sgc.decode_into), best of --repeat runs, one thread.

Usage:
  .venv/bin/python -m bench.codec                 full run (n = 1e4, 1e5, 1e6, 1e7)
  .venv/bin/python -m bench.codec --quick         n = 1e5 and 1e6 only
  .venv/bin/python -m bench.codec --table         also print the markdown table
"""
from __future__ import annotations

import argparse
import json
import math
import time
import zlib

import numpy as np

import sgc

DENSITIES = (1e-4, 1e-3, 1e-2, 5e-2, 1e-1)
CODINGS = ("fp32", "fp16", "int8", "sign")


def log2_binomial(n: int, k: int) -> float:
    """log2 C(n, k), exact enough through lgamma."""
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)) / math.log(2)


def sample(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """k random ascending positions out of n, with Laplace-like gradient values."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(n, k, replace=False)).astype(np.uint32)
    vals = rng.laplace(0.0, 1e-3, k).astype(np.float32)
    return idx, vals


def best_time(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def index_row(n: int, density: float, seed: int) -> dict:
    k = max(1, round(n * density))
    idx, vals = sample(n, k, seed)
    frame = sgc.encode_sparse(n, idx, vals, value_coding="sign")
    head = sgc.decode(frame)
    index_bytes = head.payload_len - (k + 7) // 8
    bits = 8 * index_bytes / k
    bound = log2_binomial(n, k) / k
    return dict(kind="index", n=n, density=density, k=k, coding=head.index_coding,
                rice_param=head.index_param, bits_per_index=round(bits, 4),
                bound_bits_per_index=round(bound, 4), ratio_to_bound=round(bits / bound, 4))


def size_rows(n: int, density: float, seed: int) -> list[dict]:
    k = max(1, round(n * density))
    idx, vals = sample(n, k, seed)
    coo = idx.astype("<i4").tobytes() + vals.astype("<f4").tobytes()
    zlib_bytes = len(zlib.compress(coo, 9))
    rows = []
    for coding in CODINGS:
        frame = sgc.encode_sparse(n, idx, vals, value_coding=coding)
        rows.append(dict(kind="size", n=n, density=density, k=k, value_coding=coding,
                         frame_bytes=len(frame), bytes_per_nnz=round(len(frame) / k, 4),
                         coo_bytes_per_nnz=8.0, zlib_coo_bytes_per_nnz=round(zlib_bytes / k, 4),
                         ratio_to_coo=round(len(frame) / len(coo), 4),
                         ratio_to_zlib_coo=round(len(frame) / zlib_bytes, 4)))
    return rows


def compact_row(n: int, k: int, coding: str, seed: int) -> dict:
    """Full against compact header for one small update, and each against a dense fp32 update (4n bytes)."""
    idx, vals = sample(n, k, seed)
    full = sgc.encode_sparse(n, idx, vals, value_coding=coding)
    compact = sgc.encode_sparse(n, idx, vals, value_coding=coding, compact=True)
    return dict(kind="compact", n=n, k=k, value_coding=coding, full_bytes=len(full),
                compact_bytes=len(compact), full_header_bytes=sgc.decode(full).header_bytes,
                compact_header_bytes=sgc.decode(compact).header_bytes,
                ratio_full=round(4 * n / len(full), 1), ratio_compact=round(4 * n / len(compact), 1))


def speed_row(n: int, density: float | None, coding: str, seed: int, repeat: int) -> dict:
    out = np.zeros(n, dtype=np.float32)
    if density is None:
        vals = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
        k = n
        frame = sgc.encode_dense(vals, value_coding=coding)
        encode = lambda: sgc.encode_dense(vals, value_coding=coding)  # noqa: E731
    else:
        k = max(1, round(n * density))
        idx, vals = sample(n, k, seed)
        frame = sgc.encode_sparse(n, idx, vals, value_coding=coding)
        encode = lambda: sgc.encode_sparse(n, idx, vals, value_coding=coding)  # noqa: E731
    t_enc = best_time(encode, repeat)
    t_dec = best_time(lambda: sgc.decode_into(frame, out, 1.0), repeat)
    return dict(kind="speed", n=n, density=density if density is not None else 1.0, k=k,
                value_coding=coding, frame_bytes=len(frame),
                encode_s=t_enc, encode_mb_s=round(8 * k / t_enc / 1e6, 1),
                decode_s=t_dec, decode_dense_mb_s=round(4 * n / t_dec / 1e6, 1),
                decode_nnz_per_s=round(k / t_dec, 1))


def table(rows: list[dict]) -> str:
    """Markdown tables of the rows (what docs/results.md shows)."""
    lines = ["| n | density | k | index coding | bits/index | bound | ratio |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["kind"] == "index":
            lines.append(f"| {r['n']:.0e} | {r['density']:.2%} | {r['k']} | {r['coding']} "
                         f"(b={r['rice_param']}) | {r['bits_per_index']:.3f} | "
                         f"{r['bound_bits_per_index']:.3f} | {r['ratio_to_bound']:.4f} |")
    lines += ["", "| n | density | values | bytes/nnz | vs COO (8 B) | vs zlib(COO) |",
              "|---|---|---|---|---|---|"]
    for r in rows:
        if r["kind"] == "size":
            lines.append(f"| {r['n']:.0e} | {r['density']:.2%} | {r['value_coding']} | "
                         f"{r['bytes_per_nnz']:.3f} | {r['ratio_to_coo']:.3f} | "
                         f"{r['ratio_to_zlib_coo']:.3f} |")
    lines += ["", "| n | density | values | encode MB/s (COO in) | decode MB/s (dense out) |",
              "|---|---|---|---|---|"]
    for r in rows:
        if r["kind"] == "speed":
            lines.append(f"| {r['n']:.0e} | {r['density']:.2%} | {r['value_coding']} | "
                         f"{r['encode_mb_s']:.0f} | {r['decode_dense_mb_s']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="n = 1e5 and 1e6 only")
    ap.add_argument("--repeat", type=int, default=5, help="timing repeats (best is kept)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--table", action="store_true", help="print markdown tables at the end")
    ap.add_argument("--compact", action="store_true",
                    help="only the full-vs-compact header rows for small models (watch CNN: n = 3319)")
    args = ap.parse_args()
    if args.compact:
        for n, k in ((3319, 11), (3319, 33), (3319, 166), (1000, 10), (20000, 67), (60000, 200)):
            for coding in ("fp32", "int8"):
                print(json.dumps(compact_row(n, k, coding, args.seed)), flush=True)
        return
    sizes = (100_000, 1_000_000) if args.quick else (10_000, 100_000, 1_000_000, 10_000_000)
    rows: list[dict] = []

    def emit(row: dict) -> None:
        rows.append(row)
        print(json.dumps(row), flush=True)

    for n in sizes:
        for d in DENSITIES:
            emit(index_row(n, d, args.seed))
    for d in DENSITIES:
        for row in size_rows(1_000_000, d, args.seed):
            emit(row)
    for d in (1e-3, 1e-2, 1e-1):
        for coding in ("fp32", "fp16", "int8"):
            emit(speed_row(1_000_000, d, coding, args.seed, args.repeat))
    for coding in ("fp32", "fp16"):
        emit(speed_row(1_000_000, None, coding, args.seed, args.repeat))
    if args.table:
        print(table(rows))


if __name__ == "__main__":
    main()
