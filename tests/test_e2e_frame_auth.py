"""Authenticated frames end to end over a real mosquitto: host with device keys, keyed Linux agents, forgers."""
from __future__ import annotations

import json
import os
import threading
import time

import numpy as np
import pytest

import sgc

from sparrow.agent.config import AgentConfig
from sparrow.agent.node import Agent
from sparrow.common import control
from sparrow.common.keys import JOB_KEY_NAME, KeyRing, device_key_name
from sparrow.host.config import HostConfig
from sparrow.host.lab.processes import start_agent
from sparrow.host.server import Host
from support.mqtt_probe import Probe

pytestmark = [pytest.mark.timeout(90)]

WRONG_KEY = bytes(range(32))


def _agent_args(keys: str, device: int, count: int) -> list[str]:
    return ["--node-index", str(device - 1), "--num-nodes", str(count), "--dataset", "digits",
            "--model", "mlp_digits", "--compressor", "laplace", "--density", "0.05",
            "--key", os.path.join(keys, device_key_name(device)), "--job-key", os.path.join(keys, JOB_KEY_NAME)]


def test_two_keyed_agents_train_digits_and_every_frame_is_tagged_both_ways(
        broker_config, agent_logs, tmp_path) -> None:
    folder = str(tmp_path / "keys")
    ring = KeyRing.make(folder, [1, 2])
    probe = Probe(broker_config)
    agents = [start_agent(broker_config, d, _agent_args(folder, d, 2), str(tmp_path)) for d in (1, 2)]
    try:
        config = HostConfig(dataset="digits", model="mlp_digits", rounds=40, lr=0.1, momentum=0.9, batch_size=32,
                            min_nodes=2, deadline_s=20.0, eval_every=40, run_dir=str(tmp_path / "run"),
                            progress=False, device_keys=folder)
        summary = Host(config, broker_config).run()
        for process in agents:
            assert process.wait(timeout=15) == 0, agent_logs()
    finally:
        for process in agents:
            if process.poll() is None:
                process.kill()
        probe.close()
    assert summary.rounds == 40 and summary.updates == 80, agent_logs()
    assert summary.rejected == 0 and summary.control_rejected == 0
    assert summary.final_accuracy > 0.8
    frames = probe.by_kind()
    for kind in ("update", "control"):  # up: each under its sender's key
        assert frames[kind], kind
        for topic, frame in frames[kind]:
            assert sgc.decode(frame, key=ring.device(int(topic.rsplit("/", 1)[1]))).authenticated
    for kind in ("model", "round", "ack"):
        assert frames[kind], kind
    for kind in ("model", "round", "ack", "sync"):  # down: under the job key
        for _, frame in frames.get(kind, []):
            assert sgc.decode(frame, key=ring.job).authenticated
    for device in (1, 2):
        reported = json.loads((tmp_path / f"agent-{device}.log").read_text().splitlines()[-1])
        assert reported["auth_dropped"] == 0 and reported["accepted"] > 0, reported


@pytest.mark.parametrize("agent_extra, host_extra", [
    (["--mode", "average", "--local-steps", "2"], {"mode": "average"}),
    (["--comm", "segmented", "--segment-plan", "per_layer"], {"comm": "segmented"}),
], ids=["model-averaging", "segmented"])
def test_model_averaging_deltas_and_segmented_updates_are_tagged_and_accepted(
        broker_config, agent_logs, tmp_path, agent_extra, host_extra) -> None:
    folder = str(tmp_path / "keys")
    ring = KeyRing.make(folder, [1])
    probe = Probe(broker_config)
    agent = start_agent(broker_config, 1, _agent_args(folder, 1, 1) + agent_extra, str(tmp_path))
    try:
        config = HostConfig(dataset="digits", model="mlp_digits", rounds=5, batch_size=32, min_nodes=1,
                            deadline_s=20.0, eval_every=5, run_dir=str(tmp_path / "run"), progress=False,
                            device_keys=folder, **host_extra)
        summary = Host(config, broker_config).run()
        assert agent.wait(timeout=15) == 0, agent_logs()
    finally:
        if agent.poll() is None:
            agent.kill()
        probe.close()
    assert summary.per_device["1"]["accepted"] == 5, (summary.per_device, agent_logs())
    assert summary.rejected == 0 and set(summary.per_device["1"]) <= {"accepted", "partial"}
    updates = probe.by_kind()["update"]
    assert len(updates) >= 5
    for _, frame in updates:
        assert sgc.decode(frame, key=ring.device(1)).authenticated
    if "comm" in host_extra:
        assert max(sgc.decode(f).segment_count for _, f in updates) > 1  # really in segments
        assert all(sgc.decode(f, key=ring.job).authenticated for _, f in probe.by_kind()["sync"])


