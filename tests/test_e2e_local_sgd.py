"""End to end: model averaging (agents in average mode, host in average mode) on digits over a real mosquitto."""
from __future__ import annotations

import threading

import pytest

from sparrow.host.config import HostConfig
from sparrow.host.server import Host, HostStopped

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_four_agents_averaging_sparse_deltas_of_four_local_steps_learn_digits(
        broker_config, fleet, agent_logs, tmp_path) -> None:
    agents = fleet(4, extra=["--mode", "average", "--local-steps", "4", "--warmup-rounds", "2",
                             "--local-lr", "0.1", "--compressor", "laplace", "--density", "0.1"])
    config = HostConfig(dataset="digits", model="mlp_digits", rounds=30, batch_size=16, min_nodes=4,
                        deadline_s=20.0, eval_every=10, run_dir=str(tmp_path / "run"), progress=False,
                        mode="average", server_lr=1.0)
    summary = Host(config, broker_config).run()
    assert summary.final_accuracy >= 0.85, agent_logs()
    assert summary.updates == 4 * 30 and summary.rejected == 0, summary
    assert summary.compression_ratio > 3, summary
    for process in agents:
        assert process.wait(timeout=15) == 0, agent_logs()


def test_a_host_in_average_mode_rejects_gradient_updates(broker_config, fleet, agent_logs, tmp_path) -> None:
    fleet(1, extra=["--compressor", "laplace", "--density", "0.1"])
    config = HostConfig(dataset="digits", model="mlp_digits", rounds=2, min_nodes=1, deadline_s=1.0,
                        start_timeout_s=20.0, run_dir=str(tmp_path / "run"), progress=False, mode="average")
    host = Host(config, broker_config)
    timer = threading.Timer(8.0, host.stop)
    timer.start()
    try:
        with pytest.raises(HostStopped):
            host.run()
    finally:
        timer.cancel()
    assert host.book.counts["rejected"] >= 1 and host.book.counts["accepted"] == 0, agent_logs()
