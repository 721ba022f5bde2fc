"""Payload layouts of Sparrow's control frames (docs/TOPICS.md).

Control messages are ordinary Sparrow frames (``sgc.encode_control``) whose
payload is a fixed little-endian struct, small enough for a microcontroller
to build with a few byte stores:

=============  ===========================================================
HELLO          ``<IH2x``  num_samples u32, capabilities u16, reserved; when
               capabilities has ``CAP_SEGMENTED_PULL``, followed by the
               node's pull plan ``<HH`` plan_id u16, count u16, then
               ``count`` x u16 first layer of each segment (DynaComm)
ROUND_OPEN     ``<IIHHII`` model_version u32, deadline_ms u32, batch_size
               u16, flags u16 (bit 0: job done, leave), spec_hash u32 (the
               model description's hash, ``spec_wire.spec_hash``; 0: the
               host publishes none), model_crc u32 (``checksum.
               model_checksum`` of model_version as the host's shadow
               holds it; 0: none). The shorter forms without model_crc
               (16 bytes) or also without spec_hash (12) are still read.
ACK            ``<IB3x``  round acknowledged u32, outcome u8, reserved
RESYNC         ``<I``     model version the node holds (0: none)
=============  ===========================================================

One payload travels without a frame, on ``sparrow/<job>/metrics/<dev>``:
:class:`RoundStats` ``<IffI`` round u32, training loss f32, training
accuracy f32 (NaN: not measured), samples u32 — what a node saw on its
batch of a round, so a host without evaluation data can still show progress.

The round number itself travels in the frame header's ``round`` field, and
the sender in its ``device_id`` field.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass

__all__ = [
    "Ack",
    "CAP_SPARSE_DELTA",
    "CAP_SEGMENTED_PULL",
    "Hello",
    "PullPlan",
    "OUTCOMES",
    "ROUND_DONE",
    "RoundOpen",
    "Resync",
    "RoundStats",
]

#: HELLO capability bit: the node can apply sparse model deltas.
CAP_SPARSE_DELTA = 0x0001
#: HELLO capability bit: the payload ends with the node's pull plan; send the model in its segments.
CAP_SEGMENTED_PULL = 0x0002
#: ROUND_OPEN flag bit: the job is finished; nodes may leave.
ROUND_DONE = 0x0001

#: ACK outcome codes, in order.
OUTCOMES = ("accepted", "late_applied", "late_dropped", "duplicate", "rejected")

_HELLO = struct.Struct("<IH2x")
_ROUND = struct.Struct("<IIHHII")
_ROUND_FORMS = {12: struct.Struct("<IIHH"), 16: struct.Struct("<IIHHI")}
_ACK = struct.Struct("<IB3x")
_RESYNC = struct.Struct("<I")
_STATS = struct.Struct("<IffI")
_PLAN = struct.Struct("<HH")
_START = struct.Struct("<H")


def _unpack(layout: struct.Struct, payload: bytes, what: str) -> tuple[int, ...]:
    if len(payload) != layout.size:
        raise ValueError(f"{what} payload must be {layout.size} bytes, got {len(payload)}")
    return layout.unpack(payload)


@dataclass(frozen=True)
class PullPlan:
    """A node's DynaComm pull plan: how it wants the model split (layer boundaries).

    Attributes
    ----------
    plan_id : int
        Changes with every new plan (u16, wraps); the host puts it in the
        ``seq`` field of every model segment it sends by this plan.
    starts : tuple of int
        First planning layer of each segment (``Segmentation.starts``).
    """

    plan_id: int
    starts: tuple[int, ...]

    def pack(self) -> bytes:
        """The plan's bytes (appended to a HELLO payload)."""
        return _PLAN.pack(self.plan_id, len(self.starts)) + b"".join(_START.pack(s) for s in self.starts)

    @classmethod
    def unpack(cls, payload: bytes) -> "PullPlan":
        """Parse a plan; ValueError for a wrong size or starts that do not increase from 0."""
        if len(payload) < _PLAN.size:
            raise ValueError(f"pull plan needs at least {_PLAN.size} bytes, got {len(payload)}")
        plan_id, count = _PLAN.unpack_from(payload)
        if count < 1 or len(payload) != _PLAN.size + count * _START.size:
            raise ValueError(f"pull plan of {count} segments must be {_PLAN.size + count * _START.size} bytes, "
                             f"got {len(payload)}")
        starts = tuple(_START.unpack_from(payload, _PLAN.size + i * _START.size)[0] for i in range(count))
        if starts[0] != 0 or any(b <= a for a, b in zip(starts, starts[1:])):
            raise ValueError(f"pull plan starts must increase strictly from 0, got {starts}")
        return cls(plan_id, starts)


