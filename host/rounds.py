"""The host's ledger of updates: accept, deduplicate, age, reject, count.

:class:`UpdateBook` decides what happens to each update frame that reaches
the host, independent of MQTT (so it is tested without a broker):

* a frame that does not authenticate (``auth``: the tag under the key of
  the device its topic names is missing or wrong, sparrow.common.frame_auth)
  is **rejected** as :data:`UNAUTHENTICATED`, leaving no per-device trace
  (no counters of a device a forger merely named), and not acknowledged;
* a frame that does not decode, is not a sparse update, names another
  device than its topic, has the wrong length, carries NaN/Inf or claims a
  future round is **rejected** and counted by reason;
* a repeat of ``(device, round, seq)`` (QoS 1 redelivery, a node resending
  after a host restart) or a second update of one device in one round is a
  **duplicate**, applied once;
* an update sent in segments (DynaComm push: ``segment_count > 1``, each
  segment a sparse frame over the whole vector, all with the update's
  ``seq``) is held until every ``segment_id`` has arrived; each incomplete
  segment is **partial** (not acknowledged), the update is judged once,
  when its last segment arrives, as the sum of its segments; a segment
  seen before is a duplicate (the key is ``(device, round, seq,
  segment_id)``);
* an update of the open round is **accepted**;
* an update of an earlier round is **late**: applied in the next aggregate
  with weight ``staleness_weight`` when the policy is ``apply`` and it is at
  most ``max_staleness`` rounds old, otherwise **dropped**; both counted.

No accepted update is ever lost: the book's state goes into every
checkpoint.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Callable

import numpy as np

import sgc

from sparrow.common.control import OUTCOMES
from sparrow.host.aggregate import SparseUpdate, staleness_weight
from sparrow.host.modes import LATE_POLICIES

__all__ = ["OUTCOMES", "PARTIAL", "UNAUTHENTICATED", "UpdateBook"]

#: Verdict on a segment of an update whose other segments have not all arrived.
PARTIAL = "partial"
#: Verdict on a frame that does not authenticate: counted as rejected (reason ``auth``), never answered.
UNAUTHENTICATED = "unauthenticated"


class UpdateBook:
    """Update ledger of one training job.

    Parameters
    ----------
    n : int
        Model size: every update must have this length.
    late : str
        ``"apply"`` or ``"drop"``.
    max_staleness : int
        Oldest late update applied, in rounds.
    weight_of : callable(device) -> float
        Sample weight of a device (from its HELLO).
    first_round : int
        Round the book starts in.
    msg_type : int
        Frame type an update must have (``sgc.MSG_SPARSE_UPDATE`` for
        gradients, ``sgc.MSG_SPARSE_MODEL_DELTA`` for model averaging).
    auth : callable(device, frame) -> str or None, optional
        Why a frame is not authentic (``"auth: ..."``), or None
        (``DeviceVerifier.problem``); without it every frame is taken as
        authentic.
    """

    def __init__(self, n: int, late: str, max_staleness: int,
                 weight_of: Callable[[int], float], first_round: int = 1,
                 msg_type: int = sgc.MSG_SPARSE_UPDATE,
                 auth: Callable[[int, bytes], str | None] | None = None) -> None:
        self.n = n
        self.auth = auth
        self.msg_type = msg_type
        self.late_policy = late
        self.max_staleness = max_staleness
        self.weight_of = weight_of
        self.round = first_round
        self.on_time: dict[int, SparseUpdate] = {}
        self.late: list[SparseUpdate] = []
        self.seen: set[tuple[int, int, int, int]] = set()
        #: (device, round) of every whole update judged: one per device and round, whatever its seq.
        self.answered: set[tuple[int, int]] = set()
        self.partial: dict[tuple[int, int, int], dict[int, tuple[np.ndarray, np.ndarray]]] = {}
        self.segment_counts: dict[tuple[int, int, int], int] = {}
        self.segments = 0
        self.counts: Counter[str] = Counter({k: 0 for k in OUTCOMES})
        self.per_device: dict[int, Counter[str]] = {}
        self.reasons: Counter[str] = Counter()
        self.last_reject = ""
        self.bytes_up = 0
        self.dense_bytes_up = 0

    def offer(self, device: int, frame_bytes: bytes) -> str:
        """Judge one update frame that arrived on device ``device``'s topic.

        The verdict is also counted per device (:attr:`per_device`).

        Returns
        -------
        str
            ``"accepted"``, ``"late_applied"``, ``"late_dropped"``,
            ``"duplicate"`` or ``"rejected"`` (:data:`OUTCOMES`),
            :data:`PARTIAL` for a segment of a still incomplete update, or
            :data:`UNAUTHENTICATED` (counted as rejected, not per device).
        """
        problem = self.auth(device, frame_bytes) if self.auth is not None else None
        if problem is not None:
            self.bytes_up += len(frame_bytes)
            self._reject(problem)
            return UNAUTHENTICATED
        outcome = self._judge(device, frame_bytes)
        self.per_device.setdefault(device, Counter())[outcome] += 1
        return outcome

    def _judge(self, device: int, frame_bytes: bytes) -> str:
        self.bytes_up += len(frame_bytes)
        try:
            frame = sgc.decode(frame_bytes)
        except (sgc.Error, ValueError) as exc:
            self.dense_bytes_up += 4 * self.n
            return self._reject(f"malformed: {exc}")
        if int(frame.segment_id) == 0:
            self.dense_bytes_up += 4 * self.n  # one dense update per update, however many segments
        problem = self._problem(device, frame)
        if problem is not None:
            return self._reject(problem)
        key = (int(frame.device_id), int(frame.round), int(frame.seq), int(frame.segment_id))
        if key in self.seen or (frame.round == self.round and device in self.on_time):
            self.counts["duplicate"] += 1
            return "duplicate"
        indices = np.asarray(frame.indices, dtype=np.uint32)
        values = np.asarray(frame.values, dtype=np.float32)
        if int(frame.segment_count) > 1:
            whole = self._gather(key, int(frame.segment_count), indices, values)
            if isinstance(whole, str):
                return whole
            indices, values = whole
        self.seen.add(key)
        pair = (int(frame.device_id), int(frame.round))
        if pair in self.answered:
            # The same round again under a fresh seq (a replay re-encoded, or a confused node): never twice.
            self.counts["duplicate"] += 1
            return "duplicate"
        self.answered.add(pair)
        if frame.round == self.round:
            self.on_time[device] = SparseUpdate(device, indices, values, self.weight_of(device))
            self.counts["accepted"] += 1
            return "accepted"
        factor = staleness_weight(self.round - int(frame.round), self.max_staleness)
        if not LATE_POLICIES[self.late_policy] or factor == 0.0:
            self.counts["late_dropped"] += 1
            return "late_dropped"
        self.late.append(SparseUpdate(device, indices, values, factor * self.weight_of(device)))
        self.counts["late_applied"] += 1
        return "late_applied"

    def _gather(self, key: tuple[int, int, int, int], count: int, indices: np.ndarray,
                values: np.ndarray) -> str | tuple[np.ndarray, np.ndarray]:
        """Hold one segment; the whole update once its last segment is here, else a verdict."""
        update = key[:3]
        expected = self.segment_counts.setdefault(update, count)
        if expected != count:
            return self._reject(f"segments: segment_count {count} differs from {expected} of the same update")
        parts = self.partial.setdefault(update, {})
        parts[key[3]] = (indices, values)
        self.seen.add(key)
        self.segments += 1
        if len(parts) < count:
            return PARTIAL
        del self.partial[update]
        del self.segment_counts[update]
        order = np.concatenate([p[0] for p in parts.values()])
        merged = np.concatenate([p[1] for p in parts.values()])
        sort = np.argsort(order, kind="stable")
        order, merged = order[sort], merged[sort]
        if order.size > 1 and np.any(order[1:] == order[:-1]):
            return self._reject("segments: two segments of one update hold the same index")
        return order, merged

    def _problem(self, device: int, frame: Any) -> str | None:
        if frame.msg_type != self.msg_type:
            return f"msg_type {frame.msg_type} is not the update type {self.msg_type} of this job"
        if int(frame.device_id) != device:
            return f"header device {frame.device_id} differs from topic device {device}"
        if int(frame.n) != self.n:
            return f"n={frame.n} differs from the model size {self.n}"
        if int(frame.round) > self.round:
            return f"round {frame.round} is ahead of the open round {self.round}"
        if not np.all(np.isfinite(np.asarray(frame.values))):
            return "values hold NaN or Inf"
        return None

    def reject_unreadable(self, reason: str) -> None:
        """Count a chunk that could not be put back into a frame."""
        self._reject(f"malformed: {reason}")

    def _reject(self, reason: str) -> str:
        self.counts["rejected"] += 1
        self.reasons[reason.split(":")[0]] += 1
        self.last_reject = reason
        return "rejected"

    @property
    def received(self) -> int:
        """On-time updates of the open round."""
        return len(self.on_time)

    def close(self) -> tuple[list[SparseUpdate], list[SparseUpdate]]:
        """Hand over the round's updates and open the next round."""
        on_time = list(self.on_time.values())
        late = self.late
        self.on_time = {}
        self.late = []
        self.round += 1
        oldest = self.round - self.max_staleness - 1
        self.seen = {key for key in self.seen if key[1] >= oldest}
        self.answered = {pair for pair in self.answered if pair[1] >= oldest}
        for update in [u for u in self.partial if u[1] < oldest]:
            del self.partial[update]
            self.segment_counts.pop(update, None)
        return on_time, late

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue after a restart."""
        def pack(updates: list[SparseUpdate]) -> list[tuple[int, np.ndarray, np.ndarray, float]]:
            return [(u.device, u.indices, u.values, u.weight) for u in updates]
        return {
            "round": self.round,
            "on_time": pack(list(self.on_time.values())),
            "late": pack(self.late),
            "seen": sorted(self.seen),
            "answered": sorted(self.answered),
            "partial": {update: dict(parts) for update, parts in self.partial.items()},
            "segment_counts": dict(self.segment_counts),
            "segments": self.segments,
            "counts": dict(self.counts),
            "per_device": {device: dict(counts) for device, counts in self.per_device.items()},
            "reasons": dict(self.reasons),
            "bytes_up": self.bytes_up,
            "dense_bytes_up": self.dense_bytes_up,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        def unpack(rows: list[tuple[int, np.ndarray, np.ndarray, float]]) -> list[SparseUpdate]:
            return [SparseUpdate(int(d), np.asarray(i), np.asarray(v), float(w)) for d, i, v, w in rows]
        self.round = int(state["round"])
        self.on_time = {u.device: u for u in unpack(state["on_time"])}
        self.late = unpack(state["late"])
        self.seen = {tuple(k) for k in state["seen"]}  # type: ignore[misc]
        self.answered = {(int(d), int(r)) for d, r in state.get("answered", [])}
        self.partial = {tuple(u): dict(p) for u, p in state.get("partial", {}).items()}  # type: ignore[misc]
        self.segment_counts = {tuple(u): int(c) for u, c in state.get("segment_counts", {}).items()}  # type: ignore[misc]
        self.segments = int(state.get("segments", 0))
        self.counts = Counter(state["counts"])
        self.per_device = {int(d): Counter(c) for d, c in state.get("per_device", {}).items()}
        self.reasons = Counter(state["reasons"])
        self.bytes_up = int(state["bytes_up"])
        self.dense_bytes_up = int(state["dense_bytes_up"])
