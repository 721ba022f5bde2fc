"""Every layer kind's numpy maths equals torch autograd, on shapes hypothesis picks.

Each kind of ``LAYER_KINDS`` has a strategy below that draws a layer, a batch
shape and a seed; the numpy forward (``agent/np_layers.py``) and backward
(input gradient and parameter gradients) are compared with torch's
functional layers and autograd. Dropout is random: the numpy output is
compared with torch applying the same mask, and without a generator it must
be the identity (torch's eval mode).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from sparrow.agent import npmodel
from sparrow.agent.local_sgd import local_train
from sparrow.agent.np_layers import OPS
from sparrow.agent.segmented import loss_and_grad_layerwise
from sparrow.common.modelspec import LAYER_KINDS, Layer, ModelSpec, init_params
from sparrow.host.torch_model import build_torch_model, flat_grad, set_flat

Case = tuple[Layer, tuple[int, ...], int]


def _conv_case(draw: st.DrawFn, kind: str, rank: int) -> Case:
    kernel = draw(st.integers(1, 4 if rank == 2 else 3))
    padding = draw(st.integers(0, 2))
    stride = draw(st.integers(1, 3))
    channels = draw(st.integers(1, 3))
    spatial = tuple(draw(st.integers(max(1, kernel - 2 * padding), 10 if rank == 3 else 20))
                    for _ in range(rank - 1))
    layer = Layer(kind, out_channels=draw(st.integers(1, 4)), kernel=kernel, stride=stride, padding=padding)
    return layer, (draw(st.integers(1, 4)), channels, *spatial), draw(st.integers(0, 2**32 - 1))


def _pool_case(draw: st.DrawFn, kind: str, rank: int) -> Case:
    kernel = draw(st.integers(1, 4))
    stride = draw(st.none() | st.integers(1, 4))
    spatial = tuple(draw(st.integers(kernel, 12 if rank == 3 else 24)) for _ in range(rank - 1))
    layer = Layer(kind, kernel=kernel, stride=stride)
    return layer, (draw(st.integers(1, 4)), draw(st.integers(1, 3)), *spatial), draw(st.integers(0, 2**32 - 1))


def _any_shape(draw: st.DrawFn) -> tuple[int, ...]:
    return (draw(st.integers(1, 4)), *draw(st.lists(st.integers(1, 7), min_size=1, max_size=3)))


@st.composite
def _cases(draw: st.DrawFn, kind: str) -> Case:
    seed = draw(st.integers(0, 2**32 - 1))
    if kind == "dense":
        layer = Layer("dense", out_features=draw(st.integers(1, 12)))
        return layer, (draw(st.integers(1, 5)), draw(st.integers(1, 24))), seed
    if kind in ("conv1d", "conv2d"):
        return _conv_case(draw, kind, LAYER_KINDS[kind].input_rank)
    if LAYER_KINDS[kind].pools:
        return _pool_case(draw, kind, LAYER_KINDS[kind].input_rank)
    if kind == "dropout":
        p = draw(st.sampled_from([0.0, 0.1, 0.5, 0.9]) | st.floats(0.0, 0.95))
        return Layer("dropout", p=p), _any_shape(draw), seed
    return Layer(kind), _any_shape(draw), seed


def _torch_forward(layer: Layer, x: torch.Tensor, w: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor:
    """The layer in torch's functional API (dropout excluded: it is random)."""
    kind = layer.kind
    if kind == "dense":
        return F.linear(x, w, b)
    if kind == "conv1d":
        return F.conv1d(x, w, b, stride=layer.stride, padding=layer.padding)
    if kind == "conv2d":
        return F.conv2d(x, w, b, stride=layer.stride, padding=layer.padding)
    pools = {"maxpool1d": F.max_pool1d, "maxpool2d": F.max_pool2d,
             "avgpool1d": F.avg_pool1d, "avgpool2d": F.avg_pool2d}
    if kind in pools:
        return pools[kind](x, layer.kernel, layer.stride)
    if kind == "relu":
        return F.relu(x)
    if kind == "flatten":
        return torch.flatten(x, 1)
    raise AssertionError(f"no torch reference for {kind}")


def _close(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    assert actual.shape == expected.shape, what
    scale = max(float(np.abs(expected).max(initial=0.0)), 1e-3)
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=2e-5 * scale, err_msg=what)


def _params(layer: Layer, in_shape: tuple[int, ...], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray] | None:
    shapes = LAYER_KINDS[layer.kind].param_shapes(layer, in_shape)
    if not shapes:
        return None
    w, b = (rng.standard_normal(shape).astype(np.float32) for shape in shapes)
    return w, b


