"""End to end: rounds that survive real fleets (killed nodes, duplicates, bad updates)."""
from __future__ import annotations

import json
import signal
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterator

import numpy as np
import pytest

import sgc

from sparrow.common.config import BrokerConfig
from sparrow.common.transport import Topics, Transport
from sparrow.host.config import HostConfig
from sparrow.host.metrics import Summary
from sparrow.host.server import Host, HostStopped

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture
def run_in_thread() -> Iterator[Callable[[Host], Future[Summary]]]:
    """Run hosts in background threads; any still running is stopped at teardown."""
    started: list[tuple[Host, Future[Summary]]] = []

    def start(host: Host) -> Future[Summary]:
        pool = ThreadPoolExecutor(max_workers=1)
        future = pool.submit(host.run)
        pool.shutdown(wait=False)
        started.append((host, future))
        return future

    yield start
    for host, future in started:
        host.stop()
        try:
            future.result(timeout=10)
        except HostStopped:
            pass


def wait_until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def nan_update(n: int, device: int, rnd: int) -> bytes:
    """A well-formed, correctly checksummed fp32 update whose last value is NaN (docs/PROTOCOL.md)."""
    good = sgc.encode_sparse(n, np.array([1, 5], dtype=np.uint32), np.array([0.5, 0.25], dtype=np.float32),
                             device_id=device, round=rnd, seq=0)
    body = good[:-8] + np.array([np.nan], dtype="<f4").tobytes()
    return body + crc32c(body).to_bytes(4, "little")


def host_sees_device_7(host: Host) -> None:
    """Wait until the host has seen device 7's status: its subscriptions (made
    together in on_connect) are then in place, so an update sent now is not
    published to a topic nobody has subscribed to yet."""
    wait_until(lambda: 7 in host.online, 20, "the host to see device 7 online")


class Rogue:
    """A raw MQTT client that publishes hand-made frames on a device's update topic."""

    def __init__(self, config: BrokerConfig, name: str) -> None:
        self.topics = Topics(config.job)
        self.transport = Transport(config, f"rogue-{name}", name, [], lambda t, f: None,
                                   lambda t, p: None, lambda t, e: None)
        self.transport.start()

    def send(self, device: int, payload: bytes) -> None:
        self.transport.publish(self.topics.update(device), payload, qos=1)

    def close(self) -> None:
        self.transport.stop()


def test_a_node_killed_mid_training_does_not_stall_the_rounds(
        broker_config, fleet, agent_logs, tmp_path, run_in_thread) -> None:
    agent_broker = BrokerConfig(port=broker_config.port, job=broker_config.job, keepalive_s=1)
    agents = fleet(3, extra=["--broker-keepalive-s", "1"], config=agent_broker)
    config = HostConfig(rounds=40, min_nodes=3, fraction=1.0, deadline_s=30.0, eval_every=40,
                        run_dir=str(tmp_path / "run"), progress=False)
    host = Host(config, broker_config)
    future = run_in_thread(host)
    wait_until(lambda: host.book.round >= 10, 60, "round 10")
    agents[2].send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    summary = future.result(timeout=90)
    assert summary.rounds == 40, agent_logs()
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["online"] == 2
    # The Last Will took the dead node out of the quorum: no round waited for the 30 s deadline.
    assert all(row["closed_by"] == "quorum" for row in rows)
    assert max(row["round_s"] for row in rows) < 10
    assert time.monotonic() - killed_at < 30
    assert summary.updates < 3 * 40


def test_a_duplicate_update_is_applied_once(broker_config, tmp_path, run_in_thread) -> None:
    config = HostConfig(rounds=2, lr=1.0, momentum=0.0, min_nodes=1, deadline_s=20.0,
                        run_dir=str(tmp_path / "run"), progress=False)
    host = Host(config, broker_config)
    before = host.final_params().copy()
    first = np.array([0, 7, 100], dtype=np.uint32)
    second = np.array([3], dtype=np.uint32)
    step = np.zeros(host.n, dtype=np.float32)
    step[first] = [0.5, -1.0, 2.0]
    step[second] = [0.25]
    frame1 = sgc.encode_sparse(host.n, first, step[first], device_id=7, round=1, seq=3)
    frame2 = sgc.encode_sparse(host.n, second, step[second], device_id=7, round=2, seq=4)
    future = run_in_thread(host)
    rogue = Rogue(broker_config, "7")  # status "online" as device 7: the host waits for it
    try:
        host_sees_device_7(host)
        rogue.send(7, frame1)
        rogue.send(7, frame1)
        wait_until(lambda: host.book.counts["duplicate"] == 1 and host.book.round == 2, 20, "the second copy")
        rogue.send(7, frame2)
        summary = future.result(timeout=30)
    finally:
        rogue.close()
    assert (summary.updates, summary.duplicates) == (2, 1)
    np.testing.assert_array_equal(host.final_params(), before - step)


