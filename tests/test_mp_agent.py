"""The MicroPython agent (agent/mp/) on the MicroPython unix port.

Its model maths are checked against agent/npmodel.py, its shard file and
selection in CPython (the same modules run there), and the whole node
against the test's mosquitto with a scripted host (tests/support/gateway.py).
"""
from __future__ import annotations

import json
import math
import subprocess
import time
from array import array
from typing import Iterator

import numpy as np
import pytest

import sgc

from sparrow.common import control
from sparrow.common.modelspec import get_spec, init_params
from sparrow.agent.npmodel import loss_and_grad

from support.gateway import HostStub
from support.mp_agent import (MICROPYTHON, MP_DIR, mpnode, prepare_micropython_node, shard_file,
                                   start_micropython_node, watch_share)

pytestmark = pytest.mark.timeout(120)

SPEC = get_spec("cnn1d_watch")
STEP_TIMEOUT_S = 30

GRAD_SCRIPT = """
import sys, json
sys.path.append(%(mp)r)
from array import array
import mpnn
m = mpnn.Model(json.load(open(%(spec)r)))
p = array("f", open(%(params)r, "rb").read())
raw = open(%(x)r, "rb").read()
size = 4 * m.input_size
xs = [array("f", raw[i:i + size]) for i in range(0, len(raw), size)]
g = array("f", bytes(4 * m.num_params))
loss = m.loss_and_grad(p, xs, %(labels)r, g)
open(%(out)r, "wb").write(bytes(g))
print(json.dumps({"loss": loss, "predict": m.predict(p, xs[0])}))
"""


