"""End-to-end benchmark: dense baseline against compressed uploads, over real MQTT.

Each run is a whole Sparrow job: a private mosquitto, ``--nodes`` agent
processes (``sparrow agent``) and the host (in this process). Printed: one
JSON object per line per run (dataset, method, final and best accuracy,
uploaded bytes, dense-equivalent bytes, compression ratio, accuracy gap to
the dense run, wall time), and one plot of accuracy against uploaded bytes
for every run of a data set.

Usage::

    .venv/bin/python -m bench.e2e                 # fashion_mnist (8 agents) and watch (10, one per subject)
    .venv/bin/python -m bench.e2e --quick         # fewer rounds
    .venv/bin/python -m bench.e2e --datasets watch --methods dense laplace
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass

from sparrow.common.config import BrokerConfig
from sparrow.host.broker import Mosquitto
from sparrow.host.config import HostConfig
from sparrow.host.lab.processes import start_agents, stop_processes
from sparrow.host.server import Host

METHODS = ("dense", "exact", "laplace", "partition", "dgc")
#: Momentum of the dense baseline's SGD on the host.
HOST_MOMENTUM = 0.9
#: DGC momentum correction in the nodes' residual memories (compressed runs).
NODE_MOMENTUM = 0.9


@dataclass(frozen=True)
class Setting:
    """One data set's job shape."""

    dataset: str
    model: str
    nodes: int
    partition: str
    rounds: int
    quick_rounds: int
    lr: float
    batch_size: int
    density: float
    value_coding: str
    per_layer: bool
    lr_schedule: str = "cosine"


SETTINGS = {
    # 2400 rounds of 8 x 128 samples = 41 epochs of the 60,000 training images.
    "fashion_mnist": Setting("fashion_mnist", "mlp_fmnist", 8, "iid", 2400, 150, 0.15, 128, 0.0055, "int8", False),
    "watch": Setting("watch", "cnn1d_watch", 10, "group", 1200, 200, 0.1, 16, 0.01, "int8", False),
}


def run_one(setting: Setting, method: str, rounds: int, value_coding: str, node_momentum: float,
            density: float, out_dir: str, downlink: str = "dense32") -> dict:
    """Run one job and return its result row.

    The dense baseline uses momentum SGD on the host. Compressed runs follow
    DGC's recipe: momentum correction in each node's residual memory
    (``node_momentum``) and plain SGD on the host, so momentum is applied
    once and to the full gradient rather than to its sparse part.
    """
    run_dir = os.path.join(out_dir, f"{setting.dataset}-{method}")
    os.makedirs(run_dir, exist_ok=True)
    compressed = method != "dense"
    extra = ["--compressor", method, "--partition", setting.partition,
             "--density", str(density if compressed else 1.0),
             "--value-coding", value_coding if compressed else "fp32",
             "--momentum", str(node_momentum if compressed else 0.0),
             "--per-layer" if setting.per_layer else "--no-per-layer"]
    with Mosquitto() as broker:
        config = BrokerConfig(port=broker.port, job=f"bench-{setting.dataset}-{method}")
        host = HostConfig(dataset=setting.dataset, model=setting.model, rounds=rounds, lr=setting.lr,
                          lr_schedule=setting.lr_schedule, momentum=0.0 if compressed and node_momentum > 0 else HOST_MOMENTUM,
                          batch_size=setting.batch_size, min_nodes=setting.nodes,
                          deadline_s=60.0, eval_every=max(1, rounds // 20), run_dir=run_dir, progress=False,
                          downlink="dense32" if method == "dense" else downlink)
        processes = []
        try:
            processes = start_agents(config, setting.nodes, setting.dataset, setting.model, extra, run_dir)
            summary = Host(host, config).run()
        finally:
            stop_processes(processes)
    return {
        "dataset": setting.dataset, "model": setting.model, "nodes": setting.nodes, "method": method,
        "density": density if compressed else 1.0, "value_coding": value_coding if compressed else "fp32",
        "per_layer": setting.per_layer, "lr": setting.lr, "lr_schedule": setting.lr_schedule,
        "batch_size": setting.batch_size,
        "node_momentum": node_momentum if compressed else 0.0,
        "rounds": summary.rounds, "final_accuracy": round(summary.final_accuracy, 4),
        "best_accuracy": round(summary.best_accuracy, 4), "bytes_up": summary.bytes_up,
        "dense_bytes_up": summary.dense_bytes_up, "compression_ratio": round(summary.compression_ratio, 1),
        "downlink": "dense32" if method == "dense" else downlink,
        "bytes_down": summary.bytes_down, "dense_bytes_down": summary.dense_bytes_down,
        "down_ratio": round(summary.down_ratio, 1), "total_ratio": round(summary.total_ratio, 1),
        "total_bytes_per_node": round(summary.total_bytes_per_node), "wall_s": round(summary.wall_s, 1),
        "run_dir": run_dir,
    }


def plot(rows: list[dict], dataset: str, out_dir: str) -> str:
    """Accuracy against uploaded bytes for every run of ``dataset``; returns the PNG path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for row in rows:
        with open(os.path.join(row["run_dir"], "metrics.jsonl")) as handle:
            points = [json.loads(line) for line in handle]
        points = [p for p in points if p["accuracy"] is not None]
        ax.plot([p["bytes_up"] for p in points], [p["accuracy"] for p in points], marker=".",
                label=f"{row['method']} ({row['compression_ratio']:.0f}x)")
    ax.set_xscale("log")
    ax.set_xlabel("uploaded bytes, all nodes")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"{dataset}: accuracy against uploaded bytes")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = os.path.join(out_dir, f"e2e_{dataset}_accuracy_vs_bytes.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--quick", action="store_true", help="the quick round counts")
    parser.add_argument("--rounds", type=int, default=None, help="override the round count")
    parser.add_argument("--value-coding", default=None, help="value coding of compressed runs (default: the setting's)")
    parser.add_argument("--density", type=float, default=None, help="density of compressed runs (default: the setting's)")
    parser.add_argument("--node-momentum", type=float, default=NODE_MOMENTUM,
                        help="momentum correction on the nodes for compressed runs (0: momentum on the host)")
    parser.add_argument("--downlink", default="dense32", choices=("dense32", "dense16", "delta"),
                        help="downlink of the compressed runs (the dense run is dense fp32 both ways; "
                             "default dense32, as the numbers in docs/results.md were measured)")
    parser.add_argument("--out-dir", default="runs/bench-e2e")
    args = parser.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    for name in args.datasets:
        setting = SETTINGS[name]
        rounds = args.rounds or (setting.quick_rounds if args.quick else setting.rounds)
        rows = []
        for method in args.methods:
            started = time.monotonic()
            row = run_one(setting, method, rounds, args.value_coding or setting.value_coding, args.node_momentum,
                          args.density or setting.density, args.out_dir, args.downlink)
            dense = next((r for r in rows if r["method"] == "dense"), None)
            if dense is not None:
                row["accuracy_gap_pp"] = round(100 * (row["final_accuracy"] - dense["final_accuracy"]), 2)
                row["upload_reduction_vs_dense_run"] = round(dense["bytes_up"] / row["bytes_up"], 1)
            row["bench_s"] = round(time.monotonic() - started, 1)
            rows.append(row)
            print(json.dumps(row), flush=True)
        print(json.dumps({"dataset": name, "plot": plot(rows, name, args.out_dir)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
