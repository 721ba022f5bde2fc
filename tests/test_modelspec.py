"""The shared model description: registry, layout, validation, JSON, init."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparrow.common import datasets
from sparrow.common.modelspec import (
    LAYER_KINDS,
    MODELS,
    Layer,
    ModelSpec,
    get_spec,
    init_params,
)


def _spec_of(layers: list[Layer], input_shape: tuple[int, ...] = (2, 12), classes: int = 3) -> ModelSpec:
    return ModelSpec("t", input_shape, classes, tuple(layers))


# Registry ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_registered_model_survives_a_json_round_trip(name: str) -> None:
    spec = get_spec(name)
    text = json.dumps(spec.to_dict())
    again = ModelSpec.from_dict(json.loads(text))
    assert again == spec
    assert again.param_shapes == spec.param_shapes


@pytest.mark.parametrize("name", sorted(MODELS))
def test_registered_models_end_in_a_dense_layer_of_num_classes(name: str) -> None:
    spec = get_spec(name)
    assert spec.layers[-1].kind == "dense"
    assert spec.shapes[-1] == (spec.num_classes,)


def test_registered_parameter_counts_match_hand_arithmetic() -> None:
    assert get_spec("mlp_digits").num_params == 64 * 32 + 32 + 32 * 10 + 10
    assert get_spec("mlp_fmnist").num_params == 784 * 128 + 128 + 128 * 10 + 10
    # conv 1->8 k5, conv 8->16 k5, 16 x 4 x 4 features -> 10.
    assert get_spec("cnn_fmnist").num_params == (8 * 25 + 8) + (16 * 8 * 25 + 16) + (256 * 10 + 10)
    # conv 6->16 k5, conv 16->32 k5, 32 pooled features -> 7.
    assert get_spec("cnn1d_watch").num_params == (16 * 6 * 5 + 16) + (32 * 16 * 5 + 32) + (32 * 7 + 7)


@pytest.mark.parametrize("name, data_name", [
    ("mlp_digits", "digits"), ("mlp_fmnist", "fashion_mnist"), ("cnn_fmnist", "fashion_mnist"),
    ("cnn1d_watch", "watch"),
])
def test_registered_models_take_the_samples_and_classes_of_their_data_set(name: str, data_name: str) -> None:
    data = datasets.load(data_name)
    spec = get_spec(name, num_classes=data.num_classes)
    assert spec.input_shape == data.input_shape
    assert spec.num_classes == get_spec(name).num_classes


def test_cnn1d_watch_stays_a_few_thousand_parameters_for_microcontrollers() -> None:
    assert 1000 <= get_spec("cnn1d_watch", num_classes=10).num_params <= 5000


def test_get_spec_takes_the_number_of_classes_from_the_caller() -> None:
    spec = get_spec("cnn1d_watch", num_classes=5)
    assert spec.num_classes == 5
    assert spec.param_shapes[-1] == ("7.bias", (5,))


def test_get_spec_rejects_an_unknown_name_and_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown model 'resnet'.*cnn_fmnist"):
        get_spec("resnet")


def test_get_spec_rejects_fewer_than_two_classes() -> None:
    with pytest.raises(ValueError, match="num_classes"):
        get_spec("mlp_digits", num_classes=1)


# Layout --------------------------------------------------------------------


def test_param_shapes_follow_pytorch_layout_named_by_layer_position() -> None:
    spec = get_spec("cnn_fmnist")
    assert spec.param_shapes == [
        ("0.weight", (8, 1, 5, 5)),
        ("0.bias", (8,)),
        ("3.weight", (16, 8, 5, 5)),
        ("3.bias", (16,)),
        ("7.weight", (10, 256)),
        ("7.bias", (10,)),
    ]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_param_slices_tile_the_flat_vector_in_order(name: str) -> None:
    spec = get_spec(name)
    slices = spec.param_slices
    start = 0
    for tensor, shape in spec.param_shapes:
        assert slices[tensor] == slice(start, start + math.prod(shape))
        start += math.prod(shape)
    assert start == spec.num_params


@pytest.mark.parametrize("name", sorted(MODELS))
def test_layer_param_ranges_cover_weight_and_bias_of_each_parametrised_layer(name: str) -> None:
    spec = get_spec(name)
    ranges = spec.layer_param_ranges
    slices = spec.param_slices
    positions = [i for i, layer in enumerate(spec.layers) if f"{i}.weight" in slices]
    assert ranges == [(slices[f"{i}.weight"].start, slices[f"{i}.bias"].stop) for i in positions]
    assert ranges[0][0] == 0 and ranges[-1][1] == spec.num_params
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))


def test_shapes_follow_floor_mode_window_arithmetic() -> None:
    spec = _spec_of([
        Layer("conv1d", out_channels=4, kernel=3, stride=2, padding=1),  # (12 + 2 - 3) // 2 + 1 = 6
        Layer("maxpool1d", kernel=4),  # 6 // 4 = 1
        Layer("flatten"),
        Layer("dense", out_features=3),
    ])
    assert spec.shapes == [(2, 12), (4, 6), (4, 1), (4,), (3,)]


def test_pool_stride_defaults_to_kernel_and_conv_stride_to_one() -> None:
    assert Layer("maxpool2d", kernel=3).stride == 3
    assert Layer("avgpool1d", kernel=2, stride=1).stride == 1
    assert Layer("conv2d", out_channels=2, kernel=3).stride == 1


# Validation ----------------------------------------------------------------


def test_layer_rejects_an_unknown_kind_and_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown layer kind 'lstm'.*conv1d"):
        Layer("lstm")


def test_layer_rejects_a_hyper_parameter_its_kind_does_not_take() -> None:
    with pytest.raises(ValueError, match="relu layer does not take kernel"):
        Layer("relu", kernel=3)
    with pytest.raises(ValueError, match="maxpool1d layer does not take padding"):
        Layer("maxpool1d", kernel=2, padding=1)


@pytest.mark.parametrize("kwargs, message", [
    ({"kind": "dense"}, "out_features must be > 0"),
    ({"kind": "conv2d", "out_channels": 4}, "kernel must be > 0"),
    ({"kind": "conv1d", "out_channels": 4, "kernel": 3, "stride": 0}, "stride must be > 0"),
    ({"kind": "conv1d", "out_channels": 4, "kernel": 3, "padding": -1}, "padding must be >= 0"),
    ({"kind": "dense", "out_features": 2.5}, "out_features must be an int"),
    ({"kind": "dense", "out_features": True}, "out_features must be an int"),
])
def test_layer_rejects_missing_or_invalid_hyper_parameters(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Layer(**kwargs)


def test_spec_rejects_a_conv_that_does_not_fit_its_input_naming_the_layer() -> None:
    with pytest.raises(ValueError, match=r"layer 2 \(conv2d\): kernel 5 with padding 0 does not fit input \(4, 2, 2\)"):
        ModelSpec("small", (1, 6, 6), 10, (
            Layer("conv2d", out_channels=4, kernel=3),
            Layer("maxpool2d", kernel=2),
            Layer("conv2d", out_channels=4, kernel=5),
            Layer("flatten"),
            Layer("dense", out_features=10),
        ))


def test_spec_rejects_a_pool_larger_than_its_input_naming_the_layer() -> None:
    with pytest.raises(ValueError, match=r"layer 0 \(avgpool1d\): pool kernel 20 does not fit"):
        _spec_of([Layer("avgpool1d", kernel=20), Layer("flatten"), Layer("dense", out_features=3)])


def test_spec_rejects_a_dense_layer_on_unflattened_input_naming_the_layer() -> None:
    with pytest.raises(ValueError, match=r"layer 0 \(dense\) needs input a flat vector \(add a flatten"):
        _spec_of([Layer("dense", out_features=3)])


def test_spec_rejects_a_2d_layer_on_1d_signals_naming_the_layer() -> None:
    with pytest.raises(ValueError, match=r"layer 1 \(maxpool2d\) needs input \(channels, height, width\)"):
        _spec_of([Layer("relu"), Layer("maxpool2d", kernel=2), Layer("flatten"), Layer("dense", out_features=3)])


def test_spec_rejects_an_output_that_is_not_the_class_logits() -> None:
    with pytest.raises(ValueError, match=r"layer 2 \(dense\) must be a dense layer producing the 3 class logits"):
        _spec_of([Layer("flatten"), Layer("dense", out_features=8), Layer("dense", out_features=4)])
    with pytest.raises(ValueError, match=r"layer 2 \(relu\) must be a dense layer"):
        _spec_of([Layer("flatten"), Layer("dense", out_features=3), Layer("relu")])


def test_spec_rejects_an_empty_model_and_a_bad_input_shape() -> None:
    with pytest.raises(ValueError, match="at least one layer"):
        _spec_of([])
    with pytest.raises(ValueError, match="input_shape"):
        _spec_of([Layer("flatten"), Layer("dense", out_features=3)], input_shape=(0, 4))


@pytest.mark.parametrize("field, value, message", [
    ("input_shape", [1, 8.5, 8], "input_shape must be non-empty positive ints"),
    ("input_shape", 64, "input_shape must be a list"),
    ("num_classes", "10", "num_classes must be an int >= 2"),
    ("layers", {"kind": "relu"}, "layers must be a list"),
])
def test_from_dict_rejects_fields_of_the_wrong_type(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ModelSpec.from_dict({**get_spec("mlp_digits").to_dict(), field: value})


def test_from_dict_names_a_layer_that_is_not_a_dict() -> None:
    data = get_spec("mlp_digits").to_dict()
    data["layers"][2] = "relu"
    with pytest.raises(ValueError, match="mlp_digits: layer 2: a layer must be a dict, got 'relu'"):
        ModelSpec.from_dict(data)


def test_from_dict_names_the_layer_with_an_unknown_key() -> None:
    data = get_spec("mlp_digits").to_dict()
    data["layers"][1]["dropout"] = 0.5
    with pytest.raises(ValueError, match=r"mlp_digits: layer 1: dense layer dict has unknown keys \['dropout'\]"):
        ModelSpec.from_dict(data)


def test_from_dict_rejects_other_versions_and_missing_or_unknown_fields() -> None:
    data = get_spec("mlp_digits").to_dict()
    with pytest.raises(ValueError, match="version 2 is not supported"):
        ModelSpec.from_dict({**data, "version": 2})
    with pytest.raises(ValueError, match=r"lacks \['num_classes'\]"):
        ModelSpec.from_dict({k: v for k, v in data.items() if k != "num_classes"})
    with pytest.raises(ValueError, match=r"unknown keys \['loss'\]"):
        ModelSpec.from_dict({**data, "loss": "mse"})


def test_to_dict_writes_only_the_hyper_parameters_each_kind_uses() -> None:
    layers = get_spec("cnn1d_watch").to_dict()["layers"]
    assert layers[0] == {"kind": "conv1d", "out_channels": 16, "kernel": 5, "stride": 2, "padding": 0}
    assert layers[1] == {"kind": "relu"}
    assert layers[2] == {"kind": "maxpool1d", "kernel": 2, "stride": 2}
    assert layers[-1] == {"kind": "dense", "out_features": 7}


_ONE_D_KINDS = ["conv1d", "relu", "maxpool1d", "avgpool1d"]


@st.composite
def _random_1d_specs(draw: st.DrawFn) -> dict:
    layers = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(_ONE_D_KINDS))
        layer: dict = {"kind": kind}
        if kind == "conv1d":
            layer.update(out_channels=draw(st.integers(1, 4)), kernel=draw(st.integers(1, 5)),
                         stride=draw(st.integers(1, 3)), padding=draw(st.integers(0, 2)))
        elif kind != "relu":
            layer.update(kernel=draw(st.integers(1, 4)), stride=draw(st.integers(1, 4)))
        layers.append(layer)
    layers += [{"kind": "flatten"}, {"kind": "dense", "out_features": 3}]
    return {"version": 1, "name": "h", "input_shape": [2, draw(st.integers(1, 40))],
            "num_classes": 3, "layers": layers}


@settings(max_examples=150, deadline=None)
@given(_random_1d_specs())
def test_any_accepted_description_round_trips_and_any_rejected_one_names_a_layer(data: dict) -> None:
    try:
        spec = ModelSpec.from_dict(data)
    except ValueError as exc:
        assert "layer" in str(exc)
        return
    assert ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert all(min(shape) >= 1 for shape in spec.shapes)
    assert sum(math.prod(s) for _, s in spec.param_shapes) == spec.num_params


def test_every_layer_kind_is_in_the_registry() -> None:
    assert set(LAYER_KINDS) == {"dense", "conv1d", "conv2d", "relu", "maxpool1d", "avgpool1d",
                                "maxpool2d", "avgpool2d", "flatten", "dropout"}


# Initialisation ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODELS))
def test_init_is_deterministic_for_a_seed_and_differs_across_seeds(name: str) -> None:
    spec = get_spec(name)
    a, b, c = init_params(spec, 7), init_params(spec, 7), init_params(spec, 8)
    assert a.dtype == np.float32 and a.shape == (spec.num_params,)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_init_draws_he_uniform_weights_and_zero_biases(name: str) -> None:
    spec = get_spec(name)
    flat = init_params(spec, 1)
    for tensor, shape in spec.param_shapes:
        values = flat[spec.param_slices[tensor]]
        if tensor.endswith(".bias"):
            assert not values.any()
            continue
        bound = math.sqrt(6.0 / math.prod(shape[1:]))
        assert np.abs(values).max() <= bound
        if values.size >= 200:
            # Uniform on [-bound, bound): standard deviation bound / sqrt(3).
            assert abs(values.std() - bound / math.sqrt(3)) < 0.15 * bound
            assert abs(values.mean()) < 0.1 * bound


def test_init_uses_splitmix64_so_other_platforms_can_reproduce_it() -> None:
    # splitmix64 seeded with 0 first yields 0xE220A8397B1DCDAF (its published
    # reference output); the first weight takes the top 24 bits of it.
    spec = get_spec("mlp_digits")
    u = (0xE220A8397B1DCDAF >> 40) / float(1 << 24)
    expected = np.float32((2.0 * u - 1.0) * math.sqrt(6.0 / 64))
    assert init_params(spec, 0)[0] == expected


def test_init_rejects_a_negative_seed() -> None:
    with pytest.raises(ValueError, match="seed"):
        init_params(get_spec("mlp_digits"), -1)