def test_untagged_and_wrongly_tagged_frames_are_refused_counted_and_never_applied(
        broker_config, agent_logs, tmp_path) -> None:
    folder = str(tmp_path / "keys")
    ring = KeyRing.make(folder, [1, 2])
    probe = Probe(broker_config)
    config = HostConfig(dataset="digits", model="mlp_digits", rounds=3, batch_size=32, min_nodes=1,
                        deadline_s=20.0, run_dir=str(tmp_path / "run"), progress=False, device_keys=folder)
    host = Host(config, broker_config)
    result: dict[str, object] = {}
    thread = threading.Thread(target=lambda: result.update(summary=host.run()))
    thread.start()
    agent = None
    try:
        probe.wait_text("status/host", b"online")
        n = host.n
        huge = np.full(n, 1e6, np.float32)
        everywhere = np.arange(n, dtype=np.uint32)
        # Device 2 has a key but no node: a forger sends its update untagged, then tagged with a wrong key.
        probe.publish("update/2", sgc.encode_sparse(n, everywhere, huge, device_id=2, round=1))
        probe.publish("update/2", sgc.encode_sparse(n, everywhere, huge, device_id=2, round=1, seq=1, key=WRONG_KEY))
        # Device 1's topic, the real node's: tagged with another device's key.
        probe.publish("update/1", sgc.encode_sparse(n, everywhere, huge, device_id=1, round=1, seq=9,
                                                    key=ring.device(2)))
        probe.publish("control/2", sgc.encode_control(sgc.MSG_HELLO, control.Hello(10**6).pack(), device_id=2))
        probe.publish("control/2", sgc.encode_control(sgc.MSG_RESYNC, control.Resync(0).pack(), device_id=2,
                                                      key=WRONG_KEY))
        agent = start_agent(broker_config, 1, _agent_args(folder, 1, 1), str(tmp_path))
        thread.join(timeout=60)
        assert not thread.is_alive(), agent_logs()
        assert agent.wait(timeout=15) == 0, agent_logs()
    finally:
        host.stop()
        thread.join(timeout=10)
        if agent is not None and agent.poll() is None:
            agent.kill()
        probe.close()
    summary = result["summary"]
    assert summary.reject_reasons == {"auth": 3}, summary.reject_reasons  # type: ignore[attr-defined]
    assert summary.rejected == 3 and summary.control_rejected == 2  # type: ignore[attr-defined]
    assert summary.updates == 3  # type: ignore[attr-defined]
    assert set(summary.per_device) == {"1"}  # type: ignore[attr-defined]  # no trace of the named device 2
    assert summary.per_device["1"] == {"accepted": 3}  # type: ignore[attr-defined]
    assert 2 not in host.samples
    assert not any(topic.endswith("/2") for topic, _ in probe.by_kind().get("sync", []) + probe.by_kind().get("ack", []))
    assert np.all(np.abs(host.final_params()) < 100)  # the 1e6 updates never reached the model


def test_a_model_frame_forged_under_a_wrong_key_is_dropped_by_the_agent(broker_config, tmp_path) -> None:
    folder = str(tmp_path / "keys")
    ring = KeyRing.make(folder, [4])
    node = Agent(AgentConfig(model="mlp_digits", device_id=4, key=os.path.join(folder, "4.key"),
                             job_key=os.path.join(folder, JOB_KEY_NAME), exit_when_done=True), broker_config)
    probe = Probe(broker_config)
    stop = threading.Event()
    thread = threading.Thread(target=node.run, args=(stop,))
    thread.start()
    try:
        assert node.transport.connected.wait(10)
        time.sleep(0.3)  # its subscriptions are made in on_connect
        probe.publish("model", sgc.encode_dense(np.full(node.n, 7.0, np.float32), round=1, key=WRONG_KEY))
        probe.publish("model", sgc.encode_dense(np.full(node.n, 5.0, np.float32), round=1))  # untagged
        probe.publish("model", sgc.encode_dense(np.full(node.n, 0.5, np.float32), round=1, key=ring.job))
        deadline = time.monotonic() + 10
        while node.params is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=10)
        probe.close()
    assert node.gate.dropped == 2
    assert node.params is not None and np.all(node.params == 0.5)
    sent = probe.by_kind()["control"]
    assert sent and all(sgc.decode(f, key=ring.device(4)).authenticated for _, f in sent)
