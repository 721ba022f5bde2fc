"""Count guest instructions of the firmware's hot paths on every board.

Runs ``app/bench.c`` under QEMU with the TCG plugin ``plugin/insn_count.c``
(built by ``make -C firmware plugin``), pairs each ``region`` console line
with the plugin's count for it, and prints one JSON line per board and
region: the mean over the repeats, and per unit (per training sample, per
gradient element).

Usage::

    .venv/bin/python firmware/tools/insns.py                # every board
    .venv/bin/python firmware/tools/insns.py --board mps2-an386
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

import qemu
import sizes

PLUGIN = qemu.FIRMWARE / "build" / "plugin" / "libinsn_count.so"


def build_plugin() -> None:
    subprocess.run(["make", "-s", "--no-print-directory", "-C", str(qemu.FIRMWARE), "plugin"], check=True)


def symbol(board: str, name: str) -> str:
    """Address of a symbol of the bench image, as 0x..."""
    out = subprocess.run([sizes.CROSS[board] + "nm", str(qemu.elf_path(board, "bench"))],
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return "0x" + parts[0]
    raise KeyError(f"{name} not in {board}'s bench image")


def count(board: str, timeout: float = 300) -> list[tuple[list[str], int]]:
    """(region fields, instructions) for every measured region, in order."""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "insns.log"
        plugin = f"{PLUGIN},begin={symbol(board, 'bench_begin')},end={symbol(board, 'bench_end')}"
        cmd = qemu.qemu_command(board, "bench")
        at = cmd.index("-serial")
        cmd[at:at] = ["-d", "plugin", "-D", str(log), "-plugin", plugin]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise RuntimeError(f"{board}: bench exited {proc.returncode}: {proc.stdout[-500:]}")
        regions = [line.split()[1:] for line in proc.stdout.splitlines()
                   if line.startswith("region ")]
        counts = [int(line.split()[2]) for line in log.read_text().splitlines()
                  if line.startswith("insns ")]
    if len(regions) != len(counts):
        raise RuntimeError(f"{board}: {len(regions)} regions but {len(counts)} counts")
    return list(zip(regions, counts))


def summarise(board: str) -> list[dict[str, object]]:
    """Mean instructions per region, and per sample or per gradient element."""
    groups: dict[str, list[tuple[dict[str, str], int]]] = defaultdict(list)
    for fields, insns in count(board):
        info = dict(zip(fields[1::2], fields[2::2]))
        groups[fields[0]].append((info, insns))
    out = []
    for name, runs in groups.items():
        mean = sum(i for _, i in runs) / len(runs)
        info = runs[0][0]
        record: dict[str, object] = {"board": board, "region": name, "repeats": len(runs),
                                     "insns_mean": round(mean)}
        if "batch" in info:
            record["insns_per_sample"] = round(mean / int(info["batch"]))
        if name.startswith("select"):
            record["insns_per_element"] = round(mean / int(info["n"]), 1)
            record["k"] = info["k"]
        out.append(record)
    return out


def main(argv: list[str] | None = None) -> None:
    boards = qemu.built_boards(__doc__.split("\n")[0], argv)
    build_plugin()
    for board in boards:
        for record in summarise(board):
            print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
