"""End to end: a host killed with SIGKILL and resumed continues exactly as if it never died."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from sparrow.common.config import BrokerConfig
from sparrow.host.config import HostConfig
from sparrow.host.schedule import lr_at

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

ROUNDS = 20
NODES = 2


def host_command(config: BrokerConfig, run_dir: Path, downlink: str, resume: bool = False) -> list[str]:
    command = [sys.executable, "-m", "sparrow.common.cli", "host",
               "--broker-port", str(config.port), "--broker-job", config.job,
               "--rounds", str(ROUNDS), "--min-nodes", str(NODES), "--fraction", "1.0", "--deadline-s", "60",
               "--eval-every", "5", "--lr-schedule", "cosine", "--downlink", downlink, "--downlink-density", "0.1",
               "--run-dir", str(run_dir), "--no-progress"]
    return command + (["--resume"] if resume else [])


def metrics_rounds(run_dir: Path) -> int:
    path = run_dir / "metrics.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def train(config: BrokerConfig, fleet, run_dir: Path, downlink: str, kill_after: int | None) -> dict:
    agents = fleet(NODES, extra=["--compressor", "exact", "--density", "0.05"], config=config)
    run_dir.mkdir()
    log = open(run_dir.parent / f"{run_dir.name}-host.log", "wb")
    host = subprocess.Popen(host_command(config, run_dir, downlink), stdout=log, stderr=subprocess.STDOUT)
    if kill_after is not None:
        deadline = time.monotonic() + 60
        while metrics_rounds(run_dir) < kill_after:
            assert time.monotonic() < deadline and host.poll() is None, "host did not reach the kill point"
            time.sleep(0.01)
        host.send_signal(signal.SIGKILL)
        host.wait()
        assert metrics_rounds(run_dir) < ROUNDS
        time.sleep(0.5)  # agents keep working against a host that is gone
        host = subprocess.Popen(host_command(config, run_dir, downlink, resume=True), stdout=log,
                                stderr=subprocess.STDOUT)
    assert host.wait(timeout=120) == 0, (run_dir.parent / f"{run_dir.name}-host.log").read_text()[-3000:]
    for agent in agents:
        assert agent.wait(timeout=20) == 0
    return torch.load(run_dir / "checkpoint.pt", weights_only=False)


def test_a_killed_and_resumed_host_ends_in_exactly_the_state_of_an_uninterrupted_run(
        broker_config, fleet, tmp_path) -> None:
    # The sparse-delta downlink has the most state to restore (its shadow); the
    # reference job and the interrupted job run side by side on one broker.
    jobs = {name: BrokerConfig(port=broker_config.port, job=f"{broker_config.job}-{name}")
            for name in ("reference", "resumed")}
    with ThreadPoolExecutor(max_workers=2) as pool:
        ref_future = pool.submit(train, jobs["reference"], fleet, tmp_path / "reference", "delta", None)
        res_future = pool.submit(train, jobs["resumed"], fleet, tmp_path / "resumed", "delta", 8)
        reference, resumed = ref_future.result(), res_future.result()
    assert reference["book"]["round"] == resumed["book"]["round"] == ROUNDS + 1
    for name, tensor in reference["model"].items():
        assert torch.equal(tensor, resumed["model"][name]), name
    # The cosine schedule ran in both: the last step used the last round's rate.
    last_lr = lr_at("cosine", HostConfig().lr, ROUNDS, ROUNDS)
    for state in (reference, resumed):
        assert state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(last_lr)
    assert (reference["downlink"]["shadow"] == resumed["downlink"]["shadow"]).all()
    assert resumed["book"]["counts"]["accepted"] == reference["book"]["counts"]["accepted"] == NODES * ROUNDS
    lines = [json.loads(line) for line in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    assert [row["round"] for row in lines] == list(range(1, ROUNDS + 1))
    ref_lines = [json.loads(line) for line in (tmp_path / "reference" / "metrics.jsonl").read_text().splitlines()]
    assert [row["accuracy"] for row in lines] == [row["accuracy"] for row in ref_lines]
