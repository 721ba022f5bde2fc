"""The MicroPython node: the role of agent/node.py on a Wi-Fi microcontroller.

Same topics and frames as every other node (docs/TOPICS.md), built with the
frame twin (agent/frame_twin.py) instead of the C core:

0. the model description: ``spec`` in the config, or else the host's
   retained description on ``sparrow/<job>/spec`` (the node then needs no
   model file; the description's hash in the round pointer is not checked
   here, as MicroPython's json cannot write the canonical form);
1. on connect: retained ``online`` status (``offline`` is the Last Will),
   HELLO (samples held, can apply sparse deltas) and, while it has no model,
   RESYNC; the HELLO again whenever the host's status turns ``online``;
2. model frames: a dense model replaces its copy, a sparse delta of the next
   version is added to it, a gap asks for RESYNC;
3. the ROUND_OPEN pointer of the version it holds: a mini-batch of its shard
   (chosen by seed, device and round, so the same whenever it is computed),
   loss and gradient with :mod:`mpnn`, added into the residual memory; the
   top-k entries of the residual by magnitude are sent as a fp32
   SPARSE_UPDATE and subtracted exactly (fp32 values decode to themselves);
4. the pointer of a round already answered: the same frame again.
"""
import gc
import json
import math
import struct
import time
from array import array

try:
    from binascii import crc32
except ImportError:  # a port built without it: model copies go unchecked
    crc32 = None

import frame_twin as ft
import key_file
import twin_chunk as tc
from mqtt_client import MQTTClient
from mpnn import Model
from shard_file import Shard

def _ms():
    ticks = getattr(time, "ticks_ms", None)
    return ticks() if ticks is not None else int(time.time() * 1000)


def _elapsed_ms(start):
    diff = getattr(time, "ticks_diff", None)
    return diff(_ms(), start) if diff is not None else _ms() - start


def _heap_in_use():
    collect = getattr(gc, "mem_alloc", None)
    gc.collect()
    return collect() if collect is not None else 0


#: Largest chunked frame a node puts back together (a dense fp32 model of 8k parameters).
REASSEMBLY_BYTES = 32768
MAX_SPEC_BYTES = 16384
CAP_SPARSE_DELTA = 1
ROUND_DONE = 1
OUTCOMES = ("accepted", "late_applied", "late_dropped", "duplicate", "rejected")
_ROUND = "<IIHH"
_ACK = "<IB3x"


def top_k(values: array, k: int) -> array:
    """Ascending indices of the ``k`` entries of largest magnitude."""
    order = sorted(range(len(values)), key=lambda i: -abs(values[i]))
    chosen = order[:k]
    chosen.sort()
    return array("I", chosen)


def batch_indices(count: int, size: int, seed: int, device: int, rnd: int) -> list:
    """``size`` distinct sample indices below ``count``, a function of (seed, device, round)."""
    state = (seed * 0x9E3779B1 + device * 0x85EBCA77 + rnd * 0xC2B2AE3D + 1) & 0xFFFFFFFF
    pool = list(range(count))
    out = []
    for i in range(min(size, count)):
        # xorshift32: cheap, 32-bit, the same on every port.
        state ^= (state << 13) & 0xFFFFFFFF
        state ^= state >> 17
        state ^= (state << 5) & 0xFFFFFFFF
        j = i + state % (count - i)
        pool[i], pool[j] = pool[j], pool[i]
        out.append(pool[i])
    return out


