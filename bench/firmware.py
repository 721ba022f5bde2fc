"""Flash, RAM and stack of every board's node image, and guest instructions
per training step and per gradient element (QEMU TCG plugin).

One JSON line per board and measurement, the figures of docs/results.md
("Firmware"). The measuring code lives beside the firmware it measures
(firmware/tools/sizes.py, firmware/tools/insns.py); this entry point runs both::

    .venv/bin/python -m bench.firmware             # sizes, then instruction counts
    .venv/bin/python -m bench.firmware --sizes     # sizes only (seconds)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "firmware" / "tools"))

import insns  # noqa: E402  (firmware/tools is not a package)
import sizes  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", action="store_true", help="only the size report")
    args = parser.parse_args(argv)
    sizes.main([])
    if not args.sizes:
        insns.main([])


if __name__ == "__main__":
    main()
