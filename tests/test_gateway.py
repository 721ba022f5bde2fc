"""The serial gateway (agent/gateway.py): one emulated board bridged to MQTT.

The board runs ``firmware/app/node.c`` under QEMU with its UART on a TCP
port; the gateway opens it with pyserial's ``socket://`` URL (as it would
``/dev/ttyUSB0``). The test plays the host with the real transport on the
test's mosquitto (tests/support/gateway.py).
"""
from __future__ import annotations

import random
import socket
import subprocess
import sys
import threading
import time
from typing import Callable, Iterator

import numpy as np
import pytest

import sgc

from sparrow.common import control
from sparrow.common.config import BrokerConfig
from sparrow.agent.gateway import BoardBridge, Gateway
from sparrow.common.modelspec import get_spec, init_params

from support.gateway import HostStub, qemu

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

BOARD = "riscv32-virt"
N_PARAMS = get_spec("cnn1d_watch").num_params
STEP_TIMEOUT_S = 30


@pytest.fixture(scope="module")
def built() -> None:
    qemu.build((BOARD,))


@pytest.fixture
def board(built: None) -> Iterator[qemu.BoardProcess]:
    with qemu.BoardProcess(BOARD) as process:
        yield process


@pytest.fixture
def host(broker_config: BrokerConfig) -> Iterator[HostStub]:
    with HostStub(broker_config) as stub:
        yield stub


def _bridge(url: str, broker: BrokerConfig) -> Iterator[BoardBridge]:
    gateway = Gateway([url], broker)
    gateway.start()
    try:
        yield gateway.bridges[0]
    finally:
        gateway.stop()


@pytest.fixture
def bridge(board: qemu.BoardProcess, broker_config: BrokerConfig) -> Iterator[BoardBridge]:
    yield from _bridge(board.url, broker_config)


def _wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _first_round(host: HostStub, bridge: BoardBridge) -> tuple[int, np.ndarray]:
    """Board joins, gets model 1, answers round 1; returns its device id and the model."""
    device, hello, _ = host.expect("control", sgc.MSG_HELLO, STEP_TIMEOUT_S)
    assert host.wait_online(device, 5)
    params = init_params(get_spec("cnn1d_watch"), seed=0)
    host.publish_model(params, 1)
    host.announce(1)
    _, update, _ = host.expect("update", sgc.MSG_SPARSE_UPDATE, STEP_TIMEOUT_S, device=device, rnd=1)
    assert update.n == N_PARAMS
    return device, params


def test_gateway_announces_the_board_with_its_own_identity_and_shard_size(host, bridge) -> None:
    device, hello, _ = host.expect("control", sgc.MSG_HELLO, STEP_TIMEOUT_S)
    assert hello.device_id == device
    assert bridge.device == device
    assert control.Hello.unpack(bytes(hello.payload)) == control.Hello(num_samples=bridge.info.shard,
                                                                       capabilities=control.CAP_SPARSE_DELTA)
    assert host.wait_online(device, 5)
    # It has no model yet, so it asks for one.
    _, resync, _ = host.expect("control", sgc.MSG_RESYNC, STEP_TIMEOUT_S, device=device)
    assert control.Resync.unpack(bytes(resync.payload)).have_version == 0


def test_gateway_relays_the_boards_update_byte_for_byte(host, bridge) -> None:
    device, _, _ = host.expect("control", sgc.MSG_HELLO, STEP_TIMEOUT_S)
    host.publish_model(init_params(get_spec("cnn1d_watch"), seed=0), 1)
    host.announce(1)
    _, update, data = host.expect("update", sgc.MSG_SPARSE_UPDATE, STEP_TIMEOUT_S, device=device, rnd=1)
    assert update.device_id == device
    assert 0 < update.k <= 2 * bridge.info.k
    assert np.all(np.isfinite(update.values))
    assert bridge.last_update == (1, data)
    assert bridge.stats.models_sent == 1


def test_gateway_sends_the_model_again_after_a_board_reset_mid_round(host, bridge, board) -> None:
    device, _ = _first_round(host, bridge)
    sent = bridge.link.counters.tx_frames
    hellos = bridge.stats.hellos  # boot (and the answer to the gateway's wake-up RESYNC)
    host.publish_model(host.model + 0.01, 2)
    host.announce(2)
    # Reset while the model of round 2 is on its way down.
    assert _wait_until(lambda: bridge.link.counters.tx_frames >= sent + 4, STEP_TIMEOUT_S)
    board.reset()
    host.expect("control", sgc.MSG_HELLO, STEP_TIMEOUT_S, device=device)
    # The board lost its model and residual: the gateway downloads round 2
    # again and the board answers it.
    _, update, _ = host.expect("update", sgc.MSG_SPARSE_UPDATE, STEP_TIMEOUT_S, device=device, rnd=2)
    assert update.n == N_PARAMS
    assert bridge.stats.hellos == hellos + 1
    assert bridge.stats.downloads_aborted + bridge.stats.models_sent >= 3


