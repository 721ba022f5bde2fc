"""A MicroPython node given no model description learns it from the host and trains with it.

Real host, real mosquitto, the real ``micropython`` binary running agent/mp/main.py
with a config that has a shard but no ``spec``.
"""
from __future__ import annotations

import json

import pytest

from sparrow.host.config import HostConfig
from sparrow.host.lab.fleet import prepare_micropython_node, start_micropython_node
from sparrow.host.lab.processes import stop_processes
from sparrow.host.server import Host

pytestmark = pytest.mark.slow


def test_a_micropython_node_without_a_model_file_learns_the_model_from_the_host(broker_config, tmp_path) -> None:
    config_path = prepare_micropython_node(tmp_path, broker_config, device=41, share=2, density=0.05, max_batch=8)
    settings = json.loads(config_path.read_text())
    del settings["spec"]
    config_path.write_text(json.dumps(settings))
    log = tmp_path / "mp-41.log"
    node = start_micropython_node(config_path, log)
    host = HostConfig(dataset="watch", model="cnn1d_watch", rounds=6, batch_size=8, min_nodes=1, deadline_s=60.0,
                      start_timeout_s=60.0, eval_every=3, progress=False, run_dir=str(tmp_path / "run"))
    try:
        summary = Host(host, broker_config).run()
    finally:
        stop_processes([node], grace_s=30)
    text = log.read_text(errors="replace")
    assert summary.per_device.get("41", {}).get("accepted", 0) >= 5, (summary.per_device, text[-2000:])
    assert "bad model description" not in text and "does not match" not in text
    assert json.loads(text.strip().splitlines()[-1])["rounds"] >= 5