def test_micropython_model_gradient_matches_numpy_on_a_watch_batch(tmp_path) -> None:
    x, y = watch_share(4)
    x, y = x[:6], [int(c) for c in y[:6]]
    params = init_params(SPEC, seed=2)
    (tmp_path / "spec.json").write_text(json.dumps(SPEC.to_dict()))
    params.astype("<f4").tofile(tmp_path / "p.bin")
    np.ascontiguousarray(x, dtype="<f4").tofile(tmp_path / "x.bin")
    script = GRAD_SCRIPT % {"mp": str(MP_DIR), "spec": str(tmp_path / "spec.json"), "params": str(tmp_path / "p.bin"),
                            "x": str(tmp_path / "x.bin"), "labels": y, "out": str(tmp_path / "g.bin")}
    (tmp_path / "grad.py").write_text(script)
    run = subprocess.run([MICROPYTHON, str(tmp_path / "grad.py")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    got = np.fromfile(tmp_path / "g.bin", dtype="<f4")
    loss, grad = loss_and_grad(SPEC, params, x, np.array(y))
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["loss"] == pytest.approx(float(loss), rel=1e-5)
    np.testing.assert_allclose(got, grad, rtol=1e-4, atol=1e-6)


def test_shard_file_round_trips_samples_and_labels(tmp_path) -> None:
    x = np.arange(3 * 2 * 4, dtype="<f4").reshape(3, 2, 4)
    shard_file.write(str(tmp_path / "s.bin"), x.tobytes(), [0, 2, 1], 2, 4, 3)
    shard = shard_file.Shard(str(tmp_path / "s.bin"))
    assert (shard.count, shard.channels, shard.length, shard.classes) == (3, 2, 4, 3)
    assert list(shard.labels) == [0, 2, 1]
    np.testing.assert_array_equal(np.array(shard.sample(2)), x[2].ravel())
    shard.close()


def test_shard_file_rejects_labels_outside_the_classes(tmp_path) -> None:
    with pytest.raises(ValueError, match="labels"):
        shard_file.write(str(tmp_path / "s.bin"), bytes(4 * 8), [0, 3], 1, 4, 3)


def test_top_k_picks_the_largest_magnitudes_in_ascending_order() -> None:
    values = array("f", [0.1, -5.0, 0.0, 3.0, -0.2, 4.0])
    assert list(mpnode.top_k(values, 3)) == [1, 3, 5]


def test_batch_indices_are_distinct_and_repeatable_per_round() -> None:
    first = mpnode.batch_indices(240, 16, 0, 7, 3)
    assert len(set(first)) == 16 and all(0 <= i < 240 for i in first)
    assert first == mpnode.batch_indices(240, 16, 0, 7, 3)
    assert first != mpnode.batch_indices(240, 16, 0, 7, 4)
    assert sorted(mpnode.batch_indices(5, 16, 0, 7, 3)) == [0, 1, 2, 3, 4]


@pytest.fixture
def host(broker_config) -> Iterator[HostStub]:
    with HostStub(broker_config) as stub:
        yield stub


def test_micropython_agent_joins_and_sends_valid_compressed_updates(broker_config, host, tmp_path) -> None:
    device, index = 41, 4
    config = prepare_micropython_node(tmp_path, broker_config, device, index, density=0.02)
    node = start_micropython_node(config, tmp_path / "mp.log")
    try:
        _, hello, _ = host.expect("control", sgc.MSG_HELLO, STEP_TIMEOUT_S, device=device)
        x, y = watch_share(index)
        assert control.Hello.unpack(bytes(hello.payload)).num_samples == y.size
        assert host.wait_online(device, 5)
        host.expect("control", sgc.MSG_RESYNC, STEP_TIMEOUT_S, device=device)

        host.transport.publish(host.topics.model, b"SP-not-a-frame")  # logged and ignored
        params = init_params(SPEC, seed=0)
        host.publish_model(params, 1, chunk_size=1024)  # as for MCU-class links: 14 chunks
        host.announce(1, batch_size=8)
        _, update, data = host.expect("update", sgc.MSG_SPARSE_UPDATE, STEP_TIMEOUT_S, device=device, rnd=1)
        k = math.ceil(0.02 * SPEC.num_params)
        assert (update.n, update.k, update.device_id) == (SPEC.num_params, k, device)
        # What it sent is the top of its first gradient (residual starts at zero).
        picks = mpnode.batch_indices(y.size, 8, 0, device, 1)
        _, grad = loss_and_grad(SPEC, params, x[picks], y[picks])
        np.testing.assert_allclose(update.values, grad[update.indices], rtol=1e-4, atol=1e-6)
        expected = set(np.argsort(-np.abs(grad))[:k].tolist())
        assert len(expected & set(update.indices.tolist())) >= k - 2

        # A sparse model delta of the next version is applied, and round 2 answered.
        delta = sgc.encode_sparse(SPEC.num_params, np.array([0, 5], np.uint32),
                                  np.array([0.5, -0.5], np.float32), round=2, msg_type=sgc.MSG_SPARSE_MODEL_DELTA)
        host.transport.publish_frame(host.topics.model, delta)
        host.announce(2, batch_size=8)
        _, second, _ = host.expect("update", sgc.MSG_SPARSE_UPDATE, STEP_TIMEOUT_S, device=device, rnd=2)
        assert second.seq == update.seq + 1

        host.announce(3, flags=control.ROUND_DONE)
        assert node.wait(timeout=STEP_TIMEOUT_S) == 0
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()
    log = (tmp_path / "mp.log").read_text()
    assert "bad frame" in log
    report = json.loads(log.strip().splitlines()[-1])
    assert report["device_id"] == device and report["rounds"] == 2 and report["accepted"] == 0


def test_micropython_agent_reconnects_after_a_broker_restart_and_keeps_training(
        broker_config, host, mosquitto, tmp_path) -> None:
    device = 42
    node = start_micropython_node(prepare_micropython_node(tmp_path, broker_config, device, 5),
                                  tmp_path / "mp.log")
    try:
        host.expect("control", sgc.MSG_HELLO, STEP_TIMEOUT_S, device=device)
        host.publish_model(init_params(SPEC, seed=0), 1)
        host.announce(1)
        host.expect("update", sgc.MSG_SPARSE_UPDATE, STEP_TIMEOUT_S, device=device, rnd=1)
        connects = host.transport.connects
        mosquitto.restart(down_s=1.0)
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while host.transport.connects == connects:
            assert time.monotonic() < deadline, "the scripted host did not reconnect"
            time.sleep(0.05)
        # The node reconnects on its own (it may come back before or after the
        # model is published: then it asks for it with RESYNC) and answers.
        host.publish_model(host.model + 0.01, 2)
        host.announce(2)
        host.expect("update", sgc.MSG_SPARSE_UPDATE, STEP_TIMEOUT_S, device=device, rnd=2)
        host.announce(3, flags=control.ROUND_DONE)
        assert node.wait(timeout=STEP_TIMEOUT_S) == 0
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()
    assert "reconnecting" in (tmp_path / "mp.log").read_text()
