"""The one module that talks MQTT, shared by the host and the agents.

paho-mqtt 2.x with ``CallbackAPIVersion.VERSION2`` and MQTT 5. What it does
for its user (docs/TOPICS.md has the why):

* persistent session: ``clean_start=False`` plus a session expiry, so the
  broker keeps a briefly offline client's subscriptions and queues its QoS 1
  messages;
* subscriptions are (re)made in ``on_connect``;
* a Last Will that sets the client's retained status to ``offline``, and a
  retained ``online`` published on every connect;
* frames larger than ``max_packet`` are split with ``sgc.chunk`` and put back
  together on arrival with one ``sgc.Reassembler`` per topic; a malformed
  chunk or frame is reported, never raised into paho's thread;
* automatic reconnect with exponential back-off (paho's loop thread).

Callbacks run on paho's network thread: keep them short (the host and agent
only push what they get into a queue).
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

import sgc

from sparrow.common.config import BrokerConfig
from sparrow.common.tls_check import tls_problem

__all__ = ["ONLINE", "OFFLINE", "Topics", "Transport"]

log = logging.getLogger(__name__)

ONLINE = b"online"
OFFLINE = b"offline"

#: Upper bound of one reassembled frame (a dense fp32 model of 2M params).
MAX_FRAME_BYTES = 8 << 20
#: Incomplete frames are dropped after this long without their missing chunks.
REASSEMBLY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Topics:
    """The topic tree of one job (docs/TOPICS.md)."""

    job: str

    @property
    def root(self) -> str:
        return f"sparrow/{self.job}"

    @property
    def model(self) -> str:
        """Host -> all: model frames (dense or sparse delta), QoS 1."""
        return f"{self.root}/model"

    @property
    def spec(self) -> str:
        """Host -> all: the model description (canonical JSON, ``spec_wire``), QoS 1, retained."""
        return f"{self.root}/spec"

    @property
    def round(self) -> str:
        """Host -> all: retained ROUND_OPEN pointer, QoS 1."""
        return f"{self.root}/round"

    @property
    def support(self) -> str:
        """Host -> all: retained summary of the last round's global support (aggregation-aware selection), QoS 1."""
        return f"{self.root}/support"

    def sync(self, device: int | str) -> str:
        """Host -> one node: a full model answering its RESYNC, QoS 1."""
        return f"{self.root}/sync/{device}"

    def update(self, device: int | str) -> str:
        """Node -> host: sparse update frames, QoS 1, never retained."""
        return f"{self.root}/update/{device}"

    def control(self, device: int | str) -> str:
        """Node -> host: HELLO and RESYNC frames, QoS 1."""
        return f"{self.root}/control/{device}"

    def metrics(self, device: int | str) -> str:
        """Node -> host: the node's training loss and accuracy of a round (``control.RoundStats``), QoS 0."""
        return f"{self.root}/metrics/{device}"

    def ack(self, device: int | str) -> str:
        """Host -> one node: ACK frames, QoS 0."""
        return f"{self.root}/ack/{device}"

    def status(self, device: int | str) -> str:
        """Client -> all: retained ``online``/``offline`` text, Last Will, QoS 1."""
        return f"{self.root}/status/{device}"

    @staticmethod
    def last(topic: str) -> str:
        """The last level of a topic (the device for per-device topics)."""
        return topic.rsplit("/", 1)[-1]

    def kind(self, topic: str) -> str:
        """The third level of a topic: ``model``, ``update``, ``status`` ..."""
        parts = topic.split("/")
        return parts[2] if len(parts) > 2 and topic.startswith(self.root + "/") else ""


#: Topic kinds whose payload is not a frame: status words, the model description and round statistics
#: (bounded by the broker's packet limit and checked by their readers).
TEXT_KINDS = ("status", "spec", "metrics")


def _no_delay(client: mqtt.Client) -> None:
    """Send small messages at once: Nagle's algorithm costs ~40 ms per QoS 1 hop."""
    sock = client.socket()
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


FrameHandler = Callable[[str, bytes], None]
TextHandler = Callable[[str, bytes], None]
ErrorHandler = Callable[[str, Exception], None]