class Node:
    """One MicroPython node of a training job.

    Parameters
    ----------
    config : dict
        ``host``, ``port``, ``job``, ``device_id``, ``spec`` (optional: a model
        description dict), ``shard`` (path of a shard file), and optionally
        ``density`` (0.02), ``seed`` (0), ``keepalive`` (10), ``max_packet``
        (16384), ``max_batch`` (the host's batch size is capped to it, 16),
        ``exit_when_done`` (True), ``username`` and ``password`` (the node's
        broker account on a fleet's broker; none: anonymous), ``key_file``
        (this node's key: every frame it sends is tagged) and ``job_key_file``
        (the job key: a frame from the host that does not verify is dropped
        and counted), key_file.py.
    """

    def __init__(self, config: dict) -> None:
        self.cfg = config
        self.device = int(config["device_id"])
        self.shard = Shard(config["shard"])
        self.density = float(config.get("density", 0.02))
        if not 0.0 < self.density <= 1.0:
            raise ValueError("density must be in (0, 1]")
        self.seed = int(config.get("seed", 0))
        self.max_batch = int(config.get("max_batch", 16))
        self.max_packet = int(config.get("max_packet", 16384))
        self.key = key_file.load(config.get("key_file"))
        self.job_key = key_file.load(config.get("job_key_file"))
        self.auth_dropped = 0
        root = "sparrow/%s" % config["job"]
        self.t_model = root + "/model"
        self.t_spec = root + "/spec"
        self.t_host = root + "/status/host"
        self.t_round = root + "/round"
        self.t_sync = "%s/sync/%d" % (root, self.device)
        self.t_ack = "%s/ack/%d" % (root, self.device)
        self.t_update = "%s/update/%d" % (root, self.device)
        self.t_control = "%s/control/%d" % (root, self.device)
        self.t_status = "%s/status/%d" % (root, self.device)
        self.params = None
        self.version = 0
        self.model = None
        self.n = 0
        self.spec_bytes = None
        self.pending = None
        self.answered_round = 0
        self.cached = None
        self.resync_asked_for = -1
        self.seq = 0
        self.done = False
        self.rounds_done = 0
        self.checksum_mismatches = 0
        self.last_loss = float("nan")
        self.grad_ms = 0
        self.select_encode_ms = 0
        self.heap_peak = 0
        self.outcomes = {name: 0 for name in OUTCOMES}
        self.inbox = []
        self.reassemblers = {}
        self.client = None
        if config.get("spec"):
            self._build(config["spec"])

    def _build(self, spec: dict) -> None:
        """Take ``spec`` as the model: size the buffers (the description from the config, or the host's)."""
        model = Model(spec)
        if self.shard.sample_floats != model.input_size:
            raise ValueError("shard samples have %d values, the model takes %d"
                             % (self.shard.sample_floats, model.input_size))
        self.model = model
        self.n = model.num_params
        self.k = max(1, int(math.ceil(self.density * self.n)))
        self.params = None
        self.residual = array("f", bytes(4 * self.n))
        self.grad = array("f", bytes(4 * self.n))
        self.samples = [array("f", bytes(4 * model.input_size)) for _ in range(self.max_batch)]

    def _on_spec(self, msg) -> None:
        """The host's retained model description: learn the model from it when the config gave none."""
        if self.cfg.get("spec") or bytes(msg) == self.spec_bytes:
            return
        if len(msg) > MAX_SPEC_BYTES:
            raise ValueError("model description of %d bytes is too large" % len(msg))
        spec = json.loads(bytes(msg).decode())
        if not isinstance(spec, dict):
            raise ValueError("model description must be a JSON object")
        self._build(spec)
        self.spec_bytes = bytes(msg)
        self.resync_asked_for = -1
        self._resync(0)

    # -- connection ----------------------------------------------------------------

    def connect(self) -> None:
        """Connect (persistent session), subscribe, say online and HELLO."""
        client = MQTTClient("sparrow-%s-agent-%d" % (self.cfg["job"], self.device), self.cfg["host"],
                            int(self.cfg["port"]), keepalive=int(self.cfg.get("keepalive", 10)),
                            username=self.cfg.get("username"), password=self.cfg.get("password"))
        client.set_last_will(self.t_status, b"offline", retain=True, qos=1)
        client.set_callback(lambda topic, msg: self.inbox.append((topic.decode(), msg)))
        client.connect(clean_session=False)
        self.client = client
        for topic, qos in ((self.t_spec, 1), (self.t_host, 1), (self.t_model, 1), (self.t_sync, 1),
                           (self.t_round, 1), (self.t_ack, 0)):
            client.subscribe(topic, qos)
        client.publish(self.t_status, b"online", retain=True, qos=1)
        self._hello()

    def _hello(self) -> None:
        """HELLO (samples held, can apply deltas) and, while no model is held, RESYNC."""
        self.resync_asked_for = -1
        self._control(ft.HELLO, struct.pack("<IH2x", self.shard.count, CAP_SPARSE_DELTA))
        if self.model is not None and self.params is None:
            self._resync(0)

    def run(self) -> None:
        """Work until the host announces the end (when ``exit_when_done``)."""
        pause = 0.2
        while not (self.done and self.cfg.get("exit_when_done", True)):
            try:
                if self.client is None:
                    self.connect()
                    pause = 0.2
                self.client.check_msg(0.2)
                while self.inbox:
                    self._on_message(*self.inbox.pop(0))
            except OSError as exc:
                print("node %d: connection lost (%s); reconnecting" % (self.device, exc))
                if self.client is not None:
                    self.client.close()
                    self.client = None
                time.sleep(pause)
                pause = min(2 * pause, 5.0)
        self.client.publish(self.t_status, b"offline", retain=True, qos=1)
        self.client.disconnect()
        self.shard.close()

    # -- messages --------------------------------------------------------------------

    def _publish(self, topic, frame, qos=1):
        for piece in tc.chunk(frame, self.max_packet):
            self.client.publish(topic, piece, qos=qos)

    def _control(self, msg_type, payload):
        self._publish(self.t_control, ft.encode_control(msg_type, payload, key=self.key, device_id=self.device))

    def _resync(self, have):
        if self.resync_asked_for == have:
            return
        self.resync_asked_for = have
        self._control(ft.RESYNC, struct.pack("<I", have))

    def _on_message(self, topic, msg):
        if not msg:
            return
        if topic == self.t_host:
            if bytes(msg) == b"online":
                self._hello()  # a HELLO sent before this host subscribed was lost
            return
        if topic == self.t_spec:
            try:
                self._on_spec(msg)
            except ValueError as exc:  # also a JSON error
                print("node %d: bad model description: %s" % (self.device, exc))
            return
        try:
            if msg[:2] == b"SP":
                data = bytes(msg)  # a whole frame: no reassembly buffer needed
            else:
                # A chunk: the buffer is allocated on the first chunk of this topic only.
                box = self.reassemblers.get(topic)
                if box is None:
                    box = self.reassemblers[topic] = tc.Reassembler(REASSEMBLY_BYTES, max_frames=1, timeout_s=30)
                data = box.feed(msg, time.time())
            if data is not None:
                self._on_frame(data)
        except ValueError as exc:  # ft.FrameError, ft.ArgumentError
            print("node %d: bad frame on %s: %s" % (self.device, topic, exc))

    def _on_frame(self, data):
        try:
            f = ft.parse(data, self.job_key)
        except ft.FrameError as exc:
            if exc.status not in (ft.E_AUTH, ft.E_AUTH_UNSUPPORTED):
                raise
            self.auth_dropped += 1
            if self.auth_dropped & (self.auth_dropped - 1) == 0:  # the 1st, 2nd, 4th, 8th...: a bounded log
                print("node %d: dropped %d frame(s) that do not verify under the job key" % (
                    self.device, self.auth_dropped))
            return
        if f.msg_type in (ft.DENSE_MODEL, ft.SPARSE_MODEL_DELTA):
            self._on_model(f, data)
        elif f.msg_type == ft.ROUND_OPEN:
            version, _deadline, batch, flags = struct.unpack(_ROUND, f.payload[:12])
            # The model's checksum follows the description hash (20-byte pointers); 0: unchecked.
            crc = struct.unpack("<I", f.payload[16:20])[0] if len(f.payload) >= 20 else 0
            if flags & ROUND_DONE:
                self.done = True
                return
            self.pending = (f.round, version, batch, crc)
        elif f.msg_type == ft.ACK:
            _rnd, code = struct.unpack(_ACK, f.payload)
            if code < len(OUTCOMES):
                self.outcomes[OUTCOMES[code]] += 1
            return
        self._work()

    def _on_model(self, f, data):
        if self.model is None:
            return  # no description yet: the model is asked for once it is known
        if f.n != self.n:
            raise ValueError("model frame has n=%d, this node's model has %d" % (f.n, self.n))
        if f.msg_type == ft.DENSE_MODEL:
            params = array("f", bytes(4 * self.n))
            ft.decode_into(data, params, 1.0)
            self.params = params
            self.version = f.round
            self.resync_asked_for = -1
        elif self.params is not None and f.round == self.version + 1:
            ft.decode_into(data, self.params, 1.0)
            self.version = f.round
            self.resync_asked_for = -1
        elif self.params is None or f.round > self.version + 1:
            self._resync(self.version)

    # -- one round -----------------------------------------------------------------------

    def _work(self):
        if self.pending is None:
            return
        if self.model is None:
            return
        rnd, version, batch, crc = self.pending
        if rnd == self.answered_round and self.cached is not None:
            self._publish(self.t_update, self.cached)
            self.pending = None
            return
        if rnd < self.answered_round:
            self.pending = None
            return
        if self.params is None or self.version != version:
            self._resync(self.version)
            return
        if crc and crc32 is not None and (crc32(bytes(self.params)) or 1) != crc:
            # A lost or altered delta: drop the copy, ask for the whole model.
            print("node %d: model %d does not match the host's checksum" % (self.device, version))
            self.checksum_mismatches += 1
            self.params = None
            self.resync_asked_for = -1
            self._resync(self.version)
            return
        self.cached = self.update_frame(rnd, batch)
        self.answered_round = rnd
        self.rounds_done += 1
        self.pending = None
        self._publish(self.t_update, self.cached)

    def update_frame(self, rnd: int, batch: int) -> bytes:
        """Train on one mini-batch and return the SPARSE_UPDATE frame of round ``rnd``."""
        start = _ms()
        picks = batch_indices(self.shard.count, min(batch, self.max_batch), self.seed, self.device, rnd)
        xs = [self.shard.sample(i, self.samples[j]) for j, i in enumerate(picks)]
        ys = [self.shard.labels[i] for i in picks]
        grad = self.grad
        for i in range(self.n):
            grad[i] = 0.0
        self.last_loss = self.model.loss_and_grad(self.params, xs, ys, grad)
        self.grad_ms += _elapsed_ms(start)
        start = _ms()
        residual = self.residual
        for i in range(self.n):
            residual[i] += grad[i]
        idx = top_k(residual, self.k)
        vals = array("f", [residual[i] for i in idx])
        for i in idx:
            residual[i] = 0.0  # fp32 values decode to exactly what was sent
        frame = ft.encode_sparse(self.n, idx, vals, "fp32", key=self.key, device_id=self.device, round=rnd,
                                 seq=self.seq)
        self.seq = (self.seq + 1) & 0xFFFF
        self.select_encode_ms += _elapsed_ms(start)
        self.heap_peak = max(self.heap_peak, _heap_in_use())
        return frame
