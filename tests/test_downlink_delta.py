"""The compressed downlink: sparse deltas with every value coding, refreshes, and the checksum that repairs copies."""
from __future__ import annotations

import struct

import numpy as np
import pytest

import sgc
from sparrow.agent.config import AgentConfig
from sparrow.agent.node import Agent
from sparrow.common import control
from sparrow.common.checksum import model_checksum
from sparrow.common.config import BrokerConfig
from sparrow.host.config import HostConfig
from sparrow.host.downlink import DeltaDownlink
from sparrow.host.server import Host
from support.mp_agent import mpnode


def drifting_params(rng: np.random.Generator, n: int, rounds: int) -> list[np.ndarray]:
    """A parameter trajectory like an optimizer's: small steps on all coordinates."""
    params, out = rng.standard_normal(n).astype(np.float32), []
    for _ in range(rounds):
        params = (params - 0.01 * rng.standard_normal(n)).astype(np.float32)
        out.append(params.copy())
    return out


@pytest.mark.parametrize("coding", ["fp32", "fp16", "int8"])
def test_a_node_applying_every_delta_holds_the_hosts_shadow_bit_for_bit(coding: str) -> None:
    rng = np.random.default_rng(0)
    trajectory = drifting_params(rng, 500, 30)
    link = DeltaDownlink(trajectory[0], "exact", 0.05, coding, refresh_rounds=0)
    node = link.shadow.copy()
    for version, params in enumerate(trajectory[1:], start=2):
        frame = link.frame(params, version)
        assert sgc.decode(frame).msg_type == sgc.MSG_SPARSE_MODEL_DELTA
        sgc.decode_into(frame, node)
        assert model_checksum(node) == model_checksum(link.shadow)
    # Error feedback: the shadow follows the parameters (the gap stays bounded, not growing with rounds).
    assert np.linalg.norm(trajectory[-1] - link.shadow) < 0.5 * np.linalg.norm(trajectory[-1] - trajectory[0])


def test_a_refresh_sends_the_dense_model_and_closes_the_gap() -> None:
    rng = np.random.default_rng(1)
    trajectory = drifting_params(rng, 400, 12)
    link = DeltaDownlink(trajectory[0], "exact", 0.02, "int8", refresh_rounds=5)
    kinds = [sgc.decode(link.frame(p, v)).msg_type for v, p in enumerate(trajectory[1:], start=1)]
    assert [v for v, k in enumerate(kinds, start=1) if k == sgc.MSG_DENSE_MODEL] == [5, 10]
    assert link.refreshes == 2
    gapped = DeltaDownlink(trajectory[0], "exact", 0.01, "int8", refresh_gap=0.01)
    gapped.frame(trajectory[-1], 1)  # a jump far past 1% of the norm
    assert gapped.refreshes == 1 and np.array_equal(gapped.shadow, trajectory[-1])


def test_the_downlinks_whole_state_is_its_shadow_so_a_resumed_host_sends_the_same_frames() -> None:
    rng = np.random.default_rng(2)
    trajectory = drifting_params(rng, 300, 10)
    first = DeltaDownlink(trajectory[0], "exact", 0.05, "int8")
    for v, p in enumerate(trajectory[1:6], start=1):
        first.frame(p, v)
    second = DeltaDownlink(trajectory[0], "exact", 0.05, "int8")
    second.load_state_dict(first.state_dict())
    for v, p in enumerate(trajectory[6:], start=6):
        assert first.frame(p, v) == second.frame(p, v)


@pytest.fixture
def agent(monkeypatch) -> Agent:
    node = Agent(AgentConfig(model="mlp_digits", device_id=5, compressor="exact", density=0.1),
                 BrokerConfig(job="unit"))
    node.sent = []  # type: ignore[attr-defined]
    monkeypatch.setattr(node.transport, "publish_frame",
                        lambda topic, frame, qos=1, retain=False: node.sent.append((topic, sgc.decode(frame))))
    monkeypatch.setattr(node.transport, "publish", lambda *a, **k: 0)
    return node


def pointer(rnd: int, crc: int) -> bytes:
    return sgc.encode_control(sgc.MSG_ROUND_OPEN, control.RoundOpen(rnd, 1000, 16, model_crc=crc).pack(), round=rnd)


