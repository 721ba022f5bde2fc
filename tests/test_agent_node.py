"""The agent's loop logic (agent/node.py) and compressors, without a broker."""
from __future__ import annotations

import numpy as np
import pytest

import sgc

from sparrow.common import control
from sparrow.agent.compressor import COMPRESSORS, make_compressor
from sparrow.agent.config import AgentConfig
from sparrow.common.config import BrokerConfig
from sparrow.agent.node import Agent


@pytest.fixture
def agent(monkeypatch) -> Agent:
    node = Agent(AgentConfig(model="mlp_digits", device_id=5, num_nodes=4, node_index=1, compressor="exact", density=0.1),
                 BrokerConfig(job="unit"))
    node.sent = []  # type: ignore[attr-defined]
    monkeypatch.setattr(node.transport, "publish_frame",
                        lambda topic, frame, qos=1, retain=False: node.sent.append((topic, sgc.decode(frame))))
    return node


def pointer(rnd: int, batch: int = 16) -> bytes:
    return sgc.encode_control(sgc.MSG_ROUND_OPEN, control.RoundOpen(rnd, 1000, batch).pack(), round=rnd)


def test_a_node_without_a_model_says_hello_and_asks_for_one(agent: Agent) -> None:
    agent._handle("connected", "", False)
    kinds = [(topic, frame.msg_type) for topic, frame in agent.sent]
    assert kinds == [("sparrow/unit/control/5", sgc.MSG_HELLO), ("sparrow/unit/control/5", sgc.MSG_RESYNC)]
    assert control.Hello.unpack(bytes(agent.sent[0][1].payload)).num_samples == agent.y.size


def test_a_round_on_the_model_it_holds_gets_one_sparse_update(agent: Agent) -> None:
    agent._on_frame("m", sgc.encode_dense(np.zeros(agent.n, np.float32), round=3))
    agent._on_frame("r", pointer(3))
    ((topic, update),) = agent.sent
    assert topic == "sparrow/unit/update/5"
    assert (update.msg_type, update.round, update.device_id, update.n) == (sgc.MSG_SPARSE_UPDATE, 3, 5, agent.n)
    assert 0 < update.k < agent.n


def test_a_reannounced_round_gets_the_very_same_update_again(agent: Agent) -> None:
    agent._on_frame("m", sgc.encode_dense(np.zeros(agent.n, np.float32), round=1))
    agent._on_frame("r", pointer(1))
    agent._on_frame("r", pointer(1))
    first, second = agent.sent
    assert (first[1].seq, first[1].round) == (second[1].seq, second[1].round)
    np.testing.assert_array_equal(first[1].values, second[1].values)
    assert agent.rounds_done == 1


def test_a_delta_for_the_next_version_is_applied_and_a_gap_asks_for_a_resync(agent: Agent) -> None:
    agent._on_frame("m", sgc.encode_dense(np.ones(agent.n, np.float32), round=1))
    delta = sgc.encode_sparse(agent.n, np.array([0, 9], np.uint32), np.array([2.0, -1.0], np.float32),
                              msg_type=sgc.MSG_SPARSE_MODEL_DELTA, round=2)
    agent._on_frame("m", delta)
    assert agent.version == 2 and agent.params[0] == 3.0 and agent.params[9] == 0.0
    skipped = sgc.encode_sparse(agent.n, np.array([1], np.uint32), np.array([1.0], np.float32),
                                msg_type=sgc.MSG_SPARSE_MODEL_DELTA, round=4)
    agent._on_frame("m", skipped)
    assert agent.version == 2 and agent.params[1] == 1.0
    ((topic, resync),) = agent.sent
    assert resync.msg_type == sgc.MSG_RESYNC and control.Resync.unpack(bytes(resync.payload)).have_version == 2


def test_a_round_for_a_model_it_does_not_hold_is_not_answered(agent: Agent) -> None:
    agent._on_frame("m", sgc.encode_dense(np.zeros(agent.n, np.float32), round=1))
    agent._on_frame("r", pointer(2))
    assert [frame.msg_type for _, frame in agent.sent] == [sgc.MSG_RESYNC]


def test_the_done_flag_ends_the_job(agent: Agent) -> None:
    done = sgc.encode_control(sgc.MSG_ROUND_OPEN, control.RoundOpen(9, 0, 1, control.ROUND_DONE).pack(), round=9)
    agent._on_frame("r", done)
    assert agent.done and agent.sent == []


def test_a_model_of_the_wrong_size_is_refused(agent: Agent) -> None:
    with pytest.raises(ValueError, match="n="):
        agent._on_frame("m", sgc.encode_dense(np.zeros(agent.n + 1, np.float32), round=1))


@pytest.mark.parametrize("name", sorted(COMPRESSORS))
def test_every_compressor_returns_ascending_indices_within_the_model(name: str) -> None:
    grad = np.random.default_rng(1).standard_normal(1000).astype(np.float32)
    comp = make_compressor(name, 1000, [(0, 600), (600, 1000)], density=0.05)
    indices, values = comp.compress(grad)
    assert indices.dtype == np.uint32 and values.dtype == np.float32
    assert np.all(np.diff(indices.astype(np.int64)) > 0) and indices[-1] < 1000
    assert (indices.size == 1000) == (name == "dense")


def test_residual_compression_loses_nothing_over_rounds() -> None:
    rng = np.random.default_rng(2)
    comp = make_compressor("exact", 500, None, density=0.02)
    total_grad = np.zeros(500, np.float64)
    total_sent = np.zeros(500, np.float64)
    for _ in range(20):
        grad = rng.standard_normal(500).astype(np.float32)
        indices, values = comp.compress(grad)
        total_grad += grad
        total_sent[indices] += values
    np.testing.assert_allclose(total_sent + comp.residual, total_grad, atol=1e-4)


def test_layer_ranges_must_tile_the_model() -> None:
    with pytest.raises(ValueError, match="tile"):
        make_compressor("laplace", 100, [(0, 50), (60, 100)], density=0.1)
    with pytest.raises(ValueError, match="unknown compressor"):
        make_compressor("zip", 100, None, density=0.1)
