"""Start-up failures are one line and exit code 2: a missing config file, a broker that cannot be reached,
the host's device id given to a node."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

SPARROW = [sys.executable, "-m", "sparrow.common.cli"]


def run(args: list[str], cwd: Path, timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], float]:
    began = time.monotonic()
    done = subprocess.run([*SPARROW, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    return done, time.monotonic() - began


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip() and "WARNING" not in line]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("command", ["host", "agent", "gateway"])
def test_a_missing_config_file_is_named_in_one_line(tmp_path: Path, command: str) -> None:
    extra = ["--board", "loop://"] if command == "gateway" else []
    done, _ = run([command, "--config", "nothere.toml", *extra], tmp_path)
    assert "nothere.toml: no such config file" in one_line(done)


@pytest.mark.parametrize("command", ["host", "agent"])
def test_an_unreachable_broker_gives_up_after_the_configured_wait(tmp_path: Path, command: str) -> None:
    extra = ["--model", "mlp_digits"] if command == "agent" else ["--run-dir", str(tmp_path / "run")]
    done, took = run([command, "--broker-port", "1", "--broker-connect-timeout-s", "2", *extra], tmp_path)
    line = one_line(done)
    assert "no MQTT connection to 127.0.0.1:1 within 2" in line, line
    assert took < 45


def test_the_hosts_device_id_is_refused_for_a_node(tmp_path: Path) -> None:
    done, _ = run(["agent", "--device-id", "0", "--model", "mlp_digits"], tmp_path)
    assert "agent.device_id must be an integer >= 1" in one_line(done)
