"""The model description on the wire: how nodes learn the model from the host.

The host publishes its :class:`ModelSpec` once, retained, on
``sparrow/<job>/spec`` as canonical JSON (sorted keys, no spaces), so a node
started without ``--model`` learns it and a node that joins late gets it at
once. Every ROUND_OPEN carries :func:`spec_hash` of those bytes: a node
trains a round only when the description it holds has that hash, so a node
with a stale description (the host restarted with another model) waits for
the new one instead of sending updates for the wrong model.

The payload is untrusted like every other byte from the broker: it is
bounded in size, parsed as JSON and checked by ``ModelSpec.from_dict``; any
failure is one ValueError.
"""
from __future__ import annotations

import hashlib
import json

from sparrow.common.modelspec import ModelSpec

__all__ = ["MAX_SPEC_BYTES", "decode_spec", "encode_spec", "spec_hash"]

#: Largest description accepted (a model of a few dozen layers takes about 2 kB).
MAX_SPEC_BYTES = 16384


def encode_spec(spec: ModelSpec) -> bytes:
    """The canonical bytes of a description (the same spec always gives the same bytes)."""
    data = json.dumps(spec.to_dict(), sort_keys=True, separators=(",", ":")).encode()
    if len(data) > MAX_SPEC_BYTES:
        raise ValueError(f"{spec.name}: the model description takes {len(data)} bytes, "
                         f"more than the {MAX_SPEC_BYTES} a node accepts")
    return data


def spec_hash(data: bytes) -> int:
    """32-bit digest of a description's bytes (never 0: 0 means "no description" in ROUND_OPEN)."""
    return int.from_bytes(hashlib.sha256(data).digest()[:4], "little") or 1


def decode_spec(payload: bytes) -> ModelSpec:
    """Parse and check a description received from the broker.

    Raises
    ------
    ValueError
        Too large, not UTF-8 JSON, or not a valid model description.
    """
    if len(payload) > MAX_SPEC_BYTES:
        raise ValueError(f"model description of {len(payload)} bytes exceeds {MAX_SPEC_BYTES}")
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"model description is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("model description must be a JSON object")
    try:
        return ModelSpec.from_dict(data)
    except (TypeError, KeyError) as exc:
        raise ValueError(f"model description is invalid: {exc}") from None
