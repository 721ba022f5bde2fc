"""Worst-case stack depth of each public sgc_* entry point.

Reads the call graphs GCC writes with ``-fcallgraph-info=su`` (one ``.ci``
file per object: a node per function with its frame size, an edge per call)
and reports, for every ``sgc_`` function, the largest sum of frames along
any call path from it (internal functions are ``sgci_`` or static). Calls
through a pointer (the selector registry) are taken to reach any function
named ``sgci_run_*``, the only functions the core calls that way. Recursion
does not occur in the core; a cycle would be reported as an error.

Usage: python3 stack_peak.py DIR  (prints ``peak_bytes function`` lines and a
final ``max`` line)
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

NODE = re.compile(r'node: \{ title: "([^"]+)" label: "([^"]*)"')
EDGE = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')
FRAME = re.compile(r"(\d+) bytes \((static|dynamic|dynamic,bounded)\)")


def load(folder: Path) -> tuple[dict[str, int], dict[str, set[str]]]:
    frames: dict[str, int] = {}
    calls: dict[str, set[str]] = {}
    for ci in sorted(folder.glob("*.ci")):
        text = ci.read_text()
        for name, label in NODE.findall(text):
            m = FRAME.search(label.replace("\\n", "\n"))
            if m:
                frames[name] = max(frames.get(name, 0), int(m.group(1)))
        for src, dst in EDGE.findall(text):
            calls.setdefault(src, set()).add(dst)
    runners = {f for f in frames if f.startswith("sgci_run_")}
    for src, dsts in calls.items():
        if any(d.startswith("__indirect_call") for d in dsts):
            dsts |= runners
    return frames, calls


def peak(fn: str, frames: dict[str, int], calls: dict[str, set[str]],
         memo: dict[str, int], active: set[str]) -> int:
    if fn in memo:
        return memo[fn]
    if fn in active:
        raise SystemExit(f"recursion through {fn}")
    active.add(fn)
    deepest = max((peak(d, frames, calls, memo, active) for d in calls.get(fn, ())),
                  default=0)
    active.discard(fn)
    memo[fn] = frames.get(fn, 0) + deepest
    return memo[fn]


def main() -> None:
    frames, calls = load(Path(sys.argv[1]))
    memo: dict[str, int] = {}
    public = sorted(f for f in frames if f.startswith("sgc_"))
    best = 0
    for fn in public:
        p = peak(fn, frames, calls, memo, set())
        best = max(best, p)
        print(f"{p:6d} {fn}")
    print(f"{best:6d} max")


if __name__ == "__main__":
    main()
