"""``sparrow demo``: a whole Sparrow job on one machine, started and stopped.

It starts a private mosquitto on a free loopback port, run on a fleet
directory made in the run directory (``<run_dir>/fleet``, host/fleet.py: one
account per agent and one for the host, the ACL that keeps each to its own
topics, client ids bound to accounts, a frame key per agent and the job
key: every frame is tagged and checked, docs/security-frames.md), several agent
processes (``sparrow agent``) with IID shares of Fashion-MNIST, and the host
in this process (with its progress bar); trains with compressed uploads;
stops everything it started (also on Ctrl-C or an error); and prints a short
table. ``--quick`` trains fewer rounds.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import time

from sparrow.common.cli import Subcommand, register
from sparrow.common.config import BrokerConfig
from sparrow.host.broker import Mosquitto
from sparrow.host.config import HostConfig
from sparrow.host.downlink import DOWNLINKS
from sparrow.host.fleet import Fleet
from sparrow.host.lab.processes import start_agents, stop_processes
from sparrow.host.metrics import Summary

__all__ = ["add_demo_arguments", "run_demo"]


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``sparrow demo``."""
    parser.add_argument("--nodes", type=int, default=4, help="agent processes (default 4)")
    parser.add_argument("--rounds", type=int, default=400, help="optimizer steps (default 400)")
    parser.add_argument("--compressor", default="laplace", help="agent compressor (default laplace)")
    parser.add_argument("--density", type=float, default=0.005, help="share of coordinates sent (default 0.005)")
    parser.add_argument("--value-coding", default="int8", help="fp32, fp16, int8 or sign (default int8)")
    parser.add_argument("--lr", type=float, default=0.1, help="host learning rate, cosine schedule (default 0.1)")
    parser.add_argument("--downlink", default="delta", choices=tuple(DOWNLINKS),
                        help="how the model goes down (default delta: a sparse int8 model delta)")
    parser.add_argument("--downlink-density", type=float, default=0.01,
                        help="share of the model a delta carries (default 0.01)")
    parser.add_argument("--downlink-refresh-rounds", type=int, default=200,
                        help="a dense model every this many rounds (default 200)")
    parser.add_argument("--per-layer", action="store_true",
                        help="select per layer (default: over the whole model)")
    parser.add_argument("--model", default="mlp_fmnist", help="model (default mlp_fmnist)")
    parser.add_argument("--run-dir", default=None, help="output directory (default runs/demo-<time>)")
    parser.add_argument("--quick", action="store_true", help="train 150 rounds only")
    parser.add_argument("--device", default="cpu", help="host device: cpu or cuda")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")


def run_demo(args: argparse.Namespace) -> int:
    """Run the demo; returns 0 when it reached 80% test accuracy, else 1."""
    import logging

    from sparrow.host.server import Host

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    run_dir = args.run_dir or os.path.join("runs", time.strftime("demo-%Y%m%d-%H%M%S"))
    os.makedirs(run_dir, exist_ok=True)
    rounds = 150 if args.quick else args.rounds
    processes: list[subprocess.Popen[bytes]] = []
    fleet = _demo_fleet(os.path.join(run_dir, "fleet"), args.nodes)
    with Mosquitto.for_fleet(fleet.path) as mosquitto:
        broker = BrokerConfig(port=mosquitto.port, job=fleet.job)
        # DGC's recipe, as in bench.e2e: momentum correction in the nodes'
        # residual memories, plain SGD with a cosine rate on the host.
        config = HostConfig(dataset="fashion_mnist", model=args.model, rounds=rounds, lr=args.lr,
                            lr_schedule="cosine", momentum=0.0, batch_size=64, device=args.device, min_nodes=args.nodes, fraction=1.0,
                            deadline_s=10.0, eval_every=10, run_dir=run_dir, downlink=args.downlink,
                            downlink_density=args.downlink_density, downlink_value_coding="int8",
                            downlink_refresh_rounds=args.downlink_refresh_rounds,
                            device_keys=str(fleet.key_path(None).parent))
        print(f"sparrow demo: mosquitto on 127.0.0.1:{mosquitto.port}, {args.nodes} agents, "
              f"{args.compressor} at density {args.density} ({args.value_coding}), {rounds} rounds, "
              f"output in {run_dir}")
        try:
            processes = start_agents(broker, args.nodes, config.dataset, config.model,
                                     ["--compressor", args.compressor, "--density", str(args.density),
                                      "--value-coding", args.value_coding, "--momentum", "0.9",
                                      "--per-layer" if args.per_layer else "--no-per-layer"], run_dir,
                                     broker_for=lambda device: fleet.broker_config(broker, device),
                                     extra_for=fleet.key_args)
            summary = Host(config, fleet.broker_config(broker)).run()
        finally:
            stop_processes(processes)
    _print_table(summary)
    return 0 if summary.final_accuracy > 0.80 else 1


def _demo_fleet(folder: str, nodes: int) -> Fleet:
    """The demo's fleet: job ``demo``, devices 1..``nodes`` (a rerun in the same run directory adds what is missing)."""
    fleet = Fleet.open(folder) if os.path.isfile(os.path.join(folder, "fleet.json")) else Fleet.create(folder, "demo")
    for device in range(1, nodes + 1):
        if device not in fleet.devices:
            fleet.add(device)
    return fleet


def _print_table(summary: Summary) -> None:
    nodes = max(1, summary.nodes)
    dense_per_node = (summary.dense_bytes_up + summary.dense_bytes_down) / nodes
    rows = [
        ("traffic per node", f"{summary.total_bytes_per_node / 1e6:.3f} MB "
                             f"({summary.bytes_up_per_node / 1e6:.3f} up, {summary.bytes_down_per_node / 1e6:.3f} down)"),
        ("dense fp32 both ways", f"{dense_per_node / 1e6:.1f} MB per node"),
        ("ratio, both ways", f"{summary.total_ratio:.0f}x (up {summary.compression_ratio:.0f}x, "
                             f"down {summary.down_ratio:.0f}x)"),
        ("test accuracy", f"{100 * summary.final_accuracy:.2f} %"),
        ("wall time", f"{summary.wall_s:.0f} s"),
    ]
    width = max(len(k) for k, _ in rows)
    print()
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")


register(Subcommand("demo", "train Fashion-MNIST with a private broker, a host and agents",
                    add_demo_arguments, run_demo))
