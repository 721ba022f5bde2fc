"""The host's update ledger (host/rounds.py): accept, dedupe, age, reject."""
from __future__ import annotations

import numpy as np
import pytest

import sgc

from sparrow.host.rounds import UpdateBook

N = 50


def frame(device: int = 1, rnd: int = 1, seq: int = 0, n: int = N, value: float = 1.0) -> bytes:
    idx = np.array([3, 7, 20], dtype=np.uint32)
    val = np.array([value, -value, 2 * value], dtype=np.float32)
    return sgc.encode_sparse(n, idx, val, device_id=device, round=rnd, seq=seq)


def book(late: str = "apply", max_staleness: int = 2) -> UpdateBook:
    return UpdateBook(N, late, max_staleness, weight_of=lambda device: 10.0 * device)


def test_an_update_of_the_open_round_is_accepted_with_its_device_weight() -> None:
    b = book()
    assert b.offer(2, frame(device=2)) == "accepted"
    on_time, late = b.close()
    assert [(u.device, u.weight) for u in on_time] == [(2, 20.0)]
    np.testing.assert_array_equal(on_time[0].indices, [3, 7, 20])
    assert late == [] and b.round == 2


def test_a_redelivered_update_is_applied_once() -> None:
    b = book()
    data = frame()
    assert b.offer(1, data) == "accepted"
    assert b.offer(1, data) == "duplicate"
    on_time, _ = b.close()
    assert len(on_time) == 1
    assert b.offer(1, data) == "duplicate"  # redelivered after the round closed
    assert b.counts["duplicate"] == 2 and b.counts["accepted"] == 1


def test_a_second_update_of_one_device_in_one_round_counts_as_duplicate() -> None:
    b = book()
    assert b.offer(1, frame(seq=0)) == "accepted"
    assert b.offer(1, frame(seq=1, value=5.0)) == "duplicate"
    on_time, _ = b.close()
    assert on_time[0].values[0] == 1.0


def test_a_replayed_update_under_fresh_sequence_numbers_is_applied_at_most_once() -> None:
    b = book()
    b.close()  # round 1 closed with nothing from device 1; open round is 2
    assert b.offer(1, frame(rnd=1, seq=0)) == "late_applied"
    assert [b.offer(1, frame(rnd=1, seq=s)) for s in range(1, 21)] == ["duplicate"] * 20
    assert b.offer(1, frame(rnd=2, seq=30)) == "accepted"
    assert b.offer(1, frame(rnd=2, seq=31)) == "duplicate"
    on_time, late = b.close()
    assert len(on_time) == 1 and len(late) == 1
    restored = book()
    restored.load_state_dict(b.state_dict())
    assert restored.offer(1, frame(rnd=2, seq=99)) == "duplicate"  # still once after a host restart


def test_a_late_update_is_applied_with_its_staleness_weight() -> None:
    b = book()
    b.close()
    b.close()  # open round is 3
    assert b.offer(1, frame(rnd=2)) == "late_applied"
    assert b.offer(2, frame(device=2, rnd=1)) == "late_applied"
    _, late = b.close()
    assert sorted((u.device, u.weight) for u in late) == [(1, 5.0), (2, pytest.approx(20.0 / 3))]


def test_an_update_older_than_the_staleness_bound_is_dropped_and_counted() -> None:
    b = book(max_staleness=1)
    b.close()
    b.close()
    assert b.offer(1, frame(rnd=1)) == "late_dropped"
    assert b.counts["late_dropped"] == 1


def test_late_updates_are_dropped_when_the_policy_says_drop() -> None:
    b = book(late="drop")
    b.close()
    assert b.offer(1, frame(rnd=1)) == "late_dropped"


@pytest.mark.parametrize("data, reason", [
    (b"garbage that is no frame", "malformed"),
    (b"", "malformed"),
    (frame(n=N + 1), "n="),
    (frame(device=9), "header device"),
    (frame(rnd=5), "ahead"),
])
def test_bad_updates_are_rejected_and_counted(data: bytes, reason: str) -> None:
    b = book()
    assert b.offer(1, data) == "rejected"
    assert reason in b.last_reject
    assert b.counts["rejected"] == 1 and b.received == 0


def test_a_truncated_update_is_rejected() -> None:
    b = book()
    data = frame()
    for cut in (1, len(data) // 2, len(data) - 1):
        assert b.offer(1, data[:cut]) == "rejected"
    assert b.offer(1, data) == "accepted"


def test_a_control_frame_on_the_update_topic_is_rejected() -> None:
    b = book()
    assert b.offer(1, sgc.encode_control(sgc.MSG_HELLO, b"\x00" * 8, device_id=1)) == "rejected"
    assert "msg_type" in b.last_reject


def test_bytes_are_counted_against_what_dense_fp32_would_cost() -> None:
    b = book()
    data = frame()
    b.offer(1, data)
    b.offer(1, data)
    assert b.bytes_up == 2 * len(data)
    assert b.dense_bytes_up == 2 * 4 * N


def test_the_ledger_survives_a_state_dict_round_trip() -> None:
    b = book()
    b.offer(1, frame())
    b.close()
    b.offer(2, frame(device=2, rnd=1))
    b.offer(3, frame(device=3, rnd=2))
    copy = book()
    copy.load_state_dict(b.state_dict())
    assert copy.round == 2 and copy.received == 1 and len(copy.late) == 1
    assert copy.offer(3, frame(device=3, rnd=2)) == "duplicate"
    assert copy.offer(1, frame(rnd=1)) == "duplicate"
    assert copy.counts == b.counts | {"duplicate": 2}


def test_verdicts_are_counted_per_device_and_survive_a_state_dict_round_trip() -> None:
    b = book()
    b.offer(1, frame(device=1))
    b.offer(1, frame(device=1))
    b.offer(2, frame(device=2, n=N + 1))
    assert b.per_device == {1: {"accepted": 1, "duplicate": 1}, 2: {"rejected": 1}}
    copy = book()
    copy.load_state_dict(b.state_dict())
    assert copy.per_device == b.per_device


def test_a_book_for_model_averaging_takes_deltas_and_rejects_gradients() -> None:
    b = UpdateBook(N, "apply", 2, weight_of=lambda device: 1.0, msg_type=sgc.MSG_SPARSE_MODEL_DELTA)
    delta = sgc.encode_sparse(N, np.array([1], np.uint32), np.array([0.5], np.float32),
                              msg_type=sgc.MSG_SPARSE_MODEL_DELTA, device_id=1, round=1)
    assert b.offer(1, delta) == "accepted"
    assert b.offer(2, frame(device=2)) == "rejected" and "msg_type" in b.last_reject
