"""DynaComm on a real shaped network: iteration time of three segmentations.

For each rate (250 kbit/s, 1 Mbit/s, 10 Mbit/s by default) the bench builds a
shaped link with ``bench/netshape.py`` (two network namespaces, a veth pair
capped by ``tc htb`` both ways, ``--delay`` added each way by a TCP relay),
runs a private mosquitto and a *server* (the host side: sends the model,
receives gradients, steps the model) in one namespace and a *node* in the
other, and times training iterations of a real model on real Fashion-MNIST
batches:

pull
    the node asks for the model; the server publishes it as ``DENSE_MODEL``
    segment frames; the node's forward runs each layer as soon as its segment
    is in (``agent/segmented.py``);
push
    the node's layer-wise backward hands each gradient segment to MQTT as soon
    as it is complete (``SPARSE_UPDATE`` frames, last layers first) while
    backward goes on; the server notes when the last one arrives.

Strategies: ``one`` (one message each way), ``layer`` (one message per layer)
and ``planned`` (``agent/common/dynacomm.py``: the plan from the node's measured
per-layer compute times and the link's per-message overhead and bandwidth,
fitted from timed calibration messages; a :class:`Replanner` folds in the
compute times every iteration measures and re-plans when they move). The
strategies take turns iteration by iteration. MQTT QoS 1 with ``--inflight``
messages in flight (default 1: stop-and-wait, as umqtt.simple, the
MicroPython client, publishes; 20 is paho's default pipelining).

Output: one JSON line per (rate, inflight, strategy) with median seconds over
the timed iterations (``iteration_s_min``/``_max`` their range,
``predicted_*`` the timeline model's makespans for that plan from the
calibration), plus one ``calibration`` line per link, on stdout; a PNG bar
plot (median, whiskers min to max). Needs root (network namespaces). Run::

    .venv/bin/python -m bench.dynacomm --quick      # about a minute
    .venv/bin/python -m bench.dynacomm              # more iterations, inflight 1 and 20

Times: ``pull_s`` from just before the server publishes the first model
segment to the end of forward;
``push_s`` from the end of forward (backward starts) to the server holding the
last gradient segment; ``iteration_s`` their sum (one clock: both namespaces
share CLOCK_MONOTONIC).
"""
from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent

import argparse
import json
import os
import queue
import statistics
import subprocess
import tempfile
import threading
import time
from typing import Any, Callable

import numpy as np
import paho.mqtt.client as mqtt

import sgc
from sparrow.common import datasets
from sparrow.common.dynacomm import (
    LayerCosts,
    LinkModel,
    Replanner,
    Segmentation,
    fit_link,
    plan_pull,
    plan_push,
    pull_makespan,
    push_makespan,
)
from sparrow.common.modelspec import get_spec, init_params
from sparrow.agent.segmented import (
    GradientSegment,
    LayerwiseBackward,
    ModelAssembler,
    encode_gradient_segment,
    encode_model_segments,
    forward_layers,
    group_segments,
    layer_groups,
)

from bench import netshape

BROKER_PORT = 1883
RELAY_PORT = 9000
FRAME_HEADER_BYTES = 44  # header + crc of a frame without tag (docs/PROTOCOL.md)
DATA_OF_MODEL = {"cnn_fmnist": "fashion_mnist", "mlp_fmnist": "fashion_mnist",
                 "mlp_digits": "digits", "cnn1d_watch": "watch"}
TOPIC = "sparrow-bench"


