"""A mixed Sparrow fleet on one machine: emulated boards behind the gateway,
CPython agents and MicroPython agents, trained by the host over mosquitto.

Used by the end-to-end test (tests/test_e2e_fleet.py) and the benchmark
(bench/fleet.py). Everything is real: a private mosquitto
(host/broker.py), QEMU boards running firmware/app/node.c with their UART on
a TCP port (firmware/tools/qemu.py), ``sparrow gateway`` as a process
opening them with ``socket://`` URLs, ``sparrow agent`` processes, and
MicroPython nodes (agent/mp/) on the MicroPython unix port, each node with
one watch subject. An observer client counts every upload on the broker and
the host's verdict on it, per device.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

import sgc

from sparrow.common import control
from sparrow.common.config import BrokerConfig
from sparrow.common.datasets import load, partition
from sparrow.common.modelspec import get_spec
from sparrow.common.transport import Topics, Transport
from sparrow.host.lab.scripts import ROOT, load_script

__all__ = ["FleetConfig", "FleetResult", "UploadCounter", "prepare_micropython_node", "run_fleet",
           "start_micropython_node"]

MP_DIR = ROOT / "agent" / "mp"
MICROPYTHON = str(Path(sys.executable).parent / "micropython")
#: Heap of a MicroPython node (an ESP32 with PSRAM has 2-4 MB).
MP_HEAP = "2M"
#: The watch set is cut into this many shares, one subject each, as the boards' shards are.
WATCH_SHARES = 10


def _firmware_tools() -> Any:
    return load_script("firmware/tools/qemu.py")


def _shard_file() -> Any:
    return load_script("agent/mp/shard_file.py")


@dataclass(frozen=True)
class FleetConfig:
    """What the fleet is made of and how it trains.

    ``cpython_nodes`` and ``micropython_nodes`` are ``(device_id, watch
    share)`` pairs; a board's share is fixed by its firmware build
    (``SHARD_NODE`` in its board.mk). ``reset_at_round`` presses the first
    board's reset button when the host opens that round (0: never).
    """

    boards: tuple[str, ...] = ("mps2-an386", "riscv32-virt")
    cpython_nodes: tuple[tuple[int, int], ...] = ((1, 3),)
    micropython_nodes: tuple[tuple[int, int], ...] = ((41, 4),)
    rounds: int = 16
    reset_at_round: int = 6
    lr: float = 0.1
    momentum: float = 0.9
    batch_size: int = 16
    density: float = 0.02
    deadline_s: float = 20.0

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {self.rounds}")
        if not 0 <= self.reset_at_round <= self.rounds:
            raise ValueError(f"reset_at_round must be in [0, rounds], got {self.reset_at_round}")
        if self.reset_at_round and not self.boards:
            raise ValueError("reset_at_round needs a board")
        if not 0 < self.density <= 1:
            raise ValueError(f"density must be in (0, 1], got {self.density}")
        ids = [d for d, _ in self.cpython_nodes + self.micropython_nodes]
        if len(set(ids)) != len(ids):
            raise ValueError(f"device ids repeat: {ids}")

    @property
    def num_nodes(self) -> int:
        """Nodes in the fleet."""
        return len(self.boards) + len(self.cpython_nodes) + len(self.micropython_nodes)


@dataclass
class FleetResult:
    """What a fleet run measured."""

    summary: Any
    start_accuracy: float
    majority_accuracy: float
    accuracy_by_round: list[float]
    uploads: dict[int, int]
    verdicts: dict[int, dict[str, int]]
    gateway: list[dict[str, Any]]
    kinds: dict[int, str] = field(default_factory=dict)
    node_reports: dict[int, dict[str, Any]] = field(default_factory=dict)
    reset_device_uploads_after_reset: int | None = None
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        s = self.summary
        return {"rounds": s.rounds, "final_accuracy": s.final_accuracy, "start_accuracy": self.start_accuracy,
                "majority_accuracy": self.majority_accuracy, "accuracy_by_round": self.accuracy_by_round,
                "updates": s.updates, "late_applied": s.late_applied, "duplicates": s.duplicates,
                "rejected": s.rejected, "bytes_up": s.bytes_up, "bytes_down": s.bytes_down,
                "compression_ratio": s.compression_ratio,
                "nodes": {str(d): {"kind": self.kinds.get(d, "?"), "uploads": self.uploads.get(d, 0),
                                   "verdicts": self.verdicts.get(d, {}), "report": self.node_reports.get(d, {})}
                          for d in sorted(self.kinds)},
                "gateway": self.gateway, "reset_device_uploads_after_reset": self.reset_device_uploads_after_reset,
                "wall_s": self.wall_s}


class UploadCounter:
    """Counts, per device, the update frames on the broker and the host's verdicts on them."""

    def __init__(self, broker: BrokerConfig) -> None:
        self.topics = Topics(broker.job)
        self.uploads: Counter[int] = Counter()
        self.upload_times: dict[int, list[float]] = {}
        self.verdicts: dict[int, Counter[str]] = {}
        self._lock = threading.Lock()
        root = self.topics.root
        self.transport = Transport(broker, client_id=f"sparrow-{broker.job}-observer", status_name="observer",
                                   subscriptions=[(f"{root}/update/+", 1), (f"{root}/ack/+", 0)],
                                   on_frame=self._on_frame, on_text=lambda t, p: None, on_error=lambda t, e: None)
        self.transport.start()

    def _on_frame(self, topic: str, data: bytes) -> None:
        device = int(Topics.last(topic))
        frame = sgc.decode(data)
        with self._lock:
            if self.topics.kind(topic) == "update":
                self.uploads[device] += 1
                self.upload_times.setdefault(device, []).append(time.monotonic())
            elif frame.msg_type == sgc.MSG_ACK:
                outcome = control.Ack.unpack(bytes(frame.payload)).outcome
                self.verdicts.setdefault(device, Counter())[outcome] += 1

    def close(self) -> None:
        """Disconnect."""
        self.transport.stop()


