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

from sparrow.host.lab.scripts import load_script

# firmware/tools is a folder of scripts that import each other by bare name: load them in order.
for _tool in ("qemu", "generated", "sizes", "insns"):
    load_script(f"firmware/tools/{_tool}.py")
insns = sys.modules["insns"]
sizes = sys.modules["sizes"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", action="store_true", help="only the size report")
    args = parser.parse_args(argv)
    sizes.main([])
    if not args.sizes:
        insns.main([])


if __name__ == "__main__":
    main()
