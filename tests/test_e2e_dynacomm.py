"""End to end: DynaComm segment scheduling (agents and host with comm=segmented) on digits over a real mosquitto."""
from __future__ import annotations

import json

import pytest

from sparrow.host.config import HostConfig
from sparrow.host.server import Host

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ROUNDS = 150


def test_three_agents_pushing_and_pulling_per_layer_segments_train_digits_to_90_percent(
        broker_config, fleet, agent_logs, tmp_path) -> None:
    agents = fleet(3, extra=["--comm", "segmented", "--segment-plan", "per_layer",
                             "--compressor", "laplace", "--density", "0.05"])
    config = HostConfig(dataset="digits", model="mlp_digits", rounds=ROUNDS, lr=0.1, momentum=0.9, batch_size=32,
                        min_nodes=3, deadline_s=20.0, eval_every=50, run_dir=str(tmp_path / "run"),
                        progress=False, comm="segmented")
    host = Host(config, broker_config)
    summary = host.run()
    assert summary.final_accuracy >= 0.90, agent_logs()
    assert summary.rounds == ROUNDS and summary.rejected == 0, summary
    # mlp_digits has two planning layers: every update came as two segments, counted as one update.
    assert summary.updates == 3 * ROUNDS, summary
    for counts in summary.per_device.values():
        assert counts.get("accepted") == ROUNDS and counts.get("partial") == ROUNDS, summary.per_device
    assert host.book.segments == 2 * 3 * ROUNDS
    assert {plan.count for _, plan in host.pull_plans.values()} == {2}
    assert summary.compression_ratio > 5, summary
    for process in agents:
        assert process.wait(timeout=15) == 0, agent_logs()


def test_agents_with_the_planner_on_learn_digits_and_send_their_pull_plan(
        broker_config, fleet, agent_logs, tmp_path) -> None:
    agents = fleet(2, extra=["--comm", "segmented", "--compressor", "laplace", "--density", "0.1"])
    config = HostConfig(dataset="digits", model="mlp_digits", rounds=40, lr=0.1, momentum=0.9, min_nodes=2,
                        deadline_s=20.0, eval_every=40, run_dir=str(tmp_path / "run"), progress=False,
                        comm="segmented")
    host = Host(config, broker_config)
    summary = host.run()
    assert summary.updates == 2 * 40 and summary.rejected == 0, agent_logs()
    assert summary.final_accuracy >= 0.8, agent_logs()
    assert sorted(host.pull_plans) == sorted(int(d) for d in summary.per_device), host.pull_plans
    for process in agents:
        assert process.wait(timeout=15) == 0, agent_logs()
    reports = [json.loads(line) for line in agent_logs().splitlines() if line.startswith("{")]
    assert len(reports) == 2 and all(r["replans"] >= 1 and r["segments_sent"] >= 40 for r in reports), reports
