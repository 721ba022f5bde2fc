"""Your own model: a PyTorch file, a JSON or a TOML description becomes the model every node runs."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from sparrow.common.modelspec import MODELS, get_spec, load_spec_file, resolve_spec
from sparrow.host.model_import import resolve_host_model, spec_from_module, spec_from_python
from sparrow.host.torch_model import build_torch_model, get_flat, set_flat

_NET = """
from torch import nn


def layers():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Sequential(nn.Conv2d(4, 6, 3, stride=2), nn.ReLU()),
        nn.AvgPool2d(2, stride=1),
        nn.Flatten(),
        nn.Dropout(0.25),
        nn.Linear(6 * 2 * 2, 5),
    )


def as_pair():
    return layers(), (1, 16, 16)


def on_module():
    module = layers()
    module.input_shape = (1, 16, 16)
    return module


def on_function():
    return layers()


on_function.input_shape = [1, 16, 16]
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _error(call: Any, *args: Any) -> str:
    """The one-line message of the ValueError ``call(*args)`` raises."""
    with pytest.raises(ValueError) as info:
        call(*args)
    message = str(info.value)
    assert "\n" not in message and message
    return message


@pytest.mark.parametrize("function", ["as_pair", "on_module", "on_function"])
def test_a_python_model_file_converts_whichever_way_it_gives_its_input_shape(tmp_path: Path,
                                                                             function: str) -> None:
    path = _write(tmp_path, "net.py", _NET)
    spec = spec_from_python(f"{path}:{function}")
    assert spec.name == "net"
    assert spec.input_shape == (1, 16, 16) and spec.num_classes == 5
    assert [layer.kind for layer in spec.layers] == [
        "conv2d", "relu", "maxpool2d", "conv2d", "relu", "avgpool2d", "flatten", "dropout", "dense"]
    assert spec.layers[0].padding == 1 and spec.layers[3].stride == 2
    assert spec.layers[5].kernel == 2 and spec.layers[5].stride == 1
    assert spec.layers[7].p == 0.25


def test_the_hosts_model_with_the_users_weights_gives_the_users_logits(tmp_path: Path) -> None:
    path = _write(tmp_path, "net.py", _NET)
    spec = spec_from_python(f"{path}:as_pair")
    torch.manual_seed(0)
    namespace: dict[str, Any] = {}
    exec(compile(textwrap.dedent(_NET), str(path), "exec"), namespace)
    user, shape = namespace["as_pair"]()
    host = build_torch_model(spec, seed=None)
    # The user's parameters, in parameters() order, are the description's flat vector.
    flat = get_flat(user)
    assert flat.size == spec.num_params
    set_flat(host, flat)
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((8, *shape)).astype(np.float32))
    user.eval()
    host.eval()
    with torch.no_grad():
        np.testing.assert_allclose(host(x).numpy(), user(x).numpy(), rtol=1e-5, atol=1e-6)


def test_a_module_converts_without_a_file() -> None:
    module = torch.nn.Sequential(torch.nn.Conv1d(6, 8, 5, stride=2), torch.nn.ReLU(), torch.nn.AvgPool1d(48),
                                 torch.nn.Flatten(), torch.nn.Linear(8, 7))
    spec = spec_from_module(module, (6, 100), "watch_small")
    assert spec.to_dict()["layers"][0] == {"kind": "conv1d", "out_channels": 8, "kernel": 5, "stride": 2,
                                           "padding": 0}
    assert spec.num_classes == 7


def _toml(data: dict) -> str:
    """A ModelSpec dict as TOML: top-level keys first, then one [[layers]] table per layer."""
    def value(v: Any) -> str:
        return json.dumps(v)  # ints, floats, strings and int lists read the same in TOML

    lines = [f"{key} = {value(v)}" for key, v in data.items() if key != "layers"]
    for layer in data["layers"]:
        lines += ["", "[[layers]]", *(f"{key} = {value(v)}" for key, v in layer.items())]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name", sorted(MODELS))
def test_json_and_toml_descriptions_load_as_the_registered_model(tmp_path: Path, name: str) -> None:
    data = get_spec(name).to_dict()
    json_path = _write(tmp_path, f"{name}.json", json.dumps(data, indent=1))
    toml_path = _write(tmp_path, f"{name}.toml", _toml(data))
    for path in (json_path, toml_path):
        assert load_spec_file(path).to_dict() == data
        assert resolve_spec(str(path), data["num_classes"]) == get_spec(name)
        assert resolve_host_model(str(path), None) == get_spec(name)


