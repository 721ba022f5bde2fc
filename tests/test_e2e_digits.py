"""End to end: a host and 4 agent processes train digits over a real mosquitto."""
from __future__ import annotations

import json
import os

import pytest

from sparrow.host.config import HostConfig
from sparrow.host.server import Host

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_four_agents_train_digits_to_90_percent_with_compressed_uploads(
        broker_config, fleet, agent_logs, tmp_path) -> None:
    agents = fleet(4, extra=["--compressor", "laplace", "--density", "0.05"])
    config = HostConfig(dataset="digits", model="mlp_digits", rounds=150, lr=0.1, momentum=0.9, batch_size=32,
                        min_nodes=4, deadline_s=20.0, eval_every=10, run_dir=str(tmp_path / "run"),
                        progress=False)
    summary = Host(config, broker_config).run()
    assert summary.final_accuracy >= 0.90, agent_logs()
    assert summary.rounds == 150
    assert summary.updates == 4 * 150
    assert summary.rejected == 0
    assert summary.compression_ratio > 5, summary
    assert len(summary.per_device) == 4
    assert all(counts.get("accepted") == 150 and counts.get("rejected", 0) == 0
               for counts in summary.per_device.values()), summary.per_device
    for process in agents:
        assert process.wait(timeout=15) == 0, agent_logs()
    run = tmp_path / "run"
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 150
    assert json.loads(lines[-1])["accuracy"] == pytest.approx(summary.final_accuracy)
    written = json.loads((run / "summary.json").read_text())
    for key in ("final_accuracy", "rounds", "bytes_up", "bytes_down", "dense_bytes_up", "compression_ratio",
                "wall_s", "per_device"):
        assert key in written
    assert os.path.getsize(run / "accuracy_vs_rounds.png") > 1000
    assert os.path.getsize(run / "accuracy_vs_bytes.png") > 1000


def test_dense_baseline_runs_the_same_path_and_reports_a_ratio_near_one(
        broker_config, fleet, agent_logs, tmp_path) -> None:
    fleet(2, extra=["--compressor", "dense"])
    config = HostConfig(dataset="digits", model="mlp_digits", rounds=20, min_nodes=2, eval_every=20,
                        run_dir=str(tmp_path / "run"), progress=False, downlink="delta")
    summary = Host(config, broker_config).run()
    assert summary.updates == 40, agent_logs()
    assert 0.4 < summary.compression_ratio <= 1.0  # indices cost extra when every coordinate is sent
