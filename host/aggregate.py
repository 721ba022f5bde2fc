"""Aggregation maths: pure functions on numpy arrays, no I/O, no state.

An update is a sparse gradient (ascending indices, values) with a weight:
the number of training samples its node holds (FedAvg's sample weighting),
scaled down for staleness when it arrives late. The aggregate is the
weighted mean over every update of the round, a coordinate missing from an
update counting as zero there (the node sent nothing, so it contributes
nothing: its residual memory keeps the rest for later).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["SparseUpdate", "staleness_weight", "union_support", "weighted_mean"]


@dataclass(frozen=True)
class SparseUpdate:
    """One node's contribution to a round.

    Parameters
    ----------
    device : int
        Sender.
    indices : np.ndarray
        uint32 coordinates, ascending and unique.
    values : np.ndarray
        float32 values at those coordinates, all finite.
    weight : float
        Sample weight (> 0).
    """

    device: int
    indices: np.ndarray
    values: np.ndarray
    weight: float

    def __post_init__(self) -> None:
        if self.indices.shape != self.values.shape or self.indices.ndim != 1:
            raise ValueError(f"indices {self.indices.shape} and values {self.values.shape} must be 1-D of one length")
        if not (math.isfinite(self.weight) and self.weight > 0):
            raise ValueError(f"update weight must be finite and > 0, got {self.weight!r}")
        if self.indices.size > 1 and not np.all(np.diff(self.indices.astype(np.int64)) > 0):
            raise ValueError(f"update from device {self.device}: indices must be strictly ascending")
        if not np.all(np.isfinite(self.values)):
            raise ValueError(f"update from device {self.device} holds NaN or Inf values")


def staleness_weight(staleness: int, max_staleness: int) -> float:
    """Weight factor of an update that is ``staleness`` rounds late.

    ``1 / (1 + staleness)`` for ``0 <= staleness <= max_staleness`` (a common
    choice in asynchronous SGD: the older the gradient, the less it counts),
    and 0 beyond the bound (the update is dropped).

    Raises
    ------
    ValueError
        For a negative staleness or bound.
    """
    if staleness < 0 or max_staleness < 0:
        raise ValueError(f"staleness ({staleness}) and its bound ({max_staleness}) must be >= 0")
    if staleness > max_staleness:
        return 0.0
    return 1.0 / (1.0 + staleness)


def weighted_mean(updates: Sequence[SparseUpdate], n: int) -> tuple[np.ndarray, float]:
    """Sample-weighted mean of sparse updates as a dense float32 vector.

    The sum runs in float64 in the order of ``updates`` (sort them for a
    reproducible result) and is rounded to float32 once at the end.

    Parameters
    ----------
    updates : sequence of SparseUpdate
        At least one update.
    n : int
        Length of the dense result; every index must be below it.

    Returns
    -------
    mean : np.ndarray
        float32, shape ``(n,)``: ``sum(w_i * u_i) / sum(w_i)``.
    total_weight : float
        ``sum(w_i)``.

    Raises
    ------
    ValueError
        With no updates, or an index out of range.
    """
    if not updates:
        raise ValueError("weighted_mean needs at least one update")
    acc = np.zeros(n, dtype=np.float64)
    total = 0.0
    for update in updates:
        if update.indices.size and int(update.indices.max()) >= n:
            raise ValueError(f"update from device {update.device} has an index >= n ({n})")
        acc[update.indices.astype(np.int64)] += update.weight * update.values.astype(np.float64)
        total += update.weight
    return (acc / total).astype(np.float32), total


def union_support(updates: Sequence[SparseUpdate]) -> int:
    """Number of distinct coordinates touched by the updates (the aggregate's support)."""
    if not updates:
        return 0
    return int(np.unique(np.concatenate([u.indices for u in updates])).size)
