"""TLS, client certificates and passwords (BrokerConfig.tls_* / username / password) against a real mosquitto.

Every test starts its own private broker (host/broker.py ``Mosquitto`` with
``TlsFiles`` and a password file) on loopback, with throwaway certificates
from tests/support/tls_material.py. A refused client must fail within a bounded
wait (``Transport.start(wait_s=...)`` raises ``TimeoutError``), never hang.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest

import sgc

from sparrow.common.config import BrokerConfig
from sparrow.common.tls_check import tls_problem
from sparrow.common.transport import Topics, Transport
from sparrow.host.broker import Mosquitto, TlsFiles
from sparrow.host.lab.processes import start_agents, stop_processes
from test_agent_transport import client, next_of
from support.tls_material import TlsMaterial, make_ca, make_password_file, make_tls_material

pytestmark = pytest.mark.timeout(90)

#: How long a client that the broker refuses is given before it must report failure.
REFUSED_WAIT_S = 3.0
USERS = {"host": "host-secret", "agent": "agent-secret"}

StartBroker = Callable[..., Mosquitto]


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    return make_tls_material(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def password_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_password_file(tmp_path_factory.mktemp("passwords") / "passwd", USERS)


@pytest.fixture
def secured_broker(material: TlsMaterial, tmp_path: Path) -> Iterator[StartBroker]:
    """Start a TLS mosquitto: ``secured_broker(require_client_cert=False, password_file=None)``."""
    started: list[Mosquitto] = []

    def start(require_client_cert: bool = False, password_file: str | None = None) -> Mosquitto:
        tls = TlsFiles(material.ca.cert, material.server_cert, material.server_key, require_client_cert)
        workdir = tmp_path / f"broker-{len(started)}"
        workdir.mkdir()
        broker = Mosquitto(workdir=str(workdir), tls=tls, password_file=password_file)
        started.append(broker)
        return broker.start()

    yield start
    for broker in started:
        broker.stop()


def config_for(broker: Mosquitto, **access: str) -> BrokerConfig:
    return BrokerConfig(port=broker.port, job="tls", keepalive_s=2, reconnect_min_s=0.1, reconnect_max_s=0.5,
                        **access)


def assert_refused(config: BrokerConfig) -> tuple[Transport, str]:
    """Start a client that the broker must refuse; returns it (stopped) and its error message."""
    refused, _ = client(config, "refused", [])
    with pytest.raises(TimeoutError, match="no MQTT connection") as failure:
        refused.start(wait_s=REFUSED_WAIT_S)
    assert refused.connects == 0
    return refused, str(failure.value)


def test_a_frame_crosses_a_tls_broker_when_clients_trust_its_ca(secured_broker, material) -> None:
    config = config_for(secured_broker(), tls_ca=material.ca.cert)
    topics = Topics(config.job)
    receiver, inbox = client(config, "rx", [(topics.model, 1)])
    sender, _ = client(config, "tx", [])
    receiver.start()
    sender.start()
    try:
        frame = sgc.encode_dense(np.arange(3000, dtype=np.float32), round=2)  # chunked: several TLS records
        sender.publish_frame(topics.model, frame)
        assert next_of(inbox, "frame")[2] == frame
    finally:
        sender.stop()
        receiver.stop()


def test_a_client_certificate_is_accepted_where_the_broker_requires_one(secured_broker, material) -> None:
    config = config_for(secured_broker(require_client_cert=True), tls_ca=material.ca.cert,
                        tls_cert=material.client_cert, tls_key=material.client_key)
    accepted, _ = client(config, "with-cert", [])
    accepted.start(wait_s=10)
    try:
        assert accepted.connected.is_set()
    finally:
        accepted.stop()
    assert tls_problem(config) is None  # the diagnosis finds nothing wrong where nothing is


def test_a_client_without_a_certificate_is_refused_where_the_broker_requires_one(secured_broker, material) -> None:
    broker = secured_broker(require_client_cert=True)
    _, failure = assert_refused(config_for(broker, tls_ca=material.ca.cert))
    assert "peer did not return a certificate" in broker.log_tail()
    assert "certificate required" in failure  # the node is told why, not only the broker's log


def test_a_broker_whose_certificate_another_ca_signed_is_refused(secured_broker, tmp_path) -> None:
    broker = secured_broker()
    stranger = make_ca(tmp_path, "stranger")
    _, failure = assert_refused(config_for(broker, tls_ca=stranger.cert))
    assert "the broker's certificate is not trusted" in failure
    assert "unknown ca" in broker.log_tail()  # the client aborted the handshake: it did not trust the server


def test_a_plain_client_is_refused_by_a_tls_broker(secured_broker) -> None:
    assert_refused(config_for(secured_broker()))


def test_the_right_password_logs_in(secured_broker, material, password_file) -> None:
    config = config_for(secured_broker(password_file=password_file), tls_ca=material.ca.cert,
                        username="agent", password=USERS["agent"])
    accepted, _ = client(config, "agent", [])
    accepted.start(wait_s=10)
    accepted.stop()
    assert accepted.connects == 1


@pytest.mark.parametrize("access", [{"username": "agent", "password": "wrong"}, {}],
                         ids=["wrong-password", "anonymous"])
def test_a_refused_login_is_reported_with_the_brokers_reason_code(
        secured_broker, material, password_file, access, caplog) -> None:
    config = config_for(secured_broker(password_file=password_file), tls_ca=material.ca.cert, **access)
    with caplog.at_level(logging.WARNING, logger="sparrow.common.transport"):
        refused, failure = assert_refused(config)
    # 134 "Bad user name or password" or 135 "Not authorized", depending on the broker's version
    assert refused.refusal is not None and refused.refusal.value in (134, 135)
    assert f"reason code {refused.refusal.value}" in failure
    assert any("broker refused the connection" in r.getMessage() and str(refused.refusal) in r.getMessage()
               for r in caplog.records)


@pytest.mark.slow
def test_a_host_and_two_agents_train_over_tls_with_client_certificates_and_passwords(
        secured_broker, material, password_file, tmp_path) -> None:
    broker = secured_broker(require_client_cert=True, password_file=password_file)
    base = dataclasses.replace(config_for(broker), job="tls-e2e")
    tls = ["--broker-tls-ca", material.ca.cert, "--broker-tls-cert", material.client_cert,
           "--broker-tls-key", material.client_key]
    agents = start_agents(base, 2, "digits", "mlp_digits",
                          [*tls, "--broker-username", "agent", "--broker-password", USERS["agent"],
                           "--compressor", "laplace", "--density", "0.05"], str(tmp_path))
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "sparrow.common.cli", "host", "--broker-port", str(broker.port),
               "--broker-job", base.job, *tls, "--broker-username", "host", "--broker-password", USERS["host"],
               "--rounds", "5", "--min-nodes", "2", "--deadline-s", "20", "--eval-every", "5",
               "--run-dir", str(run_dir), "--no-progress"]
    try:
        host = subprocess.run(command, capture_output=True, text=True, timeout=60)
        logs = host.stdout + host.stderr + "".join(p.read_text()[-1500:] for p in tmp_path.glob("agent-*.log"))
        assert host.returncode == 0, logs
        summary = json.loads(host.stdout.strip().splitlines()[-1])
        assert summary["rounds"] == 5, logs
        assert summary["bytes_up"] > 0
        assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 5
        for agent in agents:
            assert agent.wait(timeout=20) == 0, logs
    finally:
        stop_processes(agents, grace_s=0.0)
