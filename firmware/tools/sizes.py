"""Measure the firmware's flash, RAM and stack on every board; print JSON lines.

For each board: ``size -A`` of the node firmware (``app/node.c``: core +
training + link), split into code flash (.text + .data image), the data
shard (.shard, flash), static RAM (.data + .bss), the stack region, and the
peak stack measured at run time by stack painting: the node runs one full
round under QEMU (HELLO, model download, training step, compressed update)
and then reports its peak in a second HELLO. Also the largest single stack
frame from ``-fstack-usage``.

Usage::

    .venv/bin/python firmware/tools/sizes.py            # every board
    .venv/bin/python firmware/tools/sizes.py --board mps2-an386
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess

import serial

import generated
import qemu
import sgc
from sparrow.agent.gateway import parse_board_hello
from sparrow.agent.gateway_link import SerialLink, model_frames

CROSS = {"mps2-an386": "arm-none-eabi-", "netduinoplus2": "arm-none-eabi-",
         "riscv32-virt": "riscv64-unknown-elf-"}


def sections(board: str, app: str) -> dict[str, int]:
    """Section sizes of a built image, bytes."""
    out = subprocess.run([CROSS[board] + "size", "-A", str(qemu.elf_path(board, app))],
                         capture_output=True, text=True, check=True).stdout
    sizes: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


def largest_frame(board: str) -> tuple[str, int]:
    """Largest function stack frame reported by -fstack-usage among the objects
    the node firmware can link (other programs' mains left out)."""
    best = ("", 0)
    obj = qemu.FIRMWARE / "build" / board / "obj"
    for su in obj.rglob("*.su"):
        if su.parent == obj / "app" and su.stem != "node":
            continue
        for line in su.read_text().splitlines():
            m = re.match(r"(.+?)\s+(\d+)\s+(\S+)$", line)
            if m and int(m.group(2)) > best[1]:
                best = (m.group(1).split(":")[-1], int(m.group(2)))
    return best


def run_stack_peak(board: str, timeout: float = 60.0) -> int:
    """Peak stack bytes of the node after one full round, by stack painting."""
    with qemu.BoardProcess(board, "node") as process:
        port = serial.serial_for_url(process.url, timeout=0.02)
        link = SerialLink(port)
        link.expect(sgc.MSG_HELLO, timeout)
        seqs = itertools.count(1)
        for frame in model_frames(generated.load(board).params, round=1,
                                  next_seq=lambda: next(seqs)):
            link.send(frame)
        link.expect(sgc.MSG_SPARSE_UPDATE, timeout)
        link.send(sgc.encode_control(sgc.MSG_RESYNC, seq=next(seqs)))
        hello = parse_board_hello(link.expect(sgc.MSG_HELLO, timeout).payload)
        port.close()
    return hello.stack


def measure(board: str) -> dict[str, object]:
    """One JSON-able record of a board's node firmware."""
    s = sections(board, "node")
    frame_fn, frame_bytes = largest_frame(board)
    data = s.get(".data", 0) + s.get(".tdata", 0)
    bss = s.get(".bss", 0) + s.get(".tbss", 0)
    return {
        "board": board, "app": "node",
        "text": s.get(".text", 0), "data": data, "bss": bss,
        "shard_flash": s.get(".shard", 0),
        "flash_without_shard": s.get(".text", 0) + data,
        "stack_region": s.get(".stack", 0),
        "ram_total": data + bss + s.get(".stack", 0),
        "stack_peak_painted": run_stack_peak(board),
        "largest_frame_fn": frame_fn, "largest_frame_bytes": frame_bytes,
    }


def main(argv: list[str] | None = None) -> None:
    for board in qemu.built_boards(__doc__.split("\n")[0], argv):
        print(json.dumps(measure(board)), flush=True)


if __name__ == "__main__":
    main()
