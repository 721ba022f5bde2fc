"""Atomic checkpoints (host/checkpoint.py)."""
from __future__ import annotations

import os

import pytest
import torch

from sparrow.host.checkpoint import check_resumable, load_checkpoint, save_checkpoint
from sparrow.host.config import HostConfig


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


def test_resuming_under_the_same_settings_is_allowed() -> None:
    config = HostConfig(lr_schedule="cosine").to_dict()
    check_resumable(dict(config), config)
    # A constant rate does not tie the round count: a job may be extended.
    check_resumable(HostConfig(rounds=10).to_dict(), HostConfig(rounds=50).to_dict())


def test_resuming_under_settings_that_change_the_checkpoints_meaning_is_refused() -> None:
    saved = HostConfig(mode="gradient", lr_schedule="cosine", rounds=10).to_dict()
    with pytest.raises(ValueError, match=r"mode='gradient' \(config: 'average'\)") as error:
        check_resumable(saved, HostConfig(mode="average", lr_schedule="cosine", rounds=20).to_dict())
    assert "rounds=10 (config: 20)" in str(error.value)  # the cosine's length moved too


def test_a_checkpoint_from_before_schedules_resumes_as_constant() -> None:
    saved = HostConfig().to_dict()
    del saved["lr_schedule"], saved["mode"]
    check_resumable(saved, HostConfig().to_dict())
    with pytest.raises(ValueError, match="lr_schedule='constant'"):
        check_resumable(saved, HostConfig(lr_schedule="cosine").to_dict())
