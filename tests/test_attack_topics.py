"""A device's account cannot act for the host or for another device on a fleet's broker (host/fleet_acl.py).

Every test runs a real mosquitto with the ACL and password file that
``sparrow fleet`` writes (the ``fleet_broker`` fixture: devices 1, 2, 3).
The attacker is a bare MQTT 5 client logged in with device 2's account;
what it is denied is checked twice: the broker's PUBACK reason code (MQTT 5
answers a denied QoS 1 publish with "Not authorized", 0x87) and what the
victims actually receive, compared with a legitimate message sent after it.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Iterator, TypeVar

import numpy as np
import pytest

import sgc

from sparrow.common import control
from sparrow.common.transport import Topics, Transport
from support.fleet_broker import FleetBroker, RawClient

pytestmark = pytest.mark.timeout(60)

T = TypeVar("T")
NOT_AUTHORIZED = 0x87
ATTACKER = 2


class Listener:
    """A Sparrow Transport with a device's (or the host's) account, collecting the frames it gets."""

    def __init__(self, broker: FleetBroker, device: int, subscriptions: list[tuple[str, int]]) -> None:
        self.frames: list[tuple[str, bytes]] = []
        self.arrived = threading.Event()
        name = "host" if device == 0 else str(device)
        job = broker.base.job
        client_id = f"sparrow-{job}-host" if device == 0 else f"sparrow-{job}-agent-{device}"
        self.transport = Transport(broker.config(device), client_id=client_id, status_name=name,
                                   subscriptions=subscriptions, on_frame=self._on_frame,
                                   on_text=lambda t, p: None, on_error=lambda t, e: None)
        self.transport.start(wait_s=5)
        time.sleep(0.2)  # the SUBACK

    def _on_frame(self, topic: str, frame: bytes) -> None:
        self.frames.append((topic, frame))
        self.arrived.set()

    def wait_for(self, frame: bytes, timeout_s: float = 5.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not any(f == frame for _, f in self.frames):
            assert time.monotonic() < deadline, f"the legitimate frame did not arrive: {self.frames}"
            time.sleep(0.02)

    def close(self) -> None:
        self.transport.stop()


def model_frame(value: float, version: int) -> bytes:
    return sgc.encode_dense(np.full(16, value, dtype=np.float32), round=version)


def round_pointer(version: int, flags: int = 0) -> bytes:
    pointer = control.RoundOpen(model_version=version, deadline_ms=5000, batch_size=32, flags=flags)
    return sgc.encode_control(sgc.MSG_ROUND_OPEN, pointer.pack(), round=version)


def update_frame(device: int, value: float) -> bytes:
    return sgc.encode_sparse(16, np.array([1, 5], dtype=np.uint32), np.array([value, -value], dtype=np.float32),
                             device_id=device, round=1)


@pytest.fixture
def closing() -> Iterator[Callable[[T], T]]:
    """``closing(client)`` returns the client and closes it when the test ends."""
    made: list[Any] = []

    def keep(client: T) -> T:
        made.append(client)
        return client

    yield keep
    for client in reversed(made):
        client.close()


def assert_denied(reason: object) -> None:
    assert getattr(reason, "value", None) == NOT_AUTHORIZED and str(reason) == "Not authorized", reason


def test_a_model_published_by_a_node_account_is_denied_and_never_reaches_an_agent(fleet_broker, closing) -> None:
    topics = Topics(fleet_broker.base.job)
    agent = closing(Listener(fleet_broker, 1, [(topics.model, 1)]))
    rogue = closing(RawClient(fleet_broker.config(ATTACKER), "rogue"))
    host = closing(RawClient(fleet_broker.config(0), "host-publisher"))
    assert_denied(rogue.publish(topics.model, model_frame(666.0, 9)))
    genuine = model_frame(0.5, 1)
    assert host.publish(topics.model, genuine).value == 0
    agent.wait_for(genuine)
    assert agent.frames == [(topics.model, genuine)]


def test_a_done_round_pointer_injected_by_a_node_is_denied_and_the_hosts_pointer_stays(fleet_broker, closing) -> None:
    topics = Topics(fleet_broker.base.job)
    host = closing(RawClient(fleet_broker.config(0), "host-publisher"))
    agent = closing(Listener(fleet_broker, 1, [(topics.round, 1)]))
    rogue = closing(RawClient(fleet_broker.config(ATTACKER), "rogue"))
    genuine = round_pointer(5)
    assert host.publish(topics.round, genuine, retain=True).value == 0
    agent.wait_for(genuine)
    assert_denied(rogue.publish(topics.round, round_pointer(5, control.ROUND_DONE), retain=True))
    # A node that connects now gets the retained pointer: still the host's, not DONE.
    late = closing(RawClient(fleet_broker.config(3), "late-node"))
    late.subscribe([(topics.round, 1)])
    late.wait(lambda: bool(late.messages), "no retained round pointer")
    pointers = [control.RoundOpen.unpack(bytes(sgc.decode(p).payload)) for _, p, _ in late.messages]
    assert [(p.model_version, p.done) for p in pointers] == [(5, False)]
    assert agent.frames == [(topics.round, genuine)]


def test_a_device_writing_another_devices_update_is_denied_and_the_host_sees_only_the_owner(
        fleet_broker, closing) -> None:
    topics = Topics(fleet_broker.base.job)
    host = closing(Listener(fleet_broker, 0, [(f"{topics.root}/update/+", 1)]))
    rogue = closing(RawClient(fleet_broker.config(ATTACKER), "rogue"))
    owner = closing(RawClient(fleet_broker.config(3), "owner"))
    assert_denied(rogue.publish(topics.update(3), update_frame(3, 9.0)))
    genuine = update_frame(3, 0.25)
    assert owner.publish(topics.update(3), genuine).value == 0
    host.wait_for(genuine)
    assert host.frames == [(topics.update(3), genuine)]


def test_a_node_account_may_write_only_its_own_topics(fleet_broker, closing) -> None:
    topics = Topics(fleet_broker.base.job)
    rogue = closing(RawClient(fleet_broker.config(ATTACKER), "rogue"))
    denied = [topics.model, topics.round, topics.spec, topics.support, topics.sync(3), topics.ack(3),
              topics.status("host"), topics.update(3), topics.control(3), topics.metrics(3), topics.status(3),
              f"{topics.root}/other", "sparrow/another-job/model"]
    answers = {topic: rogue.publish(topic, b"x") for topic in denied}
    assert all(r.value == NOT_AUTHORIZED for r in answers.values()), {t: str(r) for t, r in answers.items()}
    own = [topics.update(ATTACKER), topics.control(ATTACKER), topics.metrics(ATTACKER), topics.status(ATTACKER)]
    answers = {topic: rogue.publish(topic, b"x") for topic in own}
    assert not any(r.is_failure for r in answers.values()), {t: str(r) for t, r in answers.items()}


def test_a_device_never_receives_what_the_host_sends_to_another_device(fleet_broker, closing) -> None:
    topics = Topics(fleet_broker.base.job)
    snoop = closing(RawClient(fleet_broker.config(ATTACKER), "snoop"))
    owner = closing(RawClient(fleet_broker.config(3), "owner"))
    host = closing(RawClient(fleet_broker.config(0), "host-publisher"))
    snoop.subscribe([(topics.ack(3), 1), (topics.sync(3), 1), (f"{topics.root}/#", 1)])
    owner.subscribe([(topics.ack(3), 1), (topics.sync(3), 1)])
    for topic in (topics.ack(3), topics.sync(3)):
        assert host.publish(topic, b"for device 3").value == 0
    owner.wait(lambda: len(owner.messages) == 2, "device 3 did not get its messages")
    time.sleep(0.2)
    assert [t for t, _, _ in snoop.messages if not t.endswith("/status/host")] == []
