"""The MQTT transport (agent/common/transport.py) against a real mosquitto."""
from __future__ import annotations

import queue
import subprocess
import sys
import time

import numpy as np
import pytest

import sgc

from sparrow.common.config import BrokerConfig
from sparrow.common.transport import OFFLINE, ONLINE, Topics, Transport

pytestmark = pytest.mark.timeout(60)


def client(config: BrokerConfig, name: str, subscriptions: list[tuple[str, int]]) -> tuple[Transport, queue.Queue]:
    inbox: queue.Queue = queue.Queue()
    transport = Transport(config, f"test-{name}", name, subscriptions,
                          on_frame=lambda t, f: inbox.put(("frame", t, f)),
                          on_text=lambda t, p: inbox.put(("text", t, p)),
                          on_error=lambda t, e: inbox.put(("error", t, e)))
    return transport, inbox


def next_of(inbox: queue.Queue, kind: str, timeout: float = 10.0, topic: str | None = None):
    deadline = time.monotonic() + timeout
    while True:
        item = inbox.get(timeout=max(0.01, deadline - time.monotonic()))
        if item[0] == kind and topic in (None, item[1]):
            return item


def test_a_frame_larger_than_the_packet_limit_arrives_whole(broker_config) -> None:
    config = BrokerConfig(port=broker_config.port, job=broker_config.job, max_packet=1024)
    topics = Topics(config.job)
    receiver, inbox = client(config, "rx", [(topics.model, 1)])
    sender, _ = client(config, "tx", [])
    receiver.start()
    sender.start()
    try:
        values = np.random.default_rng(0).standard_normal(20000).astype(np.float32)
        frame = sgc.encode_dense(values, round=4)
        sent = sender.publish_frame(topics.model, frame)
        assert sent > len(frame)  # chunk headers
        _, topic, got = next_of(inbox, "frame")
        assert topic == topics.model and got == frame
        np.testing.assert_array_equal(sgc.decode(got).values, values)
    finally:
        sender.stop()
        receiver.stop()


def test_a_retained_frame_must_fit_one_packet(broker_config) -> None:
    config = BrokerConfig(port=broker_config.port, job=broker_config.job, max_packet=1024)
    sender, _ = client(config, "tx", [])
    with pytest.raises(ValueError, match="retained"):
        sender.publish_frame(Topics(config.job).round, sgc.encode_dense(np.zeros(1000, np.float32)), retain=True)


def test_status_is_retained_online_and_the_last_will_says_offline_when_a_client_dies(broker_config) -> None:
    topics = Topics(broker_config.job)
    watcher, inbox = client(broker_config, "watcher", [(f"{topics.root}/status/+", 1)])
    watcher.start()
    script = (
        "import sys, time\n"
        "from sparrow.common.config import BrokerConfig\n"
        "from sparrow.common.transport import Transport\n"
        f"c = BrokerConfig(port={broker_config.port}, job={broker_config.job!r}, keepalive_s=1)\n"
        "t = Transport(c, 'victim', '42', [], lambda *a: None, lambda *a: None, lambda *a: None)\n"
        "t.start(); print('up', flush=True); time.sleep(60)\n"
    )
    victim = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert victim.stdout is not None and victim.stdout.readline().strip() == b"up"
        assert next_of(inbox, "text", topic=topics.status(42))[2] == ONLINE
        victim.kill()
        assert next_of(inbox, "text", timeout=15, topic=topics.status(42))[2] == OFFLINE
    finally:
        victim.kill()
        victim.wait()
        watcher.stop()
    late, late_inbox = client(broker_config, "late", [(f"{topics.root}/status/+", 1)])
    late.start()
    try:
        assert next_of(late_inbox, "text", topic=topics.status(42))[2] == OFFLINE  # retained
    finally:
        late.stop()


@pytest.mark.parametrize("broker_restarts", [False, True], ids=["broker-up", "broker-restarted"])
def test_a_briefly_offline_client_gets_the_messages_it_missed(broker_config, mosquitto, broker_restarts) -> None:
    # Across a broker restart too: the broker writes its sessions to its
    # persistence file on shutdown and must be able to (a broker started as
    # root drops to another user unless told otherwise).
    topics = Topics(broker_config.job)
    node, inbox = client(broker_config, "node", [(topics.model, 1)])
    node.start()
    node.stop()
    sender, _ = client(broker_config, "sender", [])
    sender.start()
    frames = [sgc.encode_dense(np.full(10, i, np.float32), round=i) for i in range(1, 4)]
    for frame in frames:
        sender.publish_frame(topics.model, frame)
    assert sender.wait_published()
    sender.stop()
    if broker_restarts:
        mosquitto.restart(down_s=0.2)
        assert "Permission denied" not in mosquitto.log_tail()
    node, inbox = client(broker_config, "node", [(topics.model, 1)])  # same client id: same session
    node.start()
    try:
        assert [next_of(inbox, "frame")[2] for _ in frames] == frames
    finally:
        node.stop()


def test_clients_reconnect_and_resume_after_a_broker_restart(broker_config, mosquitto) -> None:
    topics = Topics(broker_config.job)
    node, inbox = client(broker_config, "node", [(topics.model, 1)])
    sender, _ = client(broker_config, "sender", [])
    node.start()
    sender.start()
    try:
        mosquitto.restart(down_s=0.5)
        deadline = time.monotonic() + 15
        while not (node.connected.is_set() and sender.connected.is_set() and node.connects >= 2
                   and sender.connects >= 2):
            assert time.monotonic() < deadline, "clients did not reconnect"
            time.sleep(0.05)
        frame = sgc.encode_dense(np.ones(5, np.float32), round=9)
        sender.publish_frame(topics.model, frame)
        assert next_of(inbox, "frame")[2] == frame
    finally:
        sender.stop()
        node.stop()


def test_a_garbage_chunk_is_reported_not_raised(broker_config) -> None:
    topics = Topics(broker_config.job)
    receiver, inbox = client(broker_config, "rx", [(topics.model, 1)])
    sender, _ = client(broker_config, "tx", [])
    receiver.start()
    sender.start()
    try:
        sender.publish(topics.model, b"\x00garbage")
        kind, topic, error = next_of(inbox, "error")
        assert topic == topics.model and isinstance(error, sgc.FrameError)
    finally:
        sender.stop()
        receiver.stop()
