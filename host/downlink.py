"""How the host sends the model down: dense fp32/fp16 or a sparse delta.

Every downlink keeps a *shadow*: the model exactly as the nodes hold it,
obtained by decoding the host's own frame the way a node does. Nodes compute
gradients at the shadow; a node that asks for a resync gets the shadow as a
dense fp32 frame, so every node agrees bit for bit.

``delta`` (the default) sends only the largest coordinates of the gap
between the host's parameters and the shadow, with error feedback: what is
not sent now stays in the gap and is sent later, so the shadow tracks the
parameters. Values go as fp32, fp16 or int8; the rounding error stays in
the gap too, since the shadow is what the nodes decode. Every
``refresh_rounds`` rounds, or when the gap has grown past
``refresh_gap`` of the parameters' norm, a dense fp32 model goes instead:
it resets the gap and repairs any copy that drifted. Every round pointer
also carries the shadow's checksum, so a node whose copy differs (a lost or
altered delta) asks for the whole model at once.

Downlinks are picked by name from :data:`DOWNLINKS`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from typing import Any, Callable

import numpy as np

import sgc

if TYPE_CHECKING:
    from sparrow.host.config import HostConfig


__all__ = ["DELTA_CODINGS", "DOWNLINKS", "DenseDownlink", "DeltaDownlink", "Downlink", "full_model_frame", "make_downlink"]


def full_model_frame(shadow: np.ndarray, version: int) -> bytes:
    """A dense fp32 model frame of ``shadow`` at model version ``version``."""
    return sgc.encode_dense(shadow, value_coding="fp32", msg_type=sgc.MSG_DENSE_MODEL, round=version)


class Downlink:
    """Base: owns the shadow and turns new parameters into a model frame."""

    def __init__(self, initial: np.ndarray) -> None:
        self.shadow = np.array(initial, dtype=np.float32, copy=True)

    def initial_frame(self, version: int) -> bytes:
        """The frame that opens a job or a resumed job: the full shadow."""
        return full_model_frame(self.shadow, version)

    def frame(self, params: np.ndarray, version: int) -> bytes:
        """Encode ``params`` as model version ``version`` and update the shadow."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """The downlink's whole state: the shadow."""
        return {"shadow": self.shadow.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        self.shadow = np.array(state["shadow"], dtype=np.float32, copy=True)


class DenseDownlink(Downlink):
    """The whole model each round in fp32 or fp16."""

    def __init__(self, initial: np.ndarray, value_coding: str) -> None:
        super().__init__(initial)
        self.value_coding = value_coding

    def frame(self, params: np.ndarray, version: int) -> bytes:
        out = sgc.encode_dense(np.ascontiguousarray(params, dtype=np.float32), value_coding=self.value_coding,
                               msg_type=sgc.MSG_DENSE_MODEL, round=version)
        self.shadow = np.asarray(sgc.decode(out).values, dtype=np.float32).copy()
        return out


class DeltaDownlink(Downlink):
    """A sparse model delta with host-side error feedback.

    The error-feedback memory is the gap ``params - shadow`` itself: each
    round sends the largest coordinates of the gap (``sgc.select``), and
    what is left stays in the gap for the next round. This is the residual
    of ``sgc.Residual`` fed with every optimizer step's change, written so
    that its whole state is the shadow: a checkpoint restores it exactly.
    """

    def __init__(self, initial: np.ndarray, method: str, density: float, value_coding: str = "fp32",
                 refresh_rounds: int = 0, refresh_gap: float = 0.0, min_coords: int = 1) -> None:
        super().__init__(initial)
        self._method = method
        # A tiny model gets (nearly) its whole change each round: its delta costs little, a lag costs accuracy.
        self._k = min(initial.size, max(1, int(round(density * initial.size)), min_coords))
        self._value_coding = value_coding
        self._refresh_rounds = refresh_rounds
        self._refresh_gap = refresh_gap
        self.refreshes = 0

    def frame(self, params: np.ndarray, version: int) -> bytes:
        params = np.ascontiguousarray(params, dtype=np.float32)
        gap = params - self.shadow
        if self._refresh_due(version, gap, params):
            self.refreshes += 1
            out = full_model_frame(params, version)
            self.shadow = params.copy()
            return out
        indices, values = sgc.select(gap, self._k, method=self._method)
        out = sgc.encode_sparse(params.size, indices, values, value_coding=self._value_coding,
                                msg_type=sgc.MSG_SPARSE_MODEL_DELTA, round=version, compact="auto")
        sgc.decode_into(out, self.shadow)
        return out

    def _refresh_due(self, version: int, gap: np.ndarray, params: np.ndarray) -> bool:
        if self._refresh_rounds and version % self._refresh_rounds == 0:
            return True
        if self._refresh_gap:
            norm = float(np.linalg.norm(params))
            return norm > 0 and float(np.linalg.norm(gap)) > self._refresh_gap * norm
        return False


#: Registry: downlink name -> builder(initial params, config).
DOWNLINKS: dict[str, Callable[[np.ndarray, HostConfig], Downlink]] = {
    "dense32": lambda p, c: DenseDownlink(p, "fp32"),
    "dense16": lambda p, c: DenseDownlink(p, "fp16"),
    "delta": lambda p, c: DeltaDownlink(p, c.downlink_method, c.downlink_density, c.downlink_value_coding,
                                        c.downlink_refresh_rounds, c.downlink_refresh_gap, c.downlink_min_coords),
}

#: Value codings a model delta may use (sign coding would lose the delta's scale per coordinate).
DELTA_CODINGS = {name: sgc.CODINGS[name] for name in ("fp32", "fp16", "int8")}


def make_downlink(initial: np.ndarray, config: HostConfig) -> Downlink:
    """Build the downlink ``config.downlink`` names."""
    return DOWNLINKS[config.downlink](initial, config)
