"""Authenticated frames through the serial gateway: an emulated board whose image holds its key, a real host.

The board runs ``firmware/app/node.c`` under QEMU from a copy of the image that
``firmware/tools/provision_key.py`` gave the board's key; the gateway holds the
board's key (for the HELLO and RESYNC it says for the board) and the job key;
the host holds every device key and refuses what does not verify.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

import sgc

from sparrow.agent.gateway import Gateway
from sparrow.common.keys import KeyRing, device_key_name
from sparrow.host.config import HostConfig
from sparrow.host.server import Host
from support.gateway import qemu
from support.mqtt_probe import Probe

import provision_key  # noqa: E402  (firmware/tools)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

BOARD = "mps2-an386"


def _board_device_id(name: str) -> int:
    """The id firmware/app/node.c gives a board: FNV-1a of its name."""
    h = 2166136261
    for byte in name.encode():
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return h


@pytest.fixture(scope="module")
def built() -> None:
    qemu.build((BOARD,))


@pytest.fixture
def keys(tmp_path: Path) -> KeyRing:
    return KeyRing.make(str(tmp_path / "keys"), [_board_device_id(BOARD)])


def _provisioned(tmp_path: Path, keys: KeyRing, device: int) -> Path:
    image = tmp_path / f"node-{device}.elf"
    key_file = str(Path(keys.folder) / device_key_name(device))
    assert provision_key.main(["--image", str(qemu.elf_path(BOARD, "node")), "--key", key_file,
                               "--out", str(image)]) == 0
    return image


@pytest.fixture
def board(built: None, keys: KeyRing, tmp_path: Path) -> Iterator[qemu.BoardProcess]:
    image = _provisioned(tmp_path, keys, _board_device_id(BOARD))
    with qemu.BoardProcess(BOARD, image=image) as process:
        yield process


def test_a_provisioned_board_trains_through_the_gateway_with_every_frame_tagged(
        built, board, keys, broker_config, tmp_path) -> None:
    device = _board_device_id(BOARD)
    probe = Probe(broker_config)
    gateway = Gateway([board.url], broker_config, device_keys=keys.folder)
    config = HostConfig(dataset="watch", model="cnn1d_watch", rounds=3, batch_size=16, min_nodes=1,
                        deadline_s=30.0, start_timeout_s=30.0, eval_every=3, progress=False,
                        run_dir=str(tmp_path / "run"), device_keys=keys.folder)
    host = Host(config, broker_config)
    result: dict[str, object] = {}
    thread = threading.Thread(target=lambda: result.update(summary=host.run()))
    thread.start()
    gateway.start()
    try:
        probe.wait_for("round", timeout_s=40)
        # A model forged under a wrong key never reaches the board.
        probe.publish("model", sgc.encode_dense(np.full(host.n, 9.0, np.float32), round=host.book.round,
                                                key=bytes(32)))
        thread.join(timeout=90)
        assert not thread.is_alive()
    finally:
        host.stop()
        thread.join(timeout=10)
        gateway.stop()
        probe.close()
    summary = result["summary"]
    assert summary.per_device == {str(device): {"accepted": 3}}, summary.per_device  # type: ignore[attr-defined]
    assert summary.rejected == 0 and summary.control_rejected == 0  # type: ignore[attr-defined]
    (row,) = gateway.report()
    assert row["auth_dropped"] == 1
    frames = probe.by_kind()
    board_key = keys.device(device)
    for _, frame in frames["update"] + frames["control"]:
        assert sgc.decode(frame, key=board_key).authenticated  # the board's own tag, relayed unchanged
    assert frames["update"][-1][1] == gateway.bridges[0].last_update[1]  # byte for byte


def test_provisioning_refuses_an_image_without_a_key_record_and_leaves_the_built_image_key_free(
        built, keys, tmp_path) -> None:
    built_image = qemu.elf_path(BOARD, "node").read_bytes()
    record = built_image.find(provision_key.MARKER)
    assert record >= 0 and built_image[record + 16:record + 20] == b"\x00\x00\x00\x00"
    device = _board_device_id(BOARD)
    image = _provisioned(tmp_path, keys, device).read_bytes()
    assert len(image) == len(built_image)
    assert image[record + 20:record + 52] == keys.device(device)
    with pytest.raises(ValueError, match="no key record"):
        provision_key.provision(b"\x7fELF" + bytes(100), keys.device(device))
    with pytest.raises(ValueError, match="twice"):
        provision_key.provision(built_image + built_image, keys.device(device))
