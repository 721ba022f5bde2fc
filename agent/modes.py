"""What a node uploads for a round: the registry behind ``agent.mode``.

``gradient``: one mini-batch gradient, compressed with residual memory
(``SPARSE_UPDATE``); ``average``: model averaging, ``local_steps`` SGD steps
and the compressed model delta (``SPARSE_MODEL_DELTA``, ``agent/local_sgd.py``;
the host runs ``mode = "average"`` too).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

import sgc

from sparrow.agent.local_sgd import LocalSGD
from sparrow.agent.npmodel import correct_count, dropout_rng, forward, loss_grad_correct
from sparrow.agent.selections import build_compressor

if TYPE_CHECKING:
    from sparrow.agent.config import AgentConfig
    from sparrow.agent.compressor import Compressor
    from sparrow.common.modelspec import ModelSpec

__all__ = ["AverageMode", "GradientMode", "MODES", "Mode", "Shard"]

#: Samples per local SGD step of ``average`` mode.
LOCAL_BATCH = 32


class Shard(Protocol):
    """What a mode needs of its node: the model, the data, the config."""

    config: AgentConfig
    spec: ModelSpec
    x: np.ndarray
    y: np.ndarray

    def batch(self, rnd: int, batch_size: int) -> np.ndarray:
        """Indices of the round's mini-batch (the same whenever it is drawn)."""
        ...


class Mode(Protocol):
    """One round's upload as one frame."""

    compressor: Compressor
    last_loss: float
    #: (loss, accuracy, samples) of the last round's batch, for the host's progress without evaluation data.
    last_stats: tuple[float, float, int] | None

    def frame(self, params: np.ndarray, rnd: int, batch_size: int, seq: int) -> bytes:
        """Train on the round's data from ``params``; the frame to send."""
        ...


class GradientMode:
    """One mini-batch gradient per round, compressed with residual memory."""

    def __init__(self, node: Shard) -> None:
        self.node = node
        self.compressor = build_compressor(node.config, node.spec.num_params, node.spec.layer_param_ranges)
        self.last_loss = float("nan")
        self.last_stats: tuple[float, float, int] | None = None

    def frame(self, params: np.ndarray, rnd: int, batch_size: int, seq: int) -> bytes:
        node, config = self.node, self.node.config
        pick = node.batch(rnd, batch_size)
        loss, grad, correct = loss_grad_correct(node.spec, params, node.x[pick], node.y[pick],
                                                rng=dropout_rng(config.seed, config.device_id, rnd))
        self.last_loss = float(loss)
        self.last_stats = (float(loss), correct / pick.size, int(pick.size))
        indices, values = self.compressor.compress(np.ascontiguousarray(grad, dtype=np.float32))
        return sgc.encode_sparse(node.spec.num_params, indices, values, value_coding=config.value_coding,
                                 device_id=config.device_id, round=rnd, seq=seq, compact="auto")


class AverageMode:
    """Model averaging: local SGD steps, then the compressed model delta."""

    def __init__(self, node: Shard) -> None:
        config = node.config
        self.compressor = build_compressor(config, node.spec.num_params, node.spec.layer_param_ranges)
        self.local = LocalSGD(node.spec, node.x, node.y, self.compressor, config.local_steps, config.warmup_rounds,
                              config.local_lr, LOCAL_BATCH, config.seed, config.device_id)
        self.value_coding = config.value_coding
        self.node = node
        self.last_loss = float("nan")
        self.last_stats: tuple[float, float, int] | None = None

    def frame(self, params: np.ndarray, rnd: int, batch_size: int, seq: int) -> bytes:
        node = self.node
        # Accuracy of the model the round starts from, on the round's batch: one forward, no dropout.
        pick = node.batch(rnd, batch_size)
        logits = forward(node.spec, params, node.x[pick])
        frame, work = self.local.frame(params, rnd, self.value_coding, seq, batch_size)
        self.last_loss = work.loss
        self.last_stats = (float(work.loss), correct_count(logits, node.y[pick]) / pick.size, int(pick.size))
        return frame


#: Registry: mode name -> the node's upload of one round (one name on host and node: ``average``).
MODES = {
    "gradient": GradientMode,
    "average": AverageMode,
}