def test_a_toml_description_may_leave_out_the_version_and_default_strides(tmp_path: Path) -> None:
    path = _write(tmp_path, "tiny.toml", """
        name = "tiny"
        input_shape = [1, 8, 8]
        num_classes = 3

        [[layers]]
        kind = "avgpool2d"
        kernel = 2

        [[layers]]
        kind = "flatten"

        [[layers]]
        kind = "dropout"
        p = 0.5

        [[layers]]
        kind = "dense"
        out_features = 3
    """)
    spec = load_spec_file(path)
    assert spec.layers[0].stride == 2 and spec.layers[2].p == 0.5 and spec.shapes[-2] == (16,)


def test_a_registered_name_resolves_on_both_sides() -> None:
    assert resolve_spec("cnn_fmnist", 10) == get_spec("cnn_fmnist", 10)
    assert resolve_host_model("mlp_digits", 4) == get_spec("mlp_digits", 4)


# Bad input: one line each -------------------------------------------------------


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    assert _error(spec_from_python, f"{tmp_path}/absent.py:build") == f"{tmp_path}/absent.py: no such file"
    assert _error(load_spec_file, tmp_path / "absent.json") == f"{tmp_path}/absent.json: no such model description file"
    assert "no such model description file" in _error(resolve_host_model, f"{tmp_path}/absent.toml", None)


def test_a_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "broken.py", "from torch import nn\n\ndef build(:\n    pass\n")
    assert _error(spec_from_python, f"{path}:build").startswith(f"{path}:3: syntax error: ")


def test_a_parse_error_in_a_description_names_the_file_and_line(tmp_path: Path) -> None:
    bad_json = _write(tmp_path, "bad.json", '{\n  "name": "x",\n  "input_shape": [1, 2,\n}\n')
    assert _error(load_spec_file, bad_json).startswith(f"{bad_json}:4:1: invalid JSON: ")
    bad_toml = _write(tmp_path, "bad.toml", 'name = "x"\ninput_shape = [1, 2\nnum_classes = 3\n')
    message = _error(load_spec_file, bad_toml)
    assert message.startswith(f"{bad_toml}: invalid TOML: ") and "line" in message


def test_wrong_keys_and_values_in_a_description_are_refused_naming_the_file(tmp_path: Path) -> None:
    data = get_spec("mlp_digits").to_dict()
    unknown = _write(tmp_path, "unknown.json", json.dumps({**data, "loss": "mse"}))
    assert _error(load_spec_file, unknown) == f"{unknown}: model description has unknown keys ['loss']"
    data["layers"][1]["out_features"] = -3
    bad = _write(tmp_path, "bad.json", json.dumps(data))
    assert _error(load_spec_file, bad) == f"{bad}: mlp_digits: layer 1: dense layer: out_features must be > 0, got -3"
    listed = _write(tmp_path, "list.json", "[1, 2]")
    assert "a model description is a table" in _error(load_spec_file, listed)
    other = _write(tmp_path, "model.yaml", "name: x")
    assert _error(load_spec_file, other) == f"{other}: a model description file must end in .json or .toml"


def test_the_class_count_of_a_file_must_match_the_data_set(tmp_path: Path) -> None:
    path = _write(tmp_path, "digits.json", json.dumps(get_spec("mlp_digits").to_dict()))
    assert _error(resolve_spec, str(path), 7) == f"{path}: the model has 10 classes but the data set has 7"
    net = _write(tmp_path, "net.py", _NET)
    assert "has 5 classes (its last nn.Linear) but the data set has 10" in _error(
        resolve_host_model, f"{net}:as_pair", 10)


def test_an_unknown_reference_lists_the_accepted_forms() -> None:
    common = _error(resolve_spec, "resnet50", None)
    assert "registered model (cnn1d_watch, cnn_fmnist, mlp_digits, mlp_fmnist)" in common
    assert ".json or .toml" in common
    host = _error(resolve_host_model, "resnet50", None)
    assert ".json or .toml" in host and "path/to/model.py:build" in host
    assert _error(resolve_host_model, "net.py", None) == "net.py: name the function that builds the model too, e.g. net.py:build"


def test_a_callable_that_raises_is_reported_in_one_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "model.py", """
        def build():
            raise ValueError("no weights\\nfor you")
    """)
    assert _error(spec_from_python, f"{path}:build") == f"{path}:build raised ValueError: no weights for you"


def test_an_unsupported_layer_is_named_with_the_supported_list(tmp_path: Path) -> None:
    path = _write(tmp_path, "model.py", """
        from torch import nn

        def build():
            return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Sequential(nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4)),
                                 nn.Flatten(), nn.Linear(4 * 24 * 24, 10)), (1, 28, 28)
    """)
    assert _error(spec_from_python, f"{path}:build") == (
        f"{path}: layer 3 (nn.BatchNorm2d) is not supported; supported: Linear, Conv1d, Conv2d, ReLU, "
        f"MaxPool1d, MaxPool2d, AvgPool1d, AvgPool2d, Flatten, Dropout")


