"""Registries of the host's options that change what a round does.

Each registry is the only list of its option's names: ``HostConfig``
validates against it and ``sparrow host --help`` shows it.
"""
from __future__ import annotations

from dataclasses import dataclass

import sgc

__all__ = ["COMMS", "LATE_POLICIES", "MODES", "HostMode", "SELECTIONS"]


@dataclass(frozen=True)
class HostMode:
    """What the updates of a mode are and how the model moves by their mean.

    Attributes
    ----------
    update_type : int
        The frame type the nodes send (``sgc.MSG_*``); others are rejected.
    averages : bool
        True: the model moves by ``server_lr`` times the mean model delta;
        False: the optimizer steps on the mean gradient.
    """

    update_type: int
    averages: bool


#: Registry: mode name -> what its updates are (one name on host and node: ``average``).
MODES = {
    "gradient": HostMode(sgc.MSG_SPARSE_UPDATE, averages=False),
    "average": HostMode(sgc.MSG_SPARSE_MODEL_DELTA, averages=True),
}

#: Registry: comm name -> whether nodes that sent a pull plan also get the model in their own segments.
COMMS = {"single": False, "segmented": True}

#: Registry: selection name -> whether the host publishes the global-support summary each round.
SELECTIONS = {"topk": False, "aware": True}

#: Registry: late-update policy -> whether an update that arrives after its round closed is applied.
LATE_POLICIES = {"apply": True, "drop": False}
