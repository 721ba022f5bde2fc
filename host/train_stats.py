"""The nodes' own view of training: loss and accuracy on their round batches.

A host without evaluation data (its own data stays on the nodes) still shows
progress: each node publishes ``control.RoundStats`` for the round it
answered, and the host keeps their sample-weighted mean per round. Like any
payload from the broker these are untrusted: a report is taken only from a
device that said HELLO, only for the open round, once per device and round;
anything else is counted as rejected and changes nothing. Memory is bounded
by the number of known devices. A report of a round that has closed
already (the node's update closed the quorum before its report came) is
counted as late, not as rejected.
"""
from __future__ import annotations

from typing import Callable

from sparrow.common.control import RoundStats

__all__ = ["TrainStats"]


class TrainStats:
    """Reports of the open round, by device."""

    def __init__(self) -> None:
        self.round = 0
        self._reports: dict[int, RoundStats] = {}
        self.rejected = 0
        self.late = 0

    def offer(self, device: int, payload: bytes, open_round: int, known: Callable[[int], bool]) -> bool:
        """Take one report; False (and counted) when it is late, malformed, unasked or a repeat."""
        try:
            stats = RoundStats.unpack(payload)
        except ValueError:
            self.rejected += 1
            return False
        if open_round != self.round:
            self.round, self._reports = open_round, {}
        if known(device) and stats.round < open_round:
            self.late += 1
            return False
        if not known(device) or stats.round != open_round or device in self._reports:
            self.rejected += 1
            return False
        self._reports[device] = stats
        return True

    def close(self, rnd: int) -> tuple[float | None, float | None]:
        """Sample-weighted mean training (loss, accuracy) of round ``rnd`` (None where nothing came)."""
        reports = list(self._reports.values()) if self.round == rnd else []
        self._reports = {}
        self.round = rnd + 1
        if not reports:
            return None, None
        total = sum(r.samples for r in reports)
        loss = sum(r.loss * r.samples for r in reports) / total
        measured = [r for r in reports if r.accuracy == r.accuracy]  # NaN: not measured
        weight = sum(r.samples for r in measured)
        accuracy = sum(r.accuracy * r.samples for r in measured) / weight if weight else None
        return loss, accuracy