def watch_share(share: int) -> tuple[np.ndarray, np.ndarray]:
    """Training windows and labels of watch share ``share`` (one subject)."""
    data = load("watch")
    mine = partition(data, WATCH_SHARES, "group")[share]
    return data.x_train[mine], data.y_train[mine]


def prepare_micropython_node(folder: Path, broker: BrokerConfig, device: int, share: int,
                             **settings: Any) -> Path:
    """Write what a MicroPython node is shipped (shard file, settings JSON); returns the settings path.

    ``settings`` are further keys of agent/mp/mpnode.py's ``Node`` config
    (``density``, ``seed``, ``max_batch`` ...).
    """
    x, y = watch_share(share)
    spec = get_spec("cnn1d_watch")
    shard = folder / f"shard-{device}.bin"
    _shard_file().write(str(shard), np.ascontiguousarray(x, dtype="<f4").tobytes(), [int(c) for c in y],
                        x.shape[1], x.shape[2], spec.num_classes)
    config = {"host": broker.host, "port": broker.port, "job": broker.job, "device_id": device,
              "shard": str(shard), "spec": spec.to_dict(), "keepalive": broker.keepalive_s * 5, **settings}
    if broker.username is not None:
        config.update(username=broker.username, password=broker.password)
    path = folder / f"mp-node-{device}.json"
    path.write_text(json.dumps(config))
    return path


