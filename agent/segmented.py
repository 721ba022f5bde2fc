"""Layer-wise push and pull: the mechanics that carry out a DynaComm plan.

``agent/common/dynacomm.py`` decides which consecutive layers travel together; this
module does it with the numpy model (``agent/np_layers.py``) and the frame
codec (``sgc``):

* the planning layers come from :func:`sparrow.common.segments.layer_groups`
  (shared with the host, which sends model segments by the same plan).
* :func:`forward_layers` runs forward one planning layer at a time, asking a
  callable for each layer's parameters just before it needs them, so forward
  can start on the first layers while later ones are still arriving
  (:class:`ModelAssembler` is that callable for segments off the wire).
* :class:`LayerwiseBackward` yields each layer's gradient as soon as it is
  computed, last layer first; :func:`group_segments` turns that stream into
  the planned push segments, each complete the moment its lowest layer is.
* :func:`encode_gradient_segment` makes one
  frame per push segment, with ``segment_id``/``segment_count`` set (segment ids
  count in forward order in both directions, docs/PROTOCOL.md).

A gradient segment is a ``SPARSE_UPDATE`` over the whole flat vector whose
indices all fall inside the segment's range, so the host applies it with
``sgc.decode_into`` without knowing the plan. A model segment is a
``DENSE_MODEL`` of the segment's values only; its place in the flat vector
comes from the plan, which the receiver must share (:class:`ModelAssembler`
checks every frame against it).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import numpy as np

import sgc

from sparrow.agent.np_layers import OPS
from sparrow.agent.npmodel import check_inputs, check_labels, softmax_cross_entropy
from sparrow.common.dynacomm import Segmentation
from sparrow.common.modelspec import ModelSpec, check_params
from sparrow.common.segments import layer_groups, segment_ranges

__all__ = [
    "ForwardResult",
    "GradientSegment",
    "LayerGradient",
    "LayerwiseBackward",
    "ModelAssembler",
    "encode_gradient_segment",
    "forward_layers",
    "group_segments",
    "loss_and_grad_layerwise",
]


def _layer_params(spec: ModelSpec, position: int, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    shapes = dict(spec.param_shapes)
    w_shape = shapes[f"{position}.weight"]
    w_size = int(np.prod(w_shape))
    return values[:w_size].reshape(w_shape), values[w_size:]


@dataclass
class ForwardResult:
    """What :func:`forward_layers` leaves for the backward pass.

    Attributes
    ----------
    logits : numpy.ndarray
        ``(B, num_classes)`` float32.
    caches : list
        Per-layer caches of ``np_layers`` (one per entry of ``spec.layers``).
    forward_s : list of float
        Compute seconds of each planning layer (waiting for parameters excluded).
    waited_s : list of float
        Seconds each planning layer waited for its parameters.
    """

    logits: np.ndarray
    caches: list[Any]
    forward_s: list[float]
    waited_s: list[float]


def forward_layers(spec: ModelSpec, x: np.ndarray, layer_params: Callable[[int], np.ndarray],
                   rng: np.random.Generator | None = None) -> ForwardResult:
    """Forward pass one planning layer at a time.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    x : numpy.ndarray
        Inputs ``(B, *spec.input_shape)``.
    layer_params : callable(j) -> numpy.ndarray
        The flat parameters of planning layer ``j`` (``layer_groups(spec)[j].size``
        float32 values); it may block until they have arrived.
    rng : numpy.random.Generator, optional
        Training randomness for dropout masks, drawn in forward order as
        :func:`sparrow.agent.npmodel.loss_and_grad` draws them; None makes
        every dropout layer the identity. The masks stay in the caches, so
        :class:`LayerwiseBackward` needs no generator.

    Returns
    -------
    ForwardResult

    Raises
    ------
    ValueError
        If ``x`` or a layer's parameters do not fit the spec.
    """
    h = check_inputs(spec, x)
    caches: list[Any] = [None] * len(spec.layers)
    forward_s: list[float] = []
    waited_s: list[float] = []
    for j, group in enumerate(layer_groups(spec)):
        asked = time.perf_counter()
        values = np.asarray(layer_params(j))
        began = time.perf_counter()
        if values.shape != (group.size,):
            raise ValueError(f"{spec.name}: layer {j} needs {group.size} parameters, got shape {values.shape}")
        values = np.ascontiguousarray(values, dtype=np.float32)
        for position in range(group.first, group.stop):
            layer = spec.layers[position]
            p = _layer_params(spec, position, values) if position == group.param else None
            h, caches[position] = OPS[layer.kind].forward(layer, h, p, rng)
        waited_s.append(began - asked)
        forward_s.append(time.perf_counter() - began)
    return ForwardResult(h, caches, forward_s, waited_s)


@dataclass(frozen=True)
class LayerGradient:
    """The gradient of one planning layer, as backward produced it.

    Attributes
    ----------
    layer : int
        Planning-layer index (forward order).
    start, end : int
        Its range in the flat gradient.
    values : numpy.ndarray
        ``end - start`` float32 values (weight then bias, flat).
    seconds : float
        Backward compute time of this planning layer.
    """

    layer: int
    start: int
    end: int
    values: np.ndarray
    seconds: float


class LayerwiseBackward:
    """Backward pass as a stream: iterate to get each layer's gradient, last layer first.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    forward : ForwardResult
        The forward pass of this batch.
    y : numpy.ndarray
        Integer labels ``(B,)``.

    Attributes
    ----------
    loss : float
        Mean softmax cross-entropy of the batch (known before the first yield).

    Raises
    ------
    ValueError
        If the labels do not fit the spec or the batch.
    """

    def __init__(self, spec: ModelSpec, forward: ForwardResult, y: np.ndarray) -> None:
        self._spec = spec
        self._forward = forward
        labels = check_labels(spec, y, forward.logits.shape[0])
        self.loss, self._delta = softmax_cross_entropy(forward.logits, labels)

    def __iter__(self) -> Iterator[LayerGradient]:
        spec, caches = self._spec, self._forward.caches
        delta: np.ndarray | None = self._delta
        groups = layer_groups(spec)
        for j in range(len(groups) - 1, -1, -1):
            group = groups[j]
            began = time.perf_counter()
            grads = np.empty(group.size, dtype=np.float32)
            # Positions before the first parametrised layer never need a gradient.
            low = group.param if j == 0 else group.first
            for position in range(group.stop - 1, low - 1, -1):
                layer = spec.layers[position]
                need_dx = position > groups[0].param
                assert delta is not None
                delta, pgrads = OPS[layer.kind].backward(layer, delta, caches[position], need_dx)
                if pgrads is not None:
                    w_size = pgrads[0].size
                    grads[:w_size] = pgrads[0].reshape(-1)
                    grads[w_size:] = pgrads[1]
            yield LayerGradient(j, group.start, group.end, grads, time.perf_counter() - began)


def loss_and_grad_layerwise(spec: ModelSpec, params: np.ndarray, x: np.ndarray, y: np.ndarray, *,
                            rng: np.random.Generator | None = None) -> tuple[float, np.ndarray]:
    """:func:`npmodel.loss_and_grad` computed through the layer-wise path.

    Parameters
    ----------
    spec, params, x, y, rng
        As for :func:`sparrow.agent.npmodel.loss_and_grad` (the same
        generator state gives the same dropout masks on both paths).

    Returns
    -------
    loss : float
    grad : numpy.ndarray
        Flat float32 gradient.
    """
    params = check_params(spec, params)
    groups = layer_groups(spec)
    fwd = forward_layers(spec, x, lambda j: params[groups[j].start:groups[j].end], rng)
    backward = LayerwiseBackward(spec, fwd, y)
    grad = np.empty(spec.num_params, dtype=np.float32)
    for piece in backward:
        grad[piece.start:piece.end] = piece.values
    return backward.loss, grad


@dataclass(frozen=True)
class GradientSegment:
    """A planned push segment whose layers are all computed.

    Attributes
    ----------
    segment_id, segment_count : int
        Position in the plan (forward order) and number of segments.
    start, end : int
        Range in the flat gradient.
    values : numpy.ndarray
        ``end - start`` float32 values.
    ready_s : float
        ``time.perf_counter()`` when the segment became complete.
    """

    segment_id: int
    segment_count: int
    start: int
    end: int
    values: np.ndarray
    ready_s: float


def group_segments(gradients: Iterable[LayerGradient], segmentation: Segmentation) -> Iterator[GradientSegment]:
    """Gather a last-layer-first gradient stream into the planned segments.

    Each segment is yielded as soon as its lowest layer arrives, so a caller
    that sends it right away overlaps the send with the rest of backward.

    Parameters
    ----------
    gradients : iterable of LayerGradient
        Layers in backward order (as :class:`LayerwiseBackward` yields them).
    segmentation : Segmentation
        The plan; it must cover exactly the layers of the stream.

    Raises
    ------
    ValueError
        When the stream is not in strict backward order or does not match
        the plan.
    """
    ranges = segmentation.ranges
    pending: list[LayerGradient] = []
    expected = segmentation.num_layers - 1
    m = len(ranges) - 1
    for piece in gradients:
        if piece.layer != expected:
            raise ValueError(f"gradient of layer {piece.layer} arrived, expected layer {expected}")
        expected -= 1
        pending.append(piece)
        if piece.layer == ranges[m][0]:
            values = np.concatenate([p.values for p in reversed(pending)])
            yield GradientSegment(m, len(ranges), pending[-1].start, pending[0].end, values,
                                  time.perf_counter())
            pending = []
            m -= 1
    if expected != -1:
        raise ValueError(f"gradient stream ended before layer {expected}")


def encode_gradient_segment(segment: GradientSegment, n: int, *, density: float = 1.0,
                            value_coding: str = "fp32", **header: int) -> bytes:
    """One ``SPARSE_UPDATE`` frame for a push segment.

    Parameters
    ----------
    segment : GradientSegment
        The segment.
    n : int
        Length of the whole flat gradient (the frame's ``n``).
    density : float
        Fraction of the segment's entries to send, largest magnitudes first,
        in (0, 1]; 1 sends every entry.
    value_coding : str
        ``sgc`` value coding name.
    **header : int
        Other header fields (``device_id``, ``round``, ``seq``, ``flags``).

    Returns
    -------
    bytes
        The frame, with the segment's ``segment_id``/``segment_count``.

    Raises
    ------
    ValueError
        For a density outside (0, 1] or a segment outside ``[0, n)``.
    """
    if not 0 < density <= 1:
        raise ValueError(f"density must be in (0, 1], got {density}")
    if not 0 <= segment.start < segment.end <= n:
        raise ValueError(f"segment [{segment.start}, {segment.end}) does not lie in [0, {n})")
    size = segment.end - segment.start
    k = max(1, int(round(density * size)))
    if k == size:
        local = np.arange(size)
    else:
        local = np.sort(np.argpartition(np.abs(segment.values), size - k)[size - k:])
    indices = (local + segment.start).astype(np.uint32)
    values = np.ascontiguousarray(segment.values[local], dtype=np.float32)
    return sgc.encode_sparse(n, indices, values, value_coding=value_coding,
                             segment_id=segment.segment_id, segment_count=segment.segment_count,
                             **header)


class ModelAssembler:
    """Rebuilds a model from its segments and hands out layers as they complete.

    Thread-safe: a network thread calls :meth:`feed`, the compute thread calls
    :meth:`layer` (the ``layer_params`` of :func:`forward_layers`), which
    blocks until the segment holding that layer has arrived.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    segmentation : Segmentation
        The pull plan the sender used.
    round : int or None
        Model version to accept (None: any, taken from the first segment).

    Raises
    ------
    ValueError
        When the plan does not fit the model.
    """

    def __init__(self, spec: ModelSpec, segmentation: Segmentation, round: int | None = None) -> None:
        self._spec = spec
        self._segmentation = segmentation
        self._ranges = segment_ranges(spec, segmentation)
        self._groups = layer_groups(spec)
        self._round = round
        self.params = np.zeros(spec.num_params, dtype=np.float32)
        self._have = [False] * segmentation.count
        self.arrived_s = [0.0] * segmentation.count
        self._cond = threading.Condition()

    def feed(self, frame: bytes) -> int:
        """Take one model segment frame; returns its segment id.

        Raises
        ------
        sgc.FrameError
            For a malformed frame.
        ValueError
            For a frame that is not a dense model segment of this plan and
            version (the message says which field disagrees).
        """
        decoded = sgc.decode(frame)
        if decoded.msg_type != sgc.MSG_DENSE_MODEL:
            raise ValueError(f"expected a DENSE_MODEL segment, got message type {decoded.msg_type}")
        if decoded.segment_count != self._segmentation.count:
            raise ValueError(
                f"segment_count {decoded.segment_count} does not match the plan's {self._segmentation.count}")
        m = int(decoded.segment_id)
        start, end = self._ranges[m]
        if decoded.n != end - start:
            raise ValueError(f"segment {m} carries {decoded.n} values, the plan says {end - start}")
        with self._cond:
            if self._round is None:
                self._round = int(decoded.round)
            elif decoded.round != self._round:
                raise ValueError(f"segment {m} is of model version {decoded.round}, expected {self._round}")
            self.params[start:end] = decoded.values
            if not self._have[m]:
                self._have[m] = True
                self.arrived_s[m] = time.perf_counter()
            self._cond.notify_all()
        return m

    @property
    def complete(self) -> bool:
        """True when every segment has arrived."""
        with self._cond:
            return all(self._have)

    def layer(self, j: int, timeout_s: float | None = 30.0) -> np.ndarray:
        """Parameters of planning layer ``j``, waiting for its segment.

        Raises
        ------
        TimeoutError
            When the segment does not arrive within ``timeout_s``.
        """
        m = self._segmentation.segment_of(j)
        with self._cond:
            if not self._cond.wait_for(lambda: self._have[m], timeout_s):
                raise TimeoutError(f"segment {m} (layer {j}) did not arrive within {timeout_s} s")
        group = self._groups[j]
        return self.params[group.start:group.end]
