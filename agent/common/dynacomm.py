"""DynaComm segment scheduling: choose which consecutive layers travel together.

A node's iteration is a *pull* (the model comes down, forward runs) followed by
a *push* (backward runs, the gradient goes up). Sending each direction as one
message wastes the overlap between compute and the link; sending one message
per layer pays the per-message overhead once per layer. DynaComm (IEEE JSAC
40(2), 2022) splits each transmission into segments of consecutive layers and
picks the split that minimises the makespan. This module is the planner: pure
maths, no I/O, no clock. ``agent/segmented.py`` does the mechanics.

The timeline model (all times in seconds, layers ``0..L-1`` in forward order,
only parametrised layers count, see ``segmented.layer_groups``):

Push
    Backward computes layers ``L-1, ..., 0`` one after the other; layer ``i``'s
    gradient exists at ``R(i) = sum(backward_s[i:])``. A segment of layers
    ``[a, b)`` can leave once its lowest layer is done, at ``R(a)``. The link
    carries one message at a time, in segment order (last layers first), a
    message of ``S`` bytes occupying it for ``overhead_s + S / bandwidth``.
    Makespan: when the last byte of the last segment is delivered, plus the
    one-way ``latency_s``.
Pull
    The sender puts segments on the link back to back from time 0, first
    layers first; segment ``m`` has fully arrived at ``A(m) = latency_s +
    sum over m' <= m of (overhead_s + S(m') / bandwidth)``. Forward layer ``i``
    starts when layer ``i - 1`` is done and its segment has arrived.
    Makespan: when forward of the last layer is done.

Both are solved exactly by a dynamic program over segment boundaries in
``O(L^2)``: for the push over backward-order prefixes (the finish time of a
prefix is all its suffix depends on, and later finishes grow with it), for the
pull over forward-order suffixes (a suffix's cost, measured from the moment
its first segment starts on the link, does not depend on the prefix). Ties go
to fewer, larger messages.

:class:`Replanner` keeps exponentially weighted moving averages of measured
costs and re-plans when an estimate moves by more than a threshold.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

__all__ = [
    "LayerCosts",
    "LinkModel",
    "Replanner",
    "Schedule",
    "Segmentation",
    "fit_link",
    "plan",
    "plan_pull",
    "plan_push",
    "pull_makespan",
    "push_makespan",
]

# Relative margin a candidate must win by to replace the incumbent, so that
# floating-point noise never breaks the "fewer messages on ties" rule.
_TIE = 1e-12


def _finite_nonnegative(name: str, values: Sequence[float]) -> tuple[float, ...]:
    out = tuple(float(v) for v in values)
    for i, v in enumerate(out):
        if not math.isfinite(v) or v < 0:
            raise ValueError(f"{name}[{i}] must be finite and >= 0, got {v!r}")
    return out


@dataclass(frozen=True)
class LayerCosts:
    """Measured cost of each parametrised layer, in forward order.

    Parameters
    ----------
    backward_s : sequence of float
        Backward compute time of each layer (s), including the parameter-free
        layers grouped with it.
    forward_s : sequence of float
        Forward compute time of each layer (s).
    message_bytes : sequence of float
        Bytes each layer adds to a message (its share of the encoded frame).

    Raises
    ------
    ValueError
        For no layers, sequences of different lengths, or a negative or
        non-finite entry.
    """

    backward_s: tuple[float, ...]
    forward_s: tuple[float, ...]
    message_bytes: tuple[float, ...]

    def __post_init__(self) -> None:
        for name in ("backward_s", "forward_s", "message_bytes"):
            object.__setattr__(self, name, _finite_nonnegative(name, getattr(self, name)))
        lengths = {len(self.backward_s), len(self.forward_s), len(self.message_bytes)}
        if len(lengths) != 1:
            raise ValueError(
                "backward_s, forward_s and message_bytes must have one entry per layer, got "
                f"{len(self.backward_s)}, {len(self.forward_s)} and {len(self.message_bytes)}")
        if not self.backward_s:
            raise ValueError("a plan needs at least one layer")

    @property
    def num_layers(self) -> int:
        """Number of parametrised layers."""
        return len(self.backward_s)


@dataclass(frozen=True)
class LinkModel:
    """One direction of the link: a message of S bytes holds it ``overhead_s + S / bandwidth_Bps``.

    Parameters
    ----------
    overhead_s : float
        Fixed cost of one message that the link cannot overlap (headers on
        the wire, a stop-and-wait acknowledgement, per-publish CPU).
    bandwidth_Bps : float
        Payload bytes per second.
    latency_s : float
        Time from a message leaving the link to its delivery: the one-way
        delay of a pipelined link. It may be negative, down to
        ``-overhead_s``, when part of the overhead is spent after delivery:
        on a stop-and-wait link (one QoS 1 message in flight) the overhead
        includes waiting a round trip for the acknowledgement, so delivery is
        one one-way delay *before* the link frees (``latency_s = -delay``).
        It shifts every plan by the same amount and never changes the choice.

    Raises
    ------
    ValueError
        For a negative or non-finite overhead, a latency below
        ``-overhead_s``, or a bandwidth that is not positive and finite.
    """

    overhead_s: float
    bandwidth_Bps: float
    latency_s: float = 0.0

    def __post_init__(self) -> None:
        overhead, latency = float(self.overhead_s), float(self.latency_s)
        if not math.isfinite(overhead) or overhead < 0:
            raise ValueError(f"overhead_s must be finite and >= 0, got {self.overhead_s!r}")
        if not math.isfinite(latency) or latency < -overhead:
            raise ValueError(f"latency_s must be finite and >= -overhead_s ({-overhead}), got {self.latency_s!r}")
        object.__setattr__(self, "overhead_s", overhead)
        object.__setattr__(self, "latency_s", latency)
        bandwidth = float(self.bandwidth_Bps)
        if not math.isfinite(bandwidth) or bandwidth <= 0:
            raise ValueError(f"bandwidth_Bps must be finite and > 0, got {self.bandwidth_Bps!r}")
        object.__setattr__(self, "bandwidth_Bps", bandwidth)

    def message_s(self, nbytes: float) -> float:
        """Time one message of ``nbytes`` holds the link."""
        return self.overhead_s + nbytes / self.bandwidth_Bps


@dataclass(frozen=True)
class Segmentation:
    """A split of ``num_layers`` layers into segments of consecutive layers.

    Parameters
    ----------
    starts : tuple of int
        First layer (forward order) of each segment, strictly increasing,
        beginning with 0. Segment ``m`` is ``[starts[m], starts[m + 1])``; its
        ``segment_id`` on the wire is ``m`` in both directions.
    num_layers : int
        Number of layers split.

    Raises
    ------
    ValueError
        When ``starts`` is not a strictly increasing sequence from 0 below
        ``num_layers``.
    """

    starts: tuple[int, ...]
    num_layers: int

    def __post_init__(self) -> None:
        starts = tuple(int(s) for s in self.starts)
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {self.num_layers}")
        if not starts or starts[0] != 0:
            raise ValueError(f"segment starts must begin with 0, got {starts}")
        if any(b <= a for a, b in zip(starts, starts[1:])) or starts[-1] >= self.num_layers:
            raise ValueError(
                f"segment starts must increase strictly and stay below {self.num_layers}, got {starts}")
        object.__setattr__(self, "starts", starts)

    @classmethod
    def one_message(cls, num_layers: int) -> "Segmentation":
        """All layers in a single segment."""
        return cls((0,), num_layers)

    @classmethod
    def per_layer(cls, num_layers: int) -> "Segmentation":
        """One segment per layer."""
        return cls(tuple(range(num_layers)), num_layers)

    @property
    def count(self) -> int:
        """Number of segments."""
        return len(self.starts)

    @property
    def ranges(self) -> list[tuple[int, int]]:
        """``(first, stop)`` layer range of each segment, in forward order."""
        stops = self.starts[1:] + (self.num_layers,)
        return list(zip(self.starts, stops))

    def segment_of(self, layer: int) -> int:
        """Index of the segment holding ``layer``."""
        if not 0 <= layer < self.num_layers:
            raise ValueError(f"layer must be in [0, {self.num_layers}), got {layer}")
        return int(np.searchsorted(self.starts, layer, side="right")) - 1


def _check_fit(costs: LayerCosts, segmentation: Segmentation) -> None:
    if segmentation.num_layers != costs.num_layers:
        raise ValueError(
            f"segmentation covers {segmentation.num_layers} layers, costs have {costs.num_layers}")


def push_makespan(costs: LayerCosts, link: LinkModel, segmentation: Segmentation) -> float:
    """Time from the start of backward until the host holds the whole gradient.

    Parameters
    ----------
    costs : LayerCosts
        Per-layer backward times and message sizes.
    link : LinkModel
        The uplink.
    segmentation : Segmentation
        Which layers travel together; segments leave last layers first.

    Returns
    -------
    float
        Makespan in seconds (see the module docstring for the model).
    """
    _check_fit(costs, segmentation)
    ready = np.cumsum(costs.backward_s[::-1])[::-1]  # ready[i]: layer i's gradient exists
    link_free = 0.0
    for first, stop in reversed(segmentation.ranges):
        size = sum(costs.message_bytes[first:stop])
        link_free = max(link_free, float(ready[first])) + link.message_s(size)
    return link_free + link.latency_s


def pull_makespan(costs: LayerCosts, link: LinkModel, segmentation: Segmentation) -> float:
    """Time from the first model byte leaving the sender until forward is done.

    Parameters
    ----------
    costs : LayerCosts
        Per-layer forward times and message sizes.
    link : LinkModel
        The downlink.
    segmentation : Segmentation
        Which layers travel together; segments arrive first layers first.

    Returns
    -------
    float
        Makespan in seconds (see the module docstring for the model).
    """
    _check_fit(costs, segmentation)
    arrived = link.latency_s
    done = 0.0
    for first, stop in segmentation.ranges:
        arrived += link.message_s(sum(costs.message_bytes[first:stop]))
        done = max(done, arrived) + sum(costs.forward_s[first:stop])
    return done


def plan_push(costs: LayerCosts, link: LinkModel) -> tuple[Segmentation, float]:
    """The push segmentation with the smallest makespan (dynamic program, O(L^2)).

    Returns
    -------
    segmentation : Segmentation
        The optimal split (fewest segments among equal makespans).
    makespan : float
        Its :func:`push_makespan`.
    """
    n = costs.num_layers
    # Backward order: position q covers the last q layers, forward layers n-q..n-1.
    back = np.concatenate(([0.0], np.cumsum(costs.backward_s[::-1])))
    size = np.concatenate(([0.0], np.cumsum(costs.message_bytes[::-1])))
    best = [0.0] + [math.inf] * n
    cut = [0] * (n + 1)
    for q in range(1, n + 1):
        for p in range(q):
            finish = max(float(back[q]), best[p]) + link.message_s(float(size[q] - size[p]))
            if finish < best[q] * (1 - _TIE) or best[q] == math.inf:
                best[q], cut[q] = finish, p
    # Walk back: each segment [n-q, n-p) in forward order.
    starts = []
    q = n
    while q > 0:
        starts.append(n - q)
        q = cut[q]
    return Segmentation(tuple(starts), n), best[n] + link.latency_s


def plan_pull(costs: LayerCosts, link: LinkModel) -> tuple[Segmentation, float]:
    """The pull segmentation with the smallest makespan (dynamic program, O(L^2)).

    Returns
    -------
    segmentation : Segmentation
        The optimal split (fewest segments among equal makespans).
    makespan : float
        Its :func:`pull_makespan`.
    """
    n = costs.num_layers
    size = np.concatenate(([0.0], np.cumsum(costs.message_bytes)))
    fwd = np.concatenate(([0.0], np.cumsum(costs.forward_s)))
    suffix = float(fwd[n]) - fwd  # suffix[p]: forward time of layers p..n-1
    # value[p]: makespan of layers p.. measured from when their first segment
    # starts on the link; an empty suffix imposes nothing.
    value = [math.inf] * n + [-math.inf]
    nxt = [n] * (n + 1)
    for p in range(n - 1, -1, -1):
        for q in range(n, p, -1):
            cost = link.message_s(float(size[q] - size[p])) + max(float(suffix[p]), value[q])
            if value[p] == math.inf or cost < value[p] * (1 - _TIE):
                value[p], nxt[p] = cost, q
    starts = []
    p = 0
    while p < n:
        starts.append(p)
        p = nxt[p]
    return Segmentation(tuple(starts), n), value[0] + link.latency_s


@dataclass(frozen=True)
class Schedule:
    """A plan for both directions of one iteration.

    Attributes
    ----------
    push, pull : Segmentation
        The chosen splits.
    push_s, pull_s : float
        Their predicted makespans.
    """

    push: Segmentation
    pull: Segmentation
    push_s: float
    pull_s: float

    @property
    def iteration_s(self) -> float:
        """Predicted pull + push time of one iteration."""
        return self.push_s + self.pull_s


def plan(costs: LayerCosts, uplink: LinkModel, downlink: LinkModel | None = None) -> Schedule:
    """Plan both directions of an iteration.

    Parameters
    ----------
    costs : LayerCosts
        Per-layer measurements.
    uplink : LinkModel
        Node to host (push).
    downlink : LinkModel, optional
        Host to node (pull); the uplink's model when omitted.

    Returns
    -------
    Schedule
    """
    push, push_s = plan_push(costs, uplink)
    pull, pull_s = plan_pull(costs, uplink if downlink is None else downlink)
    return Schedule(push, pull, push_s, pull_s)


def fit_link(sizes: Sequence[float], seconds: Sequence[float], latency_s: float = 0.0) -> LinkModel:
    """Least-squares fit of ``seconds = overhead + size / bandwidth`` to message timings.

    Parameters
    ----------
    sizes : sequence of float
        Bytes of each timed message (at least two distinct sizes).
    seconds : sequence of float
        How long each held the link.
    latency_s : float
        Latency to carry into the model (see :class:`LinkModel`).

    Returns
    -------
    LinkModel
        The fit, with the overhead clipped at 0.

    Raises
    ------
    ValueError
        For mismatched lengths, fewer than two distinct sizes, or timings
        that do not grow with size (no positive bandwidth fits).
    """
    x = np.asarray(_finite_nonnegative("sizes", sizes))
    t = np.asarray(_finite_nonnegative("seconds", seconds))
    if x.shape != t.shape:
        raise ValueError(f"sizes and seconds differ in length: {x.size} and {t.size}")
    if np.unique(x).size < 2:
        raise ValueError("fit_link needs timings of at least two distinct message sizes")
    slope, intercept = np.polyfit(x, t, 1)
    if slope <= 0:
        raise ValueError(f"timings do not grow with size (slope {slope:.3g} s/byte)")
    return LinkModel(max(float(intercept), 0.0), 1.0 / float(slope), latency_s)


@dataclass
class Replanner:
    """Moving estimates of the measurements, and a plan that follows them.

    Each :meth:`observe` folds one iteration's measurements into
    exponentially weighted moving averages. The plan is recomputed when any
    estimate (a layer's time or size, a link's overhead or bandwidth) differs
    from the value the current plan was made with by more than ``threshold``
    relative to it (``min_change_s``/``min_change_bytes`` keep tiny absolute
    changes of tiny values from triggering), so the plan is stable under
    noise and follows real drift.

    Parameters
    ----------
    alpha : float
        EWMA weight of a new measurement, in (0, 1].
    threshold : float
        Relative change that triggers a re-plan, > 0.
    min_change_s : float
        Absolute change in seconds a time estimate must also exceed.

    Raises
    ------
    ValueError
        For alpha outside (0, 1] or a threshold that is not positive.
    """

    alpha: float = 0.3
    threshold: float = 0.1
    min_change_s: float = 1e-4
    replans: int = field(default=0, init=False)
    _estimate: np.ndarray | None = field(default=None, init=False, repr=False)
    _planned_with: np.ndarray | None = field(default=None, init=False, repr=False)
    _schedule: Schedule | None = field(default=None, init=False, repr=False)
    _layers: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {self.alpha}")
        if not self.threshold > 0:
            raise ValueError(f"threshold must be > 0, got {self.threshold}")
        if not self.min_change_s >= 0:
            raise ValueError(f"min_change_s must be >= 0, got {self.min_change_s}")

    @staticmethod
    def _pack(costs: LayerCosts, uplink: LinkModel, downlink: LinkModel) -> np.ndarray:
        # Links enter as seconds per byte so every entry grows with cost and
        # averages stay meaningful.
        return np.array([*costs.backward_s, *costs.forward_s, *costs.message_bytes,
                         uplink.overhead_s, 1.0 / uplink.bandwidth_Bps, uplink.latency_s,
                         downlink.overhead_s, 1.0 / downlink.bandwidth_Bps, downlink.latency_s])

    def _unpack(self) -> tuple[LayerCosts, LinkModel, LinkModel]:
        assert self._estimate is not None
        e, n = self._estimate, self._layers
        costs = LayerCosts(tuple(e[:n]), tuple(e[n:2 * n]), tuple(e[2 * n:3 * n]))
        up = LinkModel(e[3 * n], 1.0 / e[3 * n + 1], e[3 * n + 2])
        down = LinkModel(e[3 * n + 3], 1.0 / e[3 * n + 4], e[3 * n + 5])
        return costs, up, down

    def _moved(self) -> bool:
        assert self._estimate is not None and self._planned_with is not None
        n = self._layers
        change = np.abs(self._estimate - self._planned_with)
        floor = np.full(change.shape, self.min_change_s)
        floor[2 * n:3 * n] = 1.0  # sizes: at least one byte
        floor[3 * n + 1] = floor[3 * n + 4] = 0.0  # seconds per byte: relative only
        return bool(np.any((change > self.threshold * np.abs(self._planned_with)) & (change > floor)))

    def observe(self, costs: LayerCosts, uplink: LinkModel, downlink: LinkModel | None = None) -> bool:
        """Fold in one iteration's measurements; re-plan if the estimates moved.

        Parameters
        ----------
        costs : LayerCosts
            This iteration's per-layer measurements.
        uplink, downlink : LinkModel
            This iteration's link estimates (downlink defaults to uplink).

        Returns
        -------
        bool
            True when a new plan was made (always on the first call).

        Raises
        ------
        ValueError
            When the number of layers differs from earlier observations.
        """
        sample = self._pack(costs, uplink, uplink if downlink is None else downlink)
        if self._estimate is None:
            self._estimate, self._layers = sample, costs.num_layers
        elif costs.num_layers != self._layers:
            raise ValueError(f"observed {costs.num_layers} layers, earlier {self._layers}")
        else:
            self._estimate = (1 - self.alpha) * self._estimate + self.alpha * sample
        if self._planned_with is not None and not self._moved():
            return False
        self._schedule = plan(*self._unpack())
        self._planned_with = self._estimate.copy()
        self.replans += 1
        return True

    @property
    def schedule(self) -> Schedule:
        """The current plan.

        Raises
        ------
        RuntimeError
            Before the first :meth:`observe`.
        """
        if self._schedule is None:
            raise RuntimeError("no plan yet: call observe() with measurements first")
        return self._schedule

    @property
    def estimates(self) -> tuple[LayerCosts, LinkModel, LinkModel]:
        """Current moving estimates: per-layer costs, uplink, downlink.

        Raises
        ------
        RuntimeError
            Before the first :meth:`observe`.
        """
        if self._estimate is None:
            raise RuntimeError("no estimates yet: call observe() with measurements first")
        return self._unpack()
