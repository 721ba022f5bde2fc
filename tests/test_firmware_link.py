"""The boards' UART link: model down, compressed update up, through noise and resets.

Each board runs ``firmware/app/node.c`` under QEMU with its UART on a TCP
socket, opened with pyserial's ``socket://`` URL exactly as a gateway opens
``/dev/ttyUSB0``. The test plays the gateway with the gateway's own link
(``agent/gateway_link.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import serial
import torch

import sgc

ROOT = Path(__file__).resolve().parents[1]

import generated  # noqa: E402
import qemu  # noqa: E402
from sparrow.agent.gateway import parse_board_hello  # noqa: E402
from sparrow.agent.gateway_link import SerialLink, model_frames  # noqa: E402
from sparrow.host.torch_model import build_torch_model, flat_grad, set_flat  # noqa: E402

NODE_BATCH = 16  # NODE_BATCH of firmware/app/node.c
UPDATE_TIMEOUT_S = 60


class Board:
    """A node under QEMU (qemu.BoardProcess) and the serial port to it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.process = qemu.BoardProcess(name, "node")
        self.process.wait_ready()
        self.serial = serial.serial_for_url(self.process.url, timeout=0.02)

    def reset(self) -> None:
        self.process.reset()

    def close(self) -> None:
        self.serial.close()
        self.process.close()


class NoisyPort:
    """A serial port whose line flips bits and injects junk in both directions."""

    def __init__(self, port: serial.SerialBase, rate: float, seed: int) -> None:
        self.port = port
        self.rate = rate
        self.rng = np.random.default_rng(seed)

    def _garble(self, data: bytes) -> bytes:
        if not data:
            return data
        buf = np.frombuffer(data, dtype=np.uint8).copy()
        hits = self.rng.random(buf.size) < self.rate
        buf[hits] ^= (1 << self.rng.integers(0, 8, hits.sum())).astype(np.uint8)
        junk = self.rng.integers(0, 256, self.rng.poisson(self.rate * buf.size)).astype(np.uint8)
        return buf.tobytes() + junk.tobytes()

    def write(self, data: bytes) -> None:
        self.port.write(self._garble(data))

    def read(self, size: int) -> bytes:
        return self._garble(self.port.read(size))


@pytest.fixture(params=qemu.BOARDS)
def board(request: pytest.FixtureRequest) -> Iterator[Board]:
    qemu.build((request.param,))
    b = Board(request.param)
    try:
        yield b
    finally:
        b.close()


class Gateway:
    """The test's side of the link: sends models, collects updates."""

    def __init__(self, port: object) -> None:
        self.link = SerialLink(port)
        self.seq = 0

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def expect(self, msg_type: int, timeout: float = UPDATE_TIMEOUT_S) -> sgc.Frame:
        return self.link.expect(msg_type, timeout)

    def send_model(self, params: np.ndarray, round: int) -> None:
        for frame in model_frames(params, round=round, next_seq=self.next_seq):
            self.link.send(frame, timeout=UPDATE_TIMEOUT_S)


def test_board_says_hello_and_sends_the_top_k_of_its_gradient(board):
    ref = generated.load(board.name)
    spec, params = ref.spec, ref.params
    gw = Gateway(board.serial)
    hello = parse_board_hello(gw.expect(sgc.MSG_HELLO).payload)
    assert hello.board == board.name and hello.model == spec.name
    assert hello.n == spec.num_params
    k = hello.k
    gw.send_model(params, round=7)
    update = gw.expect(sgc.MSG_SPARSE_UPDATE)
    assert (update.round, update.n) == (7, spec.num_params)
    idx, vals = update.indices, update.values
    assert abs(len(idx) - k) <= 0.05 * k + 1
    module = build_torch_model(spec, seed=None)
    set_flat(module, params)
    x, y = ref.batch(0, NODE_BATCH)
    torch.nn.functional.cross_entropy(module(torch.from_numpy(x)), torch.from_numpy(y)).backward()
    grad = flat_grad(module)
    # The residual starts at zero, so the update is the largest |gradient| entries.
    np.testing.assert_allclose(vals, grad[idx], rtol=1e-3, atol=1e-6)
    smallest_sent = np.abs(vals).min()
    assert np.sum(np.abs(grad) > smallest_sent * 1.001) <= len(idx)


# The slower link tests run on one board of each CPU family and UART driver
# kind (CMSDK UART on Cortex-M4F, 16550 on rv32imc).
TWO_BOARDS = ["mps2-an386", "riscv32-virt"]


@pytest.mark.slow
@pytest.mark.parametrize("board", TWO_BOARDS, indirect=True)
def test_every_update_arrives_once_through_line_noise(board):
    params = generated.load(board.name).params
    noisy = NoisyPort(board.serial, rate=2e-4, seed=5)
    gw = Gateway(noisy)
    gw.expect(sgc.MSG_HELLO)
    rounds = []
    for r in range(1, 3):
        gw.send_model(params, round=r)
        rounds.append(gw.expect(sgc.MSG_SPARSE_UPDATE).round)
    assert rounds == [1, 2]
    c = gw.link.counters
    assert c.rx_dropped + c.tx_retries > 0, "the noise should have cost something"


def test_exchange_resumes_after_a_board_reset(board):
    params = generated.load(board.name).params
    gw = Gateway(board.serial)
    gw.expect(sgc.MSG_HELLO)
    gw.send_model(params, round=1)
    assert gw.expect(sgc.MSG_SPARSE_UPDATE).round == 1
    board.reset()
    hello = gw.expect(sgc.MSG_HELLO)
    assert hello.seq == 1, "a reset board counts its frames from 1 again"
    gw.send_model(params, round=2)
    update = gw.expect(sgc.MSG_SPARSE_UPDATE)
    assert update.round == 2 and update.seq > hello.seq


@pytest.mark.parametrize("board", TWO_BOARDS, indirect=True)
def test_a_replayed_model_of_an_answered_round_gets_no_second_update(board):
    params = generated.load(board.name).params
    gw = Gateway(board.serial)
    gw.expect(sgc.MSG_HELLO)
    gw.send_model(params, round=3)
    assert gw.expect(sgc.MSG_SPARSE_UPDATE).round == 3
    gw.send_model(params, round=3)
    with pytest.raises(TimeoutError):
        gw.expect(sgc.MSG_SPARSE_UPDATE, timeout=2.0)
    gw.send_model(params, round=4)
    assert gw.expect(sgc.MSG_SPARSE_UPDATE).round == 4
