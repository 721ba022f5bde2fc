"""A model description as a PyTorch module, and the flat-vector bridge.

The host owns the model as a ``torch.nn.Sequential`` built from the shared
description (``sparrow.common.modelspec``). Its modules sit at the layer
positions, so ``named_parameters()`` yields exactly the spec's names
(``"0.weight"``, ``"0.bias"``, ...) in the spec's order, and the flat vector
of :func:`get_flat` is the one the agents' numpy model reads.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sparrow.common.modelspec import Layer, ModelSpec, init_params

__all__ = ["build_torch_model", "get_flat", "set_flat", "flat_grad", "evaluate"]

Shape = tuple[int, ...]


def _dense(layer: Layer, shape: Shape) -> nn.Module:
    return nn.Linear(shape[0], layer.out_features)


def _conv1d(layer: Layer, shape: Shape) -> nn.Module:
    return nn.Conv1d(shape[0], layer.out_channels, layer.kernel,
                     stride=int(layer.stride or 1), padding=layer.padding)


def _conv2d(layer: Layer, shape: Shape) -> nn.Module:
    return nn.Conv2d(shape[0], layer.out_channels, layer.kernel,
                     stride=int(layer.stride or 1), padding=layer.padding)


_MODULES: dict[str, Callable[[Layer, Shape], nn.Module]] = {
    "dense": _dense,
    "conv1d": _conv1d,
    "conv2d": _conv2d,
    "relu": lambda layer, shape: nn.ReLU(),
    "maxpool1d": lambda layer, shape: nn.MaxPool1d(layer.kernel, stride=layer.stride),
    "avgpool1d": lambda layer, shape: nn.AvgPool1d(layer.kernel, stride=layer.stride),
    "maxpool2d": lambda layer, shape: nn.MaxPool2d(layer.kernel, stride=layer.stride),
    "avgpool2d": lambda layer, shape: nn.AvgPool2d(layer.kernel, stride=layer.stride),
    "flatten": lambda layer, shape: nn.Flatten(),
    # Inverted dropout like the nodes': active in train(), the identity in eval().
    "dropout": lambda layer, shape: nn.Dropout(p=float(layer.p or 0.0)),
}


def build_torch_model(spec: ModelSpec, seed: int | None = 0) -> nn.Module:
    """Build the PyTorch module of a description.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    seed : int or None
        Load ``init_params(spec, seed)`` so the host starts from the same
        weights every node would compute; ``None`` keeps PyTorch's own
        initialisation.

    Returns
    -------
    torch.nn.Module
        A float32 ``nn.Sequential`` on the CPU whose parameters, in
        ``parameters()`` order, have the names and shapes of
        ``spec.param_shapes``.
    """
    shapes = spec.shapes
    model = nn.Sequential(*(
        _MODULES[layer.kind](layer, shapes[i]) for i, layer in enumerate(spec.layers)
    ))
    names = [(name, tuple(p.shape)) for name, p in model.named_parameters()]
    if names != spec.param_shapes:
        raise RuntimeError(f"{spec.name}: torch parameters {names} differ from the spec {spec.param_shapes}")
    if seed is not None:
        set_flat(model, init_params(spec, seed))
    return model


def get_flat(module: nn.Module) -> np.ndarray:
    """All parameters as one flat float32 numpy vector, in ``parameters()`` order."""
    with torch.no_grad():
        return torch.cat([p.detach().reshape(-1).float().cpu() for p in module.parameters()]).numpy()


def set_flat(module: nn.Module, flat: np.ndarray) -> None:
    """Copy a flat vector into the parameters, in ``parameters()`` order.

    Raises
    ------
    ValueError
        If ``flat`` is not 1-D or its length differs from the parameter count.
    """
    flat = np.asarray(flat)
    total = sum(p.numel() for p in module.parameters())
    if flat.ndim != 1 or flat.size != total:
        raise ValueError(f"flat vector must have {total} values, got shape {flat.shape}")
    source = torch.from_numpy(np.ascontiguousarray(flat, dtype=np.float32))
    start = 0
    with torch.no_grad():
        for p in module.parameters():
            stop = start + p.numel()
            p.copy_(source[start:stop].view_as(p))
            start = stop


def flat_grad(module: nn.Module) -> np.ndarray:
    """All parameter gradients as one flat float32 vector (zeros where a gradient is None)."""
    parts = [
        (p.grad if p.grad is not None else torch.zeros_like(p)).detach().reshape(-1).float().cpu()
        for p in module.parameters()
    ]
    return torch.cat(parts).numpy()


def evaluate(module: nn.Module, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor,
             device: str | torch.device = "cpu", batch: int = 1024) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of a module on a data set.

    Parameters
    ----------
    module : torch.nn.Module
        The model; it is moved to ``device`` and left there.
    x : numpy.ndarray or torch.Tensor
        Inputs of shape ``(N, *input_shape)``.
    y : numpy.ndarray or torch.Tensor
        Integer labels of shape ``(N,)``.
    device : str or torch.device
        Where to compute.
    batch : int
        Samples per forward pass.

    Returns
    -------
    tuple of float
        ``(loss, accuracy)``.
    """
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    xs = torch.as_tensor(x, dtype=torch.float32)
    ys = torch.as_tensor(y, dtype=torch.int64)
    if xs.shape[0] != ys.shape[0] or xs.shape[0] == 0:
        raise ValueError(f"x and y must hold the same non-zero number of samples, got {xs.shape[0]} and {ys.shape[0]}")
    module.to(device)
    was_training = module.training
    module.eval()
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, xs.shape[0], batch):
            xb = xs[start:start + batch].to(device)
            yb = ys[start:start + batch].to(device)
            logits = module(xb)
            loss_sum += float(F.cross_entropy(logits, yb, reduction="sum"))
            correct += int((logits.argmax(dim=1) == yb).sum())
    module.train(was_training)
    return loss_sum / xs.shape[0], correct / xs.shape[0]
