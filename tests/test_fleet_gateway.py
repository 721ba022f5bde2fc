"""The gateway logs each board in with the board's own device account (``--accounts``, agent/gateway.py).

The board is pyserial's ``loop://`` and its HELLO is handed to the bridge
as the link would; the broker is a fleet's (ACL, bound client ids), so the
board's traffic is only accepted under the account of the device id its
HELLO carries.
"""
from __future__ import annotations

import pytest

import sgc

from sparrow.agent.gateway import BoardBridge
from sparrow.common.transport import Topics
from support.fleet_broker import FleetBroker
from test_attack_topics import Listener
from test_gateway_bridge import HELLO_TEXT

pytestmark = pytest.mark.timeout(30)


def board_hello(bridge: BoardBridge, device: int) -> None:
    raw = sgc.encode_control(sgc.MSG_HELLO, HELLO_TEXT, device_id=device)
    bridge._from_board(sgc.decode(raw), raw)  # noqa: SLF001 - what the link hands over


def test_a_board_is_logged_in_with_its_devices_account_and_its_hello_reaches_the_host(
        fleet_broker: FleetBroker) -> None:
    topics = Topics(fleet_broker.base.job)
    host = Listener(fleet_broker, 0, [(f"{topics.root}/control/+", 1)])
    bridge = BoardBridge("loop://", fleet_broker.base, accounts=str(fleet_broker.fleet.path / "credentials"))
    try:
        board_hello(bridge, 2)
        assert bridge.transport is not None and bridge.transport.connected.wait(5)
        assert bridge.transport.config.username == "node-2"
        bridge._hello_to_host()  # noqa: SLF001 - what the bridge does once connected
        assert host.arrived.wait(5)
        topic, frame = host.frames[0]
        assert topic == topics.control(2) and sgc.decode(frame).msg_type == sgc.MSG_HELLO
    finally:
        if bridge.transport is not None:
            bridge.transport.stop()
        bridge.port.close()
        host.close()


def test_a_board_whose_device_has_no_account_is_not_bridged(fleet_broker: FleetBroker, caplog) -> None:
    bridge = BoardBridge("loop://", fleet_broker.base, accounts=str(fleet_broker.fleet.path / "credentials"))
    try:
        board_hello(bridge, 9)
        assert bridge.transport is None and bridge.device is None
        assert "node-9.json: no usable broker account" in caplog.text
    finally:
        bridge.port.close()
