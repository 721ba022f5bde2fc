"""The Linux edge agent: local shard in, compressed gradients out.

The agent needs numpy, paho-mqtt and ``sgc``; no PyTorch. Its loop:

1. on connect: HELLO (how many samples it holds) and, while it has no
   model, RESYNC;
2. model frames: a dense model replaces its copy; a sparse delta for the
   next version is added to it; a gap in versions asks for a RESYNC;
3. a ROUND_OPEN pointer for the model version it holds: sample a
   mini-batch (seeded by node and round, so a round's batch is the same
   whenever it is computed), compute loss and gradient with
   ``agent.npmodel``, compress (residual memory per node), publish;
4. the pointer of a round it already answered (a host that restarted, or
   re-announced a round): send the same frame(s) again; the host keeps one.

With ``comm = "segmented"`` (DynaComm) step 3 runs layer by layer: forward
takes each layer's parameters from a :class:`ModelAssembler` that the
network thread fills with the model segments of the node's pull plan as they
arrive, backward yields layer gradients last layer first, and each planned
push segment is compressed (a residual memory per layer) and published the
moment its lowest layer is done. Per-layer compute times, bytes and the
broker's PUBACK times feed a ``dynacomm.Replanner``; a new pull plan goes
to the host in a HELLO.

All MQTT callbacks only enqueue; the work happens on the caller's thread,
so a slow gradient never stalls the network loop (keep-alives keep going).
"""
from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable

import numpy as np

import sgc

from sparrow.agent import control
from sparrow.agent.aware import AwareCompressor
from sparrow.agent.compressor import Compressor, make_compressor
from sparrow.agent.config import AgentConfig, BrokerConfig
from sparrow.agent.datasets import load, partition, round_batch
from sparrow.agent.dynacomm import LayerCosts, LinkModel, Replanner, Segmentation, fit_link
from sparrow.agent.local_sgd import LocalSGD
from sparrow.agent.modelspec import get_spec
from sparrow.agent.npmodel import loss_and_grad
from sparrow.agent.segmented import (ForwardResult, LayerwiseBackward, ModelAssembler,
                                     forward_layers, group_segments, layer_groups)
from sparrow.agent.transport import ONLINE, Topics, Transport
from sparrow.agent.support import decode_summary

__all__ = ["Agent"]

log = logging.getLogger(__name__)


