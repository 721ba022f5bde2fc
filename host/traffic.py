"""Traffic both ways, per node and in total, against dense fp32 both ways.

Uploads are counted as they arrive (``UpdateBook.bytes_up``). Downlink bytes
are counted where nodes receive them: a frame on a broadcast topic (model,
round pointer, description, support summary) reaches every node subscribed,
so each round's broadcast bytes count once per node online when the round
closes; a frame on one node's own topic (resync, model segments, ACK) counts
once. The reference is what dense fp32 both ways would carry: one dense
update per update up, one dense model per node and round down.
"""
from __future__ import annotations

from typing import Any

__all__ = ["Traffic"]


class Traffic:
    """Downlink bytes as the nodes receive them."""

    def __init__(self) -> None:
        self.bytes_down = 0
        self.dense_bytes_down = 0
        self.published_down = 0
        self._round_broadcast = 0

    def broadcast(self, nbytes: int) -> int:
        """A frame every node receives; returns ``nbytes``."""
        self._round_broadcast += nbytes
        self.published_down += nbytes
        return nbytes

    def direct(self, nbytes: int) -> int:
        """A frame one node receives; returns ``nbytes``."""
        self.bytes_down += nbytes
        self.published_down += nbytes
        return nbytes

    def close_round(self, receivers: int, num_params: int) -> None:
        """The round's broadcasts reached ``receivers`` nodes; dense fp32 would have sent each a model."""
        self.bytes_down += self._round_broadcast * receivers
        self.dense_bytes_down += 4 * num_params * receivers
        self._round_broadcast = 0

    def state_dict(self) -> dict[str, Any]:
        """Counters for a checkpoint."""
        return {"bytes_down": self.bytes_down, "dense_bytes_down": self.dense_bytes_down,
                "published_down": self.published_down, "round_broadcast": self._round_broadcast}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        self.bytes_down = int(state["bytes_down"])
        self.dense_bytes_down = int(state["dense_bytes_down"])
        self.published_down = int(state["published_down"])
        self._round_broadcast = int(state["round_broadcast"])
