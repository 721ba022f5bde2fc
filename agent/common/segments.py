"""Segment wire helpers shared by host and nodes (DynaComm, docs/methods.md).

* :func:`layer_groups` maps a :class:`ModelSpec` to its *planning layers*:
  each parametrised layer together with the parameter-free layers that follow
  it (ReLU, pooling, flatten), so that a planning layer's forward needs only
  its own parameters and its backward ends with its own gradient.
* :func:`segment_ranges` gives each segment's flat parameter range.
* :func:`encode_model_segments` makes one ``DENSE_MODEL`` frame per segment
  of a pull plan, with ``segment_id``/``segment_count`` set (segment ids
  count in forward order in both directions, docs/PROTOCOL.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import sgc

from sparrow.common.dynacomm import Segmentation
from sparrow.common.modelspec import ModelSpec, check_params

__all__ = ["LayerGroup", "encode_model_segments", "layer_groups", "segment_ranges"]


@dataclass(frozen=True)
class LayerGroup:
    """One planning layer: a parametrised layer and the free layers around it.

    Attributes
    ----------
    first, stop : int
        Positions ``[first, stop)`` in ``spec.layers`` that forward runs for
        this group (the first group also holds leading parameter-free layers).
    param : int
        Position of the parametrised layer.
    start, end : int
        Its ``[start, end)`` range in the flat parameter vector.
    """

    first: int
    stop: int
    param: int
    start: int
    end: int

    @property
    def size(self) -> int:
        """Number of parameters."""
        return self.end - self.start


def layer_groups(spec: ModelSpec) -> list[LayerGroup]:
    """Planning layers of a model, in forward order.

    Parameters
    ----------
    spec : ModelSpec
        The model.

    Returns
    -------
    list of LayerGroup
        One entry per parametrised layer.
    """
    slices = spec.param_slices
    params = [i for i in range(len(spec.layers)) if f"{i}.weight" in slices]
    ranges = spec.layer_param_ranges
    bounds = [0, *params[1:], len(spec.layers)]
    return [LayerGroup(bounds[j], bounds[j + 1], p, ranges[j][0], ranges[j][1])
            for j, p in enumerate(params)]


def segment_ranges(spec: ModelSpec, segmentation: Segmentation) -> list[tuple[int, int]]:
    """Flat ``(start, end)`` parameter range of each segment, in forward order.

    Raises
    ------
    ValueError
        When the segmentation does not cover the model's planning layers.
    """
    groups = layer_groups(spec)
    if len(groups) != segmentation.num_layers:
        raise ValueError(
            f"{spec.name} has {len(groups)} planning layers, the segmentation covers {segmentation.num_layers}")
    return [(groups[a].start, groups[b - 1].end) for a, b in segmentation.ranges]


def encode_model_segments(spec: ModelSpec, params: np.ndarray, segmentation: Segmentation, *,
                          value_coding: str = "fp32", **header: int) -> list[bytes]:
    """The model as one ``DENSE_MODEL`` frame per segment, first layers first.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    params : numpy.ndarray
        Flat parameters.
    segmentation : Segmentation
        The pull plan.
    value_coding : str
        ``sgc`` value coding name.
    **header : int
        Other header fields (``device_id``, ``round``, ``seq``, ``flags``).

    Returns
    -------
    list of bytes
        Frame ``m`` holds segment ``m``.
    """
    params = check_params(spec, params)
    count = segmentation.count
    return [sgc.encode_dense(params[start:end], value_coding=value_coding, segment_id=m,
                             segment_count=count, **header)
            for m, (start, end) in enumerate(segment_ranges(spec, segmentation))]
