"""What the generators wrote for a board, read back as the tests' reference.

``gen_model.py`` leaves ``build/gen/model.npz`` (the spec and the initial
weights) and ``gen_shard.py`` leaves ``build/<board>/gen/shard.npz`` (the
samples exactly as the board dequantises them, and their labels).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

import qemu
from sparrow.common.modelspec import ModelSpec


@dataclass(frozen=True)
class Generated:
    """A board's model, initial weights and data shard."""

    spec: ModelSpec
    params: np.ndarray
    x: np.ndarray
    y: np.ndarray

    def batch(self, first: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The board's mini-batch: consecutive samples, wrapping around the shard."""
        idx = (first + np.arange(count)) % len(self.y)
        return self.x[idx], self.y[idx]


def load(board: str) -> Generated:
    """Read the generated reference files of a built board.

    Raises
    ------
    FileNotFoundError
        If the board has not been built.
    """
    model = np.load(qemu.FIRMWARE / "build" / "gen" / "model.npz")
    shard = np.load(qemu.FIRMWARE / "build" / board / "gen" / "shard.npz")
    spec = ModelSpec.from_dict(json.loads(str(model["spec"])))
    return Generated(spec, model["params"], shard["x"], shard["y"])
