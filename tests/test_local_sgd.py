"""Model averaging: local SGD on the node (agent/local_sgd.py) and the host's average (host/averaging.py)."""
from __future__ import annotations

import numpy as np
import pytest

import sgc

from sparrow.agent.compressor import make_compressor
from sparrow.common.datasets import load, partition
from sparrow.agent.local_sgd import LocalSGD, local_train, steps_in_round
from sparrow.common.modelspec import get_spec, init_params
from sparrow.agent.npmodel import accuracy, loss_and_grad
from sparrow.host.aggregate import SparseUpdate
from sparrow.host.averaging import apply_mean_delta, average_deltas


@pytest.fixture(scope="module")
def digits():
    data = load("digits")
    return data, get_spec("mlp_digits", data.num_classes)


def test_warmup_rounds_run_one_step_then_the_local_step_count() -> None:
    assert [steps_in_round(r, 8, 2) for r in (1, 2, 3, 10)] == [1, 1, 8, 8]
    assert steps_in_round(1, 4, 0) == 4


@pytest.mark.parametrize("args", [(0, 4, 0), (1, 0, 0), (1, 4, -1), (1, 2.5, 0)])
def test_steps_in_round_rejects_bad_arguments(args) -> None:
    with pytest.raises(ValueError):
        steps_in_round(*args)


def test_one_local_step_is_minus_lr_times_the_batch_gradient(digits) -> None:
    data, spec = digits
    params = init_params(spec, 0)
    delta, loss = local_train(spec, params, data.x_train, data.y_train, 1, 0.1, 16, np.random.default_rng(3))
    pick = np.random.default_rng(3).choice(data.y_train.size, size=16, replace=False)
    want_loss, grad = loss_and_grad(spec, params, data.x_train[pick], data.y_train[pick])
    np.testing.assert_allclose(delta, -np.float32(0.1) * grad, rtol=1e-5, atol=1e-7)
    assert loss == pytest.approx(want_loss)


def test_local_train_leaves_the_starting_parameters_untouched(digits) -> None:
    data, spec = digits
    params = init_params(spec, 0)
    before = params.copy()
    local_train(spec, params, data.x_train, data.y_train, 5, 0.1, 32, np.random.default_rng(0))
    np.testing.assert_array_equal(params, before)


def test_more_local_steps_lower_the_training_loss_of_the_shard(digits) -> None:
    data, spec = digits
    params = init_params(spec, 0)
    delta, _ = local_train(spec, params, data.x_train, data.y_train, 50, 0.1, 32, np.random.default_rng(0))
    before, _ = loss_and_grad(spec, params, data.x_train, data.y_train)
    after, _ = loss_and_grad(spec, params + delta, data.x_train, data.y_train)
    assert after < 0.7 * before


@pytest.mark.parametrize("kwargs", [{"steps": 0}, {"lr": 0.0}, {"lr": float("nan")}, {"batch_size": 0}])
def test_local_train_rejects_bad_arguments(digits, kwargs) -> None:
    data, spec = digits
    args = {"steps": 1, "lr": 0.1, "batch_size": 8} | kwargs
    with pytest.raises(ValueError):
        local_train(spec, init_params(spec, 0), data.x_train, data.y_train, rng=np.random.default_rng(0), **args)


def test_the_residual_keeps_exactly_the_part_of_the_delta_not_sent(digits) -> None:
    data, spec = digits
    comp = make_compressor("exact", spec.num_params, None, 0.05, 0.0, "fp32")
    worker = LocalSGD(spec, data.x_train, data.y_train, comp, local_steps=4, warmup_rounds=0, lr=0.1,
                      batch_size=16, device_id=2)
    params = init_params(spec, 0)
    work = worker.round(params, 1)
    delta, _ = local_train(spec, params, data.x_train, data.y_train, 4, 0.1, 16,
                           np.random.default_rng([0, 2, 1]))
    sent = np.zeros_like(delta)
    sent[work.indices] = work.values
    np.testing.assert_allclose(comp.residual + sent, delta, atol=1e-7)
    assert abs(work.indices.size - 0.05 * spec.num_params) <= 1 and work.steps == 4