class Agent:
    """One node of a training job.

    Parameters
    ----------
    config : AgentConfig
        Identity, shard and compressor.
    broker : BrokerConfig
        Broker and job.
    """

    def __init__(self, config: AgentConfig, broker: BrokerConfig) -> None:
        self.config = config
        self.topics = Topics(broker.job)
        data = load(config.dataset)
        shares = partition(data, config.num_nodes, config.partition, config.alpha, config.partition_seed)
        mine = shares[config.node_index]
        self.x = data.x_train[mine]
        self.y = data.y_train[mine]
        self.spec = get_spec(config.model, data.num_classes)
        self.n = self.spec.num_params
        ranges = list(self.spec.layer_param_ranges) if config.per_layer else None
        self.compressor = SELECTIONS[config.selection](config, self.n, ranges)
        self.local = LocalSGD(self.spec, self.x, self.y, self.compressor, config.local_steps, config.warmup_rounds,
                              config.local_lr, 32, config.seed, config.device_id)
        self.params: np.ndarray | None = None
        self.version = 0
        self.pending: tuple[int, control.RoundOpen] | None = None
        self.answered_round = 0
        self.cached_frames: list[bytes] = []
        self.resync_asked_for = -1
        self.seq = 0
        self.done = False
        self.last_loss = float("nan")
        self.rounds_done = 0
        self.outcomes: dict[str, int] = {name: 0 for name in control.OUTCOMES}
        self.events: queue.Queue[tuple[str, str, Any]] = queue.Queue()
        self.groups = layer_groups(self.spec)
        self.layer_memories = [make_compressor(config.compressor, g.size, None, config.density, config.momentum,
                                               config.value_coding) for g in self.groups]
        self.replanner = Replanner(threshold=config.replan_threshold)
        fixed = FIXED_PLANS[config.segment_plan](len(self.groups))
        self.push_plan = fixed
        self.pull_plans: dict[int, Segmentation] = {0: fixed}
        self.plan_id = 0
        self.assembly: tuple[int, int, ModelAssembler] | None = None  # (model version, plan id, assembler)
        self.segments_sent = 0
        self.upload = COMMS[config.comm](config.mode)
        me = config.device_id
        self.transport = Transport(
            broker, client_id=f"sparrow-{broker.job}-agent-{me}", status_name=str(me),
            subscriptions=COMM_TOPICS[config.comm](self.topics)
            + [(self.topics.sync(me), 1), (self.topics.round, 1), (self.topics.ack(me), 0)]
            + ([(self.topics.support, 1)] if config.selection == "aware" else []),
            on_frame=self._on_network_frame,
            on_text=lambda t, p: self.events.put(("host", t, p)),
            on_error=lambda t, e: self.events.put(("error", t, e)),
            on_connected=lambda present: self.events.put(("connected", "", present)),
        )

    def run(self, stop: threading.Event | None = None) -> None:
        """Work until the host announces the end of the job (or ``stop`` is set)."""
        log.info("agent %d: %d samples of %s, model %s (%d parameters), compressor %s at density %g",
                 self.config.device_id, self.y.size, self.config.dataset, self.spec.name, self.n,
                 self.config.compressor, self.config.density)
        self.transport.start(wait_s=None)
        try:
            while not (stop is not None and stop.is_set()):
                if self.done and self.config.exit_when_done:
                    break
                try:
                    event = self.events.get(timeout=0.2)
                except queue.Empty:
                    continue
                self._handle(*event)
            self.transport.wait_published(5.0)
        finally:
            self.transport.stop()

    # -- events ------------------------------------------------------------------

    def _on_network_frame(self, topic: str, data: bytes) -> None:
        """Network thread: model segments go straight into the assembler, the rest to the queue."""
        if self.config.comm == "segmented" and topic == self.topics.sync(self.config.device_id):
            try:
                if self._feed_segment(data):
                    return
            except (sgc.Error, ValueError) as exc:
                self.events.put(("error", topic, exc))
                return
        self.events.put(("frame", topic, data))

    def _feed_segment(self, data: bytes) -> bool:
        frame = sgc.decode(data)
        if frame.msg_type != sgc.MSG_DENSE_MODEL or int(frame.segment_count) < 2:
            return False
        plan = self.pull_plans.get(int(frame.seq))
        if plan is None or plan.count != int(frame.segment_count):
            raise ValueError(f"model segment by unknown pull plan {frame.seq}")
        current = self.assembly
        if current is None or current[:2] != (int(frame.round), int(frame.seq)):
            current = (int(frame.round), int(frame.seq), ModelAssembler(self.spec, plan, round=int(frame.round)))
            self.assembly = current
            self.events.put(("segments", "", int(frame.round)))
        current[2].feed(data)
        return True

    def _handle(self, kind: str, topic: str, data: Any) -> None:
        if kind == "connected":
            self._hello()
        elif kind == "host" and data == ONLINE:
            # A segmented node needs the host to know its pull plan: tell every host that comes online.
            self.resync_asked_for = -1
            self._hello()
        elif kind == "segments":
            try:
                self._work()
            except (sgc.Error, ValueError) as exc:
                log.warning("agent %d: model segments: %s", self.config.device_id, exc)
        elif kind == "error":
            log.warning("agent %d: bad chunk on %s: %s", self.config.device_id, topic, data)
        elif kind == "frame":
            try:
                self._on_frame(topic, data)
            except (sgc.Error, ValueError) as exc:
                log.warning("agent %d: bad frame on %s: %s", self.config.device_id, topic, exc)

    def _on_frame(self, topic: str, data: bytes) -> None:
        if self.topics.kind(topic) == "support":
            summary = decode_summary(data, self.n)
            self.compressor.observe(summary.indices, summary.popularity)  # type: ignore[attr-defined]
            return
        frame = sgc.decode(data)
        kind = frame.msg_type
        if kind in (sgc.MSG_DENSE_MODEL, sgc.MSG_SPARSE_MODEL_DELTA):
            self._on_model(frame, data)
        elif kind == sgc.MSG_ROUND_OPEN:
            pointer = control.RoundOpen.unpack(bytes(frame.payload))
            if pointer.done:
                self.done = True
                return
            self.pending = (int(frame.round), pointer)
        elif kind == sgc.MSG_ACK:
            ack = control.Ack.unpack(bytes(frame.payload))
            self.outcomes[ack.outcome] += 1
            return
        self._work()

    def _hello(self) -> None:
        plan = None
        if self.config.comm == "segmented":
            plan = control.PullPlan(self.plan_id, self.pull_plans[self.plan_id].starts)
        hello = control.Hello(num_samples=int(self.y.size), plan=plan)
        self._send_control(sgc.MSG_HELLO, hello.pack())
        if self.params is None:
            self._resync(0)

    def _on_model(self, frame: Any, data: bytes) -> None:
        if frame.n != self.n:
            raise ValueError(f"model frame has n={frame.n}, this agent's model has {self.n}")
        version = int(frame.round)
        if frame.msg_type == sgc.MSG_DENSE_MODEL:
            # The host is the authority: a full model always replaces ours.
            self.params = np.array(frame.values, dtype=np.float32, copy=True)
            self.version = version
            self.resync_asked_for = -1
        elif self.params is not None and version == self.version + 1:
            sgc.decode_into(data, self.params)
            self.version = version
            self.resync_asked_for = -1
        elif self.params is None or version > self.version + 1:
            self._resync(self.version)

    def _resync(self, have: int) -> None:
        if self.resync_asked_for == have:
            return
        self.resync_asked_for = have
        self._send_control(sgc.MSG_RESYNC, control.Resync(have).pack())

    def _send_control(self, msg_type: int, payload: bytes) -> None:
        frame = sgc.encode_control(msg_type, payload, device_id=self.config.device_id)
        self.transport.publish_frame(self.topics.control(self.config.device_id), frame)

    # -- one round -----------------------------------------------------------------

    def _work(self) -> None:
        if self.pending is None:
            return
        rnd, pointer = self.pending
        if rnd == self.answered_round and self.cached_frames:
            for frame in self.cached_frames:
                self.transport.publish_frame(self.topics.update(self.config.device_id), frame)
            self.pending = None
            return
        if rnd < self.answered_round:
            self.pending = None
            return
        if not self._model_ready(pointer.model_version):
            self._resync(self.version)
            return
        self.cached_frames = []
        self.upload(self, rnd, pointer.batch_size)
        self.answered_round = rnd
        self.rounds_done += 1
        self.pending = None

    def _model_ready(self, version: int) -> bool:
        """True when the model of ``version`` is here, or is arriving in segments."""
        assembling = self.assembly is not None and self.assembly[0] == version
        return assembling or (self.params is not None and self.version == version)

    def _send_update(self, frame: bytes) -> None:
        self.cached_frames.append(frame)
        self.transport.publish_frame(self.topics.update(self.config.device_id), frame)

    def _send_timed(self, frame: bytes) -> list[tuple[int, float]]:
        """Send an update segment; ``(mid, publish time)`` of its packets, for the link measurements."""
        self.cached_frames.append(frame)
        return self.transport.publish_timed(self.topics.update(self.config.device_id), frame)

    def _single_upload(self, rnd: int, batch_size: int) -> None:
        self._send_update(UPLOADS[self.config.mode](self, rnd, batch_size))

    def _batch(self, rnd: int, batch_size: int) -> np.ndarray:
        return round_batch(self.y.size, batch_size, self.config.seed, self.config.device_id, rnd)

    def _gradient_frame(self, rnd: int, batch_size: int) -> bytes:
        assert self.params is not None
        pick = self._batch(rnd, batch_size)
        loss, grad = loss_and_grad(self.spec, self.params, self.x[pick], self.y[pick])
        self.last_loss = float(loss)
        indices, values = self.compressor.compress(np.ascontiguousarray(grad, dtype=np.float32))
        frame = sgc.encode_sparse(self.n, indices, values, value_coding=self.config.value_coding,
                                  device_id=self.config.device_id, round=rnd, seq=self.seq)
        self.seq = (self.seq + 1) & 0xFFFF
        return frame

    def _local_sgd_frame(self, rnd: int, batch_size: int) -> bytes:
        assert self.params is not None
        frame, work = self.local.frame(self.params, rnd, self.config.value_coding, self.seq, batch_size)
        self.last_loss = work.loss
        self.seq = (self.seq + 1) & 0xFFFF
        return frame


    # -- DynaComm: segmented push and pull -------------------------------------------

    def _segmented_upload(self, rnd: int, batch_size: int) -> None:
        pick = self._batch(rnd, batch_size)
        forward = self._forward(rnd, self.x[pick])
        backward = LayerwiseBackward(self.spec, forward, self.y[pick])
        self.last_loss = float(backward.loss)
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
            packets = self._send_timed(frame)
            sent.append(packets[-1])
            sizes.append(len(frame))
        self.segments_sent += len(sizes)
        self.seq = (self.seq + 1) & 0xFFFF
        self._replan(LayerCosts(tuple(backward_s), tuple(forward.forward_s), tuple(layer_bytes)), sent, sizes)

    def _forward(self, rnd: int, x: np.ndarray) -> ForwardResult:
        """Forward on the model of the round, taking layers from the assembler as they arrive."""
        assembly = self.assembly
        if assembly is not None and assembly[0] == rnd:
            assembler = assembly[2]
            self.assembly = None
            try:
                result = forward_layers(self.spec, x, lambda j: assembler.layer(j, SEGMENT_WAIT_S))
            except TimeoutError as exc:
                self._resync(self.version)
                raise ValueError(f"round {rnd}: {exc}; asked for the whole model") from None
            self.params = assembler.params.copy()
            self.version = rnd
            self.resync_asked_for = -1
            return result
        assert self.params is not None
        params = self.params
        return forward_layers(self.spec, x, lambda j: params[self.groups[j].start:self.groups[j].end])

    def _segment_frame(self, values: np.ndarray, start: int, segment_id: int, count: int, rnd: int,
                       layer_bytes: list[float]) -> bytes:
        """Compress each layer of a push segment with its own residual memory; one sparse frame."""
        all_idx: list[np.ndarray] = []
        all_val: list[np.ndarray] = []
        for j in range(self.push_plan.ranges[segment_id][0], self.push_plan.ranges[segment_id][1]):
            group = self.groups[j]
            idx, val = self.layer_memories[j].compress(
                np.ascontiguousarray(values[group.start - start:group.end - start], dtype=np.float32))
            all_idx.append(np.asarray(idx, dtype=np.uint32) + np.uint32(group.start))
            all_val.append(np.asarray(val, dtype=np.float32))
        indices, vals = np.concatenate(all_idx), np.concatenate(all_val)
        frame = sgc.encode_sparse(self.n, indices, vals, value_coding=self.config.value_coding,
                                  device_id=self.config.device_id, round=rnd, seq=self.seq,
                                  segment_id=segment_id, segment_count=count)
        for j, idx in zip(range(self.push_plan.ranges[segment_id][0], self.push_plan.ranges[segment_id][1]),
                          all_idx):
            layer_bytes[j] = len(frame) * idx.size / max(1, indices.size)
        return frame

    def _replan(self, costs: LayerCosts, sent: list[tuple[int, float]], sizes: list[int]) -> None:
        """Measure the uplink from PUBACK times, update the estimates, adopt a new plan if one is made."""
        acked = self.transport.acked_at([mid for mid, _ in sent])
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
        if not self.replanner.observe(costs, link) or self.config.segment_plan != "planned":
            return
        schedule = self.replanner.schedule
        self.push_plan = schedule.push
        log.info("agent %d: new DynaComm plan: push %s, pull %s (%.2f ms predicted)", self.config.device_id,
                 schedule.push.starts, schedule.pull.starts, 1e3 * schedule.iteration_s)
        if schedule.pull != self.pull_plans[self.plan_id]:
            self.plan_id = (self.plan_id + 1) & 0xFFFF
            self.pull_plans[self.plan_id] = schedule.pull
            for old in [p for p in self.pull_plans if p != self.plan_id][:-PLANS_KEPT]:
                del self.pull_plans[old]
            self._hello()


