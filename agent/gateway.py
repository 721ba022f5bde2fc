"""The serial gateway: UART-attached boards joined to an MQTT training job.

``sparrow gateway --board socket://127.0.0.1:5555 --board /dev/ttyUSB0 ...``
opens each board with pyserial's ``serial_for_url`` and gives it its own
MQTT identity (client id, topics, status and Last Will), as if the board
were an agent itself (docs/gateway.md). The gateway is a residual-free
relay: the board keeps its weights, residual memory and shard; the gateway
only translates between the board's link protocol (docs/firmware.md) and
the host's topics (docs/TOPICS.md):

==============================  ==============================================
board -> gateway                gateway -> MQTT
==============================  ==============================================
``HELLO`` (text: board, n, k,   ``HELLO`` (``control.Hello``: the shard size,
shard, stack)                   no sparse-delta capability) on ``control/<dev>``
``SPARSE_UPDATE`` of round R    the same bytes on ``update/<dev>``, QoS 1
==============================  ==============================================

==============================  ==============================================
MQTT -> gateway                 gateway -> board
==============================  ==============================================
model frames, ``sync/<dev>``    kept: the model of the newest version (dense
                                fp32/fp16 replaces it, a sparse delta of the
                                next version is added, a gap asks RESYNC)
``ROUND_OPEN`` of round R       the model of version R as ``DENSE_MODEL``
                                segments of round R that fit the link MTU
``ACK``                         counted
==============================  ==============================================

The board's identity is the ``device_id`` its own frames carry, so its
update frames go to MQTT unchanged (byte for byte, CRC and all).

Authenticated frames (docs/security-frames.md): given a key folder
(``--device-keys``), the gateway tags the HELLO and RESYNC it sends for a
board with that board's key (``<ID>.key``); the board tags its own updates
(its key is provisioned into its image, docs/firmware.md), which pass
unchanged. Every frame from the host must verify under ``job.key``; one that
does not is dropped and counted (``auth_dropped`` in the report).

Resilience: a board that resets says HELLO; the gateway re-announces it to
the host and sends it the model of the open round again, unless the board
had already answered that round (then it gets the next round's model); a
model download cut short by the HELLO is started afresh. A broker that restarts is
reconnected to by the transport (agent/common/transport.py), whose paho client
keeps every QoS 1 message it has not had acknowledged: an update the
gateway has acknowledged to its board is published, never dropped. The
last update is kept, and sent again when its round is announced again.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

import sgc

from sparrow.agent.gateway_link import SerialLink, model_frames
from sparrow.agent.replica import ModelReplica
from sparrow.common import control
from sparrow.common.accounts import device_account
from sparrow.common.config import BrokerConfig
from sparrow.common.frame_auth import Gate
from sparrow.common.keys import KeyRing
from sparrow.common.transport import ONLINE, Topics, Transport

__all__ = ["BoardBridge", "BoardInfo", "Gateway", "parse_board_hello"]

log = logging.getLogger(__name__)

#: Serial settings of the boards (ignored by socket:// ports).
DEFAULT_BAUDRATE = 115200
#: Read timeout of a port: the granularity of the bridge's loop.
READ_TIMEOUT_S = 0.02
#: Longest wait for a board to acknowledge one frame before the download is retried.
SEND_TIMEOUT_S = 10.0
#: Pause before retrying a model download that timed out (the board may be off).
RETRY_PAUSE_S = 1.0
#: How long the gateway listens at start for a board's HELLO before it sends a wake-up RESYNC.
WAKE_LISTEN_S = 0.5
#: How long the gateway waits at start for a board to acknowledge its wake-up RESYNC.
WAKE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class BoardInfo:
    """What a board says about itself in its HELLO (``key=value`` text)."""

    board: str
    model: str
    n: int
    k: int
    shard: int
    stack: int


def parse_board_hello(payload: bytes) -> BoardInfo:
    """Parse the firmware's HELLO text, e.g. ``board=mps2-an386 model=cnn1d_watch n=3319 ...``.

    Raises
    ------
    ValueError
        When a field is missing or a number does not parse.
    """
    try:
        fields = dict(part.split("=", 1) for part in payload.decode("ascii").split())
        return BoardInfo(board=fields["board"], model=fields["model"], n=int(fields["n"]),
                         k=int(fields["k"]), shard=int(fields["shard"]), stack=int(fields["stack"]))
    except (UnicodeDecodeError, ValueError, KeyError) as exc:
        raise ValueError(f"board HELLO {payload[:80]!r} does not parse: {exc}") from None


@dataclass
class BridgeStats:
    """What one bridge has relayed (all cumulative)."""

    hellos: int = 0
    models_sent: int = 0
    downloads_aborted: int = 0
    updates_relayed: int = 0
    updates_repeated: int = 0
    resyncs: int = 0
    checksum_mismatches: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)


class BoardBridge:
    """One board behind the gateway: its port, its link, its MQTT identity.

    Parameters
    ----------
    url : str
        pyserial URL of the board (``/dev/ttyUSB0``, ``socket://host:port``).
    broker : BrokerConfig
        Broker and job.
    baudrate : int
        Serial speed (a socket port ignores it).
    open_port : callable(url, baudrate, timeout) -> port, optional
        Opens the port; ``serial.serial_for_url`` by default.
    accounts : str or None
        A folder of broker accounts (``node-<id>.json``, the ``credentials/``
        of a fleet, host/fleet.py): the board logs in with its device's
        account, named by the ``device_id`` of its HELLO. None: ``broker``'s
        own credentials.
    keys : KeyRing, optional
        The board's key (tags what the gateway says for it) and the job key
        (checks what the host sends).

    Raises
    ------
    ValueError
        When the port cannot be opened (or pyserial does not know the URL).
    """

    def __init__(self, url: str, broker: BrokerConfig, baudrate: int = DEFAULT_BAUDRATE,
                 open_port: Callable[..., Any] | None = None, accounts: str | None = None,
                 keys: KeyRing | None = None) -> None:
        if open_port is None:
            import serial
            open_port = serial.serial_for_url
        self.url = url
        self.broker = broker
        self.accounts = accounts
        self.topics = Topics(broker.job)
        try:
            self.port = open_port(url, baudrate=baudrate, timeout=READ_TIMEOUT_S)
        except OSError as exc:  # serial.SerialException is an OSError
            raise ValueError(f"cannot open board {url!r}: {exc}") from None
        self.link = SerialLink(self.port)
        self.keys = keys
        self.key: bytes | None = None
        self.gate = Gate(keys.job if keys is not None else None, f"gateway {url}")
        self.device: int | None = None
        self.info: BoardInfo | None = None
        self.transport: Transport | None = None
        self.events: queue.Queue[tuple[str, str, Any]] = queue.Queue()
        self.replica = ModelReplica(None, self._resync)
        self.pointer: tuple[int, control.RoundOpen] | None = None
        self.board_round = 0
        self.last_update: tuple[int, bytes] | None = None
        self.done = False
        self.retry_at = 0.0
        # A random first seq: a restarted gateway's first frame must not look like a
        # repeat of the last one its predecessor sent (the board would not deliver it).
        self.seq = int.from_bytes(os.urandom(2), "little")
        self.stats = BridgeStats()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"bridge {url}", daemon=True)

    # -- life cycle -----------------------------------------------------------------

    def start(self) -> None:
        """Start the bridge's thread (it waits for the board's HELLO)."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, mark the board offline and close its port."""
        self._stop.set()
        self._thread.join(timeout=SEND_TIMEOUT_S + 5)
        if self.transport is not None:
            self.transport.wait_published(5.0)
            self.transport.stop()
        self.port.close()

    def wait_online(self, timeout: float) -> bool:
        """Wait until the board said HELLO and its MQTT client connected."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.transport is not None and self.transport.connected.is_set():
                return True
            time.sleep(0.02)
        return False

    def _run(self) -> None:
        try:
            self._wake_board()
        except Exception:  # noqa: BLE001 - the loop below keeps waiting for the board
            log.exception("%s: waking the board failed", self.url)
        while not self._stop.is_set():
            try:
                self._step()
            except Exception:  # noqa: BLE001 - one bad event must not kill the board's bridge
                log.exception("%s: bridge error", self.url)
                time.sleep(RETRY_PAUSE_S)

    def _wake_board(self) -> None:
        """Ask the board to say HELLO (RESYNC on the link).

        A board that booted before the gateway started, or whose gateway was
        restarted, is idle and silent: this is how the gateway learns who it is.
        A board that is booting repeats its HELLO every 200 ms until it is
        acknowledged, so listen first: waking it too would make it say HELLO twice.
        """
        deadline = time.monotonic() + WAKE_LISTEN_S
        while time.monotonic() < deadline:
            got = self.link.receive(deadline - time.monotonic())
            if got is not None:
                self._from_board(*got)
                if got[0].msg_type == sgc.MSG_HELLO:
                    return
        frame = sgc.encode_control(sgc.MSG_RESYNC, control.Resync(0).pack(), seq=self._next_seq())
        try:
            self.link.send(frame, timeout=WAKE_TIMEOUT_S, abort=self._hello_waiting)
        except TimeoutError:
            log.warning("%s: no answer from the board yet; waiting for its HELLO", self.url)

    def _step(self) -> None:
        got = self.link.receive(READ_TIMEOUT_S)
        if got is not None:
            self._from_board(*got)
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                break
            self._from_host(*event)
        if self._board_needs_model() and time.monotonic() >= self.retry_at:
            self._send_model()

    # -- board -> MQTT ------------------------------------------------------------

    def _from_board(self, frame: sgc.Frame, raw: bytes) -> None:
        if frame.msg_type == sgc.MSG_HELLO:
            self._on_hello(frame)
        elif self.device is None:
            log.warning("%s: frame type %d before the board's HELLO, ignored", self.url, frame.msg_type)
        elif frame.msg_type == sgc.MSG_SPARSE_UPDATE:
            self.last_update = (int(frame.round), raw)
            self._publish(self.topics.update(self.device), raw)
            self.stats.updates_relayed += 1
        else:
            log.warning("%s: board sent frame type %d, ignored", self.url, frame.msg_type)

    def _on_hello(self, frame: sgc.Frame) -> None:
        try:
            info = parse_board_hello(bytes(frame.payload))
        except ValueError as exc:
            log.warning("%s: %s", self.url, exc)
            return
        device = int(frame.device_id)
        if self.device is not None and device != self.device:
            log.error("%s: board now says it is device %d, not %d; ignored (restart the gateway "
                      "to bridge another board on this port)", self.url, device, self.device)
            return
        self.info = info
        self.stats.hellos += 1
        # The board lost its model; the update it relayed (if any) stays ours to repeat.
        self.board_round = 0
        log.info("%s: HELLO from device %d: %s", self.url, device, info)
        if self.device is None:
            try:
                broker = self._broker_for(device)
            except ValueError as exc:
                log.error("%s: %s; the board is not bridged", self.url, exc)
                return
            self.device = device
            self.link.device_id = device
            if self.keys is not None:
                self.key = self.keys.device(device)
                if self.key is None:
                    log.error("%s: no key for device %d in %s; a host that requires tags refuses its frames",
                              self.url, device, self.keys.folder)
            self._connect(broker)
        else:
            self._hello_to_host()

    def _broker_for(self, device: int) -> BrokerConfig:
        """The broker config the board logs in with: its device's account when the gateway has ``accounts``."""
        return self.broker if self.accounts is None else device_account(self.broker, self.accounts, device)

    def _connect(self, broker: BrokerConfig) -> None:
        assert self.device is not None
        me = self.device
        self.transport = Transport(
            broker, client_id=f"sparrow-{self.broker.job}-gateway-{me}", status_name=str(me),
            subscriptions=[(self.topics.model, 1), (self.topics.sync(me), 1), (self.topics.round, 1),
                           (self.topics.ack(me), 0), (self.topics.status("host"), 1)],
            on_frame=self.gate.guard(lambda t, f: self.events.put(("frame", t, f))),
            on_text=lambda t, p: self.events.put(("text", t, p)),
            on_error=lambda t, e: self.events.put(("error", t, e)),
            on_connected=lambda present: self.events.put(("connected", "", present)),
        )
        self.transport.start(wait_s=None)

    def _hello_to_host(self) -> None:
        assert self.device is not None and self.info is not None
        # The gateway's replica applies sparse deltas; the board gets the dense model from it.
        hello = control.Hello(num_samples=self.info.shard, capabilities=control.CAP_SPARSE_DELTA)
        self._send_control(sgc.MSG_HELLO, hello.pack())
        if self.model is None:
            self.replica.resync()

    @property
    def model(self) -> np.ndarray | None:
        """The model the gateway holds for its board (None before the first)."""
        return self.replica.params

    @property
    def version(self) -> int:
        """Version of that model."""
        return self.replica.version

    def _resync(self, have: int) -> None:
        self.stats.resyncs += 1
        self._send_control(sgc.MSG_RESYNC, control.Resync(have).pack())

    def _send_control(self, msg_type: int, payload: bytes) -> None:
        assert self.device is not None
        self._publish(self.topics.control(self.device),
                      sgc.encode_control(msg_type, payload, device_id=self.device, key=self.key))

    def _publish(self, topic: str, frame: bytes) -> None:
        assert self.transport is not None
        self.transport.publish_frame(topic, frame)

    # -- MQTT -> board --------------------------------------------------------------

    def _from_host(self, kind: str, topic: str, data: Any) -> None:
        if kind == "connected":
            self._hello_to_host()
        elif kind == "text":
            if data == ONLINE and self.topics.kind(topic) == "status":
                self._hello_to_host()  # a HELLO sent before this host subscribed was lost
        elif kind == "error":
            log.warning("%s: bad chunk on %s: %s", self.url, topic, data)
        else:
            try:
                self._on_frame(sgc.decode(data), data)
            except (sgc.Error, ValueError) as exc:
                log.warning("%s: bad frame on %s: %s", self.url, topic, exc)

    def _on_frame(self, frame: sgc.Frame, data: bytes) -> None:
        kind = frame.msg_type
        if kind in (sgc.MSG_DENSE_MODEL, sgc.MSG_SPARSE_MODEL_DELTA):
            self._on_model(frame, data)
        elif kind == sgc.MSG_ROUND_OPEN:
            self._on_round(int(frame.round), control.RoundOpen.unpack(bytes(frame.payload)))
        elif kind == sgc.MSG_ACK:
            self.stats.outcomes[control.Ack.unpack(bytes(frame.payload)).outcome] += 1

    def _on_model(self, frame: sgc.Frame, data: bytes) -> None:
        if self.info is not None and frame.n != self.info.n:
            raise ValueError(f"model frame has n={frame.n}; the board's model has {self.info.n}")
        self.replica.apply(frame, data)

    def _on_round(self, rnd: int, pointer: control.RoundOpen) -> None:
        if pointer.done:
            self.done = True
            log.info("%s: the host finished the job", self.url)
            return
        again = self.pointer is not None and self.pointer[0] == rnd
        self.pointer = (rnd, pointer)
        if again and self.last_update is not None and self.last_update[0] == rnd:
            # The round was announced again: our update may not have reached the host.
            assert self.device is not None
            self._publish(self.topics.update(self.device), self.last_update[1])
            self.stats.updates_repeated += 1
        if not self.replica.holds(pointer.model_version):
            self.replica.resync()
        elif not self.replica.verify(pointer.model_version, pointer.model_crc):
            self.stats.checksum_mismatches += 1
            log.warning("%s: model %d does not match the host's checksum; asked for the whole model",
                        self.url, pointer.model_version)

    def _board_needs_model(self) -> bool:
        if self.done or self.device is None or self.pointer is None or self.model is None:
            return False
        rnd, pointer = self.pointer
        # One update per board and round: a board that answered the open round
        # before it reset waits for the next one (the firmware's own rule too).
        answered = self.last_update is not None and self.last_update[0] == rnd
        return self.version == pointer.model_version and self.board_round != rnd and not answered

    def _next_seq(self) -> int:
        self.seq = self.seq % 0xFFFFFFFF + 1
        return self.seq

    def _hello_waiting(self) -> bool:
        return any(f.msg_type == sgc.MSG_HELLO for f, _ in self.link.pending())

    def _interrupted(self) -> bool:
        return self._stop.is_set() or self._hello_waiting()

    def _send_model(self) -> None:
        """Download the model of the open round to the board, segment by segment."""
        assert self.model is not None and self.pointer is not None and self.device is not None
        rnd = self.pointer[0]
        try:
            for frame in model_frames(self.model, round=rnd, next_seq=self._next_seq,
                                      device_id=self.device):
                if not self.link.send(frame, timeout=SEND_TIMEOUT_S, abort=self._interrupted):
                    if not self._stop.is_set():
                        # The board reset mid-download: take its HELLO, then start again.
                        self.stats.downloads_aborted += 1
                    return
        except TimeoutError as exc:
            log.warning("%s: model download of round %d failed: %s", self.url, rnd, exc)
            self.retry_at = time.monotonic() + RETRY_PAUSE_S
            return
        self.board_round = rnd
        self.stats.models_sent += 1


