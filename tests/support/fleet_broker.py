"""A fleet's broker for tests: a fleet directory (host/fleet.py) and mosquitto started on it, plus raw clients.

:class:`FleetBroker` holds the fleet (devices 1..3 unless told otherwise)
and the running ``Mosquitto.for_fleet``; ``config(device)`` is a
BrokerConfig logged in with that device's account (0: the host's).
:class:`RawClient` is a bare paho MQTT 5 client that records what an
attacker would see: the broker's reason code on each QoS 1 PUBACK, the
messages delivered, the disconnections.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import paho.mqtt.client as mqtt

from sparrow.common.config import BrokerConfig
from sparrow.host.broker import Mosquitto
from sparrow.host.fleet import Fleet

__all__ = ["FleetBroker", "RawClient", "start_fleet_broker"]


@dataclass
class FleetBroker:
    """A running broker on a fleet directory."""

    fleet: Fleet
    mosquitto: Mosquitto
    base: BrokerConfig

    def config(self, device: int = 0) -> BrokerConfig:
        """The broker config of the host (0) or of enrolled device ``device``, with its own account."""
        return self.fleet.broker_config(self.base, device)

    def stop(self) -> None:
        self.mosquitto.stop()


def start_fleet_broker(folder: Path, job: str, devices: tuple[int, ...] = (1, 2, 3), **base: object) -> FleetBroker:
    """Make a fleet for ``job`` in ``folder/fleet`` with ``devices`` and start its broker.

    ``base`` are further BrokerConfig fields (keep-alive, reconnect bounds ...).
    """
    fleet = Fleet.create(folder / "fleet", job)
    for device in devices:
        fleet.add(device)
    workdir = folder / "mosquitto"
    workdir.mkdir()
    settings = {"keepalive_s": 2, "reconnect_min_s": 0.1, "reconnect_max_s": 1.0, **base}
    mosquitto = Mosquitto.for_fleet(fleet.path, max_packet=int(settings.get("max_packet", 16384)),  # type: ignore[arg-type]
                                    workdir=str(workdir)).start()
    return FleetBroker(fleet, mosquitto, BrokerConfig(port=mosquitto.port, job=job, **settings))  # type: ignore[arg-type]


class RawClient:
    """A bare paho MQTT 5 client with the credentials of ``config`` and the client id it is given.

    It records each PUBACK's reason code by message id (``acks``), each
    delivered message (``messages``) and each disconnection
    (``disconnects``).
    """

    def __init__(self, config: BrokerConfig, client_id: str, clean_start: bool = True) -> None:
        self.acks: dict[int, mqtt.ReasonCode] = {}
        self.messages: list[tuple[str, bytes, bool]] = []
        self.disconnects: list[mqtt.ReasonCode] = []
        self.connack: mqtt.ReasonCode | None = None
        self._changed = threading.Condition()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if config.username is not None:
            client.username_pw_set(config.username, config.password)
        client.on_connect = self._on_connect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        self.client = client
        client.connect(config.host, config.port, keepalive=30, clean_start=clean_start)
        client.loop_start()
        self.wait(lambda: self.connack is not None, "no CONNACK")

    # -- paho callbacks -------------------------------------------------------------

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: mqtt.ReasonCode,
                    properties: object) -> None:
        self.connack = reason
        if reason.is_failure:
            client.disconnect()
        self._notify()

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int, reason: mqtt.ReasonCode,
                    properties: object) -> None:
        self.acks[mid] = reason
        self._notify()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        self.messages.append((message.topic, bytes(message.payload), bool(message.retain)))
        self._notify()

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object, reason: mqtt.ReasonCode,
                       properties: object) -> None:
        self.disconnects.append(reason)
        self._notify()

    # -- use ----------------------------------------------------------------------

    def wait(self, condition: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
        """Block until ``condition()`` holds; AssertionError naming ``what`` after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{what} within {timeout_s} s")
                self._changed.wait(min(left, 0.1))

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> mqtt.ReasonCode:
        """Publish at QoS 1 and return the reason code of the broker's PUBACK."""
        mid = self.client.publish(topic, payload, qos=1, retain=retain).mid
        self.wait(lambda: mid in self.acks, f"no PUBACK for {topic}")
        return self.acks[mid]

    def subscribe(self, topics: list[tuple[str, int]]) -> None:
        """Subscribe and give the broker a moment to deliver retained messages."""
        self.client.subscribe(topics)
        time.sleep(0.2)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