def test_malformed_and_nan_updates_are_rejected_and_counted_while_training_goes_on(
        broker_config, fleet, agent_logs, tmp_path, run_in_thread) -> None:
    fleet(2, extra=["--density", "0.05"])
    config = HostConfig(rounds=60, min_nodes=2, deadline_s=20.0, eval_every=60,
                        run_dir=str(tmp_path / "run"), progress=False)
    host = Host(config, broker_config)
    future = run_in_thread(host)
    rogue = Rogue(broker_config, "rogue")
    try:
        wait_until(lambda: host.book.round >= 5, 60, "round 5")
        rnd = host.book.round
        good = sgc.encode_sparse(host.n, np.array([2], dtype=np.uint32), np.array([1.0], dtype=np.float32),
                                 device_id=9, round=rnd, seq=0)
        rogue.send(9, b"not a frame at all")
        rogue.send(9, good[: len(good) // 2])
        rogue.send(9, nan_update(host.n, 9, rnd))
        rogue.send(1, good)  # device 9's frame on device 1's topic
        summary = future.result(timeout=90)
    finally:
        rogue.close()
    assert summary.rounds == 60, agent_logs()
    assert summary.rejected == 4, summary.reject_reasons
    assert summary.updates == 2 * 60
    assert summary.final_accuracy > 0.8


def test_nan_update_helper_makes_a_frame_the_codec_rejects_for_its_values() -> None:
    with pytest.raises(sgc.FrameError):
        sgc.decode(nan_update(50, 1, 1))


def test_training_goes_on_across_a_broker_restart(
        broker_config, mosquitto, fleet, agent_logs, tmp_path, run_in_thread) -> None:
    fleet(2, extra=["--broker-reconnect-max-s", "1", "--density", "0.05"])
    config = HostConfig(rounds=30, min_nodes=2, deadline_s=5.0, eval_every=30,
                        run_dir=str(tmp_path / "run"), progress=False)
    host = Host(config, broker_config)
    future = run_in_thread(host)
    wait_until(lambda: host.book.round >= 8, 60, "round 8")
    mosquitto.restart(down_s=1.0)
    summary = future.result(timeout=90)
    assert summary.rounds == 30, agent_logs()
    assert host.transport.connects >= 2
    assert summary.final_accuracy > 0.7


def test_late_updates_are_applied_with_their_staleness_weight_or_dropped_past_the_bound(
        broker_config, tmp_path, run_in_thread) -> None:
    config = HostConfig(rounds=3, lr=1.0, momentum=0.0, min_nodes=1, deadline_s=20.0, late="apply",
                        max_staleness=1, run_dir=str(tmp_path / "run"), progress=False)
    host = Host(config, broker_config)
    before = host.final_params().copy()

    def update(device: int, rnd: int, index: int, value: float) -> tuple[bytes, np.ndarray]:
        dense = np.zeros(host.n, dtype=np.float32)
        dense[index] = value
        frame = sgc.encode_sparse(host.n, np.array([index], np.uint32), np.array([value], np.float32),
                                  device_id=device, round=rnd, seq=rnd)
        return frame, dense

    on_time = [update(7, rnd, rnd, 1.0) for rnd in (1, 2, 3)]
    late, late_dense = update(8, 1, 10, 3.0)
    too_late, _ = update(9, 1, 11, 5.0)
    future = run_in_thread(host)
    rogue = Rogue(broker_config, "7")
    try:
        host_sees_device_7(host)
        rogue.send(7, on_time[0][0])
        wait_until(lambda: host.book.round == 2, 20, "round 2")
        rogue.send(8, late)
        wait_until(lambda: host.book.counts["late_applied"] == 1, 20, "the late update")
        rogue.send(7, on_time[1][0])
        wait_until(lambda: host.book.round == 3, 20, "round 3")
        rogue.send(9, too_late)
        wait_until(lambda: host.book.counts["late_dropped"] == 1, 20, "the too-late update")
        rogue.send(7, on_time[2][0])
        summary = future.result(timeout=30)
    finally:
        rogue.close()
    assert (summary.updates, summary.late_applied, summary.late_dropped) == (3, 1, 1)
    # Round 2 averages device 7's update (weight 1) with device 8's one-round-late update (weight 1/2).
    round2 = (on_time[1][1] + 0.5 * late_dense) / 1.5
    expected = before - on_time[0][1] - round2 - on_time[2][1]
    np.testing.assert_allclose(host.final_params(), expected, rtol=0, atol=1e-6)
