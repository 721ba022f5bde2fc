"""Model averaging (parallel restarted SGD): accuracy against rounds and uploaded bytes.

An in-process simulation of the same maths the system runs (no broker):
every round, N nodes start from the host's model, run I local SGD steps on
their shard (``agent.local_sgd.LocalSGD``), compress the model delta with
error feedback (``agent.compressor.make_compressor``, momentum 0) and encode
it as a ``MSG_SPARSE_MODEL_DELTA`` frame; the host averages the deltas,
sample-weighted, and adds the mean (``host.averaging``, server learning rate
1). Uploaded bytes are the sizes of those frames.

Grid: I in {1, 4, 16} x {dense fp32, sparse (laplace, per layer)} on
Fashion-MNIST (``mlp_fmnist``; IID and Dirichlet(alpha) label skew) and the
watch data (``cnn1d_watch``, one subject per node). Every configuration runs
the same number of rounds, so I = 16 does 16x the local computation of I = 1.

Output: one JSON line per configuration on stdout (the accuracy curve with
cumulative uploaded bytes, final accuracy, rounds and bytes to reach
``--target`` of the best final accuracy of its data set), the same lines in
``<out>.jsonl``, and ``<out>.png`` (accuracy vs rounds and vs bytes, one row
per data set). Run::

    .venv/bin/python -m bench.local_sgd --quick    # digits only, seconds
    .venv/bin/python -m bench.local_sgd            # a few minutes
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from sparrow.agent.compressor import make_compressor
from sparrow.common.datasets import load, partition
from sparrow.agent.local_sgd import LocalSGD
from sparrow.common.modelspec import get_spec, init_params
from sparrow.agent.npmodel import accuracy
from sparrow.host.aggregate import SparseUpdate
from sparrow.host.averaging import apply_mean_delta, average_deltas

#: (label, data set, model, partition scheme)
SETTINGS = {
    "fmnist_iid": ("fashion_mnist", "mlp_fmnist", "iid"),
    "fmnist_dirichlet": ("fashion_mnist", "mlp_fmnist", "dirichlet"),
    "watch_group": ("watch", "cnn1d_watch", "group"),
    "digits_iid": ("digits", "mlp_digits", "iid"),
}


def run(data, spec, shares, local_steps: int, sparse: bool, args) -> dict:
    """One training run of model averaging; returns its accuracy curve and byte counts."""
    n = spec.num_params
    ranges = list(spec.layer_param_ranges)
    coding = "fp32"
    workers = []
    for d, share in enumerate(shares):
        comp = make_compressor(args.method if sparse else "dense", n, ranges, args.density, 0.0, coding)
        workers.append(LocalSGD(spec, data.x_train[share], data.y_train[share], comp, local_steps,
                                args.warmup, args.lr, args.batch, seed=args.seed, device_id=d))
    weights = [float(s.size) for s in shares]
    params = init_params(spec, args.seed)
    sent = 0
    curve = []
    for rnd in range(1, args.rounds + 1):
        updates = []
        for d, worker in enumerate(workers):
            frame, work = worker.frame(params, rnd, value_coding=coding)
            sent += len(frame)
            updates.append(SparseUpdate(d, work.indices, work.values, weights[d]))
        params = apply_mean_delta(params, average_deltas(updates, n), args.server_lr)
        if rnd % args.eval_every == 0 or rnd == args.rounds:
            acc = accuracy(spec, params, data.x_test, data.y_test)
            curve.append({"round": rnd, "bytes_up": sent, "accuracy": round(acc, 4)})
    return {"curve": curve, "final_accuracy": curve[-1]["accuracy"], "bytes_up": sent}


def reach(curve: list[dict], goal: float) -> tuple[int | None, int | None]:
    """First (round, cumulative bytes) at which accuracy reaches ``goal``."""
    for point in curve:
        if point["accuracy"] >= goal:
            return point["round"], point["bytes_up"]
    return None, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="digits only, few rounds: a smoke run")
    parser.add_argument("--settings", default="fmnist_iid,fmnist_dirichlet,watch_group")
    parser.add_argument("--local-steps", default="1,4,16")
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--alpha", type=float, default=0.3, help="Dirichlet concentration")
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05, help="local learning rate")
    parser.add_argument("--server-lr", type=float, default=1.0)
    parser.add_argument("--warmup", type=int, default=0, help="synchronous one-step rounds first")
    parser.add_argument("--method", default="laplace")
    parser.add_argument("--density", type=float, default=0.05)
    parser.add_argument("--target", type=float, default=0.95, help="share of the best final accuracy to reach")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench/out/local_sgd")
    args = parser.parse_args(argv)
    if args.quick:
        args.settings, args.rounds, args.nodes, args.eval_every = "digits_iid", 30, 4, 3
    steps = [int(s) for s in args.local_steps.split(",")]
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    lines = []
    for label in args.settings.split(","):
        dataset, model, scheme = SETTINGS[label]
        data = load(dataset)
        spec = get_spec(model, data.num_classes)
        nodes = min(args.nodes, data.num_groups) if scheme == "group" else args.nodes
        shares = partition(data, nodes, scheme, args.alpha, seed=args.seed)
        group = []
        for local_steps in steps:
            for sparse in (False, True):
                started = time.perf_counter()
                result = run(data, spec, shares, local_steps, sparse, args)
                group.append({
                    "bench": "local_sgd", "setting": label, "dataset": dataset, "model": model,
                    "partition": scheme, "alpha": args.alpha if scheme == "dirichlet" else None,
                    "nodes": nodes, "n": spec.num_params, "local_steps": local_steps, "warmup": args.warmup,
                    "compression": f"{args.method}@{args.density}" if sparse else "dense",
                    "rounds": args.rounds, "lr": args.lr, "server_lr": args.server_lr,
                    "final_accuracy": result["final_accuracy"], "bytes_up": result["bytes_up"],
                    "curve": result["curve"], "seconds": round(time.perf_counter() - started, 2)})
        goal = args.target * max(line["final_accuracy"] for line in group)
        for line in group:
            line["goal_accuracy"] = round(goal, 4)
            line["rounds_to_goal"], line["bytes_to_goal"] = reach(line["curve"], goal)
            print(json.dumps(line), flush=True)
        lines.extend(group)
    with open(args.out + ".jsonl", "w") as handle:
        for line in lines:
            handle.write(json.dumps(line) + "\n")
    plot(lines, args.out + ".png")
    return 0


def plot(lines: list[dict], path: str) -> None:
    """Accuracy against rounds (left) and cumulative uploaded bytes (right), one row per setting."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    settings = list(dict.fromkeys(line["setting"] for line in lines))
    fig, axes = plt.subplots(len(settings), 2, figsize=(10, 3.2 * len(settings)), squeeze=False)
    for row, setting in zip(axes, settings):
        for line in (x for x in lines if x["setting"] == setting):
            label = f"I={line['local_steps']} {line['compression']}"
            style = "-" if line["compression"] == "dense" else "--"
            rounds = [p["round"] for p in line["curve"]]
            acc = [p["accuracy"] for p in line["curve"]]
            row[0].plot(rounds, acc, style, label=label)
            row[1].plot([p["bytes_up"] for p in line["curve"]], acc, style, label=label)
        row[0].set_title(f"{setting}: accuracy vs rounds")
        row[0].set_xlabel("round")
        row[1].set_title(f"{setting}: accuracy vs uploaded bytes")
        row[1].set_xlabel("bytes uploaded (all nodes)")
        row[1].set_xscale("log")
        for ax in row:
            ax.set_ylabel("test accuracy")
        row[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    # One BLAS thread: the small matrices of these models only lose time to thread hand-offs.
    with threadpool_limits(limits=1):
        sys.exit(main())
