"""Sessions on a fleet's broker: bound client ids, no anonymous clients, a packet size limit.

The fleet's mosquitto runs with ``use_username_as_clientid true``: the
client id a client sends is replaced with its user name, so connecting with
the host's client id under a device's account opens the device's session,
not the host's. The same connection on an anonymous broker does take the
host's session over (the control case that shows the attack is real).
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import sgc

from sparrow.common.config import BrokerConfig
from sparrow.common.transport import Topics, Transport
from sparrow.host.broker import packet_limit
from support.fleet_broker import FleetBroker, RawClient
from test_attack_topics import update_frame

pytestmark = pytest.mark.timeout(60)


class HostSession:
    """The host's Transport (its real client id), counting connects and the updates it receives."""

    def __init__(self, config: BrokerConfig) -> None:
        self.updates: list[bytes] = []
        self.connects = 0
        self._lock = threading.Lock()
        topics = Topics(config.job)
        self.transport = Transport(config, client_id=f"sparrow-{config.job}-host", status_name="host",
                                   subscriptions=[(f"{topics.root}/update/+", 1)],
                                   on_frame=lambda t, f: self.updates.append(f), on_text=lambda t, p: None,
                                   on_error=lambda t, e: None, on_connected=self._connected)
        self.transport.start(wait_s=5)
        time.sleep(0.2)

    def wait_for(self, frame: bytes, timeout_s: float = 5.0) -> None:
        deadline = time.monotonic() + timeout_s
        while frame not in self.updates:
            assert time.monotonic() < deadline, "the owner's update did not reach the host"
            time.sleep(0.02)

    def _connected(self, present: bool) -> None:
        with self._lock:
            self.connects += 1

    def close(self) -> None:
        self.transport.stop()


def test_a_client_using_the_hosts_client_id_with_a_node_account_does_not_disconnect_the_host(
        fleet_broker: FleetBroker) -> None:
    topics = Topics(fleet_broker.base.job)
    host = HostSession(fleet_broker.config(0))
    rogue = RawClient(fleet_broker.config(2), host.transport.client_id, clean_start=False)
    owner = RawClient(fleet_broker.config(3), "owner")
    try:
        assert not rogue.connack.is_failure  # type: ignore[union-attr]
        time.sleep(1.0)
        assert host.transport.connected.is_set() and host.connects == 1
        # The host still gets updates; the rogue did not inherit its subscriptions.
        frame = update_frame(3, 0.5)
        assert not owner.publish(topics.update(3), frame).is_failure
        host.wait_for(frame)
        assert host.connects == 1
        assert rogue.messages == []
        assert rogue.disconnects == []
    finally:
        for client in (host, rogue, owner):
            client.close()


def test_on_an_anonymous_broker_the_same_client_id_takes_the_hosts_session_over(
        broker_config: BrokerConfig) -> None:
    host = HostSession(broker_config)
    rogue = RawClient(broker_config, host.transport.client_id, clean_start=False)
    try:
        deadline = time.monotonic() + 5
        while host.connects < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert host.connects >= 2 or rogue.disconnects, "the takeover was expected to disconnect a session"
    finally:
        rogue.close()
        host.close()


def test_an_anonymous_client_is_refused_by_a_fleets_broker(fleet_broker: FleetBroker) -> None:
    anonymous = RawClient(fleet_broker.base, "anonymous")
    try:
        assert anonymous.connack is not None and anonymous.connack.is_failure, anonymous.connack
    finally:
        anonymous.close()


def test_a_wrong_password_is_refused_by_a_fleets_broker(fleet_broker: FleetBroker) -> None:
    config = fleet_broker.config(2)
    wrong = RawClient(BrokerConfig(port=config.port, job=config.job, username=config.username, password="guess"),
                      "guesser")
    try:
        assert wrong.connack is not None and wrong.connack.is_failure, wrong.connack
    finally:
        wrong.close()


def test_a_packet_above_the_limit_disconnects_its_sender_and_the_host_carries_on(
        fleet_broker: FleetBroker) -> None:
    topics = Topics(fleet_broker.base.job)
    limit = packet_limit(fleet_broker.base.max_packet)
    host = HostSession(fleet_broker.config(0))
    flooder = RawClient(fleet_broker.config(2), "flooder")
    owner = Transport(fleet_broker.config(3), client_id="owner", status_name="3", subscriptions=[],
                      on_frame=lambda t, f: None, on_text=lambda t, p: None, on_error=lambda t, e: None)
    owner.start(wait_s=5)
    try:
        flooder.client.publish(topics.update(2), b"x" * limit, qos=1)
        flooder.wait(lambda: bool(flooder.disconnects), "the oversized packet did not cost its sender the connection")
        assert str(flooder.disconnects[0]) == "Packet too large", flooder.disconnects
        # A frame chunked to the job's max_packet still passes whole, and the host was never disturbed.
        frame = sgc.encode_dense(np.linspace(-1, 1, 3 * fleet_broker.base.max_packet // 4, dtype=np.float32),
                                 msg_type=sgc.MSG_SPARSE_UPDATE, device_id=3, round=1)
        assert len(sgc.chunk(frame, max_size=fleet_broker.base.max_packet)) > 1
        owner.publish_frame(topics.update(3), frame)
        host.wait_for(frame)
        assert host.connects == 1 and host.transport.connected.is_set()
        assert host.updates == [frame]
    finally:
        for client in (host, flooder):
            client.close()
        owner.stop()
