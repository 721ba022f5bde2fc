"""The Linux edge agent: local shard in, compressed gradients out.

The agent needs numpy, paho-mqtt and ``sgc``; no PyTorch. Its loop:

0. the model description: from ``--model`` (a registered name or a
   description file), or else learnt from the host's retained description
   on ``sparrow/<job>/spec``; its data is checked against it before the
   first round, and a round whose pointer carries another description's
   hash is not trained (a node that learnt the model from the host waits for
   the new description; one given ``--model`` stops with a clear error);
1. on connect: HELLO (how many samples it holds) and, while it has no
   model, RESYNC;
2. model frames go to its :class:`ModelReplica` (a dense model replaces the
   copy, the next delta applies, a gap asks for a RESYNC);
3. a ROUND_OPEN pointer for the model version it holds: sample a
   mini-batch (seeded by node and round, so a round's batch is the same
   whenever it is computed) and let the configured upload make and send
   the round's frame(s) (``agent/comms.py``: one frame made by the mode of
   ``agent/modes.py``, or DynaComm segments);
4. the pointer of a round it already answered (a host that restarted, or
   re-announced a round): send the same frame(s) again; the host keeps one.

Only the state of the configured mode and comm is built.

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

from sparrow.agent.comms import COMMS
from sparrow.agent.compressor import Compressor
from sparrow.agent.config import AgentConfig
from sparrow.agent.data import node_data
from sparrow.agent.replica import ModelReplica
from sparrow.common import control
from sparrow.common.config import BrokerConfig
from sparrow.common.data_sources import check_against_spec
from sparrow.common.datasets import round_batch
from sparrow.common.frame_auth import Gate, optional_key, sealer
from sparrow.common.modelspec import ModelSpec, resolve_spec
from sparrow.common.spec_wire import decode_spec, encode_spec, spec_hash
from sparrow.common.support import decode_summary
from sparrow.common.transport import ONLINE, Topics, Transport

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
        self.x, self.y, self.num_classes = node_data(config)
        self.source = config.data or f"{config.dataset} share {config.node_index} of {config.num_nodes}"
        self.events: queue.Queue[tuple[str, str, Any]] = queue.Queue()
        self.spec: ModelSpec | None = None
        self.spec_hash = 0
        self.n = 0
        self.replica = ModelReplica(None, self._ask_resync)
        self.upload: Any = None
        self.failure: str | None = None
        self.connected = False
        if config.model:
            self._adopt(resolve_spec(config.model, self.num_classes))
        self.pending: tuple[int, control.RoundOpen] | None = None
        self.answered_round = 0
        self.cached_frames: list[bytes] = []
        self.seq = 0
        self.done = False
        self.rounds_done = 0
        self.checksum_mismatches = 0
        self.outcomes: dict[str, int] = {name: 0 for name in control.OUTCOMES}
        me = config.device_id
        # Authenticated frames (docs/security-frames.md): what the host sends must verify under the job key,
        # what this node sends is tagged with its own key by the transport.
        self.gate = Gate(optional_key(config.job_key), f"agent {me}")
        self.transport = Transport(
            broker, client_id=f"sparrow-{broker.job}-agent-{me}", status_name=str(me),
            subscriptions=COMMS[config.comm].subscriptions(self.topics)
            + [(self.topics.spec, 1), (self.topics.status("host"), 1), (self.topics.sync(me), 1),
               (self.topics.round, 1), (self.topics.ack(me), 0)]
            + ([(self.topics.support, 1)] if config.selection == "aware" else []),
            on_frame=self.gate.guard(self._on_network_frame),
            on_text=lambda t, p: self.events.put(("host", t, p)),
            on_error=lambda t, e: self.events.put(("error", t, e)),
            on_connected=lambda present: self.events.put(("connected", "", present)),
            seal=sealer(optional_key(config.key)),
        )

    # -- the model description --------------------------------------------------------

    def _adopt(self, spec: ModelSpec) -> None:
        """Take ``spec`` as the model: check the data against it, build the replica and the upload."""
        self.x = check_against_spec(self.x, self.y, spec.input_shape, spec.num_classes, self.source)
        self.spec = spec
        self.spec_hash = spec_hash(encode_spec(spec))
        self.n = spec.num_params
        self.replica = ModelReplica(self.n, self._ask_resync)
        self.upload = COMMS[self.config.comm](self)
        log.info("agent %d: model %s (%d parameters)", self.config.device_id, spec.name, self.n)

    def _on_spec(self, payload: bytes) -> None:
        if not payload:
            return  # a cleared retained description
        spec = decode_spec(payload)
        digest = spec_hash(payload)
        if digest == self.spec_hash:
            return
        if self.config.model:
            self.failure = (f"agent.model={self.config.model!r} is not the host's model {spec.name!r}; "
                            f"leave --model out to learn the model from the host")
            return
        try:
            self._adopt(spec)
        except ValueError as exc:  # this node's data does not fit the host's model: the user must act
            self.failure = f"the host's model {spec.name!r} does not fit this node's data: {exc}"
            return
        if self.connected:
            self.hello()

    # -- what tests, benches and the CLI read ---------------------------------------

    @property
    def params(self) -> np.ndarray | None:
        """The model held (None before the first one arrives)."""
        return self.replica.params

    @property
    def version(self) -> int:
        """Version of the model held."""
        return self.replica.version

    @property
    def compressor(self) -> Compressor:
        """The compressor of a ``single``-comm node (aware selection feeds it the support summary)."""
        return self.upload.compressor  # type: ignore[union-attr]

    @property
    def last_loss(self) -> float:
        """Loss of the last round's batch."""
        return self.upload.last_loss if self.upload is not None else float("nan")

    @property
    def segments_sent(self) -> int:
        """Update segments sent (``segmented`` comm)."""
        return self.upload.segments_sent if self.upload is not None else 0

    @property
    def replans(self) -> int:
        """DynaComm plans adopted (``segmented`` comm)."""
        return self.upload.replans if self.upload is not None else 0

    def run(self, stop: threading.Event | None = None) -> None:
        """Work until the host announces the end of the job (or ``stop`` is set)."""
        log.info("agent %d: %d samples of %s, model %s, compressor %s at density %g",
                 self.config.device_id, self.y.size, self.source,
                 self.spec.name if self.spec else "from the host", self.config.compressor, self.config.density)
        self.transport.start(wait_s=self.transport.config.connect_timeout_s or None)
        try:
            while not (stop is not None and stop.is_set()):
                if self.failure is not None:
                    raise ValueError(self.failure)
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
        """Network thread: what the upload takes there (model segments) goes straight to it, the rest to the queue."""
        try:
            upload = self.upload
            if upload is not None and upload.on_network_frame(topic, data):
                return
        except (sgc.Error, ValueError) as exc:
            self.events.put(("error", topic, exc))
            return
        self.events.put(("frame", topic, data))

    def _handle(self, kind: str, topic: str, data: Any) -> None:
        if kind == "connected":
            self.connected = True
            self.hello()
        elif kind == "host" and self.topics.kind(topic) == "spec":
            try:
                self._on_spec(data)
            except ValueError as exc:
                log.warning("agent %d: bad model description on %s: %s", self.config.device_id, topic, exc)
        elif kind == "host" and data == ONLINE:
            # Tell every host that comes online who this node is (its sample count, a segmented node's pull
            # plan): a HELLO sent before the host subscribed was lost.
            self.replica.forget_resync()
            self.hello()
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
            if self.upload is None:
                return
            summary = decode_summary(data, self.n)
            self.compressor.observe(summary.indices, summary.popularity)  # type: ignore[attr-defined]
            return
        frame = sgc.decode(data)
        kind = frame.msg_type
        if kind in (sgc.MSG_DENSE_MODEL, sgc.MSG_SPARSE_MODEL_DELTA):
            if self.spec is not None:  # without a description the frame cannot be checked: RESYNC later
                self.replica.apply(frame, data)
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

    def hello(self) -> None:
        """Tell the host how many samples this node holds (and its pull plan); ask for a model if none is held."""
        plan = self.upload.pull_plan() if self.upload is not None else None
        hello = control.Hello(num_samples=int(self.y.size), plan=plan)
        self._send_control(sgc.MSG_HELLO, hello.pack())
        if self.upload is not None and self.replica.params is None:
            self.replica.resync()

    def _ask_resync(self, have: int) -> None:
        self._send_control(sgc.MSG_RESYNC, control.Resync(have).pack())

    def _send_control(self, msg_type: int, payload: bytes) -> None:
        frame = sgc.encode_control(msg_type, payload, device_id=self.config.device_id, compact="auto")
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
        if self.upload is None or (pointer.spec_hash and pointer.spec_hash != self.spec_hash):
            self._stale_description(pointer.spec_hash)
            return
        if not self.upload.model_ready(pointer.model_version):
            self.replica.resync()
            return
        if not self.replica.verify(pointer.model_version, pointer.model_crc):
            self.checksum_mismatches += 1
            log.warning("agent %d: model %d does not match the host's checksum; asked for the whole model",
                        self.config.device_id, pointer.model_version)
            return
        self.cached_frames = []
        self.upload.upload(rnd, pointer.batch_size)
        self.answered_round = rnd
        self.rounds_done += 1
        self.pending = None

    def _stale_description(self, wanted: int) -> None:
        """The open round is for a description this node does not hold: wait for it, or stop if it cannot."""
        if self.config.model and self.upload is not None:
            self.failure = (f"agent.model={self.config.model!r} is not the host's model (description hash "
                            f"{wanted:08x}, this node's {self.spec_hash:08x}); leave --model out to learn it")
        # Otherwise the retained description is on its way (or the host has yet to publish it).

    def batch(self, rnd: int, batch_size: int) -> np.ndarray:
        """Indices of the round's mini-batch: seeded by node and round, the same whenever it is drawn."""
        return round_batch(self.y.size, batch_size, self.config.seed, self.config.device_id, rnd)

    # -- what the uploads use ---------------------------------------------------------

    def advance_seq(self) -> None:
        """The next update gets the next sequence number."""
        self.seq = (self.seq + 1) & 0xFFFF

    def send_stats(self, rnd: int, stats: tuple[float, float, int] | None) -> None:
        """The round's training (loss, accuracy, samples), for a host that has no data to evaluate on.

        Sent before the round's update, so it reaches the host while the round is open.
        """
        if stats is None or not np.isfinite(stats[0]):
            return
        payload = control.RoundStats(rnd, stats[0], stats[1], stats[2]).pack()
        self.transport.publish(self.topics.metrics(self.config.device_id), payload, qos=0)

    def send_update(self, frame: bytes) -> None:
        """Publish an update frame of the open round (kept, to send again if the round is re-announced)."""
        self.cached_frames.append(frame)
        self.transport.publish_frame(self.topics.update(self.config.device_id), frame)

    def send_timed(self, frame: bytes) -> list[tuple[int, float]]:
        """Send an update segment; ``(mid, publish time)`` of its packets, for the link measurements."""
        self.cached_frames.append(frame)
        return self.transport.publish_timed(self.topics.update(self.config.device_id), frame)