def _client(name: str, port: int, inflight: int, on_message: Callable[[str, bytes], None]) -> mqtt.Client:
    """A connected MQTT 5 client with its network thread running."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(inflight)
    client.max_queued_messages_set(0)
    connected = threading.Event()

    def on_connect(c: mqtt.Client, userdata: object, flags: object, reason: Any, props: object) -> None:
        if not reason.is_failure:
            c.subscribe([(f"{TOPIC}/{name}/#", 1)])
            connected.set()

    client.on_connect = on_connect
    client.on_message = lambda c, u, m: on_message(m.topic, bytes(m.payload))
    deadline = time.monotonic() + 10.0
    while True:
        try:
            client.connect("127.0.0.1", port, keepalive=60)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    client.loop_start()
    if not connected.wait(10.0):
        raise TimeoutError(f"{name}: no MQTT connection on port {port}")
    return client


# -- server (host side, in the broker's namespace) ------------------------------


def serve(args: argparse.Namespace) -> None:
    """Answer calibration and model requests, collect gradient segments, step the model."""
    spec = get_spec(args.model)
    params = init_params(spec, seed=0)
    state: dict[str, Any] = {"grad": np.zeros(spec.num_params, np.float32), "got": 0,
                             "expect": 0, "it": -1, "pull_start": 0.0, "cal": []}
    lock = threading.Lock()
    client: mqtt.Client

    def on_message(topic: str, payload: bytes) -> None:
        kind = topic.rsplit("/", 1)[-1]
        now = time.monotonic()
        if kind == "grad":
            with lock:
                header = sgc.decode_into(payload, state["grad"])
                if header.round != state["it"] or header.segment_count != state["expect"]:
                    raise RuntimeError(f"gradient segment of round {header.round}, expected {state['it']}")
                state["got"] += 1
                if state["got"] == state["expect"]:
                    params[:] -= np.float32(args.lr) * state["grad"]
                    reply = {"it": state["it"], "pull_start": state["pull_start"], "push_end": now}
                    client.publish(f"{TOPIC}/node/done", json.dumps(reply), qos=1)
        elif kind == "cal_up":
            index, count = int.from_bytes(payload[:4], "little"), int.from_bytes(payload[4:8], "little")
            state["cal"].append(now)
            if index == count - 1:
                client.publish(f"{TOPIC}/node/cal_result", json.dumps(state["cal"]), qos=1)
                state["cal"] = []
        elif kind == "req":
            request = json.loads(payload)
            if request["kind"] == "cal_down":
                count = request["count"]
                for i in range(count):
                    body = i.to_bytes(4, "little") + count.to_bytes(4, "little")
                    client.publish(f"{TOPIC}/node/cal_down", body.ljust(request["size"], b"\0"), qos=1)
                return
            plan = Segmentation(tuple(request["pull"]), len(layer_groups(spec)))
            with lock:
                state.update(it=request["it"], expect=request["push_count"], got=0)
                state["grad"][:] = 0
                state["pull_start"] = time.monotonic()
                frames = encode_model_segments(spec, params, plan, round=request["it"])
            for frame in frames:
                client.publish(f"{TOPIC}/node/model", frame, qos=1)

    client = _client("server", args.port, 20, on_message)
    print("ready", flush=True)
    try:
        while True:
            time.sleep(1.0)
    finally:
        client.loop_stop()


# -- node (agent side, behind the shaped link) ----------------------------------


class Node:
    """The node's MQTT side: inboxes for each kind of message."""

    def __init__(self, port: int, inflight: int) -> None:
        self.inbox: dict[str, queue.Queue[tuple[float, bytes]]] = {
            k: queue.Queue() for k in ("done", "cal_result", "cal_down")}
        self.assembler: ModelAssembler | None = None
        self.client = _client("node", port, inflight, self._on_message)

    def _on_message(self, topic: str, payload: bytes) -> None:
        kind = topic.rsplit("/", 1)[-1]
        if kind == "model":
            assert self.assembler is not None
            self.assembler.feed(payload)
        else:
            self.inbox[kind].put((time.monotonic(), payload))

    def publish(self, kind: str, payload: bytes | str) -> None:
        self.client.publish(f"{TOPIC}/server/{kind}", payload, qos=1)

    def get(self, kind: str, timeout_s: float = 60.0) -> tuple[float, bytes]:
        return self.inbox[kind].get(timeout=timeout_s)


def _intervals(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:])]


def calibrate(node: Node, count: int, delay_s: float, big: int,
              stop_and_wait: bool) -> tuple[LinkModel, LinkModel, dict[str, list[float]]]:
    """Fit both directions from messages of two sizes sent back to back.

    The spacing of arrivals of back-to-back messages is how long each held
    the link: ``overhead + size / bandwidth``; the median spacing of each
    size (robust to a scheduling hiccup) goes into :func:`fit_link`. The
    sizes span what the plans send: a small message and one of ``big`` bytes
    (the whole model). Returns the two links and the medians.
    """
    sizes = [256, big]
    medians: dict[str, list[float]] = {"up": [], "down": []}
    for size in sizes:
        for i in range(count):
            body = i.to_bytes(4, "little") + count.to_bytes(4, "little")
            node.publish("cal_up", body.ljust(size, b"\0"))
        medians["up"].append(statistics.median(_intervals(json.loads(node.get("cal_result")[1]))))
        node.publish("req", json.dumps({"kind": "cal_down", "size": size, "count": count}))
        medians["down"].append(statistics.median(_intervals([node.get("cal_down")[0] for _ in range(count)])))
    # Stop-and-wait: the fitted overhead ends with the acknowledgement's way
    # back, so a message is delivered one delay before the link frees.
    latency = -delay_s if stop_and_wait else delay_s
    up, down = (fit_link(sizes, medians[d], latency) for d in ("up", "down"))
    # Every frame adds its header to a message.
    up, down = (LinkModel(link.overhead_s + FRAME_HEADER_BYTES / link.bandwidth_Bps,
                          link.bandwidth_Bps, link.latency_s) for link in (up, down))
    return up, down, medians


