"""Model averaging on the node: I local SGD steps, then a compressed model delta.

Parallel restarted SGD (Yu, Yang, Zhu, AAAI 2019; docs/design.md method 3): every
node starts a round from the model the host published, runs ``I`` plain SGD
steps on its own shard, and uploads the change of its parameters,
``delta = params_after - params_before``. The host averages the deltas
(sample-weighted) and adds the mean to the model (``host/averaging.py``).

Post-local SGD (Lin et al., 2020) runs the first rounds synchronously, one
step per round, before switching to ``I`` steps: :func:`steps_in_round`.

The delta goes through the same residual memory as a gradient
(``agent.compressor.make_compressor`` with momentum 0, i.e.
``sgc.Residual(n, method, density, momentum=0.0).step(delta)``): what is not
sent this round is added to the next round's delta, so no part of the local
progress is lost, only delayed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import sgc

from sparrow.agent.compressor import Compressor
from sparrow.common.modelspec import ModelSpec
from sparrow.agent.npmodel import dropout_rng, loss_and_grad

__all__ = ["LocalRound", "LocalSGD", "local_train", "steps_in_round"]


def _positive_int(name: str, value: int, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def steps_in_round(rnd: int, local_steps: int, warmup_rounds: int) -> int:
    """Local SGD steps a node runs in round ``rnd`` (rounds count from 1).

    One step per round during the synchronous warm-up (rounds
    ``1..warmup_rounds``), ``local_steps`` afterwards.

    Raises
    ------
    ValueError
        For a round below 1, ``local_steps`` below 1 or a negative warm-up.
    """
    _positive_int("rnd", rnd, 1)
    _positive_int("local_steps", local_steps, 1)
    _positive_int("warmup_rounds", warmup_rounds, 0)
    return 1 if rnd <= warmup_rounds else int(local_steps)


def local_train(spec: ModelSpec, params: np.ndarray, x: np.ndarray, y: np.ndarray, steps: int,
                lr: float, batch_size: int, rng: np.random.Generator, *,
                dropout: np.random.Generator | None = None) -> tuple[np.ndarray, float]:
    """Run ``steps`` plain SGD steps from ``params`` on one shard.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    params : np.ndarray
        Flat float32 starting parameters (not modified).
    x, y : np.ndarray
        The node's shard.
    steps : int
        SGD steps, >= 1.
    lr : float
        Local learning rate, > 0.
    batch_size : int
        Mini-batch size (capped at the shard size); each batch is drawn
        without replacement from the shard with ``rng``.
    rng : np.random.Generator
        Source of the mini-batches (seed it per node and round so a round's
        work is reproducible).
    dropout : np.random.Generator, optional
        Source of the dropout masks of every step (training: dropout is
        always active here). None draws them from ``rng`` too; a separate
        generator keeps the mini-batch sequence independent of the masks.

    Returns
    -------
    delta : np.ndarray
        float32 ``params_after - params_before``.
    mean_loss : float
        Mean of the mini-batch losses seen along the way.

    Raises
    ------
    ValueError
        For ``steps < 1``, a non-positive ``lr`` or ``batch_size``, or an
        empty shard.
    """
    _positive_int("steps", steps, 1)
    _positive_int("batch_size", batch_size, 1)
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if y.size == 0:
        raise ValueError("local_train needs a non-empty shard")
    start = np.ascontiguousarray(params, dtype=np.float32)
    current = start.copy()
    step_lr = np.float32(lr)
    size = min(int(batch_size), int(y.size))
    losses = 0.0
    masks = rng if dropout is None else dropout
    for _ in range(int(steps)):
        pick = rng.choice(y.size, size=size, replace=False)
        loss, grad = loss_and_grad(spec, current, x[pick], y[pick], rng=masks)
        current -= step_lr * grad
        losses += loss
    return current - start, losses / int(steps)


@dataclass(frozen=True)
class LocalRound:
    """What one node uploads for one round of model averaging.

    Attributes
    ----------
    indices, values : np.ndarray
        The compressed delta (ascending uint32, float32).
    steps : int
        Local steps run.
    loss : float
        Mean mini-batch loss over those steps.
    """

    indices: np.ndarray
    values: np.ndarray
    steps: int
    loss: float


class LocalSGD:
    """A node's model-averaging worker: local steps, delta, error feedback.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    x, y : np.ndarray
        The node's shard.
    compressor : Compressor
        Compressor of the delta; build it with momentum 0
        (``make_compressor(name, n, ranges, density, 0.0, coding)``), so its
        residual memory carries exactly the unsent part of the deltas.
    local_steps : int
        ``I``, steps per round after the warm-up.
    warmup_rounds : int
        Synchronous rounds (one step each) before switching to ``I``.
    lr : float
        Local learning rate.
    batch_size : int
        Mini-batch size.
    seed : int
        Seed of the mini-batch draws and dropout masks (mixed with the
        device id and round).
    device_id : int
        This node's id (seeds and frame header).
    """

    def __init__(self, spec: ModelSpec, x: np.ndarray, y: np.ndarray, compressor: Compressor,
                 local_steps: int, warmup_rounds: int, lr: float, batch_size: int, seed: int = 0,
                 device_id: int = 0) -> None:
        steps_in_round(1, local_steps, warmup_rounds)
        self.spec = spec
        self.x = x
        self.y = y
        self.compressor = compressor
        self.local_steps = int(local_steps)
        self.warmup_rounds = int(warmup_rounds)
        self.lr = float(lr)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.device_id = int(device_id)

    def round(self, params: np.ndarray, rnd: int, batch_size: int | None = None) -> LocalRound:
        """Train from ``params`` for round ``rnd`` and compress the delta.

        ``batch_size`` overrides the worker's (the host announces it per round).
        """
        steps = steps_in_round(rnd, self.local_steps, self.warmup_rounds)
        rng = np.random.default_rng([self.seed, self.device_id, rnd])
        delta, loss = local_train(self.spec, params, self.x, self.y, steps, self.lr,
                                  batch_size or self.batch_size, rng,
                                  dropout=dropout_rng(self.seed, self.device_id, rnd))
        indices, values = self.compressor.compress(delta)
        return LocalRound(np.asarray(indices, dtype=np.uint32), np.asarray(values, dtype=np.float32), steps, loss)

    def frame(self, params: np.ndarray, rnd: int, value_coding: str = "fp32", seq: int = 0,
              batch_size: int | None = None) -> tuple[bytes, LocalRound]:
        """:meth:`round`, encoded as a ``MSG_SPARSE_MODEL_DELTA`` frame.

        The value coding must be the compressor's, so that the residual
        memory holds exactly what the host does not decode.
        """
        work = self.round(params, rnd, batch_size)
        out = sgc.encode_sparse(self.spec.num_params, work.indices, work.values, value_coding=value_coding,
                                msg_type=sgc.MSG_SPARSE_MODEL_DELTA, device_id=self.device_id, round=rnd,
                                seq=seq, compact="auto")
        return out, work
