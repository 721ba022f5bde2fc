"""The host trainer/aggregator: one template loop over rounds.

Per round: the policy opens it (``configure``), the host announces it with
the retained ROUND_OPEN pointer, judges every update that arrives
(host/rounds.py) until the policy says the round may close, aggregates
(``aggregate``), steps the PyTorch optimizer, checkpoints, publishes the new
model, evaluates and logs. Everything that reaches the host from MQTT goes
through one queue and is handled on the main thread, so the training state
is never touched concurrently.
"""
from __future__ import annotations

import logging
import math
import os
import queue
import threading
import time
from typing import Any

import numpy as np
import torch

import sgc

from sparrow.common import control
from sparrow.common.config import BrokerConfig
from sparrow.common.datasets import load
from sparrow.common.dynacomm import Segmentation
from sparrow.common.data_sources import check_against_spec, load_data
from sparrow.common.checksum import model_checksum
from sparrow.common.frame_auth import DeviceVerifier, sealer
from sparrow.common.spec_wire import encode_spec, spec_hash
from sparrow.common.transport import ONLINE, Topics, Transport
from sparrow.host.averaging import apply_mean_delta
from sparrow.host.checkpoint import check_resumable, load_checkpoint, save_checkpoint
from sparrow.host.config import HostConfig
from sparrow.host.downlink import full_model_frame, make_downlink
from sparrow.host.modes import COMMS, MODES, SELECTIONS
from sparrow.host.export import save_model
from sparrow.host.model_import import resolve_host_model
from sparrow.host.metrics import RoundRecord, RunLog, Summary, plot_run
from sparrow.host.policy import RoundPlan, make_policy
from sparrow.host.rounds import PARTIAL, UNAUTHENTICATED, UpdateBook
from sparrow.host.schedule import lr_at
from sparrow.common.segments import encode_model_segments, layer_groups
from sparrow.common.support import encode_summary
from sparrow.host.support import summarize
from sparrow.host.traffic import Traffic
from sparrow.host.train_stats import TrainStats
from sparrow.host.torch_model import build_torch_model, evaluate, get_flat, set_flat

__all__ = ["CHECKPOINT_NAME", "Host", "HostStopped"]

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
_POLL_S = 0.05


class HostStopped(Exception):
    """Raised out of :meth:`Host.run` when :meth:`Host.stop` was called."""


