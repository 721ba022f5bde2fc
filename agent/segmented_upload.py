"""DynaComm on the node: push gradient segments during backward, pull the model by its own plan.

The round's gradient is computed layer by layer (``agent/segmented.py``):
forward takes each layer's parameters from a :class:`ModelAssembler` that the
network thread fills with the model segments of the node's pull plan as they
arrive, backward yields layer gradients last layer first, and each planned
push segment is compressed (a residual memory per layer) and published the
moment its lowest layer is done. Per-layer compute times, bytes and the
broker's PUBACK times feed a ``dynacomm.Replanner``; a new pull plan goes to
the host in a HELLO. Gradient mode with ``topk`` selection only.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

import sgc

from sparrow.agent.compressor import make_compressor
from sparrow.agent.npmodel import correct_count, dropout_rng
from sparrow.agent.segmented import ForwardResult, LayerwiseBackward, ModelAssembler, forward_layers, group_segments
from sparrow.common import control
from sparrow.common.dynacomm import LayerCosts, LinkModel, Replanner, Segmentation, fit_link
from sparrow.common.segments import layer_groups
from sparrow.common.transport import Topics

if TYPE_CHECKING:
    from sparrow.agent.node import Agent

__all__ = ["FIXED_PLANS", "SegmentedUpload"]

log = logging.getLogger(__name__)

#: Registry: segment plan name -> the segmentation a node starts with (``planned`` starts with one message).
FIXED_PLANS = {
    "planned": Segmentation.one_message,
    "per_layer": Segmentation.per_layer,
    "one_message": Segmentation.one_message,
}

#: Bandwidth assumed when message timings do not fit a line (all one size, or noise): overhead only.
LINK_FALLBACK_BPS = 1e12
#: How long forward waits for a model segment before asking for the whole model.
SEGMENT_WAIT_S = 10.0
#: Earlier pull plans kept, so model segments sent by a plan the host has not yet replaced still assemble.
PLANS_KEPT = 3


class SegmentedUpload:
    """The ``segmented`` comm of a node: layer-wise push, planned pull, re-planning."""

    def __init__(self, node: Agent) -> None:
        self.node = node
        config = node.config
        self.groups = layer_groups(node.spec)
        self.layer_memories = [make_compressor(config.compressor, g.size, None, config.density, config.momentum,
                                               config.value_coding) for g in self.groups]
        self.replanner = Replanner(threshold=config.replan_threshold)
        fixed = FIXED_PLANS[config.segment_plan](len(self.groups))
        self.push_plan = fixed
        self.pull_plans: dict[int, Segmentation] = {0: fixed}
        self.plan_id = 0
        self.assembly: tuple[int, int, ModelAssembler] | None = None  # (model version, plan id, assembler)
        self.segments_sent = 0
        self.last_loss = float("nan")
        self.last_stats: tuple[float, float, int] | None = None

    @property
    def replans(self) -> int:
        """Plans adopted since start."""
        return self.replanner.replans

    @staticmethod
    def subscriptions(topics: Topics) -> list[tuple[str, int]]:
        """Nothing more: the model comes in segments on the node's own sync topic."""
        return []

    def pull_plan(self) -> control.PullPlan:
        """The pull plan the HELLO carries."""
        return control.PullPlan(self.plan_id, self.pull_plans[self.plan_id].starts)

    def on_network_frame(self, topic: str, data: bytes) -> bool:
        """Network thread: a model segment goes straight into the assembler (True when taken)."""
        if topic != self.node.topics.sync(self.node.config.device_id):
            return False
        frame = sgc.decode(data)
        if frame.msg_type != sgc.MSG_DENSE_MODEL or int(frame.segment_count) < 2:
            return False
        plan = self.pull_plans.get(int(frame.seq))
        if plan is None or plan.count != int(frame.segment_count):
            raise ValueError(f"model segment by unknown pull plan {frame.seq}")
        current = self.assembly
        if current is None or current[:2] != (int(frame.round), int(frame.seq)):
            current = (int(frame.round), int(frame.seq), ModelAssembler(self.node.spec, plan, round=int(frame.round)))
            self.assembly = current
            self.node.events.put(("segments", "", int(frame.round)))
        current[2].feed(data)
        return True

    def model_ready(self, version: int) -> bool:
        """True when the model of ``version`` is here, or is arriving in segments."""
        assembling = self.assembly is not None and self.assembly[0] == version
        return assembling or self.node.replica.holds(version)

    def upload(self, rnd: int, batch_size: int) -> None:
        """Compute the round's gradient layer by layer and push each planned segment when it is done."""
        node = self.node
        pick = node.batch(rnd, batch_size)
        forward = self._forward(rnd, node.x[pick])
        backward = LayerwiseBackward(node.spec, forward, node.y[pick])
        self.last_loss = float(backward.loss)
        self.last_stats = (self.last_loss, correct_count(forward.logits, node.y[pick]) / pick.size, int(pick.size))
        node.send_stats(rnd, self.last_stats)
        backward_s = [0.0] * len(self.groups)
        layer_bytes = [0.0] * len(self.groups)
        sent: list[tuple[int, float]] = []
        sizes: list[int] = []

        def timed(stream: LayerwiseBackward) -> Any:
            for piece in stream:
                backward_s[piece.layer] = piece.seconds
                yield piece

        for segment in group_segments(timed(backward), self.push_plan):
            frame = self._segment_frame(segment.values, segment.start, segment.segment_id,
                                        segment.segment_count, rnd, layer_bytes)
            packets = node.send_timed(frame)
            sent.append(packets[-1])
            sizes.append(len(frame))
        self.segments_sent += len(sizes)
        node.advance_seq()
        self._replan(LayerCosts(tuple(backward_s), tuple(forward.forward_s), tuple(layer_bytes)), sent, sizes)

    def _forward(self, rnd: int, x: np.ndarray) -> ForwardResult:
        """Forward on the model of the round, taking layers from the assembler as they arrive."""
        replica = self.node.replica
        assembly = self.assembly
        if assembly is not None and assembly[0] == rnd:
            assembler = assembly[2]
            self.assembly = None
            try:
                result = forward_layers(self.node.spec, x, lambda j: assembler.layer(j, SEGMENT_WAIT_S),
                                        rng=self._dropout(rnd))
            except TimeoutError as exc:
                replica.resync()
                raise ValueError(f"round {rnd}: {exc}; asked for the whole model") from None
            replica.adopt(assembler.params.copy(), rnd)
            return result
        params = replica.params
        assert params is not None
        return forward_layers(self.node.spec, x, lambda j: params[self.groups[j].start:self.groups[j].end],
                              rng=self._dropout(rnd))

    def _dropout(self, rnd: int) -> np.random.Generator:
        config = self.node.config
        return dropout_rng(config.seed, config.device_id, rnd)

    def _segment_frame(self, values: np.ndarray, start: int, segment_id: int, count: int, rnd: int,
                       layer_bytes: list[float]) -> bytes:
        """Compress each layer of a push segment with its own residual memory; one sparse frame."""
        config = self.node.config
        layers = range(self.push_plan.ranges[segment_id][0], self.push_plan.ranges[segment_id][1])
        all_idx: list[np.ndarray] = []
        all_val: list[np.ndarray] = []
        for j in layers:
            group = self.groups[j]
            idx, val = self.layer_memories[j].compress(
                np.ascontiguousarray(values[group.start - start:group.end - start], dtype=np.float32))
            all_idx.append(np.asarray(idx, dtype=np.uint32) + np.uint32(group.start))
            all_val.append(np.asarray(val, dtype=np.float32))
        indices, vals = np.concatenate(all_idx), np.concatenate(all_val)
        frame = sgc.encode_sparse(self.node.spec.num_params, indices, vals, value_coding=config.value_coding,
                                  device_id=config.device_id, round=rnd, seq=self.node.seq,
                                  segment_id=segment_id, segment_count=count)
        for j, idx in zip(layers, all_idx):
            layer_bytes[j] = len(frame) * idx.size / max(1, indices.size)
        return frame

    def _replan(self, costs: LayerCosts, sent: list[tuple[int, float]], sizes: list[int]) -> None:
        """Measure the uplink from PUBACK times, update the estimates, adopt a new plan if one is made."""
        acked = self.node.transport.acked_at([mid for mid, _ in sent])
        if acked is None:
            return
        seconds, free = [], 0.0
        for (_, began), done in zip(sent, acked):
            start = max(began, free)
            seconds.append(max(done - start, 0.0))
            free = done
        try:
            link = fit_link(sizes, seconds)
        except ValueError:
            link = LinkModel(float(np.mean(seconds)), LINK_FALLBACK_BPS)
        if not self.replanner.observe(costs, link) or self.node.config.segment_plan != "planned":
            return
        schedule = self.replanner.schedule
        self.push_plan = schedule.push
        log.info("agent %d: new DynaComm plan: push %s, pull %s (%.2f ms predicted)", self.node.config.device_id,
                 schedule.push.starts, schedule.pull.starts, 1e3 * schedule.iteration_s)
        if schedule.pull != self.pull_plans[self.plan_id]:
            self.plan_id = (self.plan_id + 1) & 0xFFFF
            self.pull_plans[self.plan_id] = schedule.pull
            for old in [p for p in self.pull_plans if p != self.plan_id][:-PLANS_KEPT]:
                del self.pull_plans[old]
            self.node.hello()
