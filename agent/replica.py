"""The node's copy of the host's model, shared by the Linux node and the gateway.

One rule, kept here only (the MicroPython node has a twin of it, checked
against this one by tests/test_replica_twin.py):

* a dense model (``DENSE_MODEL``) replaces the copy, whatever its version:
  the host is the authority;
* a sparse delta (``SPARSE_MODEL_DELTA``) for the next version is added to
  the copy; a delta for the version held or an older one is ignored;
* a gap (a delta for a later version, or any delta with no copy yet) asks
  the host for the whole model with one RESYNC; the same RESYNC is not asked
  twice until the copy changes;
* a copy whose checksum differs from the one the round pointer carries
  (a lost or altered delta) asks for the whole model too (:meth:`verify`).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

import sgc

from sparrow.common.checksum import model_checksum

__all__ = ["ModelReplica"]


class ModelReplica:
    """Follows the model the host publishes.

    Parameters
    ----------
    n : int or None
        Parameters of the model; a model frame of another size is refused
        with ValueError. None: learnt from the first dense model (a gateway
        before its board said hello).
    ask_resync : callable(have)
        Sends a RESYNC saying which version is held (0: none).
    """

    def __init__(self, n: int | None, ask_resync: Callable[[int], None]) -> None:
        self.n = n
        self.params: np.ndarray | None = None
        self.version = 0
        self._ask_resync = ask_resync
        self._asked_for = -1

    def apply(self, frame: Any, data: bytes) -> None:
        """Apply a decoded model frame (``frame``; its bytes ``data``) by the rule above."""
        if self.n is not None and frame.n != self.n:
            raise ValueError(f"model frame has n={frame.n}, this node's model has {self.n}")
        version = int(frame.round)
        if frame.msg_type == sgc.MSG_DENSE_MODEL:
            self.adopt(np.array(frame.values, dtype=np.float32, copy=True), version)
        elif self.params is not None and version == self.version + 1:
            sgc.decode_into(data, self.params)
            self.version = version
            self._asked_for = -1
        elif self.params is None or version > self.version + 1:
            self.resync()

    def adopt(self, params: np.ndarray, version: int) -> None:
        """Take ``params`` as the model of ``version`` (a dense model, or one assembled from segments)."""
        self.params = params
        self.version = version
        self._asked_for = -1

    def holds(self, version: int) -> bool:
        """True when the copy is the model of ``version``."""
        return self.params is not None and self.version == version

    def verify(self, version: int, checksum: int) -> bool:
        """True unless the copy of ``version`` is held and its checksum is not ``checksum`` (0: unchecked).

        On a mismatch the copy is dropped and the whole model asked for.
        """
        if not checksum or not self.holds(version) or model_checksum(self.params) == checksum:
            return True
        self.params = None
        self._asked_for = -1
        self.resync()
        return False

    def resync(self) -> None:
        """Ask for the whole model, once per version held."""
        if self._asked_for == self.version:
            return
        self._asked_for = self.version
        self._ask_resync(self.version)

    def forget_resync(self) -> None:
        """A new host came online: the next gap asks again."""
        self._asked_for = -1
