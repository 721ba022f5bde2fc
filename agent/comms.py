"""How a node's messages are cut: the registry behind ``agent.comm``.

``single``: the node follows the broadcast model and sends one update frame
per round (the upload of its mode, ``agent/modes.py``); ``segmented``:
DynaComm segments (``agent/segmented_upload.py``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from sparrow.agent.compressor import Compressor
from sparrow.agent.modes import MODES
from sparrow.agent.segmented_upload import SegmentedUpload
from sparrow.common import control
from sparrow.common.transport import Topics

if TYPE_CHECKING:
    from sparrow.agent.node import Agent

__all__ = ["COMMS", "SingleUpload"]


class SingleUpload:
    """One update frame per round, made by the configured mode."""

    segments_sent = 0
    replans = 0

    def __init__(self, node: Agent) -> None:
        self.node = node
        self.mode = MODES[node.config.mode](node)

    @property
    def compressor(self) -> Compressor:
        """The mode's compressor (aware selection feeds it the support summary)."""
        return self.mode.compressor

    @property
    def last_loss(self) -> float:
        """Loss of the last round's first batch."""
        return self.mode.last_loss

    @property
    def last_stats(self) -> tuple[float, float, int] | None:
        """(loss, accuracy, samples) of the last round's batch."""
        return self.mode.last_stats

    @staticmethod
    def subscriptions(topics: Topics) -> list[tuple[str, int]]:
        """The broadcast model."""
        return [(topics.model, 1)]

    def pull_plan(self) -> control.PullPlan | None:
        """No pull plan: the model comes whole."""
        return None

    def on_network_frame(self, topic: str, data: bytes) -> bool:
        """Nothing is taken on the network thread."""
        return False

    def model_ready(self, version: int) -> bool:
        """True when the model of ``version`` is held."""
        return self.node.replica.holds(version)

    def upload(self, rnd: int, batch_size: int) -> None:
        """Make the round's frame from the model held and send it."""
        node = self.node
        assert node.replica.params is not None
        frame = self.mode.frame(node.replica.params, rnd, batch_size, node.seq)
        node.send_stats(rnd, self.mode.last_stats)
        node.send_update(frame)
        node.advance_seq()


#: Registry: comm name -> the node's upload (builder taking the node).
COMMS = {
    "single": SingleUpload,
    "segmented": SegmentedUpload,
}
