"""MicroPython: time and memory of the frame twin on a k=100 of n=5000 update.

Prints one line per check, then one JSON line: microseconds per encode and per
decode for each value coding (median of --repeat runs), frame bytes, heap bytes
one call allocates (garbage included, collector paused), the heap size and the
bytes still allocated after the imports. Give it the folder of the twin's
modules (sources, or .mpy files from mpy-cross as a board would hold them)
and a small heap to show what a board needs, e.g.:

    micropython -X heapsize=64K tests/micropython/bench_twin.py MPY_DIR --repeat 20

--alloc adds the bytes one call allocates (it pauses the collector, so give
it a large heap).

bench/twin.py runs it that way and finds the smallest heap.
"""
import gc
import json
import sys
import time
from array import array

sys.path.insert(0, sys.argv[0].rsplit("/", 1)[0] if "/" in sys.argv[0] else ".")
from mp_check import check, finish, use_agent  # noqa: E402

use_agent(sys.argv[1])
import frame_twin as ft  # noqa: E402

gc.collect()
ALLOC_AFTER_IMPORT = gc.mem_alloc()
N = 5000
K = 100
REPEAT = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 20
ALLOC = "--alloc" in sys.argv  # pauses the collector: needs a heap with room for the garbage


def update(n, k, seed):
    """k distinct ascending positions of n and Laplace-ish values, from an LCG (deterministic)."""
    state = seed
    taken = bytearray(n)
    picked = 0
    while picked < k:
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        j = state % n
        if not taken[j]:
            taken[j] = 1
            picked += 1
    idx = array("I", [j for j in range(n) if taken[j]])
    vals = array("f", [0.0] * k)
    for i in range(k):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        u = (state % 20001 - 10000) / 10000.0
        vals[i] = u * u * u * 0.01
    return idx, vals


def allocated(func):
    """Bytes of heap one call allocates (garbage included), with the collector paused."""
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    func()
    used = gc.mem_alloc() - before
    gc.enable()
    return used


def median_us(func, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.ticks_us()
        func()
        times.append(time.ticks_diff(time.ticks_us(), t0))
    times.sort()
    return times[len(times) // 2]


idx, vals = update(N, K, 7)
result = {"n": N, "k": K, "repeat": REPEAT, "encode_us": {}, "decode_us": {}, "frame_bytes": {},
          "encode_alloc_bytes": {}, "decode_alloc_bytes": {}}
for coding in ft.VALUE_CODINGS:
    frame = ft.encode_sparse(N, idx, vals, coding, device_id=7, round=3, seq=41)
    f = ft.decode(frame)
    check(coding + " round trip keeps the indices", bytes(f.indices) == bytes(idx))
    result["frame_bytes"][coding] = len(frame)
    result["encode_us"][coding] = median_us(
        lambda: ft.encode_sparse(N, idx, vals, coding, device_id=7, round=3, seq=41), REPEAT)
    result["decode_us"][coding] = median_us(lambda: ft.decode(frame), REPEAT)
    if ALLOC:
        result["encode_alloc_bytes"][coding] = allocated(
            lambda: ft.encode_sparse(N, idx, vals, coding, device_id=7, round=3, seq=41))
        result["decode_alloc_bytes"][coding] = allocated(lambda: ft.decode(frame))
check("fp32 round trip keeps the values",
      bytes(ft.decode(ft.encode_sparse(N, idx, vals)).values) == bytes(vals))
key = bytes(range(32))
tagged = ft.encode_sparse(N, idx, vals, "int8", key=key)
result["decode_hmac_int8_us"] = median_us(lambda: ft.decode(tagged, key), REPEAT)
gc.collect()
result["heap_bytes"] = gc.mem_alloc() + gc.mem_free()
result["alloc_after_import"] = ALLOC_AFTER_IMPORT
print(json.dumps(result))
finish()
