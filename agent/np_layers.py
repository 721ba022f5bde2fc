"""Forward and backward maths of each layer kind, in vectorised numpy (float32).

Each kind of :data:`sparrow.common.modelspec.LAYER_KINDS` has one
:class:`LayerOps` entry in :data:`OPS`. A forward pass returns the output and a
cache; the backward pass turns the output gradient and that cache into the
input gradient (skipped when not needed, e.g. for the first layer) and the
parameter gradients. Convolutions use im2col on a strided window view, so the
only Python loops are over kernel offsets, never over samples.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from sparrow.common.modelspec import Layer

__all__ = ["LayerOps", "OPS"]

Array = np.ndarray
Params = Optional[tuple[Array, Array]]
Rng = Optional[np.random.Generator]
Forward = Callable[..., tuple[Array, Any]]
Backward = Callable[[Layer, Array, Any, bool], tuple[Optional[Array], Optional[tuple[Array, Array]]]]


@dataclass(frozen=True)
class LayerOps:
    """Forward ``(layer, x, params, rng=None) -> (y, cache)`` and backward
    ``(layer, dy, cache, need_dx) -> (dx or None, (dw, db) or None)``.

    ``rng`` is the training randomness (dropout masks): a
    ``numpy.random.Generator`` while training, None for inference, where a
    random layer is the identity. Deterministic kinds ignore it; a random
    kind keeps what it drew in its cache, so backward needs no generator.
    """

    forward: Forward
    backward: Backward


def _windows(x: Array, kernel: int, stride: int) -> Array:
    """View of every window: (B, C, *S) -> (B, C, *S_out, *K), no copy."""
    spatial = tuple(range(2, x.ndim))
    view = sliding_window_view(x, (kernel,) * len(spatial), axis=spatial)
    index = (slice(None), slice(None)) + (slice(None, None, stride),) * len(spatial)
    return view[index]


def _offset_slices(offset: tuple[int, ...], out_shape: tuple[int, ...], stride: int) -> tuple[slice, ...]:
    """Input positions touched by kernel ``offset`` across all output positions."""
    return (slice(None), slice(None)) + tuple(
        slice(o, o + stride * (n - 1) + 1, stride) for o, n in zip(offset, out_shape)
    )


def _pad(x: Array, padding: int) -> Array:
    if padding == 0:
        return x
    widths = [(0, 0), (0, 0)] + [(padding, padding)] * (x.ndim - 2)
    return np.pad(x, widths)


def _conv_forward(layer: Layer, x: Array, params: Params, rng: Rng = None) -> tuple[Array, Any]:
    assert params is not None
    w, b = params
    stride = int(layer.stride or 1)
    xp = _pad(x, layer.padding)
    win = _windows(xp, layer.kernel, stride)
    nd = x.ndim - 2
    out_spatial = win.shape[2:2 + nd]
    # cols: (B * prod(S_out), C * prod(K)), matching w.reshape(O, C * prod(K)).
    order = (0, *range(2, 2 + nd), 1, *range(2 + nd, 2 + 2 * nd))
    cols = win.transpose(order).reshape(x.shape[0] * math.prod(out_spatial), -1)
    wm = w.reshape(w.shape[0], -1)
    y = cols @ wm.T
    y += b
    y = y.reshape(x.shape[0], *out_spatial, w.shape[0])
    y = np.ascontiguousarray(np.moveaxis(y, -1, 1))
    return y, (cols, w, xp.shape, out_spatial)


def _conv_backward(layer: Layer, dy: Array, cache: Any, need_dx: bool) -> tuple[Optional[Array], Optional[tuple[Array, Array]]]:
    cols, w, padded_shape, out_spatial = cache
    out_channels = w.shape[0]
    dym = np.moveaxis(dy, 1, -1).reshape(-1, out_channels)
    dw = (dym.T @ cols).reshape(w.shape)
    db = dym.sum(axis=0)
    if not need_dx:
        return None, (dw, db)
    stride = int(layer.stride or 1)
    nd = len(out_spatial)
    batch, channels = padded_shape[0], padded_shape[1]
    dcols = (dym @ w.reshape(out_channels, -1)).reshape(
        batch, *out_spatial, channels, *(layer.kernel,) * nd
    )
    dxp = np.zeros(padded_shape, dtype=np.float32)
    for offset in itertools.product(range(layer.kernel), repeat=nd):
        part = dcols[(slice(None),) * (2 + nd) + offset]  # (B, *S_out, C)
        dxp[_offset_slices(offset, out_spatial, stride)] += np.moveaxis(part, -1, 1)
    p = layer.padding
    if p:
        dxp = dxp[(slice(None), slice(None)) + (slice(p, -p),) * nd]
    return np.ascontiguousarray(dxp), (dw, db)


def _maxpool_forward(layer: Layer, x: Array, params: Params, rng: Rng = None) -> tuple[Array, Any]:
    stride = int(layer.stride or layer.kernel)
    nd = x.ndim - 2
    out_spatial = tuple((size - layer.kernel) // stride + 1 for size in x.shape[2:])
    best = np.empty((*x.shape[:2], *out_spatial), dtype=np.float32)
    arg = np.zeros(best.shape, dtype=np.int32)
    # One strided slice per kernel offset, in row-major window order; a
    # strict comparison keeps the first maximum, as PyTorch does on ties.
    for j, offset in enumerate(itertools.product(range(layer.kernel), repeat=nd)):
        candidate = x[_offset_slices(offset, out_spatial, stride)]
        if j == 0:
            best[...] = candidate
            continue
        larger = candidate > best
        np.copyto(best, candidate, where=larger)
        np.copyto(arg, j, where=larger)
    return best, (arg, x.shape)


def _maxpool_backward(layer: Layer, dy: Array, cache: Any, need_dx: bool) -> tuple[Optional[Array], Optional[tuple[Array, Array]]]:
    arg, in_shape = cache
    stride = int(layer.stride or layer.kernel)
    nd = len(in_shape) - 2
    out_spatial = dy.shape[2:]
    dx = np.zeros(in_shape, dtype=np.float32)
    for j, offset in enumerate(itertools.product(range(layer.kernel), repeat=nd)):
        dx[_offset_slices(offset, out_spatial, stride)] += np.where(arg == j, dy, np.float32(0))
    return dx, None


def _avgpool_forward(layer: Layer, x: Array, params: Params, rng: Rng = None) -> tuple[Array, Any]:
    stride = int(layer.stride or layer.kernel)
    win = _windows(x, layer.kernel, stride)
    nd = x.ndim - 2
    y = win.mean(axis=tuple(range(2 + nd, 2 + 2 * nd)), dtype=np.float32)
    return y, x.shape


def _avgpool_backward(layer: Layer, dy: Array, cache: Any, need_dx: bool) -> tuple[Optional[Array], Optional[tuple[Array, Array]]]:
    in_shape = cache
    stride = int(layer.stride or layer.kernel)
    nd = len(in_shape) - 2
    share = dy / np.float32(layer.kernel ** nd)
    dx = np.zeros(in_shape, dtype=np.float32)
    for offset in itertools.product(range(layer.kernel), repeat=nd):
        dx[_offset_slices(offset, dy.shape[2:], stride)] += share
    return dx, None


def _dense_forward(layer: Layer, x: Array, params: Params, rng: Rng = None) -> tuple[Array, Any]:
    assert params is not None
    w, b = params
    y = x @ w.T
    y += b
    return y, (x, w)


def _dense_backward(layer: Layer, dy: Array, cache: Any, need_dx: bool) -> tuple[Optional[Array], Optional[tuple[Array, Array]]]:
    x, w = cache
    grads = (dy.T @ x, dy.sum(axis=0))
    return (dy @ w if need_dx else None), grads


def _relu_forward(layer: Layer, x: Array, params: Params, rng: Rng = None) -> tuple[Array, Any]:
    y = np.maximum(x, np.float32(0))
    return y, y


def _relu_backward(layer: Layer, dy: Array, cache: Any, need_dx: bool) -> tuple[Optional[Array], Optional[tuple[Array, Array]]]:
    # Gradient 0 at exactly 0, as PyTorch's relu.
    return np.where(cache > 0, dy, np.float32(0)), None


def _flatten_forward(layer: Layer, x: Array, params: Params, rng: Rng = None) -> tuple[Array, Any]:
    return x.reshape(x.shape[0], -1), x.shape


def _flatten_backward(layer: Layer, dy: Array, cache: Any, need_dx: bool) -> tuple[Optional[Array], Optional[tuple[Array, Array]]]:
    return dy.reshape(cache), None


def _dropout_forward(layer: Layer, x: Array, params: Params, rng: Rng = None) -> tuple[Array, Any]:
    # Inverted dropout: keep a unit with probability 1 - p and scale it by
    # 1 / (1 - p), so the expected output is the input and inference needs
    # no rescaling. Without a generator (inference) nothing is dropped.
    if rng is None or not layer.p:
        return x, None
    keep = rng.random(x.shape, dtype=np.float32) >= np.float32(layer.p)
    scale = keep.astype(np.float32) * np.float32(1.0 / (1.0 - layer.p))
    return x * scale, scale


def _dropout_backward(layer: Layer, dy: Array, cache: Any, need_dx: bool) -> tuple[Optional[Array], Optional[tuple[Array, Array]]]:
    return (dy if cache is None else dy * cache), None


OPS: dict[str, LayerOps] = {
    "dense": LayerOps(_dense_forward, _dense_backward),
    "conv1d": LayerOps(_conv_forward, _conv_backward),
    "conv2d": LayerOps(_conv_forward, _conv_backward),
    "relu": LayerOps(_relu_forward, _relu_backward),
    "maxpool1d": LayerOps(_maxpool_forward, _maxpool_backward),
    "avgpool1d": LayerOps(_avgpool_forward, _avgpool_backward),
    "maxpool2d": LayerOps(_maxpool_forward, _maxpool_backward),
    "avgpool2d": LayerOps(_avgpool_forward, _avgpool_backward),
    "flatten": LayerOps(_flatten_forward, _flatten_backward),
    "dropout": LayerOps(_dropout_forward, _dropout_backward),
}
"""numpy maths for every layer kind of the description format."""
