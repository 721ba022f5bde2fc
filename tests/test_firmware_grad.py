"""The boards' on-device training agrees with PyTorch autograd.

Each board runs ``firmware/app/grad.c`` under QEMU: the gradient of the mean
softmax cross-entropy of a mini-batch of its own flash-resident shard at the
generated initial weights, then a few local SGD steps. The test recomputes
both from the generated reference files (``model.npz``: the weights;
``shard.npz``: the samples exactly as the board dequantises them) with
PyTorch autograd and with the numpy model, and compares within float32
tolerance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

import generated  # noqa: E402  (firmware/tools/generated.py)
import qemu  # noqa: E402  (firmware/tools/qemu.py)
from sparrow.common.modelspec import ModelSpec  # noqa: E402
from sparrow.agent.npmodel import loss_and_grad  # noqa: E402
from sparrow.host.torch_model import build_torch_model, flat_grad, set_flat  # noqa: E402

RUN_TIMEOUT_S = 120


def bits_to_float(hexes: list[str]) -> np.ndarray:
    """Decode the board's 8-hex-digit IEEE-754 words."""
    return np.array([int(h, 16) for h in hexes], dtype=np.uint32).view(np.float32)


def board_vector(run: qemu.Run, tag: str) -> np.ndarray:
    """Concatenate the values of every '<tag> <first> <hex>...' line, checking order."""
    values: list[str] = []
    for line in run.lines:
        parts = line.split()
        if parts and parts[0] == tag:
            assert int(parts[1]) == len(values), f"{tag} lines out of order"
            values.extend(parts[2:])
    return bits_to_float(values)


@pytest.fixture(scope="module", params=qemu.BOARDS)
def board_run(request: pytest.FixtureRequest) -> tuple[str, qemu.Run]:
    board = request.param
    qemu.build((board,))
    result = qemu.run(board, "grad", timeout=RUN_TIMEOUT_S)
    assert result.returncode == 0, f"{board} exited {result.returncode}: {result.lines[-5:]}"
    assert result.lines[-1] == "done"
    return board, result


def torch_loss_grad(spec: ModelSpec, params: np.ndarray, x: np.ndarray,
                    y: np.ndarray) -> tuple[float, np.ndarray]:
    module = build_torch_model(spec, seed=None)
    set_flat(module, params)
    loss = torch.nn.functional.cross_entropy(module(torch.from_numpy(x)), torch.from_numpy(y))
    loss.backward()
    return float(loss.detach()), flat_grad(module)


def run_header(run: qemu.Run) -> dict[str, str]:
    fields = run.field("model")
    return dict(zip(fields[1::2], fields[2::2]))


def test_board_gradient_matches_torch_autograd_on_the_same_weights_and_batch(board_run):
    board, run = board_run
    ref = generated.load(board)
    spec, params = ref.spec, ref.params
    size = int(run_header(run)["batch"])
    ref_loss, ref_grad = torch_loss_grad(spec, params, *ref.batch(0, size))
    got_loss = bits_to_float(run.field("loss"))[0]
    got_grad = board_vector(run, "grad")
    assert got_grad.shape == ref_grad.shape
    assert got_loss == pytest.approx(ref_loss, rel=1e-5)
    scale = np.abs(ref_grad).max()
    np.testing.assert_allclose(got_grad, ref_grad, rtol=1e-3, atol=2e-6 * scale)


def test_board_gradient_matches_the_numpy_model(board_run):
    board, run = board_run
    ref = generated.load(board)
    spec, params = ref.spec, ref.params
    size = int(run_header(run)["batch"])
    ref_loss, ref_grad = loss_and_grad(spec, params, *ref.batch(0, size))
    got_grad = board_vector(run, "grad")
    assert bits_to_float(run.field("loss"))[0] == pytest.approx(ref_loss, rel=1e-5)
    np.testing.assert_allclose(got_grad, ref_grad, rtol=1e-3, atol=2e-6 * np.abs(ref_grad).max())


def test_local_sgd_steps_follow_the_torch_trajectory_and_lower_the_loss(board_run):
    board, run = board_run
    ref = generated.load(board)
    spec, params = ref.spec, ref.params
    header = run_header(run)
    size, steps = int(header["batch"]), int(header["steps"])
    lr = bits_to_float(run.field("lr"))[0]
    board_losses = {
        int(line.split()[1]): bits_to_float([line.split()[3]])[0]
        for line in run.lines if line.startswith("step ")
    }
    assert sorted(board_losses) == list(range(steps))
    p = params.copy()
    for s in range(steps):
        loss, grad = torch_loss_grad(spec, p, *ref.batch(s * size, size))
        assert board_losses[s] == pytest.approx(loss, rel=1e-3), f"step {s}"
        p = (p - lr * grad).astype(np.float32)
    before = bits_to_float(run.field("eval_before"))[0]
    after = bits_to_float(run.field("eval_after"))[0]
    eval_x, eval_y = ref.batch(0, 64)
    ref_before, _ = torch_loss_grad(spec, params, eval_x, eval_y)
    ref_after, _ = torch_loss_grad(spec, p, eval_x, eval_y)
    assert before == pytest.approx(ref_before, rel=1e-4)
    assert after == pytest.approx(ref_after, rel=1e-3)
    assert after < 0.8 * before


def test_board_stays_within_its_painted_stack(board_run):
    _, run = board_run
    peak, size = (int(v) for v in run.field("stack"))
    assert 0 < peak < size
