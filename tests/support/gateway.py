"""Support of the gateway and fleet tests (no tests here): a scripted host and emulated boards.

:class:`HostStub` plays the host's side of docs/TOPICS.md with the real
transport (a persistent MQTT session on the test's mosquitto): it records
every frame that arrives on ``update/+`` and ``control/+``, answers RESYNC
with the model, and publishes models and round pointers when told.
"""
from __future__ import annotations

import queue
import time
from typing import Any

import numpy as np

import sgc

from sparrow.common import control
from sparrow.common.config import BrokerConfig
from sparrow.common.transport import ONLINE, Topics, Transport


import qemu  # noqa: E402  (firmware/tools: runs the boards)

__all__ = ["HostStub", "qemu"]


class HostStub:
    """A scripted host on the test broker.

    Parameters
    ----------
    broker : BrokerConfig
        The test's broker and job.
    """

    def __init__(self, broker: BrokerConfig) -> None:
        self.topics = Topics(broker.job)
        self.frames: queue.Queue[tuple[str, int, sgc.Frame, bytes]] = queue.Queue()
        self.online: set[int] = set()
        self.model: np.ndarray | None = None
        self.version = 0
        root = self.topics.root
        self.transport = Transport(
            broker, client_id=f"sparrow-{broker.job}-host", status_name="host",
            subscriptions=[(f"{root}/update/+", 1), (f"{root}/control/+", 1), (f"{root}/status/+", 1)],
            on_frame=self._on_frame, on_text=self._on_text, on_error=lambda t, e: None)
        self.transport.start()

    def _on_text(self, topic: str, payload: bytes) -> None:
        last = Topics.last(topic)
        if last.isdigit():
            (self.online.add if payload == ONLINE else self.online.discard)(int(last))

    def _on_frame(self, topic: str, data: bytes) -> None:
        frame = sgc.decode(data)
        device = int(Topics.last(topic))
        if self.topics.kind(topic) == "control" and frame.msg_type == sgc.MSG_RESYNC and self.model is not None:
            model = sgc.encode_dense(self.model, round=self.version)
            self.transport.publish_frame(self.topics.sync(device), model)
        self.frames.put((self.topics.kind(topic), device, frame, data))

    def publish_model(self, params: np.ndarray, version: int, chunk_size: int | None = None) -> None:
        """Publish model ``version`` (dense fp32) on the model topic, in chunks of ``chunk_size`` if given."""
        self.model = np.asarray(params, dtype=np.float32)
        self.version = version
        frame = sgc.encode_dense(self.model, round=version)
        for piece in sgc.chunk(frame, max_size=chunk_size) if chunk_size else [frame]:
            self.transport.publish(self.topics.model, piece)

    def announce(self, rnd: int, batch_size: int = 16, flags: int = 0) -> None:
        """Publish the retained ROUND_OPEN pointer of round ``rnd`` (model version ``rnd``)."""
        pointer = control.RoundOpen(model_version=rnd, deadline_ms=30000, batch_size=batch_size, flags=flags)
        frame = sgc.encode_control(sgc.MSG_ROUND_OPEN, pointer.pack(), round=rnd)
        self.transport.publish_frame(self.topics.round, frame, retain=True)

    def expect(self, kind: str, msg_type: int, timeout: float, device: int | None = None,
               rnd: int | None = None) -> tuple[int, sgc.Frame, bytes]:
        """The next frame of this kind/type (and device, round), skipping others.

        Raises
        ------
        TimeoutError
            When none arrives in time.
        """
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {kind} frame of type {msg_type} within {timeout} s")
            try:
                got_kind, dev, frame, data = self.frames.get(timeout=left)
            except queue.Empty:
                continue
            if got_kind == kind and frame.msg_type == msg_type and device in (None, dev) \
                    and rnd in (None, int(frame.round)):
                return dev, frame, data

    def wait_online(self, device: int, timeout: float) -> bool:
        """Wait until ``device``'s retained status says online."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if device in self.online:
                return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        """Disconnect."""
        self.transport.stop()

    def __enter__(self) -> "HostStub":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
