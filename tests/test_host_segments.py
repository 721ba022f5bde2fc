"""DynaComm pieces of the host/agent system: segmented updates in the ledger, the pull plan in HELLO."""
from __future__ import annotations

import numpy as np
import pytest

import sgc

from sparrow.common import control
from sparrow.host.rounds import PARTIAL, UpdateBook

N = 50


def segment(segment_id: int, count: int = 2, device: int = 1, rnd: int = 1, seq: int = 0) -> bytes:
    """Segment ``m`` of a split of [0, N) into ``count`` equal ranges, two entries each."""
    start = segment_id * (N // count)
    idx = np.array([start + 1, start + 4], dtype=np.uint32)
    val = np.array([1.0 + segment_id, -2.0], dtype=np.float32)
    return sgc.encode_sparse(N, idx, val, device_id=device, round=rnd, seq=seq, segment_id=segment_id,
                             segment_count=count)


def book() -> UpdateBook:
    return UpdateBook(N, "apply", 2, weight_of=lambda device: 1.0)


def test_an_update_is_accepted_once_when_its_last_segment_arrives_as_the_sum_of_its_segments() -> None:
    b = book()
    assert b.offer(1, segment(1)) == PARTIAL
    assert b.received == 0
    assert b.offer(1, segment(0)) == "accepted"
    on_time, _ = b.close()
    assert len(on_time) == 1
    np.testing.assert_array_equal(on_time[0].indices, [1, 4, 26, 29])
    np.testing.assert_array_equal(on_time[0].values, [1.0, -2.0, 2.0, -2.0])
    assert b.counts["accepted"] == 1 and b.segments == 2
    assert b.per_device[1] == {PARTIAL: 1, "accepted": 1}


def test_a_redelivered_segment_is_a_duplicate_and_never_completes_an_update_twice() -> None:
    b = book()
    b.offer(1, segment(0))
    assert b.offer(1, segment(0)) == "duplicate"
    assert b.offer(1, segment(1)) == "accepted"
    assert b.offer(1, segment(1)) == "duplicate"
    assert b.counts["accepted"] == 1 and b.counts["duplicate"] == 2


def test_segments_of_one_update_that_disagree_on_the_count_are_rejected() -> None:
    b = book()
    b.offer(1, segment(0, count=2))
    assert b.offer(1, segment(2, count=3)) == "rejected"
    assert b.reasons["segments"] == 1


def test_dense_bytes_count_one_dense_update_per_segmented_update() -> None:
    b = book()
    b.offer(1, segment(0))
    b.offer(1, segment(1))
    assert b.dense_bytes_up == 4 * N


def test_a_segment_of_a_round_closed_earlier_completes_a_late_update() -> None:
    b = book()
    b.offer(1, segment(0))
    b.close()
    assert b.offer(1, segment(1)) == "late_applied"
    _, late = b.close()
    assert len(late) == 1 and late[0].indices.size == 4


def test_partial_updates_survive_a_checkpoint() -> None:
    b = book()
    b.offer(1, segment(0))
    restored = book()
    restored.load_state_dict(b.state_dict())
    assert restored.offer(1, segment(1)) == "accepted"


def test_a_hello_carries_the_pull_plan_and_round_trips() -> None:
    hello = control.Hello(num_samples=300, plan=control.PullPlan(7, (0, 2, 5)))
    parsed = control.Hello.unpack(hello.pack())
    assert parsed == hello
    assert control.Hello.unpack(control.Hello(12).pack()).plan is None


@pytest.mark.parametrize("tail", [b"\x01\x00", b"\x01\x00\x02\x00\x00\x00", b"\x01\x00\x02\x00\x00\x00\x00\x00",
                                  b"\x01\x00\x00\x00"])
def test_a_hello_with_a_malformed_pull_plan_is_refused(tail: bytes) -> None:
    head = control.Hello(5).pack()
    payload = head[:4] + (control.CAP_SEGMENTED_PULL | control.CAP_SPARSE_DELTA).to_bytes(2, "little") + head[6:]
    with pytest.raises(ValueError):
        control.Hello.unpack(payload + tail)


def test_extra_hello_bytes_without_the_plan_bit_are_refused() -> None:
    with pytest.raises(ValueError):
        control.Hello.unpack(control.Hello(5).pack() + b"\x00\x00")
