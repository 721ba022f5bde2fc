"""End to end: aggregation-aware selection on digits over a real mosquitto."""
from __future__ import annotations

import queue

import paho.mqtt.client as mqtt
import pytest

from sparrow.common.transport import Topics
from sparrow.host.config import HostConfig
from sparrow.host.server import Host
from sparrow.common.support import decode_summary

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def retained(broker_config, topic: str) -> bytes:
    """The retained message of ``topic`` (fails after 5 s without one)."""
    got: queue.Queue[bytes] = queue.Queue()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
    client.on_message = lambda c, u, m: got.put(m.payload)
    client.connect(broker_config.host, broker_config.port)
    client.loop_start()
    try:
        return got.get(timeout=5.0)
    finally:
        client.loop_stop()
        client.disconnect()


def test_four_aware_agents_learn_digits_and_the_host_publishes_the_global_support(
        broker_config, fleet, agent_logs, tmp_path) -> None:
    agents = fleet(4, extra=["--selection", "aware", "--compressor", "exact", "--density", "0.05"])
    config = HostConfig(dataset="digits", model="mlp_digits", rounds=100, lr=0.1, momentum=0.9, batch_size=32,
                        min_nodes=4, deadline_s=20.0, eval_every=20, run_dir=str(tmp_path / "run"),
                        progress=False, selection="aware")
    summary = Host(config, broker_config).run()
    assert summary.final_accuracy >= 0.88, agent_logs()
    assert summary.updates == 4 * 100 and summary.rejected == 0, summary
    for process in agents:
        assert process.wait(timeout=15) == 0, agent_logs()
    support = decode_summary(retained(broker_config, Topics(broker_config.job).support), 2410)
    assert support.round == 100
    assert 1 <= support.indices.size <= 2410 and support.popularity.max() > 0
