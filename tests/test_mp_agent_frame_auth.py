"""A MicroPython node with its key files trains with a host that holds device keys; forged model frames are dropped.

Real host, real mosquitto, the real ``micropython`` binary running agent/mp/main.py.
"""
from __future__ import annotations

import json
import threading

import numpy as np
import pytest

import sgc

from sparrow.common.keys import JOB_KEY_NAME, KeyRing, device_key_name
from sparrow.host.config import HostConfig
from sparrow.host.lab.fleet import prepare_micropython_node, start_micropython_node
from sparrow.host.lab.processes import stop_processes
from sparrow.host.server import Host
from support.mp_agent import mpnode
from support.mqtt_probe import Probe

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]


def test_a_keyed_micropython_node_tags_its_frames_and_drops_forged_models(broker_config, tmp_path) -> None:
    device = 41
    folder = tmp_path / "keys"
    ring = KeyRing.make(str(folder), [device])
    config_path = prepare_micropython_node(tmp_path, broker_config, device=device, share=2, density=0.05, max_batch=8,
                                           key_file=str(folder / device_key_name(device)),
                                           job_key_file=str(folder / JOB_KEY_NAME))
    probe = Probe(broker_config)
    log = tmp_path / "mp-41.log"
    node = start_micropython_node(config_path, log)
    config = HostConfig(dataset="watch", model="cnn1d_watch", rounds=4, batch_size=8, min_nodes=1, deadline_s=60.0,
                        start_timeout_s=60.0, eval_every=4, progress=False, run_dir=str(tmp_path / "run"),
                        device_keys=str(folder))
    host = Host(config, broker_config)
    result: dict[str, object] = {}
    thread = threading.Thread(target=lambda: result.update(summary=host.run()))
    thread.start()
    try:
        probe.wait_for("round", timeout_s=60)
        forged = np.full(host.n, 3.0, np.float32)
        probe.publish("model", sgc.encode_dense(forged, round=host.book.round, key=bytes(32)))
        probe.publish("model", sgc.encode_dense(forged, round=host.book.round))
        thread.join(timeout=120)
    finally:
        host.stop()
        thread.join(timeout=10)
        stop_processes([node], grace_s=30)
        probe.close()
    text = log.read_text(errors="replace")
    summary = result["summary"]
    assert summary.per_device.get(str(device)) == {"accepted": 4}, text[-2000:]  # type: ignore[attr-defined]
    assert summary.rejected == 0 and summary.control_rejected == 0  # type: ignore[attr-defined]
    report = json.loads(text.strip().splitlines()[-1])
    assert report["auth_dropped"] == 2 and report["accepted"] == 4, report
    frames = probe.by_kind()
    for _, frame in frames["update"] + frames["control"]:
        assert sgc.decode(frame, key=ring.device(device)).authenticated


def test_a_key_file_on_the_node_that_is_not_a_key_is_refused_with_its_name(tmp_path) -> None:
    bad = tmp_path / "41.key"
    bad.write_text("00" * 31 + "\n")
    with pytest.raises(ValueError, match="41.key: expected 64 hex characters"):
        mpnode.key_file.load(str(bad))
    good = tmp_path / "42.key"
    good.write_text("ab" * 32 + "\n")
    assert mpnode.key_file.load(str(good)) == b"\xab" * 32 and mpnode.key_file.load("") is None