def test_a_board_that_resets_after_answering_waits_for_the_next_round(host, bridge, board) -> None:
    device, _ = _first_round(host, bridge)
    board.reset()
    host.expect("control", sgc.MSG_HELLO, STEP_TIMEOUT_S, device=device)
    # One update per board and round: no second download of round 1.
    time.sleep(1.0)
    assert bridge.stats.models_sent == 1 and bridge.stats.updates_relayed == 1
    host.publish_model(host.model + 0.01, 2)
    host.announce(2)
    host.expect("update", sgc.MSG_SPARSE_UPDATE, STEP_TIMEOUT_S, device=device, rnd=2)
    assert bridge.stats.models_sent == 2


def test_gateway_keeps_an_update_the_board_sent_while_the_broker_was_down(
        host, bridge, board, mosquitto) -> None:
    device, _ = _first_round(host, bridge)
    connects = host.transport.connects
    host.publish_model(host.model + 0.01, 2)
    host.announce(2)
    # The broker goes down as soon as the gateway has the round: the board gets
    # the model, trains and sends its update while the broker is away. The
    # gateway acknowledges it on the link (the board forgets it), so the
    # gateway must not lose it.
    assert _wait_until(lambda: bridge.pointer is not None and bridge.pointer[0] == 2, STEP_TIMEOUT_S)
    mosquitto.kill()
    assert _wait_until(lambda: bridge.stats.updates_relayed == 2, STEP_TIMEOUT_S)
    assert not bridge.transport.connected.is_set()
    kept = bridge.last_update
    mosquitto.start()
    assert _wait_until(lambda: host.transport.connects > connects and bridge.transport.connected.is_set(),
                       STEP_TIMEOUT_S)
    # The broker may not have kept the host's session, so the update paho sent
    # on reconnect can precede the host's new subscription; the host announces
    # the open round again (as at its deadline) and the gateway sends it again.
    host.announce(2)
    _, again, data = host.expect("update", sgc.MSG_SPARSE_UPDATE, STEP_TIMEOUT_S, device=device, rnd=2)
    assert kept is not None and kept[0] == 2 and data == kept[1]
    assert host.wait_online(device, 10)
    host.publish_model(host.model + 0.01, 3)
    host.announce(3)
    host.expect("update", sgc.MSG_SPARSE_UPDATE, STEP_TIMEOUT_S, device=device, rnd=3)


def test_a_restarted_gateway_wakes_the_idle_board_and_carries_on(host, board, broker_config) -> None:
    for bridge in _bridge(board.url, broker_config):
        device, _ = _first_round(host, bridge)
    # The board is idle now, holding its model and residual; a new gateway
    # must learn who it is without a reset.
    for bridge in _bridge(board.url, broker_config):
        _, hello, _ = host.expect("control", sgc.MSG_HELLO, STEP_TIMEOUT_S, device=device)
        assert bridge.device == device
        host.publish_model(host.model + 0.01, 2)
        host.announce(2)
        host.expect("update", sgc.MSG_SPARSE_UPDATE, STEP_TIMEOUT_S, device=device, rnd=2)


class NoiseRelay:
    """A TCP relay between gateway and board that corrupts the line both ways.

    Every chunk of bytes passing through has, with probability ``rate``, one
    byte flipped, and junk bytes are injected now and then: the link's CRC
    and COBS delimiters must turn all of it into retransmissions.
    """

    def __init__(self, target_port: int, rate: float = 0.08, seed: int = 5) -> None:
        self.rng = random.Random(seed)
        self.rate = rate
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.target_port = target_port
        self.corrupted = 0
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        client, _ = self.server.accept()
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        src.settimeout(0.1)
        while not self.stop.is_set():
            try:
                data = bytearray(src.recv(4096))
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            if self.rng.random() < self.rate:
                data[self.rng.randrange(len(data))] ^= 1 << self.rng.randrange(8)
                self.corrupted += 1
            if self.rng.random() < self.rate / 3:
                data += bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(1, 40)))
                self.corrupted += 1
            try:
                dst.sendall(bytes(data))
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        self.server.close()


def test_gateway_relays_valid_updates_through_line_noise(host, board, broker_config) -> None:
    relay = NoiseRelay(board.port)
    try:
        for bridge in _bridge(f"socket://127.0.0.1:{relay.port}", broker_config):
            device, _ = _first_round(host, bridge)
            host.publish_model(host.model + 0.01, 2)
            host.announce(2)
            _, update, data = host.expect("update", sgc.MSG_SPARSE_UPDATE, STEP_TIMEOUT_S * 2,
                                          device=device, rnd=2)
            assert sgc.decode(data).k == update.k
            assert relay.corrupted > 0
            counters = bridge.link.counters
            assert counters.rx_dropped + counters.tx_retries > 0
    finally:
        relay.close()


# -- without boards -------------------------------------------------------------------


def test_gateway_refuses_no_boards_and_a_board_named_twice(broker_config) -> None:
    with pytest.raises(ValueError, match="at least one board"):
        Gateway([], broker_config)
    with pytest.raises(ValueError, match="twice"):
        Gateway(["loop://", "loop://"], broker_config)


def test_sparrow_gateway_reports_a_board_it_cannot_open_clearly(tmp_path) -> None:
    run = subprocess.run([sys.executable, "-m", "sparrow.common.cli", "gateway", "--broker-port", "1",
                          "--board", str(tmp_path / "ttyNOPE")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "sparrow gateway: cannot open board" in run.stderr