def _check_against_torch(layer: Layer, shape: tuple[int, ...], seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    params = _params(layer, shape[1:], rng)
    y, cache = OPS[layer.kind].forward(layer, x, params)
    # The description's shape inference agrees with what the maths produced.
    assert y.shape[1:] == LAYER_KINDS[layer.kind].infer(layer, shape[1:])
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, pgrads = OPS[layer.kind].backward(layer, dy, cache, True)

    xt = torch.from_numpy(x).requires_grad_()
    wt = bt = None
    if params is not None:
        wt, bt = (torch.from_numpy(p).requires_grad_() for p in params)
    yt = _torch_forward(layer, xt, wt, bt)
    yt.backward(torch.from_numpy(dy))
    _close(y, yt.detach().numpy(), f"{layer} forward")
    _close(dx, xt.grad.numpy(), f"{layer} input gradient")
    if params is None:
        assert pgrads is None
    else:
        assert pgrads is not None
        _close(pgrads[0], wt.grad.numpy(), f"{layer} weight gradient")
        _close(pgrads[1], bt.grad.numpy(), f"{layer} bias gradient")


def _check_dropout(layer: Layer, shape: tuple[int, ...], seed: int) -> None:
    rng = np.random.default_rng(seed)
    # No exact zeros in the input, so a zero in the output is a dropped unit.
    x = (rng.standard_normal(shape) + 0.5).astype(np.float32)
    x[x == 0] = 1.0
    y, cache = OPS["dropout"].forward(layer, x, None, np.random.default_rng(seed + 1))
    kept = y != 0
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, pgrads = OPS["dropout"].backward(layer, dy, cache, True)
    assert pgrads is None

    # torch with the same mask: what F.dropout computes for that mask.
    xt = torch.from_numpy(x).requires_grad_()
    mask = torch.from_numpy(kept.astype(np.float32))
    yt = xt * mask / (1.0 - layer.p)
    yt.backward(torch.from_numpy(dy))
    _close(y, yt.detach().numpy(), f"{layer} forward")
    _close(dx, xt.grad.numpy(), f"{layer} input gradient")

    # Inference: no generator means no dropout, as torch's eval mode.
    same, _ = OPS["dropout"].forward(layer, x, None)
    module = nn.Dropout(layer.p).eval()
    np.testing.assert_array_equal(same, x)
    np.testing.assert_array_equal(module(torch.from_numpy(x)).numpy(), x)


@pytest.mark.parametrize("kind", sorted(LAYER_KINDS))
def test_every_layer_kind_forward_and_backward_equal_torch_autograd(kind: str) -> None:
    check = _check_dropout if kind == "dropout" else _check_against_torch

    @settings(max_examples=40, deadline=None)
    @given(_cases(kind))
    def run(case: Case) -> None:
        check(*case)

    run()


def test_every_layer_kind_has_numpy_and_torch_maths() -> None:
    assert set(OPS) == set(LAYER_KINDS)
    spec = ModelSpec("all2d", (2, 8, 8), 3, (
        Layer("conv2d", out_channels=2, kernel=3, padding=1), Layer("relu"), Layer("maxpool2d", kernel=2),
        Layer("avgpool2d", kernel=2), Layer("dropout", p=0.5), Layer("flatten"), Layer("dense", out_features=3),
    ))
    model = build_torch_model(spec)
    assert [type(m) for m in model] == [nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.AvgPool2d, nn.Dropout, nn.Flatten,
                                        nn.Linear]
    assert model[4].p == 0.5


def test_dropout_scales_kept_units_by_one_over_one_minus_p_like_torch() -> None:
    p = 0.3
    x = np.full((1000, 100), 2.0, dtype=np.float32)
    y, _ = OPS["dropout"].forward(Layer("dropout", p=p), x, None, np.random.default_rng(0))
    torch.manual_seed(0)
    yt = F.dropout(torch.from_numpy(x), p=p, training=True).numpy()
    for out in (y, yt):
        values = np.unique(out)
        assert values.size == 2 and values[0] == 0.0 and values[1] == pytest.approx(2.0 / (1 - p), rel=1e-6)
        assert abs(float(np.mean(out == 0)) - p) < 0.01


def test_the_same_generator_state_draws_the_same_dropout_mask_and_p_zero_draws_nothing() -> None:
    layer = Layer("dropout", p=0.5)
    x = np.ones((4, 30), dtype=np.float32)
    a, _ = OPS["dropout"].forward(layer, x, None, np.random.default_rng(7))
    b, _ = OPS["dropout"].forward(layer, x, None, np.random.default_rng(7))
    c, _ = OPS["dropout"].forward(layer, x, None, np.random.default_rng(8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    rng = np.random.default_rng(1)
    y, _ = OPS["dropout"].forward(Layer("dropout", p=0.0), x, None, rng)
    assert np.array_equal(y, x) and rng.random() == np.random.default_rng(1).random()


@pytest.mark.parametrize("p", [1.0, 1.5, -0.1, float("nan"), "0.5", True, None])
def test_a_dropout_layer_refuses_p_outside_zero_to_one(p: object) -> None:
    with pytest.raises(ValueError, match="dropout layer"):
        Layer("dropout", p=p)


def test_a_dropout_layer_takes_p_from_zero_up_to_one_as_a_float() -> None:
    assert Layer("dropout", p=0).to_dict() == {"kind": "dropout", "p": 0.0}
    assert Layer.from_dict({"kind": "dropout", "p": 0.99}).p == 0.99


def test_only_dropout_takes_p() -> None:
    with pytest.raises(ValueError, match="relu layer does not take p"):
        Layer("relu", p=0.5)


# A whole model -----------------------------------------------------------------

_SMALL = ModelSpec("small", (2, 12, 10), 4, (
    Layer("conv2d", out_channels=3, kernel=3, padding=1),
    Layer("relu"),
    Layer("avgpool2d", kernel=2),
    Layer("dropout", p=0.4),
    Layer("conv2d", out_channels=4, kernel=3, stride=2),
    Layer("relu"),
    Layer("flatten"),
    Layer("dropout", p=0.25),
    Layer("dense", out_features=4),
))


class _Mask(nn.Module):
    """Multiplies by a fixed dropout mask: torch's dropout with a given draw."""

    def __init__(self, scale: np.ndarray) -> None:
        super().__init__()
        self.scale = torch.from_numpy(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


def _data(spec: ModelSpec, batch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((batch, *spec.input_shape)).astype(np.float32),
            rng.integers(0, spec.num_classes, size=batch).astype(np.int64))


def _torch_loss_and_grad(spec: ModelSpec, params: np.ndarray, x: np.ndarray, y: np.ndarray,
                         seed: int | None) -> tuple[float, np.ndarray]:
    """Torch autograd of the model; with a seed, each dropout gets the numpy mask of that seed.

    The numpy model draws one mask per dropout layer, in forward order, of
    that layer's activation shape; replaying the same draws on ones gives the
    masks (times 1 / (1 - p)).
    """
    model = build_torch_model(spec, seed=None)
    set_flat(model, params)
    if seed is None:
        model.eval()
    else:
        rng = np.random.default_rng(seed)
        for i, layer in enumerate(spec.layers):
            if layer.kind == "dropout":
                ones = np.ones((x.shape[0], *spec.shapes[i]), dtype=np.float32)
                scale, _ = OPS["dropout"].forward(layer, ones, None, rng)
                model[i] = _Mask(scale)
    model.zero_grad()
    loss = F.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
    loss.backward()
    return float(loss.detach()), flat_grad(model)


def _assert_grads_close(grad: np.ndarray, ref: np.ndarray, spec: ModelSpec) -> None:
    for name, where in spec.param_slices.items():
        scale = max(float(np.abs(ref[where]).max()), 1e-3)
        np.testing.assert_allclose(grad[where], ref[where], rtol=1e-4, atol=1e-5 * scale, err_msg=name)


@pytest.mark.parametrize("seed", [None, 0, 1, 2])
def test_a_conv_avgpool_dropout_model_loss_and_gradient_equal_torch(seed: int | None) -> None:
    params = init_params(_SMALL, 3)
    x, y = _data(_SMALL, 6, 10)
    rng = None if seed is None else np.random.default_rng(seed)
    loss, grad = npmodel.loss_and_grad(_SMALL, params, x, y, rng=rng)
    ref_loss, ref_grad = _torch_loss_and_grad(_SMALL, params, x, y, seed)
    assert loss == pytest.approx(ref_loss, rel=1e-4, abs=1e-6)
    _assert_grads_close(grad, ref_grad, _SMALL)


def test_dropout_changes_the_training_gradient_but_never_forward_or_accuracy() -> None:
    params = init_params(_SMALL, 3)
    x, y = _data(_SMALL, 6, 10)
    _, plain = npmodel.loss_and_grad(_SMALL, params, x, y)
    _, dropped = npmodel.loss_and_grad(_SMALL, params, x, y, rng=np.random.default_rng(0))
    assert not np.allclose(plain, dropped)
    model = build_torch_model(_SMALL, seed=None).eval()
    set_flat(model, params)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(npmodel.forward(_SMALL, params, x), ref, rtol=1e-4, atol=1e-5)
    assert npmodel.accuracy(_SMALL, params, x, y) == float(np.mean(ref.argmax(axis=1) == y))


@pytest.mark.parametrize("seed", [None, 5])
def test_the_layerwise_path_draws_the_same_dropout_masks_as_the_whole_model(seed: int | None) -> None:
    params = init_params(_SMALL, 4)
    x, y = _data(_SMALL, 5, 11)

    def rng() -> np.random.Generator | None:
        return None if seed is None else np.random.default_rng(seed)

    loss, grad = npmodel.loss_and_grad(_SMALL, params, x, y, rng=rng())
    layer_loss, layer_grad = loss_and_grad_layerwise(_SMALL, params, x, y, rng=rng())
    assert layer_loss == pytest.approx(loss, rel=1e-6)
    np.testing.assert_allclose(layer_grad, grad, rtol=1e-6, atol=1e-7)


def test_a_round_of_local_steps_with_dropout_is_reproducible_from_its_seeds() -> None:
    params = init_params(_SMALL, 0)
    x, y = _data(_SMALL, 40, 12)

    def run(drop_seed: int) -> np.ndarray:
        delta, _ = local_train(_SMALL, params, x, y, 3, 0.05, 8, np.random.default_rng(1),
                               dropout=npmodel.dropout_rng(0, 2, drop_seed))
        return delta

    assert np.array_equal(run(5), run(5))
    assert not np.array_equal(run(5), run(6))
