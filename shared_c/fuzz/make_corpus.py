"""Seed corpus for fuzz_frame: the shared frame vectors and their chunks.

Run with ``make -C shared_c/fuzz corpus``; writes shared_c/fuzz/corpus/.
"""
from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
VECTORS = HERE.parents[1] / "tests" / "vectors"


def main() -> None:
    out = HERE / "corpus"
    out.mkdir(exist_ok=True)
    for bin_path in sorted(VECTORS.glob("frame_*.bin")):
        (out / bin_path.stem).write_bytes(bin_path.read_bytes())
        meta = json.loads(bin_path.with_suffix(".json").read_text())
        for i, chunk in enumerate(meta.get("chunks", [])):
            (out / f"{bin_path.stem}_chunk{i}").write_bytes(bytes.fromhex(chunk))
    print(f"corpus: {len(list(out.iterdir()))} files in {out}")


if __name__ == "__main__":
    main()
