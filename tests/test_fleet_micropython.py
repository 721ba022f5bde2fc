"""A MicroPython node on a fleet's broker logs in with its own account (agent/mp/mqtt_client.py).

The node runs on the MicroPython unix port (agent/mp/main.py) with the
``username``/``password`` of its device's account in its settings; the host
is the test's stand-in (tests/support/gateway.py) with the host account.
Without the account the fleet's broker refuses the node.
"""
from __future__ import annotations

import json

import pytest

import sgc

from sparrow.common import control
from mqtt_client import MQTTClient, MQTTError
from support.fleet_broker import FleetBroker
from support.gateway import HostStub
from support.mp_agent import prepare_micropython_node, start_micropython_node

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

STEP_TIMEOUT_S = 30


def test_a_micropython_node_with_its_account_says_hello_and_leaves_when_done(fleet_broker: FleetBroker,
                                                                             tmp_path) -> None:
    device = 3
    settings = prepare_micropython_node(tmp_path, fleet_broker.config(device), device, 4)
    assert json.loads(settings.read_text())["username"] == "node-3"
    with HostStub(fleet_broker.config(0)) as host:
        node = start_micropython_node(settings, tmp_path / "mp.log")
        try:
            host.expect("control", sgc.MSG_HELLO, STEP_TIMEOUT_S, device=device)
            assert host.wait_online(device, 5)
            host.announce(1, flags=control.ROUND_DONE)
            assert node.wait(timeout=STEP_TIMEOUT_S) == 0, (tmp_path / "mp.log").read_text()
        finally:
            if node.poll() is None:
                node.kill()
                node.wait()


def test_the_micropython_mqtt_client_is_refused_without_its_accounts_password(fleet_broker: FleetBroker) -> None:
    config = fleet_broker.config(2)
    good = MQTTClient("probe", config.host, config.port, username=config.username, password=config.password,
                      timeout=5)
    good.connect()
    good.disconnect()
    for username, password in ((config.username, "guess"), (None, None)):
        client = MQTTClient("probe", config.host, config.port, username=username, password=password, timeout=5)
        with pytest.raises(MQTTError, match="refused"):
            client.connect()
        client.close()
