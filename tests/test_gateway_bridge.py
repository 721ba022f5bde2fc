"""The gateway's translation rules (agent/gateway.py), board and broker replaced by stand-ins.

The port is pyserial's ``loop://`` and the MQTT side a recorder, so every
rule of docs/gateway.md is checked without QEMU or mosquitto.
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import pytest

import sgc

from sparrow.common import control
from sparrow.common.config import BrokerConfig
from sparrow.agent.gateway import BoardBridge, parse_board_hello

pytestmark = pytest.mark.timeout(30)

N = 40
HELLO_TEXT = b"board=mps2-an386 model=tiny n=40 k=2 shard=123 stack=300"


class Recorder:
    """Stands in for the transport: keeps what would be published."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def publish_frame(self, topic: str, frame: bytes, qos: int = 1, retain: bool = False) -> int:
        self.sent.append((topic, frame))
        return len(frame)

    def frames(self, kind: str) -> list[Any]:
        return [sgc.decode(f) for t, f in self.sent if t.split("/")[2] == kind]


@pytest.fixture
def bridge() -> Iterator[BoardBridge]:
    bridge = BoardBridge("loop://", BrokerConfig(job="unit"))
    bridge.device = 77
    bridge.info = parse_board_hello(HELLO_TEXT)
    bridge.transport = Recorder()  # type: ignore[assignment]
    yield bridge
    bridge.port.close()


def _feed(bridge: BoardBridge, frame: bytes) -> None:
    bridge._on_frame(sgc.decode(frame), frame)  # noqa: SLF001 - the rule under test


def test_board_hello_text_parses_into_its_fields() -> None:
    info = parse_board_hello(HELLO_TEXT)
    assert (info.board, info.model, info.n, info.k, info.shard, info.stack) == ("mps2-an386", "tiny", 40, 2, 123, 300)


@pytest.mark.parametrize("text", [b"board=x n=3", b"\xff\xfe", b"board=x model=m n=three k=1 shard=1 stack=1"])
def test_board_hello_that_does_not_parse_is_refused_clearly(text: bytes) -> None:
    with pytest.raises(ValueError, match="does not parse"):
        parse_board_hello(text)


def test_a_sparse_delta_of_the_next_version_is_added_to_the_kept_model(bridge: BoardBridge) -> None:
    _feed(bridge, sgc.encode_dense(np.ones(N, np.float32), round=3))
    delta = sgc.encode_sparse(N, [2, 9], [0.5, -2.0], round=4, msg_type=sgc.MSG_SPARSE_MODEL_DELTA)
    _feed(bridge, delta)
    expected = np.ones(N, np.float32)
    expected[[2, 9]] += [0.5, -2.0]
    assert bridge.version == 4
    np.testing.assert_array_equal(bridge.model, expected)


def test_a_gap_in_model_versions_asks_the_host_for_a_resync_once(bridge: BoardBridge) -> None:
    _feed(bridge, sgc.encode_dense(np.ones(N, np.float32), round=3))
    for _ in range(2):
        _feed(bridge, sgc.encode_sparse(N, [1], [1.0], round=6, msg_type=sgc.MSG_SPARSE_MODEL_DELTA))
    resyncs = bridge.transport.frames("control")  # type: ignore[attr-defined]
    assert [control.Resync.unpack(bytes(f.payload)).have_version for f in resyncs] == [3]
    assert resyncs[0].device_id == 77 and bridge.version == 3


def test_a_model_of_another_size_than_the_boards_is_refused(bridge: BoardBridge) -> None:
    with pytest.raises(ValueError, match="n=41"):
        _feed(bridge, sgc.encode_dense(np.ones(N + 1, np.float32), round=1))


def test_a_round_for_a_missing_model_version_asks_for_a_resync(bridge: BoardBridge) -> None:
    _feed(bridge, sgc.encode_dense(np.ones(N, np.float32), round=1))
    pointer = control.RoundOpen(model_version=2, deadline_ms=1000, batch_size=16)
    _feed(bridge, sgc.encode_control(sgc.MSG_ROUND_OPEN, pointer.pack(), round=2))
    assert not bridge._board_needs_model()  # noqa: SLF001
    assert [control.Resync.unpack(bytes(f.payload)).have_version
            for f in bridge.transport.frames("control")] == [1]  # type: ignore[attr-defined]


def test_a_round_announced_again_gets_the_kept_update_again_and_done_stops_the_bridge(bridge: BoardBridge) -> None:
    _feed(bridge, sgc.encode_dense(np.ones(N, np.float32), round=2))
    pointer = control.RoundOpen(model_version=2, deadline_ms=1000, batch_size=16)
    announce = sgc.encode_control(sgc.MSG_ROUND_OPEN, pointer.pack(), round=2)
    _feed(bridge, announce)
    assert bridge._board_needs_model()  # noqa: SLF001
    update = sgc.encode_sparse(N, [0, 3], [0.1, 0.2], device_id=77, round=2, seq=5)
    bridge._from_board(sgc.decode(update), update)  # noqa: SLF001
    assert not bridge._board_needs_model()  # noqa: SLF001  (one update per round)
    _feed(bridge, announce)
    assert [f for t, f in bridge.transport.sent if "/update/" in t] == [update, update]  # type: ignore[attr-defined]
    assert bridge.stats.updates_relayed == 1 and bridge.stats.updates_repeated == 1
    done = control.RoundOpen(model_version=3, deadline_ms=0, batch_size=16, flags=control.ROUND_DONE)
    _feed(bridge, sgc.encode_control(sgc.MSG_ROUND_OPEN, done.pack(), round=3))
    assert bridge.done and not bridge._board_needs_model()  # noqa: SLF001


def test_host_acks_are_counted_by_outcome(bridge: BoardBridge) -> None:
    for outcome in ("accepted", "accepted", "late_dropped"):
        _feed(bridge, sgc.encode_control(sgc.MSG_ACK, control.Ack(5, outcome).pack()))
    assert bridge.stats.outcomes == {"accepted": 2, "late_dropped": 1}
