"""The checksum of a model copy, carried in every round pointer.

With a sparse-delta downlink a node's copy is the sum of everything it has
applied; one lost or altered delta would leave it silently different from the
host's. Each ROUND_OPEN therefore carries the CRC-32 (the zlib polynomial,
which MicroPython's ``binascii.crc32`` computes too) of the model version it
names, as little-endian float32 bytes; a node whose copy does not match asks
for the whole model.
"""
from __future__ import annotations

import zlib

import numpy as np

__all__ = ["model_checksum"]


def model_checksum(params: np.ndarray) -> int:
    """CRC-32 of the flat float32 parameters (never 0: 0 means "no checksum" in ROUND_OPEN)."""
    data = np.ascontiguousarray(params, dtype="<f4").tobytes()
    return zlib.crc32(data) or 1