class Transport:
    """An MQTT 5 client with a persistent session, status, LWT and chunking.

    Parameters
    ----------
    config : BrokerConfig
        Broker address, credentials, TLS files, limits.
    client_id : str
        MQTT client id; must be stable across restarts for the session to
        survive (e.g. ``host`` or ``agent-3``).
    status_name : str
        Last level of this client's status topic.
    subscriptions : list of (topic filter, qos)
        Made on every connect.
    on_frame : callable(topic, frame)
        A whole (reassembled) Sparrow frame arrived.
    on_text : callable(topic, payload)
        A message on a ``status`` topic arrived (not framed).
    on_error : callable(topic, exception)
        A chunk could not be reassembled (``sgc.FrameError``).
    on_connected : callable(session_present) or None
        Called after every successful connect, after subscribing.
    seal : callable(frame) -> frame, or None
        Applied to every frame published with :meth:`publish_frame` and
        :meth:`publish_timed` before chunking: the HMAC tag under this
        client's key (``sparrow.common.frame_auth.sealer``).
    """

    def __init__(
        self,
        config: BrokerConfig,
        client_id: str,
        status_name: str,
        subscriptions: list[tuple[str, int]],
        on_frame: FrameHandler,
        on_text: TextHandler,
        on_error: ErrorHandler,
        on_connected: Callable[[bool], None] | None = None,
        seal: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self.config = config
        self.topics = Topics(config.job)
        self.client_id = client_id
        self._status_topic = self.topics.status(status_name)
        self._subscriptions = list(subscriptions)
        self._on_frame = on_frame
        self._on_text = on_text
        self._on_error = on_error
        self._on_connected = on_connected
        self._seal = seal
        self._reassemblers: dict[str, sgc.Reassembler] = {}
        self._lock = threading.Lock()
        self.connected = threading.Event()
        self.connects = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self._acked: dict[int, float] = {}
        self.refusal: mqtt.ReasonCode | None = None
        self._client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        cfg = self.config
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             protocol=mqtt.MQTTv5)
        if cfg.username is not None:
            client.username_pw_set(cfg.username, cfg.password)
        if cfg.tls_ca is not None:
            client.tls_set(ca_certs=cfg.tls_ca, certfile=cfg.tls_cert, keyfile=cfg.tls_key)
        client.will_set(self._status_topic, OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(min_delay=cfg.reconnect_min_s, max_delay=cfg.reconnect_max_s)  # type: ignore[arg-type]
        client.max_queued_messages_set(0)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        client.on_publish = self._handle_publish
        return client

    # -- life cycle ---------------------------------------------------------

    def start(self, wait_s: float | None = 10.0) -> None:
        """Connect (in the background, retrying) and start the network thread.

        Parameters
        ----------
        wait_s : float or None
            Block until connected for at most this long (None: do not wait).

        Raises
        ------
        TimeoutError
            When ``wait_s`` passes without a connection; it names the
            broker's reason code when the broker refused the CONNECT (bad
            user name or password, not authorized), also kept in
            ``refusal``, or what a TLS handshake of its own reported
            (``agent/common/tls_check.py``: untrusted broker certificate, missing
            client certificate).
        """
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.config.session_expiry_s
        self._client.connect_async(self.config.host, self.config.port, self.config.keepalive_s,
                                   clean_start=False, properties=props)
        self._client.loop_start()
        if wait_s is not None and not self.connected.wait(wait_s):
            self.stop(graceful=False)
            why = self._why_not_connected()
            raise TimeoutError(f"no MQTT connection to {self.config.host}:{self.config.port} within {wait_s} s"
                               + (f": {why}" if why else ""))

    def _why_not_connected(self) -> str | None:
        """The broker's refusal, else what a TLS handshake of our own reports, else None."""
        if self.refusal is not None:
            return f"the broker refused it ({self.refusal}, reason code {self.refusal.value})"
        return tls_problem(self.config)

    def stop(self, graceful: bool = True) -> None:
        """Publish ``offline`` (when graceful), disconnect and stop the thread.

        A graceful stop keeps the session on the broker for
        ``session_expiry_s``, exactly like a crash, so a restart resumes it.
        """
        if graceful and self.connected.is_set():
            info = self._client.publish(self._status_topic, OFFLINE, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2.0)
            except (RuntimeError, ValueError):
                pass
        self._client.disconnect()
        self._client.loop_stop()
        self.connected.clear()

    # -- sending ------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        """Publish one MQTT message; returns its message id (QoS 1 messages are kept by paho until acknowledged)."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        self.bytes_sent += len(payload)
        return int(info.mid)

    def publish_timed(self, topic: str, frame: bytes) -> list[tuple[int, float]]:
        """Publish a frame at QoS 1 (chunked); returns ``(mid, perf_counter at publish)`` of each packet.

        Pass the ids to :meth:`acked_at` to learn when the broker acknowledged
        each one (DynaComm's link measurements).
        """
        sent = []
        for piece in sgc.chunk(self._sealed(frame), max_size=self.config.max_packet):
            sent.append((self.publish(topic, piece, qos=1), time.perf_counter()))
        return sent

    def acked_at(self, mids: list[int], timeout_s: float = 5.0) -> list[float] | None:
        """``perf_counter`` times the broker's PUBACKs of ``mids`` arrived (None if not all within the timeout)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if all(m in self._acked for m in mids):
                    return [self._acked.pop(m) for m in mids]
            time.sleep(0.001)
        with self._lock:
            for m in mids:
                self._acked.pop(m, None)
        return None

    def publish_frame(self, topic: str, frame: bytes, qos: int = 1, retain: bool = False) -> int:
        """Publish a Sparrow frame, chunked to ``max_packet``; returns the bytes sent."""
        frame = self._sealed(frame)
        pieces = sgc.chunk(frame, max_size=self.config.max_packet)
        if retain and len(pieces) > 1:
            raise ValueError(f"a retained frame must fit one packet ({len(frame)} > {self.config.max_packet} bytes)")
        sent = 0
        for piece in pieces:
            self.publish(topic, piece, qos=qos, retain=retain)
            sent += len(piece)
        return sent

    def _sealed(self, frame: bytes) -> bytes:
        return frame if self._seal is None else self._seal(frame)

    def clear_retained(self, topic: str) -> None:
        """Remove the retained message of ``topic``."""
        self._client.publish(topic, b"", qos=1, retain=True)

    def wait_published(self, timeout_s: float = 10.0) -> bool:
        """Block until paho has no QoS 1 message left unacknowledged."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self._client._out_messages:  # noqa: SLF001 - paho has no public "pending" query
                return True
            time.sleep(0.01)
        return False

    # -- paho callbacks (network thread) ------------------------------------

    def _handle_connect(self, client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags,
                        reason: mqtt.ReasonCode, properties: Properties | None) -> None:
        if reason.is_failure:
            self.refusal = reason
            log.warning("%s: broker refused the connection: %s (reason code %d)", self.client_id, reason, reason.value)
            return
        _no_delay(client)
        if self._subscriptions:
            client.subscribe(self._subscriptions)
        client.publish(self._status_topic, ONLINE, qos=1, retain=True)
        self.connects += 1
        self.connected.set()
        log.info("%s connected (session present: %s)", self.client_id, flags.session_present)
        if self._on_connected is not None:
            self._on_connected(bool(flags.session_present))

    def _handle_disconnect(self, client: mqtt.Client, userdata: object, flags: mqtt.DisconnectFlags,
                           reason: mqtt.ReasonCode, properties: Properties | None) -> None:
        self.connected.clear()
        log.info("%s disconnected: %s", self.client_id, reason)

    def _handle_publish(self, client: mqtt.Client, userdata: object, mid: int, reason: mqtt.ReasonCode,
                        properties: Properties | None) -> None:
        now = time.perf_counter()
        with self._lock:
            if len(self._acked) > 4096:  # nobody asked for these: keep the table bounded
                self._acked.clear()
            self._acked[mid] = now

    def _handle_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        topic = message.topic
        payload = bytes(message.payload)
        self.bytes_received += len(payload)
        if self.topics.kind(topic) in TEXT_KINDS:
            self._on_text(topic, payload)
            return
        if not payload:
            return  # a cleared retained message
        try:
            frame = self._reassembler(topic).feed(payload, time.monotonic())
        except (sgc.Error, ValueError) as exc:
            self._on_error(topic, exc)
            return
        if frame is not None:
            self._on_frame(topic, frame)

    def _reassembler(self, topic: str) -> sgc.Reassembler:
        with self._lock:
            found = self._reassemblers.get(topic)
            if found is None:
                found = sgc.Reassembler(capacity_bytes=MAX_FRAME_BYTES, max_frames=4,
                                        timeout_s=REASSEMBLY_TIMEOUT_S)
                self._reassemblers[topic] = found
            return found

    @property
    def chunks_dropped(self) -> int:
        """Chunks the reassemblers dropped (incomplete frames timed out)."""
        with self._lock:
            return sum(int(r.dropped) for r in self._reassemblers.values())
