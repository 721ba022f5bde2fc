"""``sparrow fleet init --tls``: a job CA, the broker's certificate, one client certificate per account.

The broker from ``Mosquitto.for_fleet`` on such a fleet speaks TLS only and
demands a client certificate from the job CA on top of the account's
password; a device's own BrokerConfig (``Fleet.broker_config``) carries both.
"""
from __future__ import annotations

import dataclasses
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sparrow.common.config import BrokerConfig
from sparrow.common.transport import Topics, Transport
from sparrow.host.broker import Mosquitto
from sparrow.host.fleet import Fleet
from test_attack_topics import update_frame

pytestmark = pytest.mark.timeout(90)

REFUSED_WAIT_S = 3.0


def connect(config: BrokerConfig, name: str, subscriptions: list[tuple[str, int]] | None = None,
            frames: list[bytes] | None = None) -> Transport:
    transport = Transport(config, client_id=name, status_name=name, subscriptions=subscriptions or [],
                          on_frame=lambda t, f: frames.append(f) if frames is not None else None,
                          on_text=lambda t, p: None, on_error=lambda t, e: None)
    transport.start(wait_s=REFUSED_WAIT_S)
    return transport


def test_a_tls_fleet_lets_in_only_accounts_with_their_certificate(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "sparrow.common.cli", "fleet", "init", str(tmp_path / "fleet"),
                           "--job", "secure", "--tls"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    fleet = Fleet.open(tmp_path / "fleet")
    fleet.add(1)
    fleet.add(2)
    for name in ("ca.key", "server.key", "host.key", "node-1.key"):
        assert stat.S_IMODE((fleet.tls_dir / name).stat().st_mode) == 0o600, name
    workdir = tmp_path / "mosquitto"
    workdir.mkdir()
    with Mosquitto.for_fleet(fleet.path, workdir=str(workdir)) as broker:
        assert broker.tls is not None and broker.tls.require_client_cert
        base = BrokerConfig(port=broker.port, job="secure", keepalive_s=2, reconnect_min_s=0.1, reconnect_max_s=1.0)
        topics = Topics("secure")
        frames: list[bytes] = []
        host = connect(fleet.broker_config(base, 0), "host", [(f"{topics.root}/update/+", 1)], frames)
        node = connect(fleet.broker_config(base, 1), "node-1")
        try:
            frame = update_frame(1, 0.5)
            node.publish_frame(topics.update(1), frame)
            deadline = time.monotonic() + 5
            while not frames and time.monotonic() < deadline:
                time.sleep(0.02)
            assert frames == [frame]
        finally:
            node.stop()
            host.stop()
        without_certificate = dataclasses.replace(fleet.broker_config(base, 2), tls_cert=None, tls_key=None)
        with pytest.raises(TimeoutError):
            connect(without_certificate, "no-cert")
        wrong_password = dataclasses.replace(fleet.broker_config(base, 2), password="guess")
        with pytest.raises(TimeoutError, match="refused"):
            connect(wrong_password, "guesser")
        plain = dataclasses.replace(fleet.broker_config(base, 2), tls_ca=None, tls_cert=None, tls_key=None)
        with pytest.raises(TimeoutError):
            connect(plain, "plain")

    fleet.remove(2)
    assert not (fleet.tls_dir / "node-2.crt").exists() and not (fleet.tls_dir / "node-2.key").exists()
