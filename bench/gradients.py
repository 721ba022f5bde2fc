"""Dump real gradient vectors from brief Fashion-MNIST training, for bench/select.py.

Three models span the sizes the selection benchmark needs:

====================  =====================================  =============
name                  layers                                 parameters
====================  =====================================  =============
``cnn``               conv5x5(16)-pool-conv5x5(32)-pool-     about 1.1e5
                      fc192-fc10
``mlp``               784-1024-256-10                        about 1.1e6
``wide_mlp``          784-8192-2240-10                       about 2.5e7
====================  =====================================  =============

Each model trains with SGD (momentum 0.9) on Fashion-MNIST minibatches of 64
on the CPU. The gradient of the whole model is saved at ``--dumps`` points
spread evenly over its steps (the first at step 0, the last at the final step)
and at the ``--tail`` steps just before the final one. Each dump is that
minibatch's gradient flattened, in parameter order, into one float32 vector:
``OUT/<model>_step<NNNNN>.npy``. ``OUT/manifest.json`` lists every file with
its model, step, size and loss (a run with ``--models`` replaces only those
models' entries). The dumps before a model's last one are the
"earlier gradients of the same model" that warm a stateful selector; the tail
makes the last few of them consecutive steps, as in real training.

Run::

    .venv/bin/python -m bench.gradients            # all three: 1 min on 2 idle cores, more under load
    .venv/bin/python -m bench.gradients --quick    # cnn and mlp only, few steps
"""
from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from sparrow.common.datasets import load

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "gradients")
BATCH_SIZE = 64


def small_cnn() -> nn.Module:
    """About 1.1e5 parameters."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 192), nn.ReLU(), nn.Linear(192, 10),
    )


def mlp() -> nn.Module:
    """About 1.1e6 parameters."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 256), nn.ReLU(), nn.Linear(256, 10)
    )


def wide_mlp() -> nn.Module:
    """About 2.5e7 parameters."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 8192), nn.ReLU(), nn.Linear(8192, 2240), nn.ReLU(), nn.Linear(2240, 10)
    )


@dataclass(frozen=True)
class ModelPlan:
    """How one model is trained and dumped."""

    name: str
    build: Callable[[], nn.Module]
    steps: int
    lr: float


PLANS: dict[str, ModelPlan] = {
    "cnn": ModelPlan("cnn", small_cnn, steps=600, lr=0.02),
    "mlp": ModelPlan("mlp", mlp, steps=600, lr=0.02),
    "wide_mlp": ModelPlan("wide_mlp", wide_mlp, steps=300, lr=0.01),
}


@dataclass(frozen=True)
class Dump:
    """One saved gradient vector, as listed in manifest.json."""

    file: str
    model: str
    step: int
    n: int
    loss: float


def dump_steps(steps: int, dumps: int, tail: int) -> list[int]:
    """``dumps`` evenly spaced steps from 0 to steps - 1, plus the ``tail`` steps before the last."""
    spread = {int(round(s)) for s in np.linspace(0, steps - 1, dumps)}
    return sorted(spread | set(range(max(0, steps - 1 - tail), steps)))


def flat_gradient(model: nn.Module) -> np.ndarray:
    """Concatenate every parameter's gradient, in parameter order, into float32."""
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()]).numpy().astype(np.float32, copy=False)


def train_and_dump(plan: ModelPlan, steps: int, dumps: int, tail: int, out: str, seed: int) -> list[Dump]:
    """Train one model for ``steps`` minibatches, saving the gradient at the dump steps."""
    torch.manual_seed(seed)
    data = load("fashion_mnist")
    x_all, y_all = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    model = plan.build()
    n = sum(p.numel() for p in model.parameters())
    optimiser = torch.optim.SGD(model.parameters(), lr=plan.lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    wanted = set(dump_steps(steps, dumps, tail))
    rng = np.random.default_rng(seed)
    saved: list[Dump] = []
    step = 0
    with tqdm(total=steps, desc=f"{plan.name} ({n:.2e} params)", unit="step") as bar:
        while step < steps:
            for idx_batch in np.array_split(rng.permutation(len(y_all)), len(y_all) // BATCH_SIZE):
                if step >= steps:
                    break
                idx = torch.from_numpy(idx_batch)
                optimiser.zero_grad(set_to_none=True)
                loss = loss_fn(model(x_all[idx]), y_all[idx])
                loss.backward()
                if step in wanted:
                    name = f"{plan.name}_step{step:05d}.npy"
                    np.save(os.path.join(out, name), flat_gradient(model))
                    saved.append(Dump(name, plan.name, step, n, float(loss)))
                optimiser.step()
                step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{float(loss):.3f}")
    return saved


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="folder for the .npy files and manifest.json")
    parser.add_argument("--models", nargs="+", choices=sorted(PLANS), default=list(PLANS))
    parser.add_argument("--dumps", type=int, default=5, help="evenly spaced gradients saved per model (>= 2)")
    parser.add_argument("--tail", type=int, default=3, help="consecutive steps saved before each model's last")
    parser.add_argument("--quick", action="store_true", help="cnn and mlp only, 40 steps each")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads for training")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.dumps < 2:
        parser.error("--dumps must be >= 2: a stateful selector needs earlier gradients to warm on")
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    models = [m for m in args.models if m != "wide_mlp"] if args.quick else args.models
    started = time.perf_counter()
    manifest_path = os.path.join(args.out, "manifest.json")
    kept: list[dict] = []
    if os.path.isfile(manifest_path):  # keep the entries of models not retrained now
        with open(manifest_path) as fh:
            kept = [entry for entry in json.load(fh) if entry["model"] not in models]
    fresh: list[Dump] = []
    for name in models:
        plan = PLANS[name]
        steps = 40 if args.quick else plan.steps
        fresh += train_and_dump(plan, steps, args.dumps, args.tail, args.out, args.seed)
    with open(manifest_path, "w") as fh:
        json.dump(kept + [asdict(d) for d in fresh], fh, indent=1)
    print(f"{len(fresh)} gradients in {args.out} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
