"""Round policies: when a round closes, and how its updates combine.

A policy is a configure/aggregate pair (Flower's Strategy idea) driven by
the one template loop in host/server.py:

``configure(round, online, now)``
    opens a round: its deadline and how many nodes were online;
``close_reason(plan, received, online, now)``
    says whether the round may close now, and why (``"quorum"``,
    ``"deadline"``, ``"all"``), or None to keep waiting;
``aggregate(on_time, late, n)``
    turns the accepted updates into one dense gradient.

Policies are picked by name from :data:`POLICIES`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from sparrow.host.aggregate import SparseUpdate, weighted_mean

if TYPE_CHECKING:
    from sparrow.host.config import HostConfig

__all__ = ["DeadlinePolicy", "POLICIES", "QuorumPolicy", "RoundPlan", "RoundPolicy", "make_policy"]


@dataclass(frozen=True)
class RoundPlan:
    """An open round."""

    round: int
    opened_at: float
    deadline: float
    online: int


class RoundPolicy(ABC):
    """Base of every round policy (see the module docstring)."""

    def __init__(self, deadline_s: float) -> None:
        self.deadline_s = deadline_s

    def configure(self, rnd: int, online: int, now: float) -> RoundPlan:
        """Open round ``rnd`` at monotonic time ``now``."""
        return RoundPlan(rnd, now, now + self.deadline_s, online)

    def extend(self, plan: RoundPlan, now: float) -> RoundPlan:
        """A fresh deadline for a round that got no update in time."""
        return RoundPlan(plan.round, plan.opened_at, now + self.deadline_s, plan.online)

    @abstractmethod
    def close_reason(self, plan: RoundPlan, received: int, online: int, now: float) -> str | None:
        """Why the round may close now, or None to keep waiting."""

    def aggregate(self, on_time: Sequence[SparseUpdate], late: Sequence[SparseUpdate],
                  n: int) -> tuple[np.ndarray, float]:
        """Sample-weighted mean of all accepted updates, in a fixed order.

        On-time updates are summed by device id, then late ones, so the
        same updates always give the same float32 result (a resumed host
        repeats the run it replaces bit for bit).
        """
        ordered = sorted(on_time, key=lambda u: u.device) + list(late)
        return weighted_mean(ordered, n)


class QuorumPolicy(RoundPolicy):
    """Close at ``max(min_nodes, ceil(fraction * online))`` updates, or at the deadline.

    The quorum never exceeds the number of nodes online (at least one), so
    a node that vanishes lowers the bar instead of stalling the round.
    """

    def __init__(self, min_nodes: int, fraction: float, deadline_s: float) -> None:
        super().__init__(deadline_s)
        self.min_nodes = min_nodes
        self.fraction = fraction

    def quorum(self, online: int) -> int:
        """Updates needed when ``online`` nodes are connected."""
        wanted = max(self.min_nodes, math.ceil(self.fraction * online - 1e-9))
        return max(1, min(wanted, online))

    def close_reason(self, plan: RoundPlan, received: int, online: int, now: float) -> str | None:
        if received >= self.quorum(online):
            return "quorum"
        if received >= 1 and now >= plan.deadline:
            return "deadline"
        return None


class DeadlinePolicy(RoundPolicy):
    """Wait for the deadline, unless every online node has already answered."""

    def close_reason(self, plan: RoundPlan, received: int, online: int, now: float) -> str | None:
        if online >= 1 and received >= online:
            return "all"
        if received >= 1 and now >= plan.deadline:
            return "deadline"
        return None


#: Registry: policy name -> builder from the host config.
POLICIES: dict[str, Callable[[HostConfig], RoundPolicy]] = {
    "quorum": lambda c: QuorumPolicy(c.min_nodes, c.fraction, c.deadline_s),
    "deadline": lambda c: DeadlinePolicy(c.deadline_s),
}


def make_policy(config: HostConfig) -> RoundPolicy:
    """Build the policy ``config.policy`` names."""
    return POLICIES[config.policy](config)
