"""C initializers that round-trip exactly, for every generator of C sources.

The firmware's model and shard generators, ``sparrow data pack --format c``
and ``sparrow export --format c`` all write float32 values as C99 hexadecimal
constants, so a board holds bit for bit what the host computed.
"""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np

__all__ = ["PER_LINE", "array_body", "float_literal", "floats", "ints"]

#: Items per line of an initializer.
PER_LINE = 8


def float_literal(value: float) -> str:
    """Exact C99 literal of a float32 (hexadecimal floating constant)."""
    v = float(np.float32(value))
    if not math.isfinite(v):
        raise ValueError(f"cannot write non-finite value {v!r} into firmware")
    return f"{v.hex()}f"


def array_body(items: Iterable[str]) -> str:
    """Comma-separated items, PER_LINE to a line, indented for an initializer."""
    items = list(items)
    lines = [", ".join(items[i: i + PER_LINE]) for i in range(0, len(items), PER_LINE)]
    return ",\n".join("    " + line for line in lines)


def floats(values: np.ndarray) -> str:
    """Initializer body for a float array."""
    return array_body(float_literal(v) for v in np.asarray(values, dtype=np.float32).ravel())


def ints(values: np.ndarray) -> str:
    """Initializer body for an integer array."""
    return array_body(str(int(v)) for v in np.asarray(values).ravel())
