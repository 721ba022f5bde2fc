"""The host's summary of the previous round's global support (aggregation-aware selection).

:func:`summarize` picks the coordinates to publish; their wire form and the
node side live in ``agent/common/support.py``. Pure functions, no I/O.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from sparrow.common.support import SupportSummary
from sparrow.host.aggregate import SparseUpdate

__all__ = ["summarize"]


def summarize(updates: Sequence[SparseUpdate], aggregate: np.ndarray, size: int, rnd: int) -> SupportSummary:
    """The ``size`` largest-magnitude coordinates of ``aggregate`` inside the updates' union.

    Parameters
    ----------
    updates : sequence of SparseUpdate
        The round's updates (their union is the aggregate's support).
    aggregate : np.ndarray
        The dense aggregate of those updates, float32 of length n.
    size : int
        Most coordinates to publish (>= 1); fewer when the union is smaller.
    rnd : int
        Round being summarised.

    Raises
    ------
    ValueError
        With no updates or ``size < 1``.
    """
    if not updates:
        raise ValueError("summarize needs at least one update")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"summary size must be an integer >= 1, got {size!r}")
    n = int(aggregate.size)
    counts = np.zeros(n, dtype=np.int64)
    for update in updates:
        counts[update.indices.astype(np.int64)] += 1
    union = np.flatnonzero(counts)
    if union.size > size:
        magnitude = np.abs(aggregate[union])
        union = np.sort(union[np.argpartition(-magnitude, size - 1)[:size]])
    popularity = (counts[union] / len(updates)).astype(np.float32)
    return SupportSummary(int(rnd), n, union.astype(np.uint32), popularity)