class Gateway:
    """Bridges one or more boards, each with its own MQTT identity.

    Parameters
    ----------
    urls : list of str
        pyserial URLs, one per board.
    broker : BrokerConfig
        Broker and job.
    baudrate : int
        Serial speed of every board.
    accounts : str or None
        Folder of the boards' broker accounts (see :class:`BoardBridge`).
    device_keys : str
        A key folder (``sparrow.common.keys``): each board's ``<ID>.key`` and
        ``job.key``. Empty: no tags.
    """

    def __init__(self, urls: list[str], broker: BrokerConfig, baudrate: int = DEFAULT_BAUDRATE,
                 accounts: str | None = None, device_keys: str = "") -> None:
        if not urls:
            raise ValueError("the gateway needs at least one board (--board URL)")
        if len(set(urls)) != len(urls):
            raise ValueError(f"a board URL is given twice: {urls}")
        keys = KeyRing(device_keys) if device_keys else None
        self.bridges: list[BoardBridge] = []
        try:
            for url in urls:
                self.bridges.append(BoardBridge(url, broker, baudrate, accounts=accounts, keys=keys))
        except Exception:
            for bridge in self.bridges:
                bridge.port.close()
            raise

    def start(self) -> None:
        """Start every bridge."""
        for bridge in self.bridges:
            bridge.start()

    def stop(self) -> None:
        """Stop every bridge (their status goes ``offline``)."""
        for bridge in self.bridges:
            bridge.stop()

    @property
    def done(self) -> bool:
        """True once every bridged board has heard that the job is finished."""
        return all(bridge.done for bridge in self.bridges)

    def report(self) -> list[dict[str, Any]]:
        """Per board: url, device id, what it said in its HELLO, what was relayed."""
        rows = []
        for bridge in self.bridges:
            stats = bridge.stats
            rows.append({"url": bridge.url, "device_id": bridge.device,
                         "board": bridge.info.board if bridge.info else None,
                         "hellos": stats.hellos, "models_sent": stats.models_sent,
                         "downloads_aborted": stats.downloads_aborted,
                         "updates_relayed": stats.updates_relayed, "updates_repeated": stats.updates_repeated,
                         "resyncs": stats.resyncs, "outcomes": dict(stats.outcomes),
                         "auth_dropped": bridge.gate.dropped,
                         "link": vars(bridge.link.counters)})
        return rows
