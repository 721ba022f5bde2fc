"""How a node picks the coordinates it sends: the registry behind ``agent.selection``.

``topk``: each node's own top-k with error feedback (``agent/compressor.py``);
``aware``: top-k that favours the global support the host publishes
(``agent/aware.py``; the host runs ``selection = "aware"``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from sparrow.agent.aware import AwareCompressor
from sparrow.agent.compressor import Compressor, make_compressor

if TYPE_CHECKING:
    from sparrow.agent.config import AgentConfig

__all__ = ["SELECTIONS", "build_compressor"]


def _topk(config: AgentConfig, n: int, ranges: list[tuple[int, int]] | None) -> Compressor:
    # Model averaging sends model deltas: momentum correction belongs to gradients only.
    momentum = 0.0 if config.mode == "average" else config.momentum
    return make_compressor(config.compressor, n, ranges, config.density, momentum, config.value_coding)


def _aware(config: AgentConfig, n: int, ranges: list[tuple[int, int]] | None) -> Compressor:
    return AwareCompressor(ranges or [(0, n)], config.density, config.popularity_boost, config.persistence_boost,
                           config.persistence_decay, config.compressor, config.value_coding)


#: Registry: selection name -> builder(config, n, layer ranges or None) of the node's compressor.
SELECTIONS: dict[str, Callable[[AgentConfig, int, list[tuple[int, int]] | None], Compressor]] = {
    "topk": _topk,
    "aware": _aware,
}


def build_compressor(config: AgentConfig, n: int, layer_ranges: list[tuple[int, int]]) -> Compressor:
    """The node's compressor: per layer or over the whole model, as configured."""
    return SELECTIONS[config.selection](config, n, list(layer_ranges) if config.per_layer else None)