def _aware(config: AgentConfig, n: int, ranges: list[tuple[int, int]] | None) -> Compressor:
    return AwareCompressor(ranges or [(0, n)], config.density, config.popularity_boost, config.persistence_boost,
                           config.persistence_decay, config.compressor, config.value_coding)


#: Registry: selection name -> builder(config, n, layer ranges) of the node's compressor.
SELECTIONS = {
    "topk": lambda c, n, ranges: make_compressor(c.compressor, n, ranges, c.density,
                                                 0.0 if c.mode == "local_sgd" else c.momentum, c.value_coding),
    "aware": _aware,
}

#: Registry: mode name -> what a node uploads for a round.
UPLOADS = {
    "gradient": Agent._gradient_frame,
    "local_sgd": Agent._local_sgd_frame,
}

#: Registry: comm name -> builder(mode) of the round's upload(agent, round, batch size), which also sends.
COMMS = {
    "single": lambda mode: Agent._single_upload,
    "segmented": lambda mode: Agent._segmented_upload,
}

#: Registry: comm name -> the topics it adds: the broadcast model, or the host's status (to re-send the pull plan).
COMM_TOPICS: dict[str, Callable[[Topics], list[tuple[str, int]]]] = {
    "single": lambda topics: [(topics.model, 1)],
    "segmented": lambda topics: [(topics.status("host"), 1)],
}

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
