"""Gradient compressors of the agent: sparse selection with residual memory.

A compressor turns one flat float32 gradient into ascending ``(indices,
values)`` to send. The residual memory (error feedback) lives in
``sgc.Residual``, kept apart from the encoding (GRACE's split): what is not
sent this round is added back next round. Compressors are picked by name
from :data:`COMPRESSORS`; ``"dense"`` sends everything with the same code
path, so a dense baseline is one config value away.
"""
from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

import sgc

__all__ = ["COMPRESSORS", "Compressor", "make_compressor"]


class Compressor(Protocol):
    """What the agent needs from a compressor."""

    def compress(self, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ascending uint32 indices and float32 values to send."""
        ...


class DenseCompressor:
    """Sends every coordinate: the uncompressed baseline."""

    def __init__(self, n: int) -> None:
        self._indices = np.arange(n, dtype=np.uint32)

    def compress(self, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._indices, np.ascontiguousarray(grad, dtype=np.float32)


class ResidualCompressor:
    """Top-k style selection with error feedback, per layer or whole-model.

    Parameters
    ----------
    ranges : list of (start, stop)
        Flat slices compressed independently (one per layer, or one for
        the whole vector).
    method : str
        An ``sgc`` selector: exact, laplace, partition, dgc, random.
    density : float
        Share of each slice sent per step.
    momentum : float
        DGC momentum correction (0 disables it).
    value_coding : str
        Coding of the values on the wire; the residual memory keeps the
        quantisation error, so nothing is lost to rounding.
    """

    def __init__(self, ranges: list[tuple[int, int]], method: str, density: float,
                 momentum: float, value_coding: str) -> None:
        self._ranges = ranges
        self._memories = [
            sgc.Residual(stop - start, method=method, density=_density_for(stop - start, density),
                         momentum=momentum, coding=value_coding)
            for start, stop in ranges
        ]

    def compress(self, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        all_idx: list[np.ndarray] = []
        all_val: list[np.ndarray] = []
        for (start, stop), memory in zip(self._ranges, self._memories):
            idx, val = memory.step(np.ascontiguousarray(grad[start:stop], dtype=np.float32))
            all_idx.append(np.asarray(idx, dtype=np.uint32) + np.uint32(start))
            all_val.append(np.asarray(val, dtype=np.float32))
        return np.concatenate(all_idx), np.concatenate(all_val)

    @property
    def residual(self) -> np.ndarray:
        """The concatenated residual memory (a copy)."""
        return np.concatenate([np.asarray(m.residual, dtype=np.float32) for m in self._memories])


def _density_for(size: int, density: float) -> float:
    """At least one coordinate of every slice is sent."""
    return min(1.0, max(density, 1.0 / size))


Builder = Callable[[int, list[tuple[int, int]], float, float, str], Compressor]


def _residual(method: str) -> Builder:
    def build(n: int, ranges: list[tuple[int, int]], density: float, momentum: float,
              value_coding: str) -> Compressor:
        return ResidualCompressor(ranges, method, density, momentum, value_coding)
    return build


#: Registry: name -> builder(n, ranges, density, momentum, value_coding).
COMPRESSORS: dict[str, Builder] = {
    "dense": lambda n, ranges, density, momentum, value_coding: DenseCompressor(n),
    "exact": _residual("exact"),
    "laplace": _residual("laplace"),
    "partition": _residual("partition"),
    "dgc": _residual("dgc"),
    "random": _residual("random"),
}


def make_compressor(name: str, n: int, layer_ranges: list[tuple[int, int]] | None,
                    density: float, momentum: float = 0.0, value_coding: str = "fp32") -> Compressor:
    """Build a compressor by registry name.

    Parameters
    ----------
    name : str
        A key of :data:`COMPRESSORS`.
    n : int
        Gradient length.
    layer_ranges : list of (start, stop) or None
        Per-layer slices (``ModelSpec.layer_param_ranges``); None selects over
        the whole vector.
    density, momentum : float
        Share sent per step; DGC momentum correction.
    value_coding : str
        Wire coding of the values (its rounding error stays in the residual).

    Raises
    ------
    ValueError
        For an unknown name, or ranges that do not tile ``[0, n)``.
    """
    if name not in COMPRESSORS:
        raise ValueError(f"unknown compressor {name!r}; choose one of {sorted(COMPRESSORS)}")
    ranges = list(layer_ranges) if layer_ranges else [(0, n)]
    if ranges[0][0] != 0 or ranges[-1][1] != n or any(a[1] != b[0] for a, b in zip(ranges, ranges[1:])):
        raise ValueError(f"layer ranges {ranges} do not tile [0, {n})")
    return COMPRESSORS[name](n, ranges, density, momentum, value_coding)
