"""The replica rule has two copies: ``sparrow.agent.replica`` and the MicroPython node's.

Both are driven with the same frames (dense models, next deltas, repeated,
old and skipped deltas) and must agree after every frame: the same model
values, the same version and the same RESYNC requests. The MicroPython code
runs here on CPython with the frame twin, as ``support.mp_agent`` loads it.
"""
from __future__ import annotations

import struct

import numpy as np
import pytest

import sgc
from sparrow.agent.replica import ModelReplica
from support.mp_agent import mpnode

N = 64


def mp_replica(asks: list[int]) -> mpnode.Node:
    node = mpnode.Node.__new__(mpnode.Node)  # only the replica's state: no shard, no broker
    node.n, node.params, node.version, node.resync_asked_for = N, None, 0, -1
    node.model = object()  # a description is held (its maths is not used here)
    node._control = lambda msg_type, payload: asks.append(struct.unpack("<I", payload)[0])
    return node


def model_frames(rng: np.random.Generator, count: int) -> list[bytes]:
    """A stream where versions mostly advance by one, sometimes repeat, skip ahead or go back."""
    frames, version = [], 0
    for _ in range(count):
        step = rng.choice([1, 1, 1, 0, 2, -1, 3])
        version = max(1, version + int(step))
        if rng.random() < 0.2:
            frames.append(sgc.encode_dense(rng.standard_normal(N).astype(np.float32), round=version))
        else:
            k = int(rng.integers(1, 8))
            idx = np.sort(rng.choice(N, k, replace=False)).astype(np.uint32)
            frames.append(sgc.encode_sparse(N, idx, rng.standard_normal(k).astype(np.float32),
                                            msg_type=sgc.MSG_SPARSE_MODEL_DELTA, round=version))
    return frames


def drive(frames: list[bytes]) -> list[tuple[object, ...]]:
    """Feed both replicas; their states after each frame, side by side."""
    asks_py: list[int] = []
    asks_mp: list[int] = []
    py = ModelReplica(N, asks_py.append)
    mp = mp_replica(asks_mp)
    states = []
    for data in frames:
        py.apply(sgc.decode(data), data)
        mp._on_model(mpnode.ft.parse(data), data)
        mp_params = None if mp.params is None else np.array(mp.params, dtype=np.float32)
        py_params = None if py.params is None else py.params.copy()
        states.append((py.version, mp.version, py_params, mp_params, list(asks_py), list(asks_mp)))
    return states


def assert_agree(states: list[tuple[object, ...]]) -> None:
    for step, (v_py, v_mp, p_py, p_mp, a_py, a_mp) in enumerate(states):
        assert v_py == v_mp, f"frame {step}: versions {v_py} vs {v_mp}"
        assert a_py == a_mp, f"frame {step}: RESYNC requests {a_py} vs {a_mp}"
        assert (p_py is None) == (p_mp is None), f"frame {step}: one holds a model, the other none"
        if p_py is not None:
            np.testing.assert_array_equal(p_py, p_mp, err_msg=f"frame {step}")


def test_both_replicas_follow_a_dense_model_and_the_next_deltas_and_ask_once_on_a_gap() -> None:
    rng = np.random.default_rng(1)
    zeros = np.zeros(N, np.float32)
    delta = lambda v: sgc.encode_sparse(N, np.array([3], np.uint32), np.array([1.5], np.float32),  # noqa: E731
                                        msg_type=sgc.MSG_SPARSE_MODEL_DELTA, round=v)
    frames = [delta(2), sgc.encode_dense(zeros, round=1), delta(2), delta(2), delta(4), delta(4),
              sgc.encode_dense(rng.standard_normal(N).astype(np.float32), round=4), delta(5), delta(3)]
    states = drive(frames)
    assert_agree(states)
    version, _, params, _, asks, _ = states[-1]
    assert version == 5 and asks == [0, 2]
    assert params is not None and params[3] == pytest.approx(states[6][2][3] + 1.5)


@pytest.mark.parametrize("seed", range(5))
def test_both_replicas_agree_on_a_random_stream_of_model_frames(seed: int) -> None:
    assert_agree(drive(model_frames(np.random.default_rng(seed), 120)))


def test_a_model_of_another_size_is_refused() -> None:
    replica = ModelReplica(N, lambda have: None)
    data = sgc.encode_dense(np.zeros(N + 1, np.float32), round=1)
    with pytest.raises(ValueError, match="n=65"):
        replica.apply(sgc.decode(data), data)
    assert replica.params is None
