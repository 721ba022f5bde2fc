"""Atomic checkpoints of the host's whole training state.

A checkpoint is one ``torch.save`` file written to a temporary name in the
same directory, flushed to disk, then moved over the old one with
``os.replace`` (atomic on POSIX): a crash at any instant leaves either the
previous checkpoint or the new one, never a torn file.
"""
from __future__ import annotations

import os
import tempfile
from typing import Any

import torch

__all__ = ["check_resumable", "load_checkpoint", "save_checkpoint"]

FORMAT = 1

#: Host settings a resumed job must share with its checkpoint: they decide
#: what the saved state means (the model, its initialisation, the downlink's
#: shadow, what an update is, the learning rate of every later round).
RESUME_KEYS = ("model", "dataset", "seed", "downlink", "mode", "lr_schedule")
#: Defaults of keys that older checkpoints do not carry.
_OLD_DEFAULTS = {"mode": "gradient", "lr_schedule": "constant"}


def check_resumable(saved: dict[str, Any], config: dict[str, Any]) -> None:
    """Refuse to resume a checkpoint under a host configuration that changes its meaning.

    ``saved`` is the configuration stored in the checkpoint, ``config`` the
    new one (both as ``HostConfig.to_dict()``). Besides :data:`RESUME_KEYS`,
    a schedule other than ``constant`` also fixes ``rounds`` (the schedule's
    length sets every round's rate).

    Raises
    ------
    ValueError
        Naming every setting that differs, with both values.
    """
    keys = list(RESUME_KEYS)
    if config.get("lr_schedule", "constant") != "constant":
        keys.append("rounds")
    was = {key: saved.get(key, _OLD_DEFAULTS.get(key)) for key in keys}
    differ = [f"{key}={was[key]!r} (config: {config[key]!r})" for key in keys if was[key] != config[key]]
    if differ:
        raise ValueError("--resume: the checkpoint was written with " + ", ".join(differ)
                         + "; resume with the same settings or start a new run directory")


def save_checkpoint(path: str, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".checkpoint-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save({"format": FORMAT, **state}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path: str) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises
    ------
    FileNotFoundError
        When there is no checkpoint at ``path``.
    ValueError
        When the file is not a Sparrow checkpoint of a known format.
    """
    state = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path} is not a Sparrow checkpoint (format {FORMAT})")
    return state
