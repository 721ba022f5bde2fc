"""Shared fixtures: a real mosquitto on a free loopback port.

The broker is started by ``sparrow.host.broker.Mosquitto`` with a private
config file in a temporary directory (``listener <port> 127.0.0.1``,
``allow_anonymous true``, ``log_dest stderr`` into a log file, persistence
in that directory). ``max_queued_messages`` is bounded (10000), not ``0``:
Sparrow's tests rely on persistent sessions (a node or host that drops out
gets the QoS 1 messages it missed), which an unlimited queue would also
give, but a bounded one is what a deployment runs and the protocol recovers
from overflow with RESYNC; see the module docstring of host/broker.py.

``fleet_broker`` is the other kind: a mosquitto on a fleet directory
(``sparrow fleet``, host/fleet.py) with accounts, the ACL, client ids bound
to accounts and a packet limit (docs/deploy.md), for the tests of who may
do what.
"""
from __future__ import annotations

import subprocess
from typing import Callable, Iterator

import pytest

from sparrow.common.config import BrokerConfig
from sparrow.host.broker import Mosquitto
from sparrow.host.lab.processes import start_agents
from support.fleet_broker import FleetBroker, start_fleet_broker


@pytest.fixture
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A running private mosquitto, stopped after the test.

    ``mosquitto.restart(down_s)`` stops it and starts it again on the same
    port with the same persistence file (sessions and retained messages
    survive, as on a real broker restart).
    """
    broker = Mosquitto(workdir=str(tmp_path_factory.mktemp("mosquitto")))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def fleet_broker(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[FleetBroker]:
    """A running mosquitto on a fleet (host/fleet.py): accounts, ACL, bound client ids, packet limit.

    Devices 1, 2 and 3 are enrolled; ``fleet_broker.config(device)`` is the
    BrokerConfig of that device's account (0: the host's), with a job named
    after the test.
    """
    job = "".join(c if c.isalnum() else "-" for c in request.node.name)[:40]
    broker = start_fleet_broker(tmp_path_factory.mktemp("fleet"), job)
    yield broker
    broker.stop()


@pytest.fixture
def broker_config(mosquitto: Mosquitto, request: pytest.FixtureRequest) -> BrokerConfig:
    """A BrokerConfig for the test's broker, with a job named after the test."""
    job = "".join(c if c.isalnum() else "-" for c in request.node.name)[:40]
    return BrokerConfig(port=mosquitto.port, job=job, keepalive_s=2, reconnect_min_s=0.1,
                        reconnect_max_s=1.0)


@pytest.fixture
def fleet(broker_config: BrokerConfig, tmp_path) -> Iterator[Callable[..., list[subprocess.Popen[bytes]]]]:
    """Start ``sparrow agent`` processes on the test's broker; all are stopped at teardown.

    Call ``fleet(count, dataset="digits", model="mlp_digits", extra=[...])``;
    agent logs go to ``tmp_path/agent-<id>.log``.
    """
    started: list[subprocess.Popen[bytes]] = []

    def start(count: int, dataset: str = "digits", model: str = "mlp_digits",
              extra: list[str] | None = None, config: BrokerConfig | None = None) -> list[subprocess.Popen[bytes]]:
        processes = start_agents(config or broker_config, count, dataset, model, list(extra or []), str(tmp_path))
        started.extend(processes)
        return processes

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


@pytest.fixture
def agent_logs(tmp_path) -> Callable[[], str]:
    """A function returning the tail of every agent log of the test (for failure messages)."""
    def read() -> str:
        return "\n".join(p.read_text(errors="replace")[-1500:] for p in sorted(tmp_path.glob("agent-*.log")))
    return read
