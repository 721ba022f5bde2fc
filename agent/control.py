"""Payload layouts of Sparrow's control frames (docs/TOPICS.md).

Control messages are ordinary Sparrow frames (``sgc.encode_control``) whose
payload is a fixed little-endian struct, small enough for a microcontroller
to build with a few byte stores:

=============  ===========================================================
HELLO          ``<IH2x``  num_samples u32, capabilities u16, reserved
ROUND_OPEN     ``<IIHH``  model_version u32, deadline_ms u32, batch_size u16,
               flags u16 (bit 0: job done, leave)
ACK            ``<IB3x``  round acknowledged u32, outcome u8, reserved
RESYNC         ``<I``     model version the node holds (0: none)
=============  ===========================================================

The round number itself travels in the frame header's ``round`` field, and
the sender in its ``device_id`` field.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "Ack",
    "CAP_SPARSE_DELTA",
    "Hello",
    "OUTCOMES",
    "ROUND_DONE",
    "RoundOpen",
    "Resync",
]

#: HELLO capability bit: the node can apply sparse model deltas.
CAP_SPARSE_DELTA = 0x0001
#: ROUND_OPEN flag bit: the job is finished; nodes may leave.
ROUND_DONE = 0x0001

#: ACK outcome codes, in order.
OUTCOMES = ("accepted", "late_applied", "late_dropped", "duplicate", "rejected")

_HELLO = struct.Struct("<IH2x")
_ROUND = struct.Struct("<IIHH")
_ACK = struct.Struct("<IB3x")
_RESYNC = struct.Struct("<I")


def _unpack(layout: struct.Struct, payload: bytes, what: str) -> tuple[int, ...]:
    if len(payload) != layout.size:
        raise ValueError(f"{what} payload must be {layout.size} bytes, got {len(payload)}")
    return layout.unpack(payload)


@dataclass(frozen=True)
class Hello:
    """A node's announcement: how many training samples it holds."""

    num_samples: int
    capabilities: int = CAP_SPARSE_DELTA

    def pack(self) -> bytes:
        """The HELLO payload bytes."""
        return _HELLO.pack(self.num_samples, self.capabilities)

    @classmethod
    def unpack(cls, payload: bytes) -> "Hello":
        """Parse a HELLO payload; ValueError when its size is wrong."""
        return cls(*_unpack(_HELLO, payload, "HELLO"))


@dataclass(frozen=True)
class RoundOpen:
    """The host's round pointer: which model version to train on, and how."""

    model_version: int
    deadline_ms: int
    batch_size: int
    flags: int = 0

    @property
    def done(self) -> bool:
        """True when the host has finished the job."""
        return bool(self.flags & ROUND_DONE)

    def pack(self) -> bytes:
        """The ROUND_OPEN payload bytes."""
        return _ROUND.pack(self.model_version, self.deadline_ms, self.batch_size, self.flags)

    @classmethod
    def unpack(cls, payload: bytes) -> "RoundOpen":
        """Parse a ROUND_OPEN payload; ValueError when its size is wrong."""
        return cls(*_unpack(_ROUND, payload, "ROUND_OPEN"))


@dataclass(frozen=True)
class Ack:
    """The host's verdict on one update."""

    round: int
    outcome: str

    def pack(self) -> bytes:
        """The ACK payload bytes."""
        return _ACK.pack(self.round, OUTCOMES.index(self.outcome))

    @classmethod
    def unpack(cls, payload: bytes) -> "Ack":
        """Parse an ACK payload; ValueError for a wrong size or outcome code."""
        rnd, code = _unpack(_ACK, payload, "ACK")
        if code >= len(OUTCOMES):
            raise ValueError(f"ACK outcome code {code} is unknown")
        return cls(rnd, OUTCOMES[code])


@dataclass(frozen=True)
class Resync:
    """A node's request for a full model."""

    have_version: int = 0

    def pack(self) -> bytes:
        """The RESYNC payload bytes."""
        return _RESYNC.pack(self.have_version)

    @classmethod
    def unpack(cls, payload: bytes) -> "Resync":
        """Parse a RESYNC payload; ValueError when its size is wrong."""
        return cls(*_unpack(_RESYNC, payload, "RESYNC"))
