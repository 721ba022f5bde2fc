"""Starting and stopping ``sparrow agent`` processes for demos, benches and tests.

The host never imports the node package: agents run as their own processes
through the ``sparrow`` command (``python -m sparrow.common.cli agent ...``).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

from sparrow.common.config import BrokerConfig

__all__ = ["start_agent", "start_agents", "stop_processes"]


def start_agent(broker: BrokerConfig, device: int, args: list[str], log_dir: str) -> subprocess.Popen[bytes]:
    """Start one ``sparrow agent`` with device id ``device`` and the flags ``args``.

    Its output goes to ``<log_dir>/agent-<device>.log``.
    """
    command = [
        sys.executable, "-m", "sparrow.common.cli", "agent",
        "--broker-host", broker.host, "--broker-port", str(broker.port), "--broker-job", broker.job,
        "--device-id", str(device), *args,
    ]
    with open(os.path.join(log_dir, f"agent-{device}.log"), "wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def start_agents(broker: BrokerConfig, count: int, dataset: str, model: str, extra: list[str],
                 log_dir: str) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` agents (device ids 1..count) on IID shares of a bundled data set."""
    return [start_agent(broker, index + 1, ["--node-index", str(index), "--num-nodes", str(count),
                                            "--dataset", dataset, "--model", model, *extra], log_dir)
            for index in range(count)]


def stop_processes(processes: list[subprocess.Popen[bytes]], grace_s: float = 5.0) -> None:
    """Wait up to ``grace_s`` for each process to leave, then terminate, then kill."""
    deadline = time.monotonic() + grace_s
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
