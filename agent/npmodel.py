"""A model description run in numpy: forward pass, loss and flat gradient.

This is the Linux agent's model maths (no torch needed on the node). It must
agree with the host's PyTorch model (``host/torch_model.py``) to float32
tolerance on every registered model; ``tests/test_npmodel_vs_torch.py``
checks that against torch autograd. The loss is softmax cross-entropy averaged
over the batch, computed from max-shifted logits.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from sparrow.common.modelspec import ModelSpec, check_params
from sparrow.agent.np_layers import OPS

__all__ = ["accuracy", "check_inputs", "check_labels", "check_params", "dropout_rng", "correct_count", "forward", "loss_and_grad", "loss_grad_correct",
           "softmax_cross_entropy"]

#: Last word of the seed of a round's dropout masks, after (seed, device id,
#: round): keeps that stream apart from the round's other draws.
DROPOUT_STREAM = 0xD0


def dropout_rng(seed: int, device_id: int, rnd: int) -> np.random.Generator:
    """The generator a node trains with in round ``rnd`` (dropout masks).

    Seeded by ``(seed, device_id, rnd, DROPOUT_STREAM)`` only, so rerunning a
    node's round draws the same masks, and two nodes or two rounds draw
    different ones.
    """
    return np.random.default_rng((int(seed), int(device_id), int(rnd), DROPOUT_STREAM))


def check_inputs(spec: ModelSpec, x: np.ndarray) -> np.ndarray:
    """A batch ``x`` of the spec's input shape as contiguous float32; ValueError otherwise."""
    x = np.asarray(x)
    if x.ndim != 1 + len(spec.input_shape) or x.shape[1:] != spec.input_shape or x.shape[0] < 1:
        raise ValueError(
            f"{spec.name}: x must have shape (batch >= 1, {', '.join(map(str, spec.input_shape))}), got {x.shape}"
        )
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"{spec.name}: x must be numeric, got {x.dtype}")
    return np.ascontiguousarray(x, dtype=np.float32)


def check_labels(spec: ModelSpec, y: np.ndarray, batch: int) -> np.ndarray:
    """``batch`` integer labels in [0, num_classes); ValueError otherwise."""
    y = np.asarray(y)
    if y.shape != (batch,) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{spec.name}: y must be {batch} integer labels, got {y.dtype} {y.shape}")
    if y.min() < 0 or y.max() >= spec.num_classes:
        raise ValueError(
            f"{spec.name}: labels must lie in [0, {spec.num_classes}), got [{y.min()}, {y.max()}]"
        )
    return y.astype(np.int64, copy=False)


def _unpack(spec: ModelSpec, params: np.ndarray) -> list[Optional[tuple[np.ndarray, np.ndarray]]]:
    """Views of each layer's (weight, bias) in ``params``, None for parameter-free layers."""
    slices = spec.param_slices
    shapes = dict(spec.param_shapes)
    out: list[Optional[tuple[np.ndarray, np.ndarray]]] = []
    for i in range(len(spec.layers)):
        w, b = f"{i}.weight", f"{i}.bias"
        if w in slices:
            out.append((params[slices[w]].reshape(shapes[w]), params[slices[b]]))
        else:
            out.append(None)
    return out


def _forward(spec: ModelSpec, params: np.ndarray, x: np.ndarray,
             rng: Optional[np.random.Generator] = None) -> tuple[np.ndarray, list[Any]]:
    caches = []
    for layer, p in zip(spec.layers, _unpack(spec, params)):
        x, cache = OPS[layer.kind].forward(layer, x, p, rng)
        caches.append(cache)
    return x, caches


