"""Every board's firmware builds with -Werror, links no heap, passes its
on-target unit tests under QEMU, and the Cortex-M4F node fits its budget."""

from __future__ import annotations

import subprocess

import pytest


import qemu  # noqa: E402
import sizes  # noqa: E402

HEAP_SYMBOLS = {"malloc", "calloc", "realloc", "free", "_sbrk", "sbrk", "_malloc_r"}
FLASH_BUDGET = 64 * 1024  # core + training + link, data shard excluded
RAM_BUDGET = 48 * 1024    # .data + .bss + stack region


@pytest.fixture(scope="module", autouse=True)
def built() -> None:
    qemu.build()


@pytest.mark.parametrize("board", qemu.BOARDS)
@pytest.mark.parametrize("app", ["unit_tests", "grad", "node"])
def test_firmware_links_no_heap_function(board: str, app: str) -> None:
    out = subprocess.run([sizes.CROSS[board] + "nm", str(qemu.elf_path(board, app))],
                         capture_output=True, text=True, check=True).stdout
    defined = {line.split()[-1] for line in out.splitlines() if line.strip()}
    assert not defined & HEAP_SYMBOLS


@pytest.mark.parametrize("board", qemu.BOARDS)
def test_on_target_unit_tests_pass_under_qemu(board: str) -> None:
    run = qemu.run(board, "unit_tests", timeout=120)
    assert run.returncode == 0, "\n".join(line for line in run.lines if "FAIL" in line)
    assert run.lines[-1].endswith(" 0 failed")
    assert not any(line.startswith("FAIL") for line in run.lines)


def test_cortex_m4f_node_fits_64k_flash_and_48k_ram() -> None:
    s = sizes.sections("mps2-an386", "node")
    flash = s[".text"] + s.get(".data", 0) + s.get(".tdata", 0)
    ram = s.get(".data", 0) + s.get(".tdata", 0) + s[".bss"] + s.get(".tbss", 0) + s[".stack"]
    assert flash < FLASH_BUDGET
    assert ram < RAM_BUDGET


@pytest.mark.parametrize("board", qemu.BOARDS)
def test_node_stack_peak_after_a_full_round_stays_inside_its_region(board: str) -> None:
    peak = sizes.run_stack_peak(board)
    region = sizes.sections(board, "node")[".stack"]
    assert 0 < peak < region
