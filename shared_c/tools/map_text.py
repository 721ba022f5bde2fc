"""Sum the .text bytes a linker map assigns to objects of one archive.

Usage: python3 map_text.py MAP ARCHIVE_NAME  (prints the byte count)
GNU ld lists each kept input section as ``.text.name ADDRESS SIZE FILE``
(or the name on a line of its own when it is long); discarded sections are
listed before "Memory Configuration" and are skipped.
"""
from __future__ import annotations

import re
import sys

ROW = re.compile(r"^\s*(\.text\S*)?\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+)$")


def main() -> None:
    text = open(sys.argv[1]).read()
    kept = text.split("Linker script and memory map", 1)[-1]
    total, pending = 0, False
    for line in kept.splitlines():
        if re.match(r"^\s*\.text\S*\s*$", line):
            pending = True
            continue
        m = ROW.match(line)
        if m and (m.group(1) or pending) and sys.argv[2] + "(" in m.group(3):
            total += int(m.group(2), 16)
        pending = False
    print(total)


if __name__ == "__main__":
    main()