def _batch(model: str, batch: int) -> tuple[np.ndarray, np.ndarray]:
    data = datasets.load(DATA_OF_MODEL[model])
    pick = np.random.default_rng(0).choice(data.x_train.shape[0], batch, replace=False)
    return data.x_train[pick], data.y_train[pick]


def measure_compute(spec: Any, x: np.ndarray, y: np.ndarray, repeats: int = 5) -> tuple[list[float], list[float]]:
    """Median forward and backward seconds of each planning layer, measured locally."""
    params = init_params(spec, seed=1)
    groups = layer_groups(spec)
    fwd_runs, bwd_runs = [], []
    for _ in range(repeats):
        fwd = forward_layers(spec, x, lambda j: params[groups[j].start:groups[j].end])
        grads = sorted(LayerwiseBackward(spec, fwd, y), key=lambda g: g.layer)
        fwd_runs.append(fwd.forward_s)
        bwd_runs.append([g.seconds for g in grads])
    return list(np.median(fwd_runs, axis=0)), list(np.median(bwd_runs, axis=0))


def message_bytes(spec: Any, density: float) -> tuple[list[float], list[float]]:
    """Bytes each layer adds to a gradient frame and to a model frame (payload only)."""
    params = init_params(spec, seed=1)
    n = len(layer_groups(spec))
    model = encode_model_segments(spec, params, Segmentation.per_layer(n))
    grad_sizes = []
    for j, g in enumerate(layer_groups(spec)):
        seg = GradientSegment(j, n, g.start, g.end, params[g.start:g.end], 0.0)
        grad_sizes.append(len(encode_gradient_segment(seg, spec.num_params, density=density)) - FRAME_HEADER_BYTES)
    return grad_sizes, [len(f) - FRAME_HEADER_BYTES for f in model]


def run_iteration(node: Node, spec: Any, x: np.ndarray, y: np.ndarray, it: int,
                  push: Segmentation, pull: Segmentation, density: float) -> dict[str, Any]:
    """One pull + forward + backward + push; returns measured times and compute."""
    node.assembler = ModelAssembler(spec, pull, round=it)
    node.publish("req", json.dumps({"kind": "iter", "it": it, "pull": list(pull.starts),
                                    "push_count": push.count}))
    assembler = node.assembler
    fwd = forward_layers(spec, x, lambda j: assembler.layer(j, timeout_s=60.0))
    forward_end = time.monotonic()
    backward = LayerwiseBackward(spec, fwd, y)
    bwd_s = [0.0] * pull.num_layers
    sent = 0

    def stream() -> Any:
        for piece in backward:
            bwd_s[piece.layer] = piece.seconds
            yield piece

    for segment in group_segments(stream(), push):
        frame = encode_gradient_segment(segment, spec.num_params, density=density,
                                        device_id=1, round=it, seq=segment.segment_id)
        node.publish("grad", frame)
        sent += len(frame)
    _, payload = node.get("done")
    done = json.loads(payload)
    if done["it"] != it:
        raise RuntimeError(f"server finished iteration {done['it']}, expected {it}")
    return {"pull_s": forward_end - done["pull_start"], "push_s": done["push_end"] - forward_end,
            "iteration_s": done["push_end"] - done["pull_start"], "forward_s": fwd.forward_s,
            "backward_s": bwd_s, "push_bytes": sent}


