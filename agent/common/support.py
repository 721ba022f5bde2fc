"""The wire form of the host's global-support summary (aggregation-aware selection).

Aggregation-aware selection (Wang, Liu, Wu, ICNCC 2018; docs/design.md method 4)
needs every node to know where the last aggregate was. After each round the
host publishes a small frame: the ``size`` coordinates of the aggregate with
the largest magnitude, each with its *popularity*, the share of the round's
updates that sent it (built by ``host/support.py``). Nodes score their
candidates with it (``agent/aware.py``) so that their supports overlap and the
aggregate, the host's downlink, stays small.

The summary is an ordinary sparse frame (``sgc.encode_sparse``,
``MSG_SPARSE_UPDATE``, device id 0, round = the round it summarises) with the
popularities int8-coded: its indices are Golomb-Rice gap coded by the codec,
so ``size`` indices cost about ``size * (2 + log2(n / size)) / 8`` bytes plus
``size`` bytes of popularity. It travels on its own topic
(``sparrow/<job>/support``), which tells it apart from a node's update.
Pure functions, no I/O; numpy and sgc only, so nodes need no host code.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import sgc

__all__ = ["SupportSummary", "decode_summary", "encode_summary"]

#: Value coding of the popularities (share of updates, in [0, 1]).
POPULARITY_CODING = "int8"
#: Slack above 1 that int8 dequantisation of a popularity of exactly 1 may leave.
_ROUNDING = 1e-5


@dataclass(frozen=True)
class SupportSummary:
    """The previous round's global support as nodes see it.

    Attributes
    ----------
    round : int
        Round summarised.
    n : int
        Model size.
    indices : np.ndarray
        Ascending uint32 coordinates.
    popularity : np.ndarray
        float32 share of the round's updates that sent each coordinate, in [0, 1].
    """

    round: int
    n: int
    indices: np.ndarray
    popularity: np.ndarray

    def __post_init__(self) -> None:
        if self.indices.shape != self.popularity.shape or self.indices.ndim != 1:
            raise ValueError("summary indices and popularity must be 1-D of one length")
        if self.indices.size and int(self.indices.max()) >= self.n:
            raise ValueError(f"summary index out of range for n={self.n}")
        if self.indices.size > 1 and not np.all(np.diff(self.indices.astype(np.int64)) > 0):
            raise ValueError("summary indices must be strictly ascending")
        if not np.all((self.popularity >= 0) & (self.popularity <= 1)):
            raise ValueError("summary popularity must lie in [0, 1]")


def encode_summary(summary: SupportSummary) -> bytes:
    """The summary as one Sparrow frame (see the module docstring)."""
    return sgc.encode_sparse(summary.n, summary.indices, summary.popularity, value_coding=POPULARITY_CODING,
                             msg_type=sgc.MSG_SPARSE_UPDATE, device_id=0, round=summary.round)


def decode_summary(frame: bytes, n: int) -> SupportSummary:
    """Parse a summary frame for a model of ``n`` parameters.

    Raises
    ------
    sgc.Error or ValueError
        For a frame that does not decode, is not a sparse frame from device
        0, has another length, or popularities outside [0, 1].
    """
    decoded = sgc.decode(frame)
    if decoded.msg_type != sgc.MSG_SPARSE_UPDATE or int(decoded.device_id) != 0:
        raise ValueError(f"not a support summary: msg_type {decoded.msg_type}, device {decoded.device_id}")
    if int(decoded.n) != n:
        raise ValueError(f"support summary has n={decoded.n}, the model has {n}")
    popularity = np.asarray(decoded.values, dtype=np.float32)
    if not np.all((popularity >= 0) & (popularity <= 1 + _ROUNDING)):
        raise ValueError("support summary popularity must lie in [0, 1]")
    popularity = np.minimum(popularity, np.float32(1))
    return SupportSummary(int(decoded.round), n, np.asarray(decoded.indices, dtype=np.uint32), popularity)
