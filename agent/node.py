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
   re-announced a round): send the same frame again; the host keeps one.

All MQTT callbacks only enqueue; the work happens on the caller's thread,
so a slow gradient never stalls the network loop (keep-alives keep going).
"""
from __future__ import annotations

import logging
import queue
import threading
from typing import Any

import numpy as np

import sgc

from sparrow.agent import control
from sparrow.agent.aware import AwareCompressor
from sparrow.agent.compressor import Compressor, make_compressor
from sparrow.agent.config import AgentConfig, BrokerConfig
from sparrow.agent.datasets import load, partition
from sparrow.agent.local_sgd import LocalSGD
from sparrow.agent.modelspec import get_spec
from sparrow.agent.npmodel import loss_and_grad
from sparrow.agent.transport import Topics, Transport
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
        self.cached_frame: bytes | None = None
        self.resync_asked_for = -1
        self.seq = 0
        self.done = False
        self.last_loss = float("nan")
        self.rounds_done = 0
        self.outcomes: dict[str, int] = {name: 0 for name in control.OUTCOMES}
        self.events: queue.Queue[tuple[str, str, Any]] = queue.Queue()
        me = config.device_id
        self.transport = Transport(
            broker, client_id=f"sparrow-{broker.job}-agent-{me}", status_name=str(me),
            subscriptions=[(self.topics.model, 1), (self.topics.sync(me), 1), (self.topics.round, 1),
                           (self.topics.ack(me), 0)]
            + ([(self.topics.support, 1)] if config.selection == "aware" else []),
            on_frame=lambda t, f: self.events.put(("frame", t, f)),
            on_text=lambda t, p: None,
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

    def _handle(self, kind: str, topic: str, data: Any) -> None:
        if kind == "connected":
            self._hello()
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
        hello = control.Hello(num_samples=int(self.y.size))
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
        if rnd == self.answered_round and self.cached_frame is not None:
            self.transport.publish_frame(self.topics.update(self.config.device_id), self.cached_frame)
            self.pending = None
            return
        if rnd < self.answered_round:
            self.pending = None
            return
        if self.params is None or self.version != pointer.model_version:
            self._resync(self.version)
            return
        self.cached_frame = self._update_frame(rnd, pointer.batch_size)
        self.answered_round = rnd
        self.rounds_done += 1
        self.pending = None
        self.transport.publish_frame(self.topics.update(self.config.device_id), self.cached_frame)

    def _update_frame(self, rnd: int, batch_size: int) -> bytes:
        return UPLOADS[self.config.mode](self, rnd, batch_size)

    def _gradient_frame(self, rnd: int, batch_size: int) -> bytes:
        assert self.params is not None
        rng = np.random.default_rng([self.config.seed, self.config.device_id, rnd])
        count = self.y.size
        pick = rng.choice(count, size=min(batch_size, count), replace=False)
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