def node_main(args: argparse.Namespace) -> None:
    """Calibrate, then time each strategy; print JSON lines."""
    spec = get_spec(args.model)
    x, y = _batch(args.model, args.batch)
    node = Node(args.port, args.inflight)
    n = len(layer_groups(spec))
    grad_bytes, model_bytes = message_bytes(spec, args.density)
    up, down, medians = calibrate(node, args.cal_count, args.delay, int(sum(model_bytes)), args.inflight == 1)
    forward_s, backward_s = measure_compute(spec, x, y)
    push_costs = LayerCosts(tuple(backward_s), tuple(forward_s), tuple(grad_bytes))
    pull_costs = LayerCosts(tuple(backward_s), tuple(forward_s), tuple(model_bytes))
    print(json.dumps({"kind": "calibration", "up_overhead_s": up.overhead_s, "up_bandwidth_Bps": up.bandwidth_Bps,
                      "down_overhead_s": down.overhead_s, "down_bandwidth_Bps": down.bandwidth_Bps,
                      "forward_s": forward_s, "backward_s": backward_s, "grad_bytes": grad_bytes,
                      "model_bytes": model_bytes, "cal_sizes": [256, int(sum(model_bytes))],
                      "cal_up_gap_s": medians["up"], "cal_down_gap_s": medians["down"]}), flush=True)
    replanner = Replanner(alpha=0.3, threshold=0.25)
    # The replanner sees one LayerCosts; push and pull sizes differ, so it
    # tracks compute and link, and each direction is planned with its sizes.
    replanner.observe(push_costs, up, down)
    fixed = {"one": Segmentation.one_message(n), "layer": Segmentation.per_layer(n)}
    strategies = ("one", "layer", "planned")
    rows: dict[str, list[dict[str, Any]]] = {k: [] for k in strategies}
    plans: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
    changes = 0
    it = 0
    # Strategies take turns, iteration by iteration, so a change in the
    # machine's load during the run falls on all of them alike.
    for rep in range(args.warmup + args.iters):
        for strategy in strategies:
            costs, est_up, est_down = replanner.estimates
            if strategy == "planned":
                push = plan_push(LayerCosts(costs.backward_s, costs.forward_s, tuple(grad_bytes)), est_up)[0]
                pull = plan_pull(LayerCosts(costs.backward_s, costs.forward_s, tuple(model_bytes)), est_down)[0]
                if plans and plans[-1] != (push.starts, pull.starts):
                    changes += 1
                plans.append((push.starts, pull.starts))
            else:
                push = pull = fixed[strategy]
            row = run_iteration(node, spec, x, y, it, push, pull, args.density)
            it += 1
            # Every iteration's compute times feed the estimates; the link
            # estimates stay those of the calibration.
            replanner.observe(LayerCosts(tuple(row["backward_s"]), tuple(row["forward_s"]), tuple(grad_bytes)),
                              est_up, est_down)
            if rep >= args.warmup:
                row.update(push_plan=list(push.starts), pull_plan=list(pull.starts),
                           predicted_pull_s=pull_makespan(pull_costs, down, pull),
                           predicted_push_s=push_makespan(push_costs, up, push))
                rows[strategy].append(row)
    for strategy in strategies:
        done = rows[strategy]
        summary: dict[str, Any] = {"kind": "result", "strategy": strategy, "iters": len(done),
                                   "push_segments": done[-1]["push_plan"], "pull_segments": done[-1]["pull_plan"]}
        for key in ("iteration_s", "pull_s", "push_s", "predicted_pull_s", "predicted_push_s", "push_bytes"):
            summary[key] = statistics.median(r[key] for r in done)
        summary["predicted_iteration_s"] = summary["predicted_pull_s"] + summary["predicted_push_s"]
        summary["iteration_s_min"] = min(r["iteration_s"] for r in done)
        summary["iteration_s_max"] = max(r["iteration_s"] for r in done)
        if strategy == "planned":
            summary["replans"] = replanner.replans
            summary["plan_changes"] = changes
        print(json.dumps(summary), flush=True)
    node.client.loop_stop()


# -- orchestration (root namespace) ---------------------------------------------


def _mosquitto_conf(directory: str, inflight: int) -> str:
    path = os.path.join(directory, "mosquitto.conf")
    with open(path, "w") as f:
        f.write(f"listener {BROKER_PORT} 0.0.0.0\nallow_anonymous true\npersistence false\n"
                f"log_dest file {os.path.join(directory, 'mosquitto.log')}\n"
                f"max_inflight_messages {inflight}\nmax_queued_messages 1000\nset_tcp_nodelay true\n")
    return path


def _worker(args: argparse.Namespace, role: str, port: int, inflight: int) -> list[str]:
    return [sys.executable, "-m", "bench.dynacomm", role, "--port", str(port),
            "--model", args.model, "--batch", str(args.batch), "--density", str(args.density),
            "--inflight", str(inflight), "--iters", str(args.iters), "--warmup", str(args.warmup),
            "--delay", repr(args.delay), "--cal-count", str(args.cal_count), "--lr", repr(args.lr)]


