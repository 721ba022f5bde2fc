"""CPython driver: measure the frame twin on the MicroPython unix port.

Compiles agent/frame_twin.py, twin_kernels.py and twin_chunk.py (and the
benchmark itself) to .mpy with mpy-cross, as they would be copied to a board,
runs bench_twin.py on them with a 64 KB heap for the timings, once more with a
large heap for the bytes each call allocates, then bisects the smallest heap
(in KB) in which the whole benchmark still passes. Prints one JSON line (the
figures of docs/micropython.md).

Usage: .venv/bin/python -m bench.twin [--repeat 50]
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "tests" / "micropython"  # bench_twin.py and mp_check.py
MODULES = ("frame_twin", "twin_kernels", "twin_chunk")
SCRIPTS = ("bench_twin", "mp_check")
MARCH = {"x86_64": "x64", "AMD64": "x64", "i686": "x86", "armv7l": "armv7m"}


def tool(name: str) -> str:
    """Path of a command installed next to this interpreter, else on PATH."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} not found: pip install -r requirements.txt")
    return found


def compile_mpy(out_dir: Path) -> None:
    """Cross-compile the twin's modules into out_dir, native code for this machine."""
    march = MARCH.get(platform.machine())
    if march is None:
        raise SystemExit(f"no mpy-cross -march for {platform.machine()}")
    sources = [ROOT / "agent" / f"{m}.py" for m in MODULES] + [HERE / f"{m}.py" for m in SCRIPTS]
    for src in sources:
        subprocess.run([tool("mpy-cross"), f"-march={march}", "-o",
                        str(out_dir / f"{src.stem}.mpy"), str(src)], check=True)


def compile_without_viper(out_dir: Path) -> None:
    """Like compile_mpy, but twin_kernels as plain bytecode (its CPython fallback), to show
    what the viper emitter buys."""
    compile_mpy(out_dir)
    src = (ROOT / "agent" / "twin_kernels.py").read_text()
    plain = src.replace('if sys.implementation.name == "micropython":', "if False:")
    plain = plain.replace("@micropython.viper\n", "")
    if plain.count("if False:") != 1 or "@micropython.viper" in plain:
        raise SystemExit("twin_kernels.py changed shape: update compile_without_viper")
    (out_dir / "twin_kernels.py").write_text(plain)
    subprocess.run([tool("mpy-cross"), "-o", str(out_dir / "twin_kernels.mpy"),
                    str(out_dir / "twin_kernels.py")], check=True)


def bench(mpy_dir: Path, heap_kb: int, repeat: int, *extra: str) -> dict | None:
    """The benchmark's JSON result with that heap, or None when it fails."""
    proc = subprocess.run([tool("micropython"), "-X", f"heapsize={heap_kb}K", "-m", "bench_twin",
                           str(mpy_dir), "--repeat", str(repeat), *extra],
                          capture_output=True, text=True, timeout=300, cwd=mpy_dir)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return None
    return json.loads(lines[-1])


def smallest_heap_kb(mpy_dir: Path, low: int = 4, high: int = 64) -> int:
    """Smallest heap in KB (low..high) in which the benchmark passes."""
    while low < high:
        mid = (low + high) // 2
        if bench(mpy_dir, mid, 1) is None:
            low = mid + 1
        else:
            high = mid
    return low


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mpy_dir = Path(tmp)
        compile_mpy(mpy_dir)
        result = bench(mpy_dir, 64, args.repeat)
        if result is None:
            raise SystemExit("the benchmark failed with a 64 KB heap")
        allocs = bench(mpy_dir, 1024, 1, "--alloc")
        if allocs is None:
            raise SystemExit("the allocation run failed")
        result["encode_alloc_bytes"] = allocs["encode_alloc_bytes"]
        result["decode_alloc_bytes"] = allocs["decode_alloc_bytes"]
        result["smallest_heap_kb"] = smallest_heap_kb(mpy_dir)
        result["mpy_bytes"] = {m: (mpy_dir / f"{m}.mpy").stat().st_size for m in MODULES}
    with tempfile.TemporaryDirectory() as tmp:
        plain_dir = Path(tmp)
        compile_without_viper(plain_dir)
        plain = bench(plain_dir, 64, args.repeat)
        if plain is None:
            raise SystemExit("the benchmark without viper failed")
        result["without_viper"] = {"encode_us": plain["encode_us"], "decode_us": plain["decode_us"],
                                   "decode_hmac_int8_us": plain["decode_hmac_int8_us"]}
    result["micropython"] = subprocess.run(
        [tool("micropython"), "-c", "import sys; print(sys.version)"],
        capture_output=True, text=True).stdout.strip()
    result["machine"] = platform.machine()
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
