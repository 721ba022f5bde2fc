"""Layer-wise push/pull mechanics: streaming backward, segments, frames, model reassembly."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import sgc
from sparrow.agent import npmodel
from sparrow.common.dynacomm import Segmentation
from sparrow.common.modelspec import MODELS, Layer, ModelSpec, get_spec, init_params
from sparrow.agent.segmented import (
    LayerGradient,
    LayerwiseBackward,
    ModelAssembler,
    encode_gradient_segment,
    forward_layers,
    group_segments,
    loss_and_grad_layerwise,
)
from sparrow.common.segments import encode_model_segments, layer_groups, segment_ranges

needs_codec = pytest.mark.skipif(
    not all(hasattr(sgc, name) for name in ("encode_sparse", "encode_dense", "decode", "decode_into")),
    reason="the sgc frame codec binding is not built yet")


def batch(spec: ModelSpec, size: int = 5, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((size, *spec.input_shape)).astype(np.float32)
    y = rng.integers(0, spec.num_classes, size)
    return x, y


def leading_free_layers_model() -> ModelSpec:
    return ModelSpec("t", (2, 12), 3, (
        Layer("maxpool1d", kernel=2), Layer("conv1d", out_channels=4, kernel=3), Layer("relu"),
        Layer("flatten"), Layer("dense", out_features=6), Layer("relu"), Layer("dense", out_features=3)))


ALL_SPECS = [get_spec(name) for name in sorted(MODELS)] + [leading_free_layers_model()]


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_layer_groups_cover_every_layer_and_parameter_once_in_order(spec: ModelSpec) -> None:
    groups = layer_groups(spec)
    assert [g.param for g in groups] == [i for i in range(len(spec.layers)) if f"{i}.weight" in spec.param_slices]
    assert groups[0].first == 0 and groups[-1].stop == len(spec.layers)
    assert all(a.stop == b.first for a, b in zip(groups, groups[1:]))
    assert [(g.start, g.end) for g in groups] == spec.layer_param_ranges
    assert sum(g.size for g in groups) == spec.num_params


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_layerwise_backward_equals_npmodel_loss_and_grad(spec: ModelSpec) -> None:
    params = init_params(spec, seed=3)
    x, y = batch(spec)
    loss, grad = loss_and_grad_layerwise(spec, params, x, y)
    ref_loss, ref_grad = npmodel.loss_and_grad(spec, params, x, y)
    assert loss == pytest.approx(ref_loss, rel=1e-6)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5, atol=1e-7)


def test_layerwise_backward_yields_the_last_layer_first_before_the_rest_is_computed() -> None:
    spec = get_spec("cnn_fmnist")
    params = init_params(spec, seed=0)
    x, y = batch(spec)
    groups = layer_groups(spec)
    fwd = forward_layers(spec, x, lambda j: params[groups[j].start:groups[j].end])
    stream = iter(LayerwiseBackward(spec, fwd, y))
    first = next(stream)
    _, ref = npmodel.loss_and_grad(spec, params, x, y)
    assert first.layer == len(groups) - 1
    np.testing.assert_allclose(first.values, ref[first.start:first.end], rtol=1e-5, atol=1e-7)
    rest = list(stream)
    assert [g.layer for g in rest] == list(range(len(groups) - 2, -1, -1))
    assert all(g.seconds >= 0 for g in rest)


def test_forward_layers_rejects_parameters_of_the_wrong_size() -> None:
    spec = get_spec("mlp_digits")
    x, _ = batch(spec)
    with pytest.raises(ValueError, match="layer 0 needs 2080 parameters"):
        forward_layers(spec, x, lambda j: np.zeros(3, dtype=np.float32))


def _stream(n: int, sizes: list[int]) -> list[LayerGradient]:
    starts = np.concatenate(([0], np.cumsum(sizes)))
    return [LayerGradient(j, int(starts[j]), int(starts[j + 1]),
                          np.arange(starts[j], starts[j + 1], dtype=np.float32), 0.0)
            for j in range(n - 1, -1, -1)]


def test_group_segments_emits_each_planned_segment_once_its_lowest_layer_is_done() -> None:
    sizes = [3, 1, 4, 2, 5]
    segs = list(group_segments(_stream(5, sizes), Segmentation((0, 2, 3), 5)))
    assert [s.segment_id for s in segs] == [2, 1, 0]
    assert all(s.segment_count == 3 for s in segs)
    assert [(s.start, s.end) for s in segs] == [(8, 15), (4, 8), (0, 4)]
    for s in segs:
        np.testing.assert_array_equal(s.values, np.arange(s.start, s.end, dtype=np.float32))


def test_group_segments_rejects_a_stream_out_of_backward_order() -> None:
    stream = _stream(3, [1, 1, 1])
    stream[0], stream[1] = stream[1], stream[0]
    with pytest.raises(ValueError, match="expected layer 2"):
        list(group_segments(stream, Segmentation.per_layer(3)))


def test_group_segments_rejects_a_stream_that_ends_early() -> None:
    with pytest.raises(ValueError, match="ended before layer 0"):
        list(group_segments(_stream(3, [1, 1, 1])[:2], Segmentation.per_layer(3)))


def test_segment_ranges_rejects_a_plan_for_another_model() -> None:
    with pytest.raises(ValueError, match="3 planning layers"):
        segment_ranges(get_spec("cnn_fmnist"), Segmentation.per_layer(2))


# Frames -------------------------------------------------------------------------


def _pushed_gradient(spec: ModelSpec, plan: Segmentation, density: float = 1.0) -> tuple[np.ndarray, list[bytes]]:
    params = init_params(spec, seed=5)
    x, y = batch(spec)
    groups = layer_groups(spec)
    fwd = forward_layers(spec, x, lambda j: params[groups[j].start:groups[j].end])
    frames = [encode_gradient_segment(s, spec.num_params, density=density, device_id=7, round=3, seq=s.segment_id)
              for s in group_segments(LayerwiseBackward(spec, fwd, y), plan)]
    return npmodel.loss_and_grad(spec, params, x, y)[1], frames


@needs_codec
@pytest.mark.parametrize("starts", [(0,), (0, 1, 2), (0, 2)])
def test_pushed_segments_rebuild_the_whole_gradient_without_knowing_the_plan(starts: tuple[int, ...]) -> None:
    spec = get_spec("cnn_fmnist")
    plan = Segmentation(starts, 3)
    ref, frames = _pushed_gradient(spec, plan)
    assert len(frames) == plan.count
    total = np.zeros(spec.num_params, dtype=np.float32)
    seen = []
    for frame in frames:
        header = sgc.decode_into(frame, total)
        seen.append((header.segment_id, header.segment_count, header.device_id, header.round))
    assert seen == [(m, plan.count, 7, 3) for m in range(plan.count - 1, -1, -1)]
    np.testing.assert_allclose(total, ref, rtol=1e-5, atol=1e-7)


@needs_codec
def test_a_sparse_push_segment_keeps_the_largest_entries_of_its_own_range() -> None:
    spec = get_spec("cnn_fmnist")
    ref, frames = _pushed_gradient(spec, Segmentation.per_layer(3), density=0.1)
    ranges = spec.layer_param_ranges
    for frame, (start, end) in zip(frames, reversed(ranges)):
        decoded = sgc.decode(frame)
        idx = np.asarray(decoded.indices)
        assert idx.min() >= start and idx.max() < end
        k = max(1, round(0.1 * (end - start)))
        assert idx.size == k
        threshold = np.sort(np.abs(ref[start:end]))[-k]
        assert np.all(np.abs(ref[idx]) >= threshold * (1 - 1e-5))


def test_encode_gradient_segment_rejects_a_density_outside_the_unit_interval() -> None:
    spec = get_spec("mlp_digits")
    seg = next(iter(group_segments(_stream(2, [2080, 330]), Segmentation.one_message(2))))
    with pytest.raises(ValueError, match="density"):
        encode_gradient_segment(seg, spec.num_params, density=0.0)


@needs_codec
def test_forward_starts_on_early_layers_while_later_segments_still_arrive() -> None:
    spec = get_spec("cnn_fmnist")
    params = init_params(spec, seed=9)
    x, _ = batch(spec)
    plan = Segmentation.per_layer(3)
    frames = encode_model_segments(spec, params, plan, round=4)
    assembler = ModelAssembler(spec, plan, round=4)
    asked: list[tuple[int, bool]] = []

    def layer(j: int) -> np.ndarray:
        asked.append((j, assembler.complete))
        return assembler.layer(j, timeout_s=10.0)

    def deliver() -> None:
        for frame in frames:
            assembler.feed(frame)
            time.sleep(0.2)

    sender = threading.Thread(target=deliver)
    sender.start()
    result = forward_layers(spec, x, layer)
    sender.join()
    assert asked[0] == (0, False) and asked[1] == (1, False)
    np.testing.assert_allclose(result.logits, npmodel.forward(spec, params, x), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(assembler.params, params)
    assert result.waited_s[1] > 0.05


@needs_codec
def test_model_assembler_rejects_segments_of_another_plan_or_version() -> None:
    spec = get_spec("cnn_fmnist")
    params = init_params(spec, seed=2)
    frames = encode_model_segments(spec, params, Segmentation.per_layer(3), round=1)
    with pytest.raises(ValueError, match="segment_count 3 does not match the plan's 2"):
        ModelAssembler(spec, Segmentation((0, 2), 3)).feed(frames[0])
    other = encode_model_segments(spec, params, Segmentation((0, 1), 3), round=1)
    with pytest.raises(ValueError, match="carries 5786 values, the plan says 2570"):
        ModelAssembler(spec, Segmentation((0, 2), 3)).feed(other[1])
    with pytest.raises(ValueError, match="version 1, expected 2"):
        ModelAssembler(spec, Segmentation.per_layer(3), round=2).feed(frames[0])


def test_model_assembler_times_out_when_a_segment_never_comes() -> None:
    spec = get_spec("cnn_fmnist")
    assembler = ModelAssembler(spec, Segmentation.per_layer(3))
    with pytest.raises(TimeoutError, match="segment 2"):
        assembler.layer(2, timeout_s=0.05)
