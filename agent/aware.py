"""Aggregation-aware selection: a node's top-k that favours the global support.

Wang, Liu, Wu (ICNCC 2018; docs/design.md method 4): the host's downlink carries
the union of the nodes' supports, so nodes that pick *the same* large
coordinates keep the aggregate small. Each round the host publishes the
previous round's global support with each coordinate's popularity
(``host/support.py``). A node keeps its residual memory ``r`` (error
feedback, as ``sgc.Residual``) and, within the same budget ``k`` per slice as
plain top-k, sends the ``k`` coordinates of largest score

    score_i = |r_i| * (1 + popularity_boost * pop_i) * (1 + persistence_boost * pers_i)

``pop_i``
    share of the last round's updates that sent ``i`` (0 outside the summary);
``pers_i``
    how persistently ``i`` has been in the global support: an exponential
    average over the summaries received, ``pers <- decay * pers + (1 - decay) * [i in summary]``.
    Large gradients persist only briefly (the paper's observation), so an
    index that keeps reappearing is a safe common choice.

Both signals are the same on every node, so the nodes' choices line up. The
magnitude still decides among equals, and a coordinate outside the support
whose residual keeps growing wins eventually: error feedback delays, it never
drops. With both boosts 0 this is plain top-k with error feedback.

Selection runs on the score with ``sgc.select``; the values sent are the
residual's, quantised with the wire coding, and exactly what the host
decodes is subtracted, so ``residual_after + sent == residual_before + grad``.
"""
from __future__ import annotations

import math

import numpy as np

import sgc

__all__ = ["AwareCompressor"]


def _non_negative(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


class AwareCompressor:
    """Residual memory plus aggregation-aware top-k, per slice.

    Parameters
    ----------
    ranges : list of (start, stop)
        Flat slices that each get their own budget (one per layer, or one
        for the whole vector); they must tile ``[0, n)``.
    density : float
        Share of each slice sent per step (at least one coordinate).
    popularity_boost : float
        Weight of the summary's popularity in the score (0 turns it off).
    persistence_boost : float
        Weight of the support's persistence in the score (0 turns it off).
    decay : float
        Memory of the persistence average, in [0, 1).
    method : str
        ``sgc`` selector run on the scores.
    value_coding : str
        Wire coding of the values; its rounding error stays in the residual.
    """

    def __init__(self, ranges: list[tuple[int, int]], density: float, popularity_boost: float = 4.0,
                 persistence_boost: float = 4.0, decay: float = 0.5, method: str = "exact",
                 value_coding: str = "fp32") -> None:
        if not ranges or ranges[0][0] != 0 or any(a[1] != b[0] for a, b in zip(ranges, ranges[1:])) \
                or any(stop <= start for start, stop in ranges):
            raise ValueError(f"ranges {ranges} must tile [0, n) with non-empty slices")
        if not (isinstance(density, (int, float)) and 0 < density <= 1):
            raise ValueError(f"density must be in (0, 1], got {density!r}")
        _non_negative("popularity_boost", popularity_boost)
        _non_negative("persistence_boost", persistence_boost)
        if not (isinstance(decay, (int, float)) and 0 <= decay < 1):
            raise ValueError(f"decay must be in [0, 1), got {decay!r}")
        if method not in sgc.METHODS:
            raise ValueError(f"unknown selector {method!r}; choose one of {sorted(sgc.METHODS)}")
        if value_coding not in sgc.CODINGS:
            raise ValueError(f"unknown value coding {value_coding!r}; choose one of {sorted(sgc.CODINGS)}")
        self.n = ranges[-1][1]
        self._ranges = list(ranges)
        self._ks = [max(1, min(stop - start, int(round(density * (stop - start))))) for start, stop in ranges]
        self.popularity_boost = float(popularity_boost)
        self.persistence_boost = float(persistence_boost)
        self.decay = float(decay)
        self.method = method
        self.value_coding = value_coding
        self._residual = np.zeros(self.n, dtype=np.float32)
        self._popularity = np.zeros(self.n, dtype=np.float32)
        self._persistence = np.zeros(self.n, dtype=np.float32)

    @property
    def budget(self) -> int:
        """Coordinates sent per step (the same ``k`` as plain top-k)."""
        return int(sum(self._ks))

    @property
    def residual(self) -> np.ndarray:
        """The residual memory (a copy)."""
        return self._residual.copy()

    def observe(self, indices: np.ndarray, popularity: np.ndarray) -> None:
        """Take in the host's summary of the last round's global support.

        Parameters
        ----------
        indices : np.ndarray
            Coordinates of the summary (each < n).
        popularity : np.ndarray
            Their popularity in [0, 1].

        Raises
        ------
        ValueError
            For mismatched shapes, an index out of range or a popularity
            outside [0, 1].
        """
        idx = np.asarray(indices, dtype=np.int64)
        pop = np.asarray(popularity, dtype=np.float32)
        if idx.shape != pop.shape or idx.ndim != 1:
            raise ValueError("summary indices and popularity must be 1-D of one length")
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            raise ValueError(f"summary index out of range for n={self.n}")
        if not np.all((pop >= 0) & (pop <= 1)):
            raise ValueError("summary popularity must lie in [0, 1]")
        self._popularity[:] = 0
        self._popularity[idx] = pop
        present = np.zeros(self.n, dtype=np.float32)
        present[idx] = 1
        self._persistence *= np.float32(self.decay)
        self._persistence += np.float32(1 - self.decay) * present

    def scores(self) -> np.ndarray:
        """The current score of every coordinate (see the module docstring)."""
        weight = (1 + np.float32(self.popularity_boost) * self._popularity) \
            * (1 + np.float32(self.persistence_boost) * self._persistence)
        return (np.abs(self._residual) * weight).astype(np.float32)

    def compress(self, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Add ``grad`` to the residual and take out the ``k`` best-scored coordinates.

        Returns
        -------
        indices : np.ndarray
            Ascending uint32 coordinates.
        values : np.ndarray
            float32 values as the host decodes them.

        Raises
        ------
        ValueError
            For a gradient of the wrong shape or with NaN/Inf.
        """
        g = np.asarray(grad)
        if g.shape != (self.n,):
            raise ValueError(f"gradient must have shape ({self.n},), got {g.shape}")
        if not np.all(np.isfinite(g)):
            raise ValueError("gradient holds NaN or Inf")
        self._residual += g.astype(np.float32, copy=False)
        score = self.scores()
        picked = []
        for (start, stop), k in zip(self._ranges, self._ks):
            idx, _ = sgc.select(np.ascontiguousarray(score[start:stop]), k, method=self.method)
            picked.append(np.asarray(idx, dtype=np.int64) + start)
        indices = np.concatenate(picked)
        values = self._on_the_wire(np.ascontiguousarray(self._residual[indices]))
        self._residual[indices] -= values
        return indices.astype(np.uint32), values

    def _on_the_wire(self, values: np.ndarray) -> np.ndarray:
        """The values as the receiver decodes them after ``value_coding``."""
        if self.value_coding == "fp32" or values.size == 0:
            return values
        payload, scale = sgc.quantize(values, self.value_coding)
        return sgc.dequantize(payload, values.size, self.value_coding, scale)