def run_link(args: argparse.Namespace, rate: int, inflight: int) -> list[dict[str, Any]]:
    """Everything for one rate: link, broker, relay, server, node; the node's JSON lines."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with tempfile.TemporaryDirectory(prefix="sparrow-dynacomm-") as tmp, \
            netshape.ShapedLink(rate, tag=f"{os.getpid() % 10**5}{inflight:02d}") as link:
        link.spawn("server", ["mosquitto", "-c", _mosquitto_conf(tmp, inflight)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        relay_port = link.start_relay(BROKER_PORT, args.delay, RELAY_PORT)
        server = link.spawn("server", _worker(args, "serve", BROKER_PORT, inflight),
                            stdout=subprocess.PIPE, text=True, env=env)
        assert server.stdout is not None
        if server.stdout.readline().strip() != "ready":
            raise RuntimeError("the server worker did not start")
        node = link.spawn("agent", _worker(args, "node", relay_port, inflight),
                          stdout=subprocess.PIPE, text=True, env=env)
        assert node.stdout is not None
        rows = []
        for line in node.stdout:
            row = {"bench": "dynacomm", "rate_bps": rate, "delay_s": args.delay, "inflight": inflight,
                   "model": args.model, "batch": args.batch, **json.loads(line)}
            print(json.dumps(row), flush=True)
            rows.append(row)
        if node.wait() != 0:
            raise RuntimeError(f"the node worker failed at {rate} bit/s (exit {node.returncode})")
        return rows


def plot(rows: list[dict[str, Any]], path: str) -> None:
    """Grouped bars: median iteration time per rate and strategy."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    strategies = ["one", "layer", "planned"]
    results = [r for r in rows if r["kind"] == "result"]
    links = sorted(link for link in {(r["inflight"], r["rate_bps"]) for r in results}
                   if {r["strategy"] for r in results if (r["inflight"], r["rate_bps"]) == link} == set(strategies))
    if not links:
        return
    fig, ax = plt.subplots(figsize=(2.2 + 1.6 * len(links), 3.6))
    width = 0.27
    for k, strategy in enumerate(strategies):
        picked = [next(r for r in results if (r["inflight"], r["rate_bps"]) == link
                       and r["strategy"] == strategy) for link in links]
        heights = np.array([r["iteration_s"] for r in picked])
        spread = np.array([[h - r["iteration_s_min"], r["iteration_s_max"] - h] for h, r in zip(heights, picked)]).T
        ax.bar(np.arange(len(links)) + (k - 1) * width, heights, width, yerr=spread, capsize=2, label=strategy)
    ax.set_xticks(np.arange(len(links)))
    ax.set_xticklabels([f"{rate / 1e6:g} Mbit/s\ninflight {inflight}" for inflight, rate in links])
    ax.set_yscale("log")
    ax.set_ylabel("iteration time (s, median)")
    ax.set_title(f"DynaComm segmentation, {results[0]['model']} batch {results[0]['batch']}, "
                 f"{results[0]['delay_s'] * 1e3:g} ms each way")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> None:
    """Command line: the bench (default), or one of its workers."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("role", nargs="?", default="bench", choices=("bench", "serve", "node"))
    parser.add_argument("--quick", action="store_true", help="3 timed iterations, inflight 1 only")
    parser.add_argument("--rates", default="250000,1000000,10000000", help="bit/s, comma separated")
    parser.add_argument("--delay", type=float, default=0.02, help="one-way delay added by the relay (s)")
    parser.add_argument("--model", default="cnn_fmnist", choices=sorted(DATA_OF_MODEL))
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--density", type=float, default=1.0, help="fraction of each gradient segment sent")
    parser.add_argument("--inflight", type=int, default=None, help="QoS 1 messages in flight (default 1; full: 1 and 20)")
    parser.add_argument("--iters", type=int, default=None, help="timed iterations per strategy")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--cal-count", type=int, default=6, help="calibration messages per size")
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--port", type=int, default=BROKER_PORT)
    parser.add_argument("--plot", default=str(_HERE / "out" / "dynacomm.png"))
    args = parser.parse_args(argv)
    if args.iters is None:
        args.iters = 3 if args.quick else 8
    if args.role == "serve":
        serve(args)
        return
    if args.role == "node":
        node_main(args)
        return
    inflights = [args.inflight] if args.inflight else ([1] if args.quick else [1, 20])
    rows: list[dict[str, Any]] = []
    try:
        for inflight in inflights:
            for rate in (int(r) for r in args.rates.split(",")):
                rows += run_link(args, rate, inflight)
    finally:
        if rows:
            os.makedirs(os.path.dirname(args.plot), exist_ok=True)
            plot(rows, args.plot)
            print(f"plot: {args.plot}", file=sys.stderr)


if __name__ == "__main__":
    main()
