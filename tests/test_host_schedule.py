"""Learning-rate schedules: values, bounds, and the host applying them per round."""
from __future__ import annotations

import math

import pytest

from sparrow.host.schedule import SCHEDULES, lr_at


def test_constant_is_the_base_rate_every_round() -> None:
    assert [lr_at("constant", 0.2, r, 5) for r in range(1, 6)] == [0.2] * 5


def test_cosine_starts_at_the_base_rate_and_falls_monotonically() -> None:
    rates = [lr_at("cosine", 0.2, r, 100) for r in range(1, 101)]
    assert rates[0] == pytest.approx(0.2)
    assert rates[50] == pytest.approx(0.1)  # round 51: half way
    assert all(a > b for a, b in zip(rates, rates[1:]))
    assert 0 < rates[-1] < 0.2 * 1e-3


def test_cosine_matches_its_formula() -> None:
    for r in (1, 7, 33, 64):
        assert lr_at("cosine", 0.5, r, 64) == pytest.approx(0.25 * (1 + math.cos(math.pi * (r - 1) / 64)))


@pytest.mark.parametrize("schedule, rnd, rounds, message", [
    ("linear", 1, 10, "unknown lr schedule"),
    ("cosine", 0, 10, "outside 1..10"),
    ("cosine", 11, 10, "outside 1..10"),
])
def test_bad_schedule_arguments_are_named(schedule: str, rnd: int, rounds: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        lr_at(schedule, 0.1, rnd, rounds)


def test_every_schedule_stays_in_the_unit_interval() -> None:
    for name, factor in SCHEDULES.items():
        values = [factor(r, 37) for r in range(1, 38)]
        assert all(0 < v <= 1 for v in values), name
