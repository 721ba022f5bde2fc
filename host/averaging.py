"""Model averaging on the host: add the sample-weighted mean of the nodes' deltas.

Each node of a model-averaging round uploads ``params_after - params_before``
(compressed; ``agent/local_sgd.py``). The host's new model is

    params + server_lr * sum_i(w_i * delta_i) / sum_i(w_i)

with ``w_i`` the node's sample count (scaled for staleness, as for
gradients). ``server_lr = 1`` is plain model averaging: every node that sent
its whole delta would land exactly on the weighted mean of the nodes'
models. A coordinate a node did not send counts as zero for it; its residual
memory sends it later. Pure functions, no I/O.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from sparrow.host.aggregate import SparseUpdate, weighted_mean

__all__ = ["apply_mean_delta", "average_deltas"]


def average_deltas(updates: Sequence[SparseUpdate], n: int) -> np.ndarray:
    """Sample-weighted mean of sparse model deltas, ordered by device for a reproducible sum.

    Raises
    ------
    ValueError
        With no updates or an index out of range.
    """
    ordered = sorted(updates, key=lambda u: u.device)
    mean, _ = weighted_mean(ordered, n)
    return mean


def apply_mean_delta(params: np.ndarray, mean_delta: np.ndarray, server_lr: float = 1.0) -> np.ndarray:
    """``params + server_lr * mean_delta`` in float32 (a new array).

    Raises
    ------
    ValueError
        For shapes that differ or a non-positive, non-finite ``server_lr``.
    """
    if params.shape != mean_delta.shape or params.ndim != 1:
        raise ValueError(f"params {params.shape} and mean delta {mean_delta.shape} must be 1-D of one length")
    if not (math.isfinite(server_lr) and server_lr > 0):
        raise ValueError(f"server_lr must be a finite number > 0, got {server_lr!r}")
    out = np.asarray(params, dtype=np.float32) + np.float32(server_lr) * np.asarray(mean_delta, dtype=np.float32)
    return out.astype(np.float32, copy=False)