@dataclass(frozen=True)
class Hello:
    """A node's announcement: how many training samples it holds (and its pull plan, if segmented)."""

    num_samples: int
    capabilities: int = CAP_SPARSE_DELTA
    plan: PullPlan | None = None

    def pack(self) -> bytes:
        """The HELLO payload bytes."""
        caps = self.capabilities | (CAP_SEGMENTED_PULL if self.plan is not None else 0)
        head = _HELLO.pack(self.num_samples, caps)
        return head if self.plan is None else head + self.plan.pack()

    @classmethod
    def unpack(cls, payload: bytes) -> "Hello":
        """Parse a HELLO payload; ValueError when its size is wrong."""
        if len(payload) > _HELLO.size:
            num, caps = _HELLO.unpack_from(payload)
            if not caps & CAP_SEGMENTED_PULL:
                raise ValueError(f"HELLO payload must be {_HELLO.size} bytes, got {len(payload)}")
            return cls(num, caps & ~CAP_SEGMENTED_PULL, PullPlan.unpack(payload[_HELLO.size:]))
        return cls(*_unpack(_HELLO, payload, "HELLO"))


@dataclass(frozen=True)
class RoundOpen:
    """The host's round pointer: which model version to train on, and how."""

    model_version: int
    deadline_ms: int
    batch_size: int
    flags: int = 0
    spec_hash: int = 0
    model_crc: int = 0

    @property
    def done(self) -> bool:
        """True when the host has finished the job."""
        return bool(self.flags & ROUND_DONE)

    def pack(self) -> bytes:
        """The ROUND_OPEN payload bytes."""
        return _ROUND.pack(self.model_version, self.deadline_ms, self.batch_size, self.flags, self.spec_hash,
                           self.model_crc)

    @classmethod
    def unpack(cls, payload: bytes) -> "RoundOpen":
        """Parse a ROUND_OPEN payload (20 bytes, or an older 16 or 12); ValueError otherwise."""
        if len(payload) in _ROUND_FORMS:
            return cls(*_ROUND_FORMS[len(payload)].unpack(payload))
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


@dataclass(frozen=True)
class RoundStats:
    """A node's training loss and accuracy on its batch of one round."""

    round: int
    loss: float
    accuracy: float
    samples: int

    def pack(self) -> bytes:
        """The 16 payload bytes."""
        return _STATS.pack(self.round, self.loss, self.accuracy, self.samples)

    @classmethod
    def unpack(cls, payload: bytes) -> "RoundStats":
        """Parse and check; ValueError for a wrong size, a loss that is not finite and >= 0,
        an accuracy outside [0, 1] (NaN allowed: not measured) or no samples."""
        rnd, loss, accuracy, samples = _unpack(_STATS, payload, "round stats")
        if not (math.isfinite(loss) and loss >= 0):
            raise ValueError(f"round stats: loss {loss!r} is not a finite number >= 0")
        if not (math.isnan(accuracy) or 0.0 <= accuracy <= 1.0):
            raise ValueError(f"round stats: accuracy {accuracy!r} is outside [0, 1]")
        if samples < 1:
            raise ValueError("round stats: no samples")
        return cls(rnd, loss, accuracy, samples)
