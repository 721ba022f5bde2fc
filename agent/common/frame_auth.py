"""Authenticated frames: tag what a side sends, verify what it receives.

Every Sparrow frame may carry an HMAC-SHA256 tag (docs/PROTOCOL.md section
7). The trust model (docs/security-frames.md): a node tags its updates and
control frames with its own device key, the host verifies them with the key
of the device the topic names; the host tags everything it sends with the
job key, nodes holding the job key verify it.

* :func:`sealer` makes the ``seal`` of a :class:`~sparrow.common.transport.Transport`:
  every frame it publishes gets the tag;
* :class:`Gate` is a receiver with one key (a node with the job key): a frame
  that does not verify is dropped and counted;
* :class:`DeviceVerifier` is the host's check of a frame against the key of
  the device that sent it.

Rejections are logged at most once per :data:`LOG_EVERY_S` per receiver, so
a flood of forged frames cannot flood the log.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Callable

import sgc

from sparrow.common.keys import JOB_KEY_NAME, KeyRing, load_key

__all__ = ["AUTH", "DeviceVerifier", "Gate", "LOG_EVERY_S", "optional_key", "sealer"]

log = logging.getLogger(__name__)

#: Reject reason of a frame whose tag is missing, wrong or cannot be checked.
AUTH = "auth"
#: At most one warning per receiver in this many seconds (the count is exact).
LOG_EVERY_S = 10.0


def optional_key(path: str) -> bytes | None:
    """The key in file ``path``; None for an empty path (no key configured)."""
    return load_key(path) if path else None


def sealer(key: bytes | None) -> Callable[[bytes], bytes] | None:
    """A function that tags a frame with ``key`` (None without a key: frames go out as made)."""
    if key is None:
        return None
    return lambda frame: sgc.sign(frame, key)


class _QuietLog:
    """A warning at most every :data:`LOG_EVERY_S`, with the count of those not shown."""

    def __init__(self, who: str) -> None:
        self.who = who
        self.next_at = 0.0
        self.hidden = 0

    def warn(self, what: str) -> None:
        now = time.monotonic()
        if now < self.next_at:
            self.hidden += 1
            return
        more = f" (and {self.hidden} more since the last report)" if self.hidden else ""
        log.warning("%s: %s%s", self.who, what, more)
        self.hidden = 0
        self.next_at = now + LOG_EVERY_S


class Gate:
    """What a node checks before it reads a frame from the host.

    Parameters
    ----------
    key : bytes or None
        The job key. None: every frame passes (a node without the job key
        trusts the broker's ACL alone).
    who : str
        Names the receiver in the log.
    """

    def __init__(self, key: bytes | None, who: str) -> None:
        self.key = key
        self.dropped = 0
        self._log = _QuietLog(who)

    def passes(self, topic: str, frame: bytes) -> bool:
        """Whether ``frame`` (arrived on ``topic``) verifies; a failure is counted and logged."""
        if self.key is None:
            return True
        try:
            sgc.verify(frame, self.key)
        except sgc.Error as exc:
            self.dropped += 1
            self._log.warn(f"dropped a frame on {topic} that does not verify under the job key: {exc}")
            return False
        return True

    def guard(self, handler: Callable[[str, bytes], None]) -> Callable[[str, bytes], None]:
        """``handler`` that only sees the frames that pass."""
        def guarded(topic: str, frame: bytes) -> None:
            if self.passes(topic, frame):
                handler(topic, frame)
        return guarded


class DeviceVerifier:
    """The host's check of a node's frame against that node's key.

    Parameters
    ----------
    keys : KeyRing or None
        The device keys. None: no frame is checked (a job without keys).
    required : bool
        With keys: a frame without a tag, or from a device without a key, is
        refused. False lets untagged frames through (a fleet being moved to
        keys), but a tag that is present must still verify.
    """

    def __init__(self, keys: KeyRing | None, required: bool = True) -> None:
        self.keys = keys
        self.required = required
        #: Frames refused, by topic kind (``update``, ``control``).
        self.rejected: Counter[str] = Counter()
        self._log = _QuietLog("host")

    @classmethod
    def from_folder(cls, folder: str, required: bool = True) -> DeviceVerifier:
        """The host's verifier for a key folder (empty: a job without keys); the folder must hold ``job.key``."""
        if not folder:
            return cls(None, required)
        keys = KeyRing(folder)
        if keys.job is None:
            raise ValueError(f"key folder {folder}: no {JOB_KEY_NAME} (the key the host tags its frames with)")
        return cls(keys, required)

    @property
    def job_key(self) -> bytes | None:
        """The key the host tags its own frames with."""
        return self.keys.job if self.keys is not None else None

    def problem(self, device: int, frame: bytes) -> str | None:
        """Why ``frame`` from ``device`` is not authentic (``"auth: ..."``, or ``"malformed: ..."``
        when it cannot even be checked), or None.
        """
        if self.keys is None:
            return None
        key = self.keys.device(device)
        if key is None:
            if self.required:
                return f"{AUTH}: no key for device {device}"
            return None
        try:
            sgc.verify(frame, key)
        except sgc.FrameError as exc:
            if not exc.unauthenticated:
                return f"malformed: {exc}"
            if not self.required and not _tagged_bytes(frame):
                return None
            return f"{AUTH}: {exc}"
        return None

    def refuse(self, kind: str, device: int, problem: str) -> None:
        """Count a refused frame of topic kind ``kind`` and log it (rate-limited)."""
        self.rejected[kind] += 1
        self._log.warn(f"refused {kind} frame on device {device}'s topic: {problem}")


def _tagged_bytes(frame: bytes) -> bool:
    try:
        return sgc.decode(frame).tagged
    except sgc.Error:
        return False