def start_micropython_node(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start ``micropython agent/mp/main.py CONFIG`` with its output in ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen([MICROPYTHON, "-X", f"heapsize={MP_HEAP}", str(MP_DIR / "main.py"), str(config)],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _last_json_line(path: Path) -> dict[str, Any]:
    """The JSON report a node prints when it leaves (the last line of its log), or {}."""
    for line in reversed(path.read_text(errors="replace").splitlines()):
        if line.startswith("{"):
            try:
                return dict(json.loads(line))
            except ValueError:
                return {}
    return {}


def _start_gateway(broker: BrokerConfig, urls: list[str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "sparrow.common.cli", "gateway", "-v", "--broker-host", broker.host,
               "--broker-port", str(broker.port), "--broker-job", broker.job,
               "--broker-keepalive-s", str(broker.keepalive_s)]
    for url in urls:
        command += ["--board", url]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)


def _reset_when(host: Any, board: Any, rnd: int, done: threading.Event, pressed: list[float]) -> None:
    while not done.wait(0.05):
        if host.book.round >= rnd:
            board.reset()
            pressed.append(time.monotonic())
            return


def run_fleet(config: FleetConfig, broker: BrokerConfig, workdir: Path) -> FleetResult:
    """Start the fleet on ``broker``, train, stop everything; logs go to ``workdir``.

    The firmware of ``config.boards`` must be built (``make -C firmware``).

    Raises
    ------
    RuntimeError
        When a node process fails (its log is in ``workdir``).
    """
    import torch

    from sparrow.host.config import HostConfig
    from sparrow.host.lab.processes import start_agents, stop_processes
    from sparrow.host.server import Host
    from sparrow.host.torch_model import build_torch_model, evaluate

    qemu = _firmware_tools()
    spec = get_spec("cnn1d_watch")
    data = load("watch")
    start_acc = evaluate(build_torch_model(spec, seed=0), torch.from_numpy(data.x_test),
                         torch.from_numpy(data.y_test), torch.device("cpu"))[1]
    majority = float(np.bincount(data.y_test).max() / data.y_test.size)
    began = time.monotonic()
    boards = [qemu.BoardProcess(name) for name in config.boards]
    processes: list[subprocess.Popen[bytes]] = []
    gateway: subprocess.Popen[bytes] | None = None
    kinds: dict[int, str] = {}
    counter = UploadCounter(broker)
    done = threading.Event()
    gateway_log = open(workdir / "gateway.log", "wb")
    try:
        for board in boards:
            board.wait_ready()
        gateway = _start_gateway(broker, [b.url for b in boards], gateway_log) if boards else None
        for device, share in config.cpython_nodes:
            extra = ["--num-nodes", str(WATCH_SHARES), "--node-index", str(share), "--partition", "group",
                     "--device-id", str(device), "--compressor", "laplace", "--density", str(config.density)]
            processes += start_agents(broker, 1, "watch", "cnn1d_watch", extra, str(workdir))
            os.replace(workdir / "agent-1.log", workdir / f"cpython-{device}.log")
            kinds[device] = "cpython"
        for device, share in config.micropython_nodes:
            settings = prepare_micropython_node(workdir, broker, device, share, density=config.density)
            processes.append(start_micropython_node(settings, workdir / f"micropython-{device}.log"))
            kinds[device] = "micropython"
        host_config = HostConfig(dataset="watch", model="cnn1d_watch", rounds=config.rounds, lr=config.lr,
                                 momentum=config.momentum, batch_size=config.batch_size,
                                 min_nodes=config.num_nodes, start_timeout_s=60, deadline_s=config.deadline_s,
                                 eval_every=1, run_dir=str(workdir / "run"), progress=False)
        host = Host(host_config, broker)
        pressed: list[float] = []
        if config.reset_at_round:
            threading.Thread(target=_reset_when, args=(host, boards[0], config.reset_at_round, done, pressed),
                             daemon=True).start()
        summary = host.run()
        gateway_rows: list[dict[str, Any]] = []
        if gateway is not None:
            out, _ = gateway.communicate(timeout=30)
            gateway_rows = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
            kinds.update({row["device_id"]: f"board {row['board']}" for row in gateway_rows})
        stop_processes(processes, grace_s=30)
        failed = [p.args for p in processes if p.returncode != 0]
        if failed:
            raise RuntimeError(f"node processes failed: {failed}; logs in {workdir}")
    finally:
        done.set()
        leftover = processes + ([gateway] if gateway is not None else [])
        stop_processes([p for p in leftover if p.poll() is None], grace_s=0.1)
        gateway_log.close()
        counter.close()
        for board in boards:
            board.close()
    records = [json.loads(line) for line in (workdir / "run" / "metrics.jsonl").read_text().splitlines()]
    reports = {d: _last_json_line(workdir / f"{kind}-{d}.log") for d, kind in kinds.items()
               if kind in ("cpython", "micropython")}
    after_reset = None
    if pressed:
        reset_device = next((d for d, kind in kinds.items() if kind == f"board {config.boards[0]}"), None)
        times = counter.upload_times.get(reset_device, []) if reset_device is not None else []
        after_reset = sum(1 for t in times if t > pressed[0])
    return FleetResult(summary=summary, start_accuracy=float(start_acc), majority_accuracy=majority,
                       accuracy_by_round=[r["accuracy"] for r in records], uploads=dict(counter.uploads),
                       verdicts={d: dict(c) for d, c in counter.verdicts.items()}, gateway=gateway_rows,
                       kinds=kinds, node_reports=reports, reset_device_uploads_after_reset=after_reset,
                       wall_s=time.monotonic() - began)
