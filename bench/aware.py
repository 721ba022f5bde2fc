"""Aggregation-aware selection against independent top-k: union size, downlink bytes, accuracy.

An in-process simulation of the same maths the system runs (no broker): N
nodes each compute a mini-batch gradient of the shared model on their shard
(``agent.npmodel``), compress it with error feedback under the same per-layer
budget k (``agent.aware.AwareCompressor``; with both boosts 0 it is plain
independent top-k), the host averages the sparse updates
(``host.aggregate.weighted_mean``, sample-weighted), steps SGD with momentum,
and summarises the round's global support (``host.support``) for the nodes'
next selection.

Per configuration, one JSON line on stdout:

``union_over_k``
    mean over rounds of |union of the nodes' supports| / k (k = one node's budget);
``downlink_bytes``
    mean frame size of the sparse aggregate (``sgc.encode_sparse`` of the
    union, fp32): what the host would send down per round;
``summary_bytes``
    mean size of the support summary frame (0 for top-k, which needs none);
``accuracy``
    test accuracy after the last round (mean over seeds, with each seed's).

Plus a PNG of union/k per round. Run::

    .venv/bin/python -m bench.aware --quick     # digits, seconds
    .venv/bin/python -m bench.aware             # Fashion-MNIST, a few minutes
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

import sgc

from sparrow.agent.aware import AwareCompressor
from sparrow.common.datasets import load, partition, round_batch
from sparrow.common.modelspec import get_spec, init_params
from sparrow.agent.npmodel import accuracy, loss_and_grad
from sparrow.host.aggregate import SparseUpdate, weighted_mean
from sparrow.common.support import encode_summary
from sparrow.host.support import summarize


@dataclass(frozen=True)
class Variant:
    """One selection rule: its name and scoring weights."""

    name: str
    popularity_boost: float
    persistence_boost: float


VARIANTS = {
    "topk": Variant("topk", 0.0, 0.0),
    "aware": Variant("aware", 4.0, 4.0),
    "aware_strong": Variant("aware_strong", 16.0, 16.0),
}


def parse_variant(text: str) -> Variant:
    """A registered variant name, or ``aware@P:Q`` for popularity boost P and persistence boost Q."""
    if text in VARIANTS:
        return VARIANTS[text]
    if text.startswith("aware@"):
        popularity, persistence = (float(v) for v in text[len("aware@"):].split(":"))
        return Variant(text, popularity, persistence)
    raise SystemExit(f"unknown variant {text!r}: use one of {sorted(VARIANTS)} or aware@P:Q")


def simulate(data, spec, shares, variant: Variant, args, seed: int) -> dict:
    """One training run; returns per-round union sizes, byte counts and the final accuracy."""
    n = spec.num_params
    ranges = list(spec.layer_param_ranges)
    nodes = [AwareCompressor(ranges, args.density, variant.popularity_boost, variant.persistence_boost,
                             args.decay) for _ in shares]
    k = nodes[0].budget
    weights = [float(s.size) for s in shares]
    params = init_params(spec, seed)
    velocity = np.zeros(n, dtype=np.float32)
    unions, down, summary_bytes = [], [], []
    for rnd in range(1, args.rounds + 1):
        updates = []
        for d, (comp, share) in enumerate(zip(nodes, shares)):
            pick = share[round_batch(share.size, args.batch, seed, d, rnd)]
            _, grad = loss_and_grad(spec, params, data.x_train[pick], data.y_train[pick])
            idx, vals = comp.compress(grad)
            updates.append(SparseUpdate(d, idx, vals, weights[d]))
        aggregate, _ = weighted_mean(updates, n)
        union = np.unique(np.concatenate([u.indices for u in updates])).astype(np.uint32)
        unions.append(union.size / k)
        down.append(len(sgc.encode_sparse(n, union, aggregate[union], msg_type=sgc.MSG_SPARSE_MODEL_DELTA)))
        velocity = np.float32(args.momentum) * velocity + aggregate
        params = params - np.float32(args.lr) * velocity
        if variant.popularity_boost or variant.persistence_boost:
            summary = summarize(updates, aggregate, k, rnd)
            summary_bytes.append(len(encode_summary(summary)))
            for comp in nodes:
                comp.observe(summary.indices, summary.popularity)
    acc = accuracy(spec, params, data.x_test, data.y_test)
    return {"union": unions, "down": down, "summary": summary_bytes, "accuracy": acc, "k": k}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="digits, few rounds: a smoke run")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--model", default="mlp_fmnist")
    parser.add_argument("--partition", default="iid", choices=["iid", "dirichlet"])
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--density", type=float, default=0.01)
    parser.add_argument("--decay", type=float, default=0.5)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="comma-separated: names of VARIANTS or aware@P:Q (boosts)")
    parser.add_argument("--out", default="bench/out/aware")
    args = parser.parse_args(argv)
    if args.quick:
        args.dataset, args.model, args.rounds, args.seeds, args.density = "digits", "mlp_digits", 150, 1, 0.05
    data = load(args.dataset)
    spec = get_spec(args.model, data.num_classes)
    shares = partition(data, args.nodes, args.partition, args.alpha, seed=0)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    curves = {}
    lines = []
    for name in args.variants.split(","):
        variant = parse_variant(name)
        started = time.perf_counter()
        runs = [simulate(data, spec, shares, variant, args, seed) for seed in range(args.seeds)]
        line = {
            "bench": "aware", "dataset": args.dataset, "model": args.model, "partition": args.partition,
            "nodes": args.nodes, "rounds": args.rounds, "density": args.density, "k": runs[0]["k"],
            "n": spec.num_params, "variant": name, "popularity_boost": variant.popularity_boost,
            "persistence_boost": variant.persistence_boost, "decay": args.decay,
            "union_over_k": statistics.fmean(u for r in runs for u in r["union"]),
            "downlink_bytes": statistics.fmean(b for r in runs for b in r["down"]),
            "summary_bytes": statistics.fmean(b for r in runs for b in r["summary"]) if runs[0]["summary"] else 0.0,
            "accuracy": statistics.fmean(r["accuracy"] for r in runs),
            "accuracy_per_seed": [r["accuracy"] for r in runs],
            "seconds": round(time.perf_counter() - started, 2),
        }
        lines.append(line)
        curves[name] = np.mean([r["union"] for r in runs], axis=0)
        print(json.dumps(line), flush=True)
    with open(args.out + ".jsonl", "w") as handle:
        for line in lines:
            handle.write(json.dumps(line) + "\n")
    plot(curves, args, args.out + ".png")
    return 0


def plot(curves: dict, args, path: str) -> None:
    """Union of supports over k, per round, one line per variant."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, curve in curves.items():
        ax.plot(np.arange(1, curve.size + 1), curve, label=name)
    ax.set_xlabel("round")
    ax.set_ylabel("|union of supports| / k")
    ax.set_title(f"{args.model} on {args.dataset} ({args.partition}), {args.nodes} nodes, density {args.density}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    # One BLAS thread: the small matrices of these models only lose time to thread hand-offs.
    with threadpool_limits(limits=1):
        sys.exit(main())