def test_the_frame_is_a_sparse_model_delta_of_this_round_and_device(digits) -> None:
    data, spec = digits
    comp = make_compressor("laplace", spec.num_params, list(spec.layer_param_ranges), 0.1, 0.0, "fp16")
    worker = LocalSGD(spec, data.x_train, data.y_train, comp, 4, 0, 0.1, 16, device_id=7)
    out, work = worker.frame(init_params(spec, 0), 3, value_coding="fp16", seq=9)
    frame = sgc.decode(out)
    assert (frame.msg_type, frame.device_id, frame.round, frame.seq, frame.n) == (
        sgc.MSG_SPARSE_MODEL_DELTA, 7, 3, 9, spec.num_params)
    np.testing.assert_array_equal(frame.indices, work.indices)
    np.testing.assert_array_equal(frame.values, work.values)


def test_averaging_full_deltas_lands_on_the_sample_weighted_mean_of_the_models() -> None:
    rng = np.random.default_rng(0)
    params = rng.normal(size=50).astype(np.float32)
    models = [params + rng.normal(size=50).astype(np.float32) for _ in range(3)]
    weights = [10.0, 30.0, 60.0]
    everything = np.arange(50, dtype=np.uint32)
    updates = [SparseUpdate(d, everything, (m - params).astype(np.float32), w)
               for d, (m, w) in enumerate(zip(models, weights))]
    new = apply_mean_delta(params, average_deltas(updates, 50), server_lr=1.0)
    want = sum(w * m for w, m in zip(weights, models)) / sum(weights)
    np.testing.assert_allclose(new, want, rtol=1e-5, atol=1e-5)


def test_a_coordinate_one_node_did_not_send_counts_as_zero_for_it() -> None:
    updates = [SparseUpdate(1, np.array([0, 2], np.uint32), np.array([1.0, 2.0], np.float32), 1.0),
               SparseUpdate(2, np.array([2], np.uint32), np.array([4.0], np.float32), 1.0)]
    np.testing.assert_allclose(average_deltas(updates, 3), [0.5, 0.0, 3.0])
    np.testing.assert_allclose(apply_mean_delta(np.ones(3, np.float32), average_deltas(updates, 3), 2.0),
                               [2.0, 1.0, 7.0])


def test_apply_mean_delta_rejects_a_bad_server_lr_or_shape() -> None:
    with pytest.raises(ValueError):
        apply_mean_delta(np.zeros(3, np.float32), np.zeros(3, np.float32), 0.0)
    with pytest.raises(ValueError):
        apply_mean_delta(np.zeros(3, np.float32), np.zeros(4, np.float32))


def test_four_nodes_with_local_steps_and_sparse_deltas_learn_digits(digits) -> None:
    data, spec = digits
    shares = partition(data, 4, "iid", seed=0)
    workers = [LocalSGD(spec, data.x_train[s], data.y_train[s],
                        make_compressor("laplace", spec.num_params, list(spec.layer_param_ranges), 0.1, 0.0, "fp32"),
                        local_steps=4, warmup_rounds=2, lr=0.1, batch_size=16, device_id=d)
               for d, s in enumerate(shares)]
    params = init_params(spec, 0)
    start = accuracy(spec, params, data.x_test, data.y_test)
    for rnd in range(1, 41):
        updates = []
        for d, (w, s) in enumerate(zip(workers, shares)):
            work = w.round(params, rnd)
            updates.append(SparseUpdate(d, work.indices, work.values, float(s.size)))
        params = apply_mean_delta(params, average_deltas(updates, spec.num_params))
    assert start < 0.3 and accuracy(spec, params, data.x_test, data.y_test) > 0.85


def test_an_agent_in_average_mode_answers_a_round_with_a_model_delta(monkeypatch) -> None:
    from sparrow.common import control
    from sparrow.agent.config import AgentConfig
    from sparrow.common.config import BrokerConfig
    from sparrow.agent.node import Agent
    node = Agent(AgentConfig(model="mlp_digits", device_id=3, compressor="exact", density=0.1, mode="average", local_steps=3),
                 BrokerConfig(job="unit"))
    sent = []
    monkeypatch.setattr(node.transport, "publish_frame",
                        lambda topic, frame, qos=1, retain=False: sent.append((topic, sgc.decode(frame))))
    node._on_frame("m", sgc.encode_dense(init_params(node.spec, 0), round=2))
    node._on_frame("r", sgc.encode_control(sgc.MSG_ROUND_OPEN, control.RoundOpen(2, 1000, 8).pack(), round=2))
    ((topic, update),) = sent
    assert topic == "sparrow/unit/update/3" and update.msg_type == sgc.MSG_SPARSE_MODEL_DELTA
    assert update.round == 2 and abs(len(update.indices) - 0.1 * node.n) <= 2
