"""``sparrow init`` writes a job folder whose README commands run as written.

The test reads the ``sparrow ...`` commands out of the generated README,
points them at its own broker (``--broker-port``, ``--broker-job``; the
README's broker step is the test's mosquitto) and runs them in the folder:
host, agents, then the export.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

SPARROW = [sys.executable, "-m", "sparrow.common.cli"]


def readme_commands(folder: Path) -> list[list[str]]:
    """Every ``sparrow ...`` line of the README's code blocks, comments dropped."""
    commands = []
    for line in (folder / "README.md").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("sparrow "):
            commands.append(shlex.split(line)[1:])
    return commands


def test_init_writes_the_job_files_and_refuses_a_folder_that_is_not_empty(tmp_path) -> None:
    done = subprocess.run([*SPARROW, "init", "fieldtest", "--dir", str(tmp_path / "job"), "--nodes", "2"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    files = json.loads(done.stdout.splitlines()[0])["files"]
    assert {"job.toml", "model.py", "README.md", "data/node-1.npz", "data/node-2.npz", "data/val.npz"} <= set(files)
    with np.load(tmp_path / "job" / "data" / "node-1.npz") as node:
        assert node["x"].shape[1:] == (1, 8, 8) and node["x"].shape[0] == node["y"].shape[0] > 0
    again = subprocess.run([*SPARROW, "init", "fieldtest", "--dir", str(tmp_path / "job")],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "not empty" in again.stderr and "Traceback" not in again.stderr


def test_the_generated_readme_trains_and_exports_as_written(mosquitto, tmp_path) -> None:
    folder = tmp_path / "job"
    subprocess.run([*SPARROW, "init", "fieldtest", "--dir", str(folder), "--nodes", "3"], check=True,
                   capture_output=True, timeout=60)
    commands = readme_commands(folder)
    kinds = [c[0] for c in commands]
    assert kinds == ["host", "agent", "agent", "agent", "export"], commands
    broker = ["--broker-port", str(mosquitto.port), "--broker-job", "scaffold-test"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    host = subprocess.Popen([*SPARROW, *commands[0], *broker, "--no-progress"], cwd=folder, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    agents = [subprocess.Popen([*SPARROW, *c, *broker], cwd=folder, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True) for c in commands[1:4]]
    try:
        out, err = host.communicate(timeout=600)
    finally:
        for agent in agents:
            try:
                agent.wait(timeout=30)
            except subprocess.TimeoutExpired:
                agent.kill()
    logs = "\n".join((a.stdout.read() if a.stdout else "")[-800:] for a in agents)
    assert host.returncode == 0, (err[-2000:], logs)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["final_accuracy"] > 0.8, (result, logs)  # three classes: chance is 1/3
    assert all(a.returncode == 0 for a in agents), logs

    export = subprocess.run([*SPARROW, *commands[4]], cwd=folder, capture_output=True, text=True, timeout=120)
    assert export.returncode == 0, export.stderr
    assert list(folder.glob("runs/fieldtest/*.onnx")) or list(folder.glob("*.onnx")), export.stdout
