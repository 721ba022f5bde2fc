"""The nodes' training statistics: taken only from known devices for the open round, once; weighted by samples."""
from __future__ import annotations

import math

import pytest

from sparrow.common.control import RoundStats
from sparrow.host.server import _device_of
from sparrow.host.train_stats import TrainStats


def report(rnd: int, loss: float, accuracy: float, samples: int) -> bytes:
    return RoundStats(rnd, loss, accuracy, samples).pack()


def test_the_round_mean_is_weighted_by_the_samples_each_node_saw() -> None:
    stats = TrainStats()
    assert stats.offer(1, report(4, 1.0, 0.5, 10), 4, {1, 2}.__contains__)
    assert stats.offer(2, report(4, 2.0, 1.0, 30), 4, {1, 2}.__contains__)
    loss, accuracy = stats.close(4)
    assert loss == pytest.approx(1.75) and accuracy == pytest.approx(0.875)
    assert stats.close(5) == (None, None)


def test_reports_from_unknown_devices_other_rounds_repeats_and_garbage_are_counted_and_ignored() -> None:
    stats = TrainStats()
    assert not stats.offer(9, report(4, 1.0, 0.5, 10), 4, {1}.__contains__)          # never said HELLO
    assert not stats.offer(1, report(5, 1.0, 0.5, 10), 4, {1}.__contains__)          # a future round
    assert not stats.offer(1, report(3, 1.0, 0.5, 10), 4, {1}.__contains__)          # a closed round: late, not rejected
    assert stats.offer(1, report(4, 1.0, 0.5, 10), 4, {1}.__contains__)
    assert not stats.offer(1, report(4, 0.0, 1.0, 10**6), 4, {1}.__contains__)       # a second report to outweigh
    assert not stats.offer(1, b"\x00" * 15, 4, {1}.__contains__)                     # wrong size
    assert not stats.offer(1, report(4, math.inf, 0.5, 10), 4, {1}.__contains__)     # not finite
    assert stats.rejected == 5 and stats.late == 1
    assert stats.close(4) == (pytest.approx(1.0), pytest.approx(0.5))


@pytest.mark.parametrize("loss,accuracy,samples", [(-1.0, 0.5, 1), (1.0, 1.5, 1), (1.0, 0.5, 0)])
def test_round_stats_outside_their_ranges_are_refused(loss: float, accuracy: float, samples: int) -> None:
    with pytest.raises(ValueError, match="round stats"):
        RoundStats.unpack(report(1, loss, accuracy, samples))


def test_an_unmeasured_accuracy_counts_for_the_loss_only() -> None:
    stats = TrainStats()
    stats.offer(1, report(2, 1.0, math.nan, 10), 2, {1, 2}.__contains__)
    stats.offer(2, report(2, 3.0, 0.25, 10), 2, {1, 2}.__contains__)
    assert stats.close(2) == (pytest.approx(2.0), pytest.approx(0.25))


@pytest.mark.parametrize("topic,device", [("sparrow/j/status/7", 7), ("sparrow/j/status/²", None),
                                          ("sparrow/j/status/७", None), ("sparrow/j/status/99999999999", None),
                                          ("sparrow/j/status/377093266", 377093266), ("sparrow/j/status/4294967296", None),
                                          ("sparrow/j/status/host", None)])
def test_only_plain_ascii_device_numbers_name_a_device(topic: str, device: int | None) -> None:
    assert _device_of(topic) == device