def forward(spec: ModelSpec, params: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Logits of a batch (inference: dropout layers pass their input through).

    Parameters
    ----------
    spec : ModelSpec
        The model.
    params : numpy.ndarray
        Flat parameters, ``spec.num_params`` values (cast to float32).
    x : numpy.ndarray
        Inputs of shape ``(B, *spec.input_shape)``.

    Returns
    -------
    numpy.ndarray
        float32 logits of shape ``(B, spec.num_classes)``.

    Raises
    ------
    ValueError
        If ``params`` or ``x`` do not fit the spec.
    """
    logits, _ = _forward(spec, check_params(spec, params), check_inputs(spec, x))
    return logits


def softmax_cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy and its gradient with respect to the logits."""
    batch = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    rows = np.arange(batch)
    loss = float(np.mean(np.log(total[:, 0]) - shifted[rows, y]))
    dlogits = exp / total
    dlogits[rows, y] -= np.float32(1)
    dlogits /= np.float32(batch)
    return loss, dlogits


def loss_and_grad(spec: ModelSpec, params: np.ndarray, x: np.ndarray, y: np.ndarray, *,
                  rng: Optional[np.random.Generator] = None) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy of a batch and its gradient.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    params : numpy.ndarray
        Flat parameters, ``spec.num_params`` values (cast to float32).
    x : numpy.ndarray
        float32 inputs of shape ``(B, *spec.input_shape)``.
    y : numpy.ndarray
        Integer labels of shape ``(B,)`` in ``[0, spec.num_classes)``.
    rng : numpy.random.Generator, optional
        Training randomness: each dropout layer draws its mask from it, in
        forward order. None (the default) computes the deterministic
        inference loss, every dropout layer being the identity. Seed it per
        node and round to make a round's work reproducible.

    Returns
    -------
    loss : float
        Mean cross-entropy over the batch.
    grad : numpy.ndarray
        Flat float32 gradient, laid out like ``params`` (``spec.param_slices``).

    Raises
    ------
    ValueError
        If an argument does not fit the spec.
    """
    loss, grad, _ = loss_grad_correct(spec, params, x, y, rng=rng)
    return loss, grad


def loss_grad_correct(spec: ModelSpec, params: np.ndarray, x: np.ndarray, y: np.ndarray, *,
                      rng: Optional[np.random.Generator] = None) -> tuple[float, np.ndarray, int]:
    """:func:`loss_and_grad` and how many samples of the batch the model got right (training accuracy)."""
    params = check_params(spec, params)
    x = check_inputs(spec, x)
    y = check_labels(spec, y, x.shape[0])
    loss, grad, logits = _loss_grad_logits(spec, params, x, y, rng)
    return loss, grad, correct_count(logits, y)


def correct_count(logits: np.ndarray, y: np.ndarray) -> int:
    """How many rows of ``logits`` have their largest value at the label."""
    return int(np.count_nonzero(logits.argmax(axis=1) == y))


def _loss_grad_logits(spec: ModelSpec, params: np.ndarray, x: np.ndarray, y: np.ndarray,
                      rng: Optional[np.random.Generator]) -> tuple[float, np.ndarray, np.ndarray]:
    logits, caches = _forward(spec, params, x, rng)
    loss, delta = softmax_cross_entropy(logits, y)
    grad = np.empty(spec.num_params, dtype=np.float32)
    slices = spec.param_slices
    # The input gradient of the first parametrised layer is never used.
    first = min((i for i in range(len(spec.layers)) if f"{i}.weight" in slices), default=0)
    for i in range(len(spec.layers) - 1, -1, -1):
        layer = spec.layers[i]
        delta, pgrads = OPS[layer.kind].backward(layer, delta, caches[i], i > first)
        if pgrads is not None:
            grad[slices[f"{i}.weight"]] = pgrads[0].reshape(-1)
            grad[slices[f"{i}.bias"]] = pgrads[1]
        if delta is None:
            break
    return loss, grad, logits


def accuracy(spec: ModelSpec, params: np.ndarray, x: np.ndarray, y: np.ndarray, batch: int = 1024) -> float:
    """Fraction of samples whose largest logit is the label (inference: no dropout).

    Parameters
    ----------
    spec : ModelSpec
        The model.
    params : numpy.ndarray
        Flat parameters.
    x : numpy.ndarray
        Inputs of shape ``(N, *spec.input_shape)``.
    y : numpy.ndarray
        Integer labels of shape ``(N,)``.
    batch : int
        Samples per forward pass (bounds memory).

    Returns
    -------
    float
        Accuracy in [0, 1].
    """
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    params = check_params(spec, params)
    x = check_inputs(spec, x)
    y = check_labels(spec, y, x.shape[0])
    correct = 0
    for start in range(0, x.shape[0], batch):
        logits, _ = _forward(spec, params, x[start:start + batch])
        correct += correct_count(logits, y[start:start + batch])
    return correct / x.shape[0]
