"""Atomic checkpoints (host/checkpoint.py)."""
from __future__ import annotations

import os

import pytest
import torch

from sparrow.host.checkpoint import load_checkpoint, save_checkpoint


class Unpicklable:
    def __reduce__(self):
        raise RuntimeError("disk full, say")


def test_a_checkpoint_round_trips(tmp_path) -> None:
    path = str(tmp_path / "run" / "checkpoint.pt")
    save_checkpoint(path, {"round": 3, "w": torch.arange(4.0)})
    state = load_checkpoint(path)
    assert state["round"] == 3 and torch.equal(state["w"], torch.arange(4.0))


def test_a_failed_write_leaves_the_previous_checkpoint_whole_and_no_temporary_file(tmp_path) -> None:
    path = str(tmp_path / "checkpoint.pt")
    save_checkpoint(path, {"round": 1})
    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint(path, {"round": 2, "bad": Unpicklable()})
    assert load_checkpoint(path)["round"] == 1
    assert os.listdir(tmp_path) == ["checkpoint.pt"]


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path) -> None:
    path = str(tmp_path / "other.pt")
    torch.save({"weights": 1}, path)
    with pytest.raises(ValueError, match="not a Sparrow checkpoint"):
        load_checkpoint(path)
