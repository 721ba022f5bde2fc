"""Control payload layouts (agent/common/control.py, docs/TOPICS.md)."""
from __future__ import annotations

import pytest

from sparrow.common.control import CAP_SPARSE_DELTA, OUTCOMES, ROUND_DONE, Ack, Hello, Resync, RoundOpen


def test_hello_round_trips_in_eight_bytes() -> None:
    payload = Hello(num_samples=1437).pack()
    assert len(payload) == 8
    assert Hello.unpack(payload) == Hello(1437, CAP_SPARSE_DELTA)


def test_round_open_round_trips_and_carries_the_done_flag() -> None:
    pointer = RoundOpen(model_version=12, deadline_ms=30000, batch_size=64, flags=ROUND_DONE)
    payload = pointer.pack()
    assert payload == bytes.fromhex("0c000000" "30750000" "4000" "0100" "00000000" "00000000")
    assert RoundOpen.unpack(payload).done
    assert not RoundOpen(1, 1, 1).done


def test_round_open_carries_the_model_descriptions_hash_and_reads_the_short_form() -> None:
    pointer = RoundOpen(model_version=3, deadline_ms=1000, batch_size=8, spec_hash=0xDEADBEEF)
    assert RoundOpen.unpack(pointer.pack()) == pointer
    short = bytes.fromhex("03000000" "e8030000" "0800" "0000")
    assert RoundOpen.unpack(short) == RoundOpen(3, 1000, 8, 0, spec_hash=0)
    checked = RoundOpen(3, 1000, 8, spec_hash=7, model_crc=0x01020304)
    assert RoundOpen.unpack(checked.pack()) == checked and len(checked.pack()) == 20
    assert RoundOpen.unpack(checked.pack()[:16]) == RoundOpen(3, 1000, 8, spec_hash=7)


def test_ack_round_trips_every_outcome() -> None:
    for outcome in OUTCOMES:
        assert Ack.unpack(Ack(7, outcome).pack()) == Ack(7, outcome)


def test_ack_with_an_unknown_outcome_code_is_rejected() -> None:
    with pytest.raises(ValueError, match="outcome"):
        Ack.unpack(bytes([1, 0, 0, 0, 99, 0, 0, 0]))


@pytest.mark.parametrize("layout", [Hello, RoundOpen, Ack, Resync])
def test_a_payload_of_the_wrong_size_is_rejected(layout: type) -> None:
    with pytest.raises(ValueError, match="payload must be"):
        layout.unpack(b"\x00" * 3)


def test_resync_names_the_version_the_node_holds() -> None:
    assert Resync.unpack(Resync(41).pack()).have_version == 41
