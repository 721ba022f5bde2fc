"""Learning-rate schedules of the host: the step size as a pure function of the round.

The host sets the optimizer's learning rate from the round number before each
step, so a resumed host takes exactly the steps an uninterrupted one would
(nothing about the schedule needs to be checkpointed).

``constant``
    ``lr`` in every round.
``cosine``
    ``lr * (1 + cos(pi * (round - 1) / rounds)) / 2``: the full ``lr`` in
    round 1, falling smoothly towards 0 at the last round (the final
    accuracy then settles instead of jittering with the last mini-batches).
"""
from __future__ import annotations

import math
from typing import Callable

__all__ = ["SCHEDULES", "lr_at"]


def _constant(rnd: int, rounds: int) -> float:
    return 1.0


def _cosine(rnd: int, rounds: int) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * (rnd - 1) / rounds))


#: Registry: name -> factor(round, rounds) in (0, 1] that multiplies the base rate.
SCHEDULES: dict[str, Callable[[int, int], float]] = {"constant": _constant, "cosine": _cosine}


def lr_at(schedule: str, lr: float, rnd: int, rounds: int) -> float:
    """Learning rate of round ``rnd`` (1-based) of ``rounds`` under ``schedule``.

    Raises
    ------
    ValueError
        For an unknown schedule, or a round outside ``1..rounds``.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown lr schedule {schedule!r}; choose one of {sorted(SCHEDULES)}")
    if not 1 <= rnd <= rounds:
        raise ValueError(f"round {rnd} is outside 1..{rounds}")
    return float(lr) * SCHEDULES[schedule](rnd, rounds)
