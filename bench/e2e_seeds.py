"""Seed spread of bench.e2e: the same jobs in process, over several seeds.

``bench.e2e`` runs each method once over a real broker; a 0.5-point target
is close to how much one run differs from the next, so this bench repeats
the comparison over seeds. An **in-process simulation** of the same maths
(no broker): per round every node draws its mini-batch exactly as
``sparrow agent`` does (seeded by seed, device id and round), computes the
gradient with ``agent.npmodel``, compresses it with
``agent.compressor.make_compressor`` (residual memory, momentum correction,
the setting's value coding) and encodes the frame with ``sgc.encode_sparse``;
the host takes the sample-weighted mean (``host.aggregate.weighted_mean``) and
steps SGD at the rate of ``host.schedule.lr_at``: with momentum 0.9 for the
dense baseline, plain for the compressed runs (their momentum lives in the
nodes' residual memories, as in bench.e2e). Settings come from
``bench.e2e.SETTINGS``, so both benches always describe the same jobs.

Output: one JSON line per (method, seed) and one summary line per method
(mean and spread of the final accuracy and of its gap to the dense run of
the same seed). Run::

    .venv/bin/python -m bench.e2e_seeds --datasets fashion_mnist --methods dense laplace --seeds 3
    .venv/bin/python -m bench.e2e_seeds --quick     # digits, seconds
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

import sgc

from bench.e2e import HOST_MOMENTUM, METHODS, NODE_MOMENTUM, SETTINGS, Setting
from sparrow.agent.compressor import make_compressor
from sparrow.common.datasets import load, partition, round_batch
from sparrow.common.modelspec import get_spec, init_params
from sparrow.agent.npmodel import accuracy, loss_and_grad
from sparrow.host.aggregate import SparseUpdate, weighted_mean
from sparrow.host.schedule import lr_at

QUICK = Setting("digits", "mlp_digits", 4, "iid", 150, 150, 0.1, 32, 0.05, "int8", False)


def simulate(setting: Setting, method: str, rounds: int, seed: int) -> dict:
    """One job; returns its final accuracy and uploaded bytes."""
    data = load(setting.dataset)
    spec = get_spec(setting.model, data.num_classes)
    shares = partition(data, setting.nodes, setting.partition, 0.5, 0)
    n = spec.num_params
    dense = method == "dense"
    ranges = list(spec.layer_param_ranges) if setting.per_layer else None
    coding = "fp32" if dense else setting.value_coding
    nodes = [make_compressor(method, n, ranges, 1.0 if dense else setting.density,
                             0.0 if dense else NODE_MOMENTUM, coding) for _ in shares]
    weights = [float(share.size) for share in shares]
    params = init_params(spec, seed)
    velocity = np.zeros(n, dtype=np.float32)
    sent = 0
    for rnd in range(1, rounds + 1):
        updates = []
        for d, (node, share) in enumerate(zip(nodes, shares)):
            device = d + 1
            pick = share[round_batch(share.size, setting.batch_size, seed, device, rnd)]
            _, grad = loss_and_grad(spec, params, data.x_train[pick], data.y_train[pick])
            indices, values = node.compress(np.ascontiguousarray(grad, dtype=np.float32))
            sent += len(sgc.encode_sparse(n, indices, values, value_coding=coding, device_id=device,
                                          round=rnd, seq=rnd & 0xFFFF))
            updates.append(SparseUpdate(device, np.asarray(indices, dtype=np.uint32),
                                        np.asarray(values, dtype=np.float32), weights[d]))
        mean, _ = weighted_mean(updates, n)
        lr = np.float32(lr_at(setting.lr_schedule, setting.lr, rnd, rounds))
        if dense:
            velocity = np.float32(HOST_MOMENTUM) * velocity + mean
            params = params - lr * velocity
        else:
            params = params - lr * mean
    return {"final_accuracy": accuracy(spec, params, data.x_test, data.y_test), "bytes_up": sent,
            "dense_bytes_up": 4 * n * setting.nodes * rounds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["fashion_mnist"], choices=list(SETTINGS))
    parser.add_argument("--methods", nargs="+", default=["dense", "laplace"], choices=list(METHODS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=None, help="override the setting's round count")
    parser.add_argument("--quick", action="store_true", help="digits, 150 rounds: a smoke run")
    args = parser.parse_args(argv)
    if "dense" not in args.methods:
        args.methods = ["dense", *args.methods]
    settings = [QUICK] if args.quick else [SETTINGS[name] for name in args.datasets]
    with threadpool_limits(limits=1):
        for setting in settings:
            rounds = args.rounds or setting.rounds
            dense_by_seed: dict[int, float] = {}
            for method in args.methods:
                rows = []
                for seed in range(args.seeds):
                    started = time.perf_counter()
                    row = simulate(setting, method, rounds, seed)
                    if method == "dense":
                        dense_by_seed[seed] = row["final_accuracy"]
                    row.update(dataset=setting.dataset, method=method, seed=seed, rounds=rounds,
                               gap_pp=round(100 * (row["final_accuracy"] - dense_by_seed[seed]), 2),
                               ratio=round(row["dense_bytes_up"] / row["bytes_up"], 1),
                               seconds=round(time.perf_counter() - started, 1))
                    row["final_accuracy"] = round(row["final_accuracy"], 4)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                gaps = [r["gap_pp"] for r in rows]
                print(json.dumps({
                    "dataset": setting.dataset, "method": method, "seeds": args.seeds, "rounds": rounds,
                    "mean_accuracy": round(statistics.fmean(r["final_accuracy"] for r in rows), 4),
                    "mean_gap_pp": round(statistics.fmean(gaps), 2), "worst_gap_pp": min(gaps),
                    "gap_sd_pp": round(statistics.stdev(gaps), 2) if len(gaps) > 1 else 0.0,
                    "ratio": rows[0]["ratio"]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
