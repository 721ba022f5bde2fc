"""A DynaComm (comm=segmented) agent's round logic (agent/node.py), without a broker."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import sgc

from sparrow.common import control
from sparrow.agent.config import AgentConfig
from sparrow.common.config import BrokerConfig
from sparrow.common.dynacomm import Segmentation
from sparrow.agent.node import Agent
from sparrow.agent.npmodel import loss_and_grad
from sparrow.common.segments import encode_model_segments


@pytest.fixture
def agent(monkeypatch) -> Agent:
    node = Agent(AgentConfig(model="mlp_digits", device_id=5, compressor="dense", density=1.0, comm="segmented",
                             segment_plan="per_layer"), BrokerConfig(job="unit"))
    node.sent = []  # type: ignore[attr-defined]
    mids = itertools.count(1)
    clock = itertools.count(1)

    def timed(topic: str, frame: bytes) -> list[tuple[int, float]]:
        node.sent.append((topic, sgc.decode(frame)))
        return [(next(mids), 0.001 * next(clock))]

    monkeypatch.setattr(node.transport, "publish_timed", timed)
    monkeypatch.setattr(node.transport, "publish_frame",
                        lambda topic, frame, qos=1, retain=False: node.sent.append((topic, sgc.decode(frame))))
    monkeypatch.setattr(node.transport, "acked_at",
                        lambda mids, timeout_s=5.0: [0.001 * next(clock) for _ in mids])
    return node


def pointer(rnd: int, batch: int = 16) -> bytes:
    return sgc.encode_control(sgc.MSG_ROUND_OPEN, control.RoundOpen(rnd, 1000, batch).pack(), round=rnd)


def test_a_segmented_node_says_hello_with_its_pull_plan(agent: Agent) -> None:
    agent._handle("connected", "", False)
    hello = control.Hello.unpack(bytes(agent.sent[0][1].payload))
    assert hello.plan == control.PullPlan(0, (0, 1))


def test_a_round_is_answered_with_one_frame_per_push_segment_that_sum_to_the_gradient(agent: Agent) -> None:
    params = np.random.default_rng(0).normal(0, 0.1, agent.n).astype(np.float32)
    agent._on_frame("m", sgc.encode_dense(params, round=3))
    agent._on_frame("r", pointer(3))
    updates = [frame for topic, frame in agent.sent if topic == "sparrow/unit/update/5"]
    assert [(f.segment_id, f.segment_count) for f in updates] == [(1, 2), (0, 2)]  # last layers first
    assert len({f.seq for f in updates}) == 1 and all(f.round == 3 and f.n == agent.n for f in updates)
    total = np.zeros(agent.n, np.float32)
    for f in updates:
        total[np.asarray(f.indices)] += np.asarray(f.values)
    pick = agent.batch(3, 16)
    _, grad = loss_and_grad(agent.spec, params, agent.x[pick], agent.y[pick])
    np.testing.assert_allclose(total, grad, rtol=1e-5, atol=1e-6)
    assert agent.segments_sent == 2 and agent.replans == 1


def test_model_segments_from_the_network_thread_feed_forward_and_become_the_model(agent: Agent) -> None:
    params = np.arange(agent.n, dtype=np.float32) * 1e-4
    frames = encode_model_segments(agent.spec, params, Segmentation.per_layer(2), round=4, seq=0)
    for frame in frames:
        agent._on_network_frame("sparrow/unit/sync/5", frame)
    kind, _, version = agent.events.get_nowait()
    assert (kind, version) == ("segments", 4)
    agent._on_frame("r", pointer(4))
    assert agent.version == 4 and agent.answered_round == 4
    np.testing.assert_array_equal(agent.params, params)


def test_a_model_segment_by_an_unknown_plan_is_reported_not_assembled(agent: Agent) -> None:
    frames = encode_model_segments(agent.spec, np.zeros(agent.n, np.float32), Segmentation.per_layer(2),
                                   round=4, seq=9)
    agent._on_network_frame("sparrow/unit/sync/5", frames[0])
    kind, _, error = agent.events.get_nowait()
    assert kind == "error" and "unknown pull plan" in str(error)
    assert agent.upload.assembly is None


def test_segmented_comm_refuses_local_sgd_and_aware_selection() -> None:
    with pytest.raises(ValueError, match="comm=segmented"):
        AgentConfig(comm="segmented", mode="average")
    with pytest.raises(ValueError, match="comm=segmented"):
        AgentConfig(comm="segmented", selection="aware")