def test_an_altered_delta_is_caught_by_the_checksum_and_the_node_ends_on_the_hosts_shadow(agent: Agent) -> None:
    rng = np.random.default_rng(3)
    trajectory = drifting_params(rng, agent.n, 3)
    link = DeltaDownlink(trajectory[0], "exact", 0.1, "int8")
    agent._on_frame("m", link.initial_frame(1))
    delta = bytearray(link.frame(trajectory[1], 2))
    tampered = sgc.decode(bytes(delta))
    forged = sgc.encode_sparse(agent.n, np.asarray(tampered.indices), np.asarray(tampered.values) * 2,
                               msg_type=sgc.MSG_SPARSE_MODEL_DELTA, round=2)  # valid frame, wrong values
    agent._on_frame("m", forged)
    agent._on_frame("r", pointer(2, model_checksum(link.shadow)))
    assert agent.checksum_mismatches == 1 and agent.params is None
    assert [f.msg_type for _, f in agent.sent] == [sgc.MSG_RESYNC]  # no update from a wrong model
    # The host answers a RESYNC with its shadow; the node then trains on exactly that.
    agent._on_frame("s", sgc.encode_dense(link.shadow, round=2))
    agent._on_frame("r", pointer(2, model_checksum(link.shadow)))
    np.testing.assert_array_equal(agent.params, link.shadow)
    assert agent.sent[-1][1].msg_type == sgc.MSG_SPARSE_UPDATE


def test_a_missed_delta_asks_for_the_whole_model_before_any_work(agent: Agent) -> None:
    rng = np.random.default_rng(4)
    trajectory = drifting_params(rng, agent.n, 4)
    link = DeltaDownlink(trajectory[0], "exact", 0.1, "fp16")
    agent._on_frame("m", link.initial_frame(1))
    link.frame(trajectory[1], 2)                       # dropped on the way
    agent._on_frame("m", link.frame(trajectory[2], 3))
    agent._on_frame("r", pointer(3, model_checksum(link.shadow)))
    assert [f.msg_type for _, f in agent.sent] == [sgc.MSG_RESYNC]
    agent._on_frame("s", sgc.encode_dense(link.shadow, round=3))
    agent._on_frame("r", pointer(3, model_checksum(link.shadow)))
    np.testing.assert_array_equal(agent.params, link.shadow)


def test_the_micropython_node_checks_its_copy_with_the_same_checksum() -> None:
    asks: list[int] = []
    node = mpnode.Node.__new__(mpnode.Node)
    node.n, node.version, node.resync_asked_for, node.answered_round, node.cached = 8, 2, -1, 0, None
    node.checksum_mismatches, node.device, node.model = 0, 7, object()
    node._control = lambda msg_type, payload: asks.append(struct.unpack("<I", payload)[0])
    good = np.arange(8, dtype=np.float32)
    node.params = mpnode.array("f", good.tobytes())
    node.pending = (2, 2, 16, model_checksum(good + 1))  # the host's copy differs
    node._work()
    assert node.checksum_mismatches == 1 and node.params is None and asks == [2]


@pytest.mark.slow
@pytest.mark.parametrize("coding", ["fp32", "fp16", "int8"])
def test_delta_downlink_with_each_value_coding_trains_digits_end_to_end(broker_config, fleet, agent_logs,
                                                                       tmp_path, coding: str) -> None:
    agents = fleet(3, extra=["--compressor", "laplace", "--density", "0.1"])
    config = HostConfig(dataset="digits", model="mlp_digits", rounds=120, lr=0.1, momentum=0.9, batch_size=32,
                        min_nodes=3, deadline_s=20.0, eval_every=10, run_dir=str(tmp_path / "run"), progress=False,
                        downlink="delta", downlink_value_coding=coding, downlink_density=0.2,
                        downlink_min_coords=1, downlink_refresh_rounds=50)
    summary = Host(config, broker_config).run()
    for process in agents:
        process.wait(timeout=30)
    assert summary.final_accuracy >= 0.85, (summary.final_accuracy, agent_logs())
    assert summary.down_ratio > 3 and summary.total_ratio > 3, summary
    assert "does not match the host's checksum" not in agent_logs()
