"""End to end: a mixed fleet trains the watch 1D-CNN over a real mosquitto.

Host (PyTorch) + two emulated boards (QEMU mps2-an386 and riscv32-virt
running firmware/app/node.c, bridged by ``sparrow gateway`` over their
``socket://`` UARTs) + one CPython agent (``sparrow agent``) + one
MicroPython agent (agent/mp/ on the MicroPython unix port), one watch
subject per node (host/lab/fleet.py). The first board is reset in the
middle of the run.
"""
from __future__ import annotations

import pytest

from sparrow.host.lab.fleet import FleetConfig, run_fleet

from support.gateway import qemu

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

CONFIG = FleetConfig(boards=("mps2-an386", "riscv32-virt"), cpython_nodes=((1, 3),), micropython_nodes=((41, 4),),
                     rounds=16, reset_at_round=6)


def test_boards_cpython_and_micropython_nodes_train_the_watch_cnn_together(broker_config, tmp_path) -> None:
    qemu.build(CONFIG.boards)
    result = run_fleet(CONFIG, broker_config, tmp_path)
    summary = result.summary
    logs = "\n".join(p.read_text(errors="replace")[-1500:] for p in sorted(tmp_path.glob("*.log")))

    # Learning: clearly above chance and above where it started.
    assert summary.rounds == CONFIG.rounds
    assert summary.final_accuracy > max(result.start_accuracy, result.majority_accuracy) + 0.15, (result, logs)
    # Four distinct nodes, and every one's uploads reached the host and were accepted.
    assert len(result.kinds) == CONFIG.num_nodes, result.kinds
    assert sorted(result.kinds.values()) == ["board mps2-an386", "board riscv32-virt", "cpython", "micropython"]
    for device in result.kinds:
        assert result.uploads.get(device, 0) >= CONFIG.rounds - 2, (device, result.uploads, logs)
        verdicts = result.verdicts.get(device, {})
        assert verdicts.get("accepted", 0) + verdicts.get("late_applied", 0) >= CONFIG.rounds - 3, \
            (device, result.verdicts, logs)
    assert summary.rejected == 0, summary.reject_reasons
    # The reset board said HELLO again and went on answering: every round
    # after the one it was reset in has its update.
    reset = next(row for row in result.gateway if row["board"] == CONFIG.boards[0])
    assert reset["hellos"] >= 2 and reset["models_sent"] >= CONFIG.rounds, reset
    assert result.reset_device_uploads_after_reset is not None
    assert result.reset_device_uploads_after_reset >= CONFIG.rounds - CONFIG.reset_at_round, (result, logs)
