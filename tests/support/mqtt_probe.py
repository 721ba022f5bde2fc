"""A bare MQTT client for tests: records whole frames per topic and publishes forged ones."""
from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt

import sgc

from sparrow.common.config import BrokerConfig

__all__ = ["Probe"]


class Probe:
    """Subscribes to ``sparrow/<job>/#``, reassembles chunked frames, keeps ``(topic, frame)`` in order.

    Status, spec and metrics messages (not frames) are kept in :attr:`texts`.
    """

    def __init__(self, broker: BrokerConfig, name: str = "probe") -> None:
        self.root = f"sparrow/{broker.job}"
        self.frames: list[tuple[str, bytes]] = []
        self.texts: list[tuple[str, bytes]] = []
        self._reassemblers: dict[str, sgc.Reassembler] = {}
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{name}-{broker.job}",
                                  protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(f"{self.root}/#", qos=1)
        self.client.loop_start()
        assert self._subscribed.wait(5.0), "probe could not subscribe"

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        topic, payload = message.topic, bytes(message.payload)
        kind = topic[len(self.root) + 1:].split("/")[0]
        with self._lock:
            if kind in ("status", "spec", "metrics") or not payload:
                self.texts.append((topic, payload))
                return
            whole = self._reassemblers.setdefault(topic, sgc.Reassembler()).feed(payload, time.monotonic())
            if whole is not None:
                self.frames.append((topic, whole))

    def publish(self, suffix: str, frame: bytes) -> None:
        """Publish ``frame`` (chunked like Sparrow does) on ``sparrow/<job>/<suffix>`` at QoS 1 and wait for it."""
        for piece in sgc.chunk(frame, max_size=16384):
            self.client.publish(f"{self.root}/{suffix}", piece, qos=1).wait_for_publish(5.0)

    def wait_for(self, kind: str, timeout_s: float = 20.0) -> bytes:
        """The first frame recorded on a topic of kind ``kind`` (``round``, ``model``...)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                for topic, frame in self.frames:
                    if topic[len(self.root) + 1:].split("/")[0] == kind:
                        return frame
            time.sleep(0.02)
        raise TimeoutError(f"no frame on a {kind} topic within {timeout_s} s")

    def wait_text(self, suffix: str, payload: bytes, timeout_s: float = 20.0) -> None:
        """Wait until ``payload`` was seen on ``sparrow/<job>/<suffix>`` (a status, say)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if (f"{self.root}/{suffix}", payload) in self.texts:
                    return
            time.sleep(0.02)
        raise TimeoutError(f"no {payload!r} on {suffix} within {timeout_s} s")

    def by_kind(self) -> dict[str, list[tuple[str, bytes]]]:
        """Recorded frames grouped by topic kind."""
        out: dict[str, list[tuple[str, bytes]]] = {}
        with self._lock:
            for topic, frame in self.frames:
                out.setdefault(topic[len(self.root) + 1:].split("/")[0], []).append((topic, frame))
        return out

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