class Host:
    """Trains one model with the agents of one job.

    Parameters
    ----------
    config : HostConfig
        What to train and the round policy.
    broker : BrokerConfig
        Where the broker is; ``broker.job`` names the topic tree.
    resume : bool
        Continue from ``<run_dir>/checkpoint.pt``.
    """

    def __init__(self, config: HostConfig, broker: BrokerConfig, resume: bool = False) -> None:
        if config.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"host.device={config.device!r} but PyTorch sees no CUDA device")
        self.config = config
        self.broker = broker
        self.resume = resume
        self.topics = Topics(broker.job)
        self.device = torch.device(config.device)
        data = load(config.dataset) if config.dataset else None
        self.spec = resolve_host_model(config.model, data.num_classes if data is not None else None)
        self.spec_bytes = encode_spec(self.spec)
        self.spec_hash = spec_hash(self.spec_bytes)
        self.n = self.spec.num_params
        self.x_test, self.y_test = self._evaluation_data(data)
        self.best_accuracy = -1.0
        self.train_stats = TrainStats()
        self.model = build_torch_model(self.spec, seed=config.seed).to(self.device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=config.lr, momentum=config.momentum,
                                         weight_decay=config.weight_decay)
        self.policy = make_policy(config)
        self.downlink = make_downlink(get_flat(self.model), config)
        self.samples: dict[int, int] = {}
        self.pull_plans: dict[int, tuple[int, Segmentation]] = {}
        self.online: set[int] = set()
        # Authenticated frames (docs/security-frames.md): node frames checked against their device's key,
        # the host's own frames tagged with the job key by the transport.
        self.verifier = DeviceVerifier.from_folder(config.device_keys, config.require_tags)
        self.book = UpdateBook(self.n, config.late, config.max_staleness, self._weight_of,
                               msg_type=MODES[config.mode].update_type, auth=self.verifier.problem)
        self.traffic = Traffic()
        self.wall_before = 0.0
        self.last_eval: tuple[float, float] | None = None
        self.events: queue.Queue[tuple[str, str, Any]] = queue.Queue()
        self._stop = threading.Event()
        self.checkpoint_path = os.path.join(config.run_dir, CHECKPOINT_NAME)
        self.transport = Transport(
            broker, client_id=f"sparrow-{broker.job}-host", status_name="host",
            subscriptions=[(f"{self.topics.root}/update/+", 1), (f"{self.topics.root}/control/+", 1),
                           (f"{self.topics.root}/status/+", 1), (f"{self.topics.root}/metrics/+", 0)],
            on_frame=lambda t, f: self.events.put(("frame", t, f)),
            on_text=lambda t, p: self.events.put(("text", t, p)),
            on_error=lambda t, e: self.events.put(("error", t, e)),
            seal=sealer(self.verifier.job_key),
        )

    def _evaluation_data(self, data: Any) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The validation file, else the data set's test split, else nothing (no evaluation)."""
        if self.config.val_data:
            x, y = load_data(self.config.val_data, label_column=self.config.label_column)
            x = check_against_spec(x, y, self.spec.input_shape, self.spec.num_classes, self.config.val_data)
        elif data is not None:
            x = check_against_spec(data.x_test, data.y_test, self.spec.input_shape, self.spec.num_classes,
                                   f"{self.config.dataset} test split")
            y = data.y_test
        else:
            log.warning("no evaluation data (host.val_data or host.dataset): accuracy will be unknown")
            return None, None
        return (torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device),
                torch.from_numpy(np.asarray(y, dtype=np.int64)).to(self.device))

    def _evaluate(self) -> tuple[float, float] | None:
        if self.x_test is None or self.y_test is None:
            return None
        return evaluate(self.model, self.x_test, self.y_test, self.device)

    def stop(self) -> None:
        """Ask a running :meth:`run` (in another thread) to stop at its next poll."""
        self._stop.set()

    # -- the template loop ---------------------------------------------------

    def run(self) -> Summary:
        """Train for ``config.rounds`` rounds; returns the summary (also written to disk)."""
        log.info("host config: %s", self.config.to_dict())
        log.info("broker: %s:%d job=%s, model %s with %d parameters",
                 self.broker.host, self.broker.port, self.broker.job, self.spec.name, self.n)
        if self.resume:
            self._restore()
        self.runlog = RunLog(self.config.run_dir, resume=self.resume, keep_rounds=self.book.round - 1)
        start = time.monotonic()
        self.transport.start(wait_s=self.broker.connect_timeout_s or None)
        if not self.resume:
            # A pointer left by an earlier job of this name (e.g. its DONE) must not reach new nodes.
            self.transport.clear_retained(self.topics.round)
            self.transport.clear_retained(self.topics.support)
        # The description nodes learn the model from (also after a resume: a node may have come and gone).
        self.transport.publish(self.topics.spec, self.spec_bytes, qos=1, retain=True)
        self.traffic.broadcast(len(self.spec_bytes))
        bar = self._progress_bar()
        try:
            self._wait_for_nodes()
            self._publish_model(self.downlink.initial_frame(self.book.round))
            while self.book.round <= self.config.rounds:
                record = self._run_round(start)
                bar.update(1)
                bar.set_postfix(self._postfix(record), refresh=False)
            self._announce(self.book.round, flags=control.ROUND_DONE)
            self.transport.wait_published(5.0)
        finally:
            bar.close()
            self.transport.stop()
        return self._finish(start)

    def _run_round(self, start: float) -> RoundRecord:
        rnd = self.book.round
        opened = time.monotonic()
        plan = self.policy.configure(rnd, len(self.online), opened)
        self._announce(rnd)
        reason = self._wait_for_close(plan)
        on_time, late = self.book.close()
        train_loss, train_accuracy = self.train_stats.close(rnd)
        grad, _ = self.policy.aggregate(on_time, late, self.n)
        lr = lr_at(self.config.lr_schedule, self.config.lr, rnd, self.config.rounds)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if MODES[self.config.mode].averages:
            self._average(grad)
        else:
            self._step(grad)
        if SELECTIONS[self.config.selection]:
            self._publish_support(on_time + late, grad, rnd)
        params = get_flat(self.model)
        frame = self.downlink.frame(params, rnd + 1)
        evaluated = rnd % self.config.eval_every == 0 or rnd == self.config.rounds
        if evaluated:
            self.last_eval = self._evaluate()
            if self.last_eval is not None and self.last_eval[1] > self.best_accuracy:
                self.best_accuracy = self.last_eval[1]
                save_model(self.config.run_dir, self.spec, get_flat(self.model), "best")
        # Every node online now received this round's broadcasts (pointer, model, summary).
        self.traffic.close_round(max(1, len(self.online)), self.n)
        counts = self.book.counts
        record = RoundRecord(
            round=rnd, closed_by=reason, updates=len(on_time), late_applied=counts["late_applied"],
            late_dropped=counts["late_dropped"], duplicates=counts["duplicate"], rejected=counts["rejected"],
            online=len(self.online),
            accuracy=self.last_eval[1] if evaluated and self.last_eval else None,
            loss=self.last_eval[0] if evaluated and self.last_eval else None,
            bytes_up=self.book.bytes_up, dense_bytes_up=self.book.dense_bytes_up,
            bytes_down=self.traffic.bytes_down, dense_bytes_down=self.traffic.dense_bytes_down,
            round_s=time.monotonic() - opened,
            wall_s=self.wall_before + time.monotonic() - start,
            train_loss=train_loss, train_accuracy=train_accuracy)
        self.runlog.append(record)
        self._checkpoint(start, pending_frame=frame)
        self._publish_model(frame)
        if COMMS[self.config.comm]:
            self._publish_segments(rnd + 1)
        return record

    def _wait_for_close(self, plan: RoundPlan) -> str:
        while True:
            self._drain(_POLL_S)
            now = time.monotonic()
            reason = self.policy.close_reason(plan, self.book.received, len(self.online), now)
            if reason is not None:
                return reason
            if now >= plan.deadline:
                log.warning("round %d: no update by its deadline; announcing it again", plan.round)
                plan = self.policy.extend(plan, now)
                self._announce(plan.round)

    def _step(self, grad: np.ndarray) -> None:
        source = torch.from_numpy(grad).to(self.device)
        start = 0
        for p in self.model.parameters():
            stop = start + p.numel()
            p.grad = source[start:stop].view_as(p).clone()
            start = stop
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def _average(self, mean_delta: np.ndarray) -> None:
        set_flat(self.model, apply_mean_delta(get_flat(self.model), mean_delta, self.config.server_lr))

    def _publish_support(self, updates: list[Any], aggregate: np.ndarray, rnd: int) -> None:
        if not updates:
            return
        size = self.config.support_size or max(int(u.indices.size) for u in updates)
        frame = encode_summary(summarize(updates, aggregate, max(1, size), rnd))
        self.traffic.broadcast(self.transport.publish_frame(self.topics.support, frame, qos=1, retain=True))

    # -- start-up -------------------------------------------------------------

    def _wait_for_nodes(self) -> None:
        deadline = time.monotonic() + self.config.start_timeout_s
        while len(self.online) < self.config.min_nodes and time.monotonic() < deadline:
            self._drain(_POLL_S)
        if len(self.online) < self.config.min_nodes:
            log.warning("starting with %d of %d nodes online", len(self.online), self.config.min_nodes)
        # Take in what arrived so far (HELLOs, resyncs) before the first round.
        self._drain(0.0)

    # -- events ----------------------------------------------------------------

    def _drain(self, timeout: float) -> None:
        if self._stop.is_set():
            raise HostStopped("host stopped")
        try:
            event = self.events.get(timeout=timeout) if timeout > 0 else self.events.get_nowait()
        except queue.Empty:
            return
        while True:
            self._handle(*event)
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return

    def _handle(self, kind: str, topic: str, data: Any) -> None:
        device = _device_of(topic)
        what = self.topics.kind(topic)
        if kind == "text":
            if device is None:
                return
            if what == "metrics":
                self.train_stats.offer(device, data, self.book.round, self._is_known)
            elif what == "status":
                (self.online.add if data == ONLINE else self.online.discard)(device)
            return
        if device is None:
            return
        if kind == "error":
            if what == "update":
                self.book.reject_unreadable(str(data))
            log.warning("bad chunk on %s: %s", topic, data)
            return
        if what == "update":
            outcome = self.book.offer(device, data)
            if outcome == UNAUTHENTICATED:
                self.verifier.refuse("update", device, self.book.last_reject)
                return  # not answered: a forger learns nothing and the named device is not bothered
            if outcome == "rejected":
                log.warning("rejected update from device %d: %s", device, self.book.last_reject)
            if outcome == PARTIAL:
                return  # a segment: the update is acknowledged once, when it is whole
            ack = sgc.encode_control(sgc.MSG_ACK, control.Ack(self.book.round, outcome).pack(), compact="auto")
            self.traffic.direct(self.transport.publish_frame(self.topics.ack(device), ack, qos=0))
        elif what == "control":
            self._handle_control(device, data)

    def _handle_control(self, device: int, data: bytes) -> None:
        problem = self.verifier.problem(device, data)
        if problem is not None:
            self.verifier.refuse("control", device, problem)
            return
        try:
            frame = sgc.decode(data)
            if frame.msg_type == sgc.MSG_HELLO:
                hello = control.Hello.unpack(bytes(frame.payload))
                self.samples[device] = max(1, hello.num_samples)
                if hello.plan is not None:
                    plan = Segmentation(hello.plan.starts, len(layer_groups(self.spec)))
                    self.pull_plans[device] = (hello.plan.plan_id, plan)
            elif frame.msg_type == sgc.MSG_RESYNC:
                full = full_model_frame(self.downlink.shadow, self.book.round)
                self.traffic.direct(self.transport.publish_frame(self.topics.sync(device), full))
            else:
                log.warning("device %d sent control message type %d, ignored", device, frame.msg_type)
        except (sgc.Error, ValueError) as exc:
            log.warning("bad control frame from device %d: %s", device, exc)

    def _weight_of(self, device: int) -> float:
        if device in self.samples:
            return float(self.samples[device])
        if self.samples:
            return float(np.mean(list(self.samples.values())))
        return 1.0

    # -- publishing ----------------------------------------------------------

    def _announce(self, rnd: int, flags: int = 0) -> None:
        pointer = control.RoundOpen(model_version=rnd, deadline_ms=int(self.config.deadline_s * 1000),
                                    spec_hash=self.spec_hash, model_crc=model_checksum(self.downlink.shadow),
                                    batch_size=self.config.batch_size, flags=flags)
        frame = sgc.encode_control(sgc.MSG_ROUND_OPEN, pointer.pack(), round=rnd, compact="auto")
        self.traffic.broadcast(self.transport.publish_frame(self.topics.round, frame, qos=1, retain=True))

    def _publish_model(self, frame: bytes) -> None:
        self.traffic.broadcast(self.transport.publish_frame(self.topics.model, frame))

    def _publish_segments(self, version: int) -> None:
        """DynaComm pull: the shadow in each planning node's own segments, first layers first."""
        for device, (plan_id, plan) in sorted(self.pull_plans.items()):
            if device not in self.online:
                continue
            if plan.count == 1:
                frames = [full_model_frame(self.downlink.shadow, version)]
            else:
                frames = encode_model_segments(self.spec, self.downlink.shadow, plan, round=version, seq=plan_id)
            for frame in frames:
                self.traffic.direct(self.transport.publish_frame(self.topics.sync(device), frame))

    # -- checkpoints -----------------------------------------------------------

    def _checkpoint(self, start: float, pending_frame: bytes) -> None:
        save_checkpoint(self.checkpoint_path, {
            "config": self.config.to_dict(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "downlink": self.downlink.state_dict(),
            "book": self.book.state_dict(),
            "samples": dict(self.samples),
            "traffic": self.traffic.state_dict(),
            "wall_s": self.wall_before + time.monotonic() - start,
            "last_eval": self.last_eval,
        })

    def _restore(self) -> None:
        state = load_checkpoint(self.checkpoint_path)
        check_resumable(state["config"], self.config.to_dict())
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.downlink.load_state_dict(state["downlink"])
        self.book.load_state_dict(state["book"])
        self.samples = {int(k): int(v) for k, v in state["samples"].items()}
        self.traffic.load_state_dict(state["traffic"])
        self.wall_before = float(state["wall_s"])
        self.last_eval = state["last_eval"]
        log.info("resumed from %s at round %d", self.checkpoint_path, self.book.round)

    # -- output ------------------------------------------------------------------

    def _progress_bar(self) -> Any:
        from tqdm import tqdm
        return tqdm(total=self.config.rounds, initial=self.book.round - 1, unit="round",
                    disable=not self.config.progress, dynamic_ncols=True)

    @staticmethod
    def _postfix(record: RoundRecord) -> dict[str, str]:
        acc = "-" if record.accuracy is None else f"{100 * record.accuracy:.1f}%"
        train = "-" if record.train_accuracy is None else f"{100 * record.train_accuracy:.1f}%"
        ratio = _ratio(record.dense_bytes_up + record.dense_bytes_down, record.bytes_up + record.bytes_down)
        return {"acc": acc, "train": train, "up": _human(record.bytes_up), "down": _human(record.bytes_down),
                "both": f"{ratio:.0f}x",
                "nodes": str(record.online)}

    def _finish(self, start: float) -> Summary:
        if self.last_eval is None:
            self.last_eval = self._evaluate()
        final = self.last_eval if self.last_eval is not None else (math.nan, math.nan)
        params = get_flat(self.model)
        save_model(self.config.run_dir, self.spec, params, "last")
        if self.best_accuracy < 0:  # nothing evaluated: the best known model is the last
            save_model(self.config.run_dir, self.spec, params, "best")
        records = self.runlog.records
        accs = [r["accuracy"] for r in records if r["accuracy"] is not None]
        counts = self.book.counts
        summary = Summary(
            final_accuracy=float(final[1]), final_loss=float(final[0]),
            best_accuracy=float(max(accs)) if accs else float(final[1]),
            rounds=self.book.round - 1, bytes_up=self.book.bytes_up, bytes_down=self.traffic.bytes_down,
            dense_bytes_up=self.book.dense_bytes_up,
            compression_ratio=_ratio(self.book.dense_bytes_up, self.book.bytes_up),
            wall_s=self.wall_before + time.monotonic() - start, num_params=self.n,
            updates=counts["accepted"], late_applied=counts["late_applied"], late_dropped=counts["late_dropped"],
            duplicates=counts["duplicate"], rejected=counts["rejected"], reject_reasons=dict(self.book.reasons),
            per_device={str(d): dict(c) for d, c in sorted(self.book.per_device.items())},
            config=self.config.to_dict(),
            final_train_loss=next((r["train_loss"] for r in reversed(records) if r.get("train_loss") is not None),
                                  None),
            final_train_accuracy=next((r["train_accuracy"] for r in reversed(records)
                                       if r.get("train_accuracy") is not None), None),
            train_stats_rejected=self.train_stats.rejected,
            control_rejected=self.verifier.rejected["control"],
            **self._traffic_summary())
        self.runlog.write_summary(summary)
        plot_run(records, self.config.run_dir,
                 title=f"{self.spec.name} on {self.config.val_data or self.config.dataset or 'own data'}")
        return summary

    def _is_known(self, device: int) -> bool:
        """:meth:`_known_devices` for one device, without building the set (once per report)."""
        return device in self.samples or bool(self.book.per_device.get(device, {}).get("accepted"))

    def _known_devices(self) -> set[int]:
        """Nodes that said HELLO or had an update accepted (a HELLO sent before the host subscribed is lost)."""
        accepted = {device for device, counts in self.book.per_device.items() if counts.get("accepted")}
        return set(self.samples) | accepted

    def _traffic_summary(self) -> dict[str, Any]:
        """Both directions, per node and in total, against dense fp32 both ways."""
        nodes = max(1, len(self._known_devices()))
        up, down = self.book.bytes_up, self.traffic.bytes_down
        dense_up, dense_down = self.book.dense_bytes_up, self.traffic.dense_bytes_down
        return {"nodes": nodes, "dense_bytes_down": dense_down, "down_ratio": _ratio(dense_down, down),
                "total_ratio": _ratio(dense_up + dense_down, up + down),
                "bytes_up_per_node": up / nodes, "bytes_down_per_node": down / nodes,
                "total_bytes_per_node": (up + down) / nodes, "published_down": self.traffic.published_down}

    def final_params(self) -> np.ndarray:
        """The host's current parameters as a flat float32 vector."""
        return get_flat(self.model)


def _ratio(dense: float, sent: float) -> float:
    return dense / sent if sent else math.nan


def _device_of(topic: str) -> int | None:
    last = Topics.last(topic)
    # isdigit() alone takes "²" and other Unicode digits that int() refuses.
    if not (last.isascii() and last.isdigit() and len(last) <= 10):
        return None
    device = int(last)
    return device if device <= 0xFFFFFFFF else None  # the frame header's device id is a u32


def _human(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000:
            return f"{count:.0f}{unit}" if unit == "B" else f"{count:.1f}{unit}"
        count /= 1000
    return f"{count:.1f}TB"
