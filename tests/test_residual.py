"""sgc.Residual: the bit-exact error-feedback invariant (hypothesis), warm-up,
momentum, rejected input, and the payload it exposes."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

import sgc

finite32 = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False,
                     width=32)


def sent_vector(n: int, idx: np.ndarray, vals: np.ndarray) -> np.ndarray:
    sent = np.zeros(n, dtype=np.float32)
    sent[idx] = vals
    return sent


@settings(max_examples=60, deadline=None)
@given(
    grads=st.integers(min_value=1, max_value=300).flatmap(
        lambda n: st.lists(arrays(np.float32, n, elements=finite32), min_size=1, max_size=4)),
    method=st.sampled_from(sorted(sgc.METHODS)),
    coding=st.sampled_from(sorted(sgc.CODINGS)),
    density=st.floats(min_value=0.001, max_value=1.0),
)
def test_residual_after_plus_sent_equals_residual_before_plus_gradient(
        grads: list[np.ndarray], method: str, coding: str, density: float) -> None:
    n = grads[0].size
    res = sgc.Residual(n, method=method, density=density, coding=coding)
    for g in grads:
        before = res.residual.copy()
        idx, vals = res.step(g)
        assert idx.size <= res.k + int(res.k * 0.05) + 1
        assert np.all(np.diff(idx.astype(np.int64)) > 0)
        lhs = res.residual + sent_vector(n, idx, vals)
        rhs = before + g
        assert np.array_equal(lhs, rhs)
        assert len(res.last_payload) == sgc.value_bytes(coding, idx.size)


@settings(max_examples=30, deadline=None)
@given(grads=st.lists(arrays(np.float32, 64, elements=finite32), min_size=1, max_size=4),
       momentum=st.floats(min_value=0.0, max_value=0.95))
def test_momentum_adds_the_corrected_velocity_and_masks_it(grads: list[np.ndarray],
                                                           momentum: float) -> None:
    res = sgc.Residual(64, method="exact", density=0.1, momentum=momentum)
    for g in grads:
        before, vel = res.residual.copy(), res.velocity.copy()
        idx, vals = res.step(g)
        added = np.float32(momentum) * vel + g if momentum > 0 else g
        assert np.array_equal(res.residual + sent_vector(64, idx, vals), before + added)
        if momentum > 0:
            assert np.all(res.velocity[idx] == 0)


def test_payload_decodes_to_the_values_step_returned() -> None:
    rng = np.random.default_rng(0)
    for coding in sgc.CODINGS:
        res = sgc.Residual(5000, density=0.01, coding=coding)
        idx, vals = res.step(rng.normal(size=5000).astype(np.float32))
        decoded = sgc.dequantize(res.last_payload, idx.size, coding, res.last_scale)
        assert np.array_equal(decoded, vals)


def test_warm_up_schedule_goes_25_6_1_5_0_4_then_final_density() -> None:
    res = sgc.Residual(100_000, density=0.001, warmup_steps=1)
    ks = []
    for _ in range(6):
        ks.append(res.k)
        res.step(np.ones(100_000, dtype=np.float32))
    assert ks == [25000, 6250, 1563, 391, 100, 100]


def test_a_nan_gradient_is_rejected_and_changes_nothing() -> None:
    res = sgc.Residual(1000, density=0.05, momentum=0.9)
    res.step(np.random.default_rng(1).normal(size=1000).astype(np.float32))
    before, vel, steps = res.residual.copy(), res.velocity.copy(), res.steps
    bad = np.ones(1000, dtype=np.float32)
    bad[3] = np.nan
    with pytest.raises(sgc.ArgumentError, match="NaN or Inf"):
        res.step(bad)
    assert np.array_equal(res.residual, before)
    assert np.array_equal(res.velocity, vel)
    assert res.steps == steps


def test_residual_is_a_read_only_view_that_follows_the_state() -> None:
    res = sgc.Residual(100, density=0.1)
    view = res.residual
    with pytest.raises(ValueError):
        view[0] = 1.0
    res.step(np.arange(100, dtype=np.float32))
    assert view[0] == 0.0 and view[5] == 5.0  # the small values stayed behind
    res.reset()
    assert not view.any() and res.steps == 0


@pytest.mark.parametrize("kwargs, message", [
    ({"density": 0.0}, "option out of range"),
    ({"density": 2.0}, "option out of range"),
    ({"momentum": 1.0}, "option out of range"),
    ({"method": "bogus"}, "unknown selection method"),
    ({"coding": "int4"}, "unknown value or index coding"),
])
def test_bad_residual_configurations_raise_argument_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(sgc.ArgumentError, match=message):
        sgc.Residual(100, **kwargs)


def test_step_rejects_a_gradient_of_the_wrong_length() -> None:
    res = sgc.Residual(100)
    with pytest.raises(sgc.ArgumentError, match="100"):
        res.step(np.ones(99, dtype=np.float32))
