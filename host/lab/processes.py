"""Starting and stopping ``sparrow agent`` processes for demos, benches and tests.

The host never imports the node package: agents run as their own processes
through the ``sparrow`` command (``python -m sparrow.common.cli agent ...``).
An agent whose broker config carries an account (a fleet's broker,
host/fleet.py) gets it in a TOML file of mode 0600 (``--config``), not on
its command line, where every local user could read the password.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Callable

from sparrow.common.config import BrokerConfig

__all__ = ["start_agent", "start_agents", "stop_processes"]


def start_agent(broker: BrokerConfig, device: int, args: list[str], log_dir: str) -> subprocess.Popen[bytes]:
    """Start one ``sparrow agent`` with device id ``device`` and the flags ``args``.

    Its output goes to ``<log_dir>/agent-<device>.log``; its account, when
    ``broker`` has one, to ``<log_dir>/agent-<device>.toml``.
    """
    command = [
        sys.executable, "-m", "sparrow.common.cli", "agent",
        "--broker-host", broker.host, "--broker-port", str(broker.port), "--broker-job", broker.job,
        "--device-id", str(device), *args,
    ]
    if broker.username is not None:
        command += ["--config", _account_file(broker, os.path.join(log_dir, f"agent-{device}.toml"))]
    with open(os.path.join(log_dir, f"agent-{device}.log"), "wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _account_file(broker: BrokerConfig, path: str) -> str:
    """A ``[broker]`` TOML table with ``broker``'s user name and password, mode 0600; returns ``path``."""
    lines = ["[broker]", f"username = {json.dumps(broker.username)}"]
    if broker.password is not None:
        lines.append(f"password = {json.dumps(broker.password)}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def start_agents(broker: BrokerConfig, count: int, dataset: str, model: str, extra: list[str],
                 log_dir: str, broker_for: Callable[[int], BrokerConfig] | None = None,
                 extra_for: Callable[[int], list[str]] | None = None) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` agents (device ids 1..count) on IID shares of a bundled data set.

    ``broker_for(device)`` gives each agent its own broker config (its
    account on a fleet's broker, ``Fleet.broker_config``); None: ``broker``
    for all. ``extra_for(device)`` adds flags of that agent alone (its frame
    key files, ``Fleet.key_args``).
    """
    return [start_agent(broker_for(index + 1) if broker_for is not None else broker, index + 1,
                        ["--node-index", str(index), "--num-nodes", str(count),
                         "--dataset", dataset, "--model", model, *extra,
                         *(extra_for(index + 1) if extra_for is not None else [])], log_dir)
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