def test_a_missing_input_shape_says_how_to_give_one(tmp_path: Path) -> None:
    path = _write(tmp_path, "model.py", """
        from torch import nn

        def build():
            return nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    """)
    message = _error(spec_from_python, f"{path}:build")
    assert message.startswith(f"{path}:build: no input shape; return (module, input_shape)")


def _module_file(tmp_path: Path, body: str) -> str:
    path = _write(tmp_path, "model.py", "from torch import nn\n\n\ndef build():\n    return " + body + "\n")
    return f"{path}:build"


@pytest.mark.parametrize("body, expected", [
    ("nn.Sequential(nn.Conv2d(1, 2, 3, dilation=2), nn.Flatten(), nn.Linear(2 * 24 * 24, 3)), (1, 28, 28)",
     "layer 0 (nn.Conv2d): dilation=(2, 2) is not supported (needs 1)"),
    ("nn.Sequential(nn.Conv2d(2, 2, 3, groups=2), nn.Flatten(), nn.Linear(2 * 26 * 26, 3)), (2, 28, 28)",
     "layer 0 (nn.Conv2d): groups=2 is not supported (needs 1)"),
    ("nn.Sequential(nn.Conv1d(1, 2, 3, bias=False), nn.Flatten(), nn.Linear(2 * 8, 3)), (1, 10)",
     "layer 0 (nn.Conv1d): bias=False is not supported (needs a bias)"),
    ("nn.Sequential(nn.Conv2d(1, 2, (3, 5)), nn.Flatten(), nn.Linear(2 * 26 * 24, 3)), (1, 28, 28)",
     "layer 0 (nn.Conv2d): kernel_size=(3, 5) is not supported (the kernel must be the same on every axis)"),
    ("nn.Sequential(nn.MaxPool2d(2, padding=1), nn.Flatten(), nn.Linear(15 * 15, 3)), (1, 28, 28)",
     "layer 0 (nn.MaxPool2d): padding=1 is not supported (needs 0)"),
    ("nn.Sequential(nn.AvgPool1d(3, ceil_mode=True), nn.Flatten(), nn.Linear(4, 3)), (1, 10)",
     "layer 0 (nn.AvgPool1d): ceil_mode=True is not supported (needs False)"),
    ("nn.Sequential(nn.Flatten(), nn.Linear(4, 3, bias=False)), (4,)",
     "layer 1 (nn.Linear): bias=False is not supported (needs a bias)"),
    ("nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU()), (4,)",
     "layer 2 (relu) must be a dense layer producing the 3 class logits, got output shape (3,)"),
    ("nn.Sequential(nn.Conv1d(1, 2, 3), nn.Linear(8, 3)), (1, 10)",
     "layer 1 (dense) needs input a flat vector (add a flatten layer first), got shape (2, 8)"),
    ("nn.Sequential(nn.Conv1d(1, 2, 3), nn.Flatten(), nn.Linear(20, 3)), (1, 10)",
     "layer 2 (nn.Linear): in_features=20 but its input has shape (16,) (one sample, from input_shape (1, 10))"),
    ("nn.Sequential(nn.Conv1d(3, 2, 3), nn.Flatten(), nn.Linear(16, 3)), (1, 10)",
     "layer 0 (nn.Conv1d): in_channels=3 but its input has shape (1, 10) (one sample, from input_shape (1, 10))"),
    ("nn.Sequential(nn.Flatten(), nn.ReLU()), (4,)",
     "the model has no nn.Linear; it must end with the nn.Linear giving the class logits"),
    ("nn.ModuleList([nn.Linear(4, 3)]), (4,)",
     "the model must be an nn.Sequential (nested ones are flattened), got ModuleList"),
])
def test_a_layer_setting_sparrow_cannot_run_is_refused_naming_it(tmp_path: Path, body: str, expected: str) -> None:
    ref = _module_file(tmp_path, body)
    assert _error(spec_from_python, ref) == f"{tmp_path / 'model.py'}: {expected}"


def test_a_callable_must_return_a_module(tmp_path: Path) -> None:
    ref = _module_file(tmp_path, "42")
    assert _error(spec_from_python, ref) == f"{ref} returned int, not an nn.Module or (nn.Module, input_shape)"


def test_a_missing_function_and_a_malformed_reference_are_refused(tmp_path: Path) -> None:
    ref = _module_file(tmp_path, "None")
    path = ref.rsplit(":", 1)[0]
    assert _error(spec_from_python, f"{path}:make") == f"{path}: has no function 'make'"
    assert "path/to/model.py:function" in _error(spec_from_python, "model.py")


def test_a_bad_input_shape_is_refused(tmp_path: Path) -> None:
    ref = _module_file(tmp_path, "nn.Sequential(nn.Flatten(), nn.Linear(4, 3)), (0, 4)")
    assert _error(spec_from_python, ref).startswith(f"{ref}: input_shape must be a tuple of positive ints")
