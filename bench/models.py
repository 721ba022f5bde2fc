"""Size, step time and centralised numpy training of every registered model.

For each model of ``sparrow.common.modelspec.MODELS`` this prints one JSON line:

``params``, ``fp32_bytes``
    parameter count and the size of one dense fp32 upload;
``np_step_ms``, ``torch_step_ms``
    median wall time of one loss-and-gradient step on a batch of ``--batch``
    random samples, numpy (``agent/npmodel.py``) and PyTorch autograd
    (``host/torch_model.py``), both on one thread;
``max_grad_rel_diff``
    the largest |numpy - torch| gradient difference over that batch, divided by
    the largest |torch| gradient entry;
``train_*`` (with ``--train``)
    test accuracy after ``--epochs`` epochs of plain numpy SGD (batch 32,
    learning rate ``--lr``) on the model's own data set (digits, Fashion-MNIST
    or watch, as loaded by ``agent/common/datasets.py``), and the seconds taken.

Run::

    .venv/bin/python -m bench.models                # sizes and step times, seconds
    .venv/bin/python -m bench.models --train        # plus numpy SGD training, a few minutes
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits

from sparrow.agent import npmodel
from sparrow.common import datasets
from sparrow.common.modelspec import MODELS, ModelSpec, get_spec, init_params
from sparrow.host.torch_model import build_torch_model, flat_grad

# Data set each registered model is meant for, and its default training epochs.
TRAINING = {"mlp_digits": ("digits", 15), "mlp_fmnist": ("fashion_mnist", 1),
            "cnn_fmnist": ("fashion_mnist", 1), "cnn1d_watch": ("watch", 10)}


def _median_ms(step, repeats: int) -> float:
    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def step_times(spec: ModelSpec, batch: int, repeats: int) -> dict:
    """Median numpy and torch step times and their gradient difference."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, *spec.input_shape)).astype(np.float32)
    y = rng.integers(0, spec.num_classes, size=batch).astype(np.int64)
    params = init_params(spec, 0)
    model = build_torch_model(spec, seed=0)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def torch_step() -> None:
        model.zero_grad()
        F.cross_entropy(model(xt), yt).backward()

    np_ms = _median_ms(lambda: npmodel.loss_and_grad(spec, params, x, y), repeats)
    torch_ms = _median_ms(torch_step, repeats)
    _, grad = npmodel.loss_and_grad(spec, params, x, y)
    ref = flat_grad(model)
    return {"np_step_ms": round(np_ms, 3), "torch_step_ms": round(torch_ms, 3),
            "max_grad_rel_diff": float(np.abs(grad - ref).max() / np.abs(ref).max())}


def train(spec: ModelSpec, data: datasets.Dataset, epochs: int, lr: float) -> dict:
    """Plain minibatch SGD in numpy; test accuracy and seconds."""
    params = init_params(spec, 0)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(epochs):
        order = rng.permutation(data.x_train.shape[0])
        for i in range(0, order.size, 32):
            idx = order[i:i + 32]
            _, grad = npmodel.loss_and_grad(spec, params, data.x_train[idx], data.y_train[idx])
            params -= np.float32(lr) * grad
    seconds = time.perf_counter() - start
    return {"train_epochs": epochs, "train_lr": lr,
            "train_test_accuracy": round(npmodel.accuracy(spec, params, data.x_test, data.y_test), 4),
            "train_s": round(seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="*", default=sorted(MODELS))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--train", action="store_true", help="also train each model with numpy SGD")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs for every model (default: 15 digits, 10 watch, 1 fashion_mnist)")
    parser.add_argument("--lr", type=float, default=0.05)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        for name in args.models:
            data_name, epochs = TRAINING[name]
            data = datasets.load(data_name) if args.train else None
            spec = get_spec(name, num_classes=data.num_classes if data else None)
            row = {"model": name, "params": spec.num_params, "fp32_bytes": 4 * spec.num_params,
                   "batch": args.batch, **step_times(spec, args.batch, args.repeats)}
            if data is not None:
                row.update(train(spec, data, args.epochs or epochs, args.lr))
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
