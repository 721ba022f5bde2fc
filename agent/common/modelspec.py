"""The shared model description: one JSON-able spec that every node implements.

A :class:`ModelSpec` is a name, an input shape (without the batch axis), a
number of classes and a sequence of :class:`Layer` s. It says everything a node
needs to run the model: the layer kinds and their hyper-parameters, the shape of
every parameter tensor and where that tensor lives in the one flat float32
vector that travels over the wire. The host (PyTorch, ``host/torch_model.py``),
the Linux agent (numpy, ``agent/npmodel.py``), the firmware (C) and the
MicroPython agent all read the same description and must compute the same
maths. The loss is always softmax cross-entropy, averaged over the batch.

Parameter layout
----------------
Parametrised layers contribute ``"<position>.weight"`` then ``"<position>.bias"``
in forward order (position is the layer's index in ``layers``); the tensors are
stored C-contiguous, one after another, in that order. Weight shapes follow
PyTorch: dense ``(out, in)``, conv1d ``(out, in, k)``, conv2d ``(out, in, k, k)``.

Only this module defines the format; it imports nothing beyond numpy and the
standard library so that it runs on a board without torch. A description can
also come from a JSON or TOML file (:func:`load_spec_file`); :func:`resolve_spec`
takes either a registered name or such a file.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

__all__ = [
    "FORMAT_VERSION",
    "LAYER_KINDS",
    "Layer",
    "LayerKind",
    "ModelSpec",
    "MODELS",
    "check_params",
    "get_spec",
    "init_params",
    "SPEC_FILE_SUFFIXES",
    "load_spec_file",
    "resolve_spec",
]

FORMAT_VERSION = 1
"""Version of the dict produced by :meth:`ModelSpec.to_dict`."""

Shape = tuple[int, ...]

# Every hyper-parameter a layer may carry, with its value when a kind does not
# use it. A kind lists the ones it uses; any other one must stay at this value.
_HYPER_DEFAULTS: dict[str, int | float | None] = {
    "out_features": 0,
    "out_channels": 0,
    "kernel": 0,
    "stride": None,
    "padding": 0,
    "p": None,
}


def _is_int(value: Any) -> bool:
    """True for Python and numpy integers, False for bools and everything else."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    """True for Python and numpy ints and floats, False for bools and everything else."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Layer:
    """One layer of a model description.

    Parameters
    ----------
    kind : str
        A key of :data:`LAYER_KINDS`: ``"dense"``, ``"conv1d"``, ``"conv2d"``,
        ``"relu"``, ``"maxpool1d"``, ``"avgpool1d"``, ``"maxpool2d"``,
        ``"avgpool2d"``, ``"flatten"``, ``"dropout"``.
    out_features : int
        Output width of a dense layer.
    out_channels : int
        Output channels of a convolution.
    kernel : int
        Kernel length (1-D) or side of a square kernel (2-D) of a convolution
        or pooling layer.
    stride : int or None
        Step between windows. ``None`` resolves to 1 for a convolution and to
        ``kernel`` for a pooling layer.
    padding : int
        Zeros added on each side of every spatial axis (convolutions only).
    p : float or None
        Probability that a dropout layer zeroes a unit while training, in
        ``[0, 1)`` (dropout only, where it is required). Kept units are scaled
        by ``1 / (1 - p)`` (inverted dropout), so evaluation is the identity.

    Raises
    ------
    ValueError
        For an unknown kind, a hyper-parameter the kind does not use, or a
        missing or non-positive one it needs.
    """

    kind: str
    out_features: int = 0
    out_channels: int = 0
    kernel: int = 0
    stride: int | None = None
    padding: int = 0
    p: float | None = None

    def __post_init__(self) -> None:
        kind = LAYER_KINDS.get(self.kind) if isinstance(self.kind, str) else None
        if kind is None:
            raise ValueError(
                f"unknown layer kind {self.kind!r}; known kinds: {sorted(LAYER_KINDS)}"
            )
        for name, default in _HYPER_DEFAULTS.items():
            value = getattr(self, name)
            if name not in kind.hyper:
                if value != default:
                    raise ValueError(f"{self.kind} layer does not take {name} (got {value!r})")
                continue
            if name == "p":
                if value is None:
                    raise ValueError(f"{self.kind} layer needs p, the drop probability in [0, 1)")
                if not _is_real(value) or not 0.0 <= float(value) < 1.0:
                    raise ValueError(f"{self.kind} layer: p must be a number in [0, 1), got {value!r}")
                object.__setattr__(self, name, float(value))
                continue
            if value is None:
                continue
            if not _is_int(value):
                raise ValueError(f"{self.kind} layer: {name} must be an int, got {value!r}")
            object.__setattr__(self, name, int(value))
        for name in kind.positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{self.kind} layer: {name} must be > 0, got {getattr(self, name)}")
        if "padding" in kind.hyper and self.padding < 0:
            raise ValueError(f"{self.kind} layer: padding must be >= 0, got {self.padding}")
        if "stride" in kind.hyper:
            if self.stride is None:
                object.__setattr__(self, "stride", self.kernel if kind.pools else 1)
            elif self.stride <= 0:
                raise ValueError(f"{self.kind} layer: stride must be > 0, got {self.stride}")

    def to_dict(self) -> dict[str, Any]:
        """Return the layer as a dict holding the kind and the hyper-parameters it uses."""
        out: dict[str, Any] = {"kind": self.kind}
        for name in LAYER_KINDS[self.kind].hyper:
            out[name] = getattr(self, name)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Layer":
        """Build a layer from :meth:`to_dict` output.

        Raises
        ------
        ValueError
            For a missing kind or an unknown key.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"a layer must be a dict, got {data!r}")
        if "kind" not in data:
            raise ValueError(f"layer dict has no 'kind': {dict(data)!r}")
        unknown = set(data) - {"kind", *_HYPER_DEFAULTS}
        if unknown:
            raise ValueError(f"{data['kind']} layer dict has unknown keys {sorted(unknown)}")
        return cls(**data)


def _spatial_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a window sliding over ``size`` (floor mode, like PyTorch)."""
    return (size + 2 * padding - kernel) // stride + 1


def _infer_dense(layer: Layer, shape: Shape) -> Shape:
    return (layer.out_features,)


def _params_dense(layer: Layer, shape: Shape) -> list[Shape]:
    return [(layer.out_features, shape[0]), (layer.out_features,)]


def _infer_conv(layer: Layer, shape: Shape) -> Shape:
    spatial = tuple(
        _spatial_out(s, layer.kernel, layer.stride or 1, layer.padding) for s in shape[1:]
    )
    if min(spatial) < 1:
        raise ValueError(
            f"kernel {layer.kernel} with padding {layer.padding} does not fit input {shape}"
        )
    return (layer.out_channels, *spatial)


def _params_conv(layer: Layer, shape: Shape) -> list[Shape]:
    kernel = (layer.kernel,) * (len(shape) - 1)
    return [(layer.out_channels, shape[0], *kernel), (layer.out_channels,)]


def _infer_pool(layer: Layer, shape: Shape) -> Shape:
    spatial = tuple(_spatial_out(s, layer.kernel, layer.stride or 1, 0) for s in shape[1:])
    if min(spatial) < 1:
        raise ValueError(f"pool kernel {layer.kernel} does not fit input {shape}")
    return (shape[0], *spatial)


def _infer_same(layer: Layer, shape: Shape) -> Shape:
    return shape


def _infer_flatten(layer: Layer, shape: Shape) -> Shape:
    return (math.prod(shape),)


def _no_params(layer: Layer, shape: Shape) -> list[Shape]:
    return []


@dataclass(frozen=True)
class LayerKind:
    """What the description format knows about one layer kind.

    Attributes
    ----------
    hyper : tuple of str
        Hyper-parameters the kind uses (serialised in this order).
    positive : tuple of str
        Hyper-parameters that must be > 0.
    input_rank : int or None
        Rank of the per-sample input it accepts (None: any).
    infer : callable
        ``(layer, input_shape) -> output_shape``.
    param_shapes : callable
        ``(layer, input_shape) -> [weight_shape, bias_shape]`` or ``[]``.
    pools : bool
        True for pooling layers (their stride defaults to the kernel).
    """

    hyper: tuple[str, ...]
    positive: tuple[str, ...]
    input_rank: int | None
    infer: Callable[[Layer, Shape], Shape]
    param_shapes: Callable[[Layer, Shape], list[Shape]]
    pools: bool = False


_CONV = ("out_channels", "kernel", "stride", "padding")
_POOL = ("kernel", "stride")

LAYER_KINDS: dict[str, LayerKind] = {
    "dense": LayerKind(("out_features",), ("out_features",), 1, _infer_dense, _params_dense),
    "conv1d": LayerKind(_CONV, ("out_channels", "kernel"), 2, _infer_conv, _params_conv),
    "conv2d": LayerKind(_CONV, ("out_channels", "kernel"), 3, _infer_conv, _params_conv),
    "relu": LayerKind((), (), None, _infer_same, _no_params),
    "maxpool1d": LayerKind(_POOL, ("kernel",), 2, _infer_pool, _no_params, pools=True),
    "avgpool1d": LayerKind(_POOL, ("kernel",), 2, _infer_pool, _no_params, pools=True),
    "maxpool2d": LayerKind(_POOL, ("kernel",), 3, _infer_pool, _no_params, pools=True),
    "avgpool2d": LayerKind(_POOL, ("kernel",), 3, _infer_pool, _no_params, pools=True),
    "flatten": LayerKind((), (), None, _infer_flatten, _no_params),
    # Inverted dropout: active only when the maths is given a random
    # generator (training); without one it is the identity.
    "dropout": LayerKind(("p",), (), None, _infer_same, _no_params),
}
"""Registry of layer kinds; a new kind is one entry here plus its maths in each
implementation (numpy ``agent/np_layers.py``, torch ``host/torch_model.py``)."""

_RANK_NAMES = {1: "a flat vector (add a flatten layer first)", 2: "(channels, length)",
               3: "(channels, height, width)"}


@dataclass(frozen=True)
class ModelSpec:
    """A model description shared by host, agents and firmware.

    Parameters
    ----------
    name : str
        Model name (a key of :data:`MODELS` for registered models).
    input_shape : tuple of int
        Shape of one sample, without the batch axis, e.g. ``(1, 28, 28)``.
    num_classes : int
        Number of classes; the last layer must be a dense layer of this width.
    layers : tuple of Layer
        Layers in forward order.

    Raises
    ------
    ValueError
        When the layers do not chain: a layer given an input of the wrong rank
        or one its kernel does not fit, or an output that is not
        ``(num_classes,)``. The message names the layer by position and kind.
    """

    name: str
    input_shape: tuple[int, ...]
    num_classes: int
    layers: tuple[Layer, ...]
    _shapes: tuple[Shape, ...] = field(init=False, repr=False, compare=False)
    _params: tuple[tuple[str, Shape], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"model name must be a non-empty string, got {self.name!r}")
        shape = tuple(self.input_shape)
        if not shape or not all(_is_int(s) and s >= 1 for s in shape):
            raise ValueError(f"{self.name}: input_shape must be non-empty positive ints, got {self.input_shape!r}")
        shape = tuple(int(s) for s in shape)
        if not _is_int(self.num_classes) or self.num_classes < 2:
            raise ValueError(f"{self.name}: num_classes must be an int >= 2, got {self.num_classes!r}")
        layers = tuple(self.layers)
        if not layers:
            raise ValueError(f"{self.name}: a model needs at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise ValueError(f"{self.name}: layer {i} is not a Layer: {layer!r}")
        object.__setattr__(self, "input_shape", shape)
        object.__setattr__(self, "num_classes", int(self.num_classes))
        object.__setattr__(self, "layers", layers)
        shapes, params = self._infer(shape, layers)
        object.__setattr__(self, "_shapes", shapes)
        object.__setattr__(self, "_params", params)

    def _infer(self, shape: Shape, layers: tuple[Layer, ...]) -> tuple[tuple[Shape, ...], tuple[tuple[str, Shape], ...]]:
        shapes: list[Shape] = [shape]
        params: list[tuple[str, Shape]] = []
        for i, layer in enumerate(layers):
            kind = LAYER_KINDS[layer.kind]
            where = f"{self.name}: layer {i} ({layer.kind})"
            if kind.input_rank is not None and len(shape) != kind.input_rank:
                raise ValueError(
                    f"{where} needs input {_RANK_NAMES[kind.input_rank]}, got shape {shape}"
                )
            try:
                out = kind.infer(layer, shape)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
            for tensor, pshape in zip(("weight", "bias"), kind.param_shapes(layer, shape)):
                params.append((f"{i}.{tensor}", pshape))
            shapes.append(out)
            shape = out
        last = layers[-1]
        if last.kind != "dense" or shape != (self.num_classes,):
            raise ValueError(
                f"{self.name}: layer {len(layers) - 1} ({last.kind}) must be a dense layer "
                f"producing the {self.num_classes} class logits, got output shape {shape}"
            )
        return tuple(shapes), tuple(params)

    @property
    def shapes(self) -> list[Shape]:
        """Per-sample activation shapes: the input, then each layer's output."""
        return list(self._shapes)

    @property
    def param_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """``(name, shape)`` of every parameter tensor in flat-vector order."""
        return list(self._params)

    @property
    def num_params(self) -> int:
        """Total number of scalar parameters."""
        return sum(math.prod(shape) for _, shape in self._params)

    @property
    def param_slices(self) -> dict[str, slice]:
        """Slice of each named tensor in the flat float32 parameter vector."""
        out: dict[str, slice] = {}
        start = 0
        for name, shape in self._params:
            stop = start + math.prod(shape)
            out[name] = slice(start, stop)
            start = stop
        return out

    @property
    def layer_param_ranges(self) -> list[tuple[int, int]]:
        """Flat ``(start, stop)`` of each parametrised layer, in forward order."""
        ranges: dict[str, tuple[int, int]] = {}
        for name, where in self.param_slices.items():
            position = name.split(".")[0]
            start = ranges.get(position, (where.start, 0))[0]
            ranges[position] = (start, where.stop)
        return list(ranges.values())

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict (lists, ints and strings only)."""
        return {
            "version": FORMAT_VERSION,
            "name": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "layers": [layer.to_dict() for layer in self.layers],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelSpec":
        """Build and validate a spec from :meth:`to_dict` output (e.g. parsed JSON).

        Raises
        ------
        ValueError
            For a wrong version, missing or unknown keys, or an invalid model.
        """
        version = data.get("version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise ValueError(f"model description version {version!r} is not supported (want {FORMAT_VERSION})")
        keys = {"name", "input_shape", "num_classes", "layers"}
        missing = keys - set(data)
        if missing:
            raise ValueError(f"model description lacks {sorted(missing)}")
        unknown = set(data) - keys - {"version"}
        if unknown:
            raise ValueError(f"model description has unknown keys {sorted(unknown)}")
        for key in ("input_shape", "layers"):
            if not isinstance(data[key], (list, tuple)):
                raise ValueError(f"model description: {key} must be a list, got {data[key]!r}")
        layers = []
        for i, layer in enumerate(data["layers"]):
            try:
                layers.append(Layer.from_dict(layer))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{data['name']}: layer {i}: {exc}") from None
        return cls(
            name=data["name"],
            input_shape=tuple(data["input_shape"]),
            num_classes=data["num_classes"],
            layers=tuple(layers),
        )


def _mlp_digits(num_classes: int) -> ModelSpec:
    return ModelSpec("mlp_digits", (1, 8, 8), num_classes, (
        Layer("flatten"),
        Layer("dense", out_features=32),
        Layer("relu"),
        Layer("dense", out_features=num_classes),
    ))


def _mlp_fmnist(num_classes: int) -> ModelSpec:
    return ModelSpec("mlp_fmnist", (1, 28, 28), num_classes, (
        Layer("flatten"),
        Layer("dense", out_features=128),
        Layer("relu"),
        Layer("dense", out_features=num_classes),
    ))


def _cnn_fmnist(num_classes: int) -> ModelSpec:
    return ModelSpec("cnn_fmnist", (1, 28, 28), num_classes, (
        Layer("conv2d", out_channels=8, kernel=5),
        Layer("relu"),
        Layer("maxpool2d", kernel=2),
        Layer("conv2d", out_channels=16, kernel=5),
        Layer("relu"),
        Layer("maxpool2d", kernel=2),
        Layer("flatten"),
        Layer("dense", out_features=num_classes),
    ))


def _cnn1d_watch(num_classes: int) -> ModelSpec:
    # (6, 100) -> conv s2 (16, 48) -> pool (16, 24) -> conv (32, 20) -> global
    # average (32, 1): small enough for a microcontroller's RAM.
    return ModelSpec("cnn1d_watch", (6, 100), num_classes, (
        Layer("conv1d", out_channels=16, kernel=5, stride=2),
        Layer("relu"),
        Layer("maxpool1d", kernel=2),
        Layer("conv1d", out_channels=32, kernel=5),
        Layer("relu"),
        Layer("avgpool1d", kernel=20),
        Layer("flatten"),
        Layer("dense", out_features=num_classes),
    ))


@dataclass(frozen=True)
class _Registered:
    build: Callable[[int], ModelSpec]
    default_classes: int


MODELS: dict[str, _Registered] = {
    "mlp_digits": _Registered(_mlp_digits, 10),
    "mlp_fmnist": _Registered(_mlp_fmnist, 10),
    "cnn_fmnist": _Registered(_cnn_fmnist, 10),
    "cnn1d_watch": _Registered(_cnn1d_watch, 7),
}
"""Registered models by name, with their default number of classes."""


def get_spec(name: str, num_classes: int | None = None) -> ModelSpec:
    """Return a registered model description.

    Parameters
    ----------
    name : str
        A key of :data:`MODELS`.
    num_classes : int, optional
        Number of classes; defaults to the model's own (10 for the image
        models, 7 for ``cnn1d_watch``, the watch data set's exercise classes).

    Raises
    ------
    ValueError
        For an unknown name or fewer than 2 classes.
    """
    entry = MODELS.get(name)
    if entry is None:
        raise ValueError(f"unknown model {name!r}; registered models: {sorted(MODELS)}")
    return entry.build(entry.default_classes if num_classes is None else num_classes)


SPEC_FILE_SUFFIXES = (".json", ".toml")
"""File name endings :func:`load_spec_file` reads."""


def _parse_spec_file(path: str, text: str) -> Any:
    """The parsed JSON or TOML of a description file; ValueError naming file and line."""
    if path.lower().endswith(".json"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    import tomllib  # only for TOML files: keeps this module's import light on boards

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib puts "(at line L, column C)" in its message.
        reason = " ".join(str(exc).split())
        raise ValueError(f"{path}: invalid TOML: {reason}") from None


def load_spec_file(path: str | os.PathLike[str]) -> ModelSpec:
    """Read a model description from a JSON or TOML file.

    The file holds the dict of :meth:`ModelSpec.to_dict`: ``name``,
    ``input_shape``, ``num_classes``, ``layers`` and optionally ``version``.
    In TOML the top-level keys come first and each layer is a ``[[layers]]``
    table; a stride left out takes its default (1 for a convolution, the
    kernel for a pooling layer)::

        name = "tiny"
        input_shape = [1, 8, 8]
        num_classes = 10

        [[layers]]
        kind = "flatten"

        [[layers]]
        kind = "dense"
        out_features = 10

    Parameters
    ----------
    path : str or os.PathLike
        A file whose name ends in ``.json`` or ``.toml``.

    Returns
    -------
    ModelSpec
        The validated description.

    Raises
    ------
    ValueError
        With one line naming the file: the file is missing or unreadable,
        has another ending, does not parse (with its line and column where
        the parser gives them), or does not describe a valid model (the
        message of :meth:`ModelSpec.from_dict`).
    """
    name = os.fspath(path)
    if not name.lower().endswith(SPEC_FILE_SUFFIXES):
        raise ValueError(f"{name}: a model description file must end in .json or .toml")
    try:
        with open(name, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise ValueError(f"{name}: no such model description file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ValueError(f"{name}: cannot read the model description: {reason}") from None
    data = _parse_spec_file(name, text)
    if not isinstance(data, Mapping):
        raise ValueError(
            f"{name}: a model description is a table of name, input_shape, num_classes and layers, "
            f"got {type(data).__name__}"
        )
    try:
        return ModelSpec.from_dict(data)
    except (TypeError, ValueError) as exc:
        reason = " ".join(str(exc).split())
        raise ValueError(f"{name}: {reason}") from None


def resolve_spec(ref: str, num_classes: int | None = None) -> ModelSpec:
    """The model a command line or config names: a registered name or a description file.

    Parameters
    ----------
    ref : str
        A key of :data:`MODELS` (``"cnn_fmnist"``), or the path of a
        description file ending in ``.json`` or ``.toml``
        (:func:`load_spec_file`).
    num_classes : int, optional
        Classes of the data set. A registered model is built with this many
        (its own default when None); a file's model must have exactly this
        many when it is given.

    Returns
    -------
    ModelSpec

    Raises
    ------
    ValueError
        For an unknown name or any other form (the message lists the
        accepted forms), a file :func:`load_spec_file` refuses, or a file
        whose class count differs from ``num_classes``.
    """
    if isinstance(ref, str) and ref in MODELS:
        return get_spec(ref, num_classes)
    if isinstance(ref, str) and ref.lower().endswith(SPEC_FILE_SUFFIXES):
        spec = load_spec_file(ref)
        if num_classes is not None and spec.num_classes != num_classes:
            raise ValueError(
                f"{ref}: the model has {spec.num_classes} classes but the data set has {num_classes}"
            )
        return spec
    raise ValueError(
        f"unknown model {ref!r}; give a registered model ({', '.join(sorted(MODELS))}) "
        f"or a model description file ending in .json or .toml"
    )


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _uniform01(seed: int, start: int, count: int) -> np.ndarray:
    """``count`` uniforms in [0, 1) from splitmix64 at stream positions start.. .

    A counter-based generator (value i depends only on seed and i) written
    with wrapping 64-bit integer maths, so firmware and MicroPython can
    reproduce it exactly in a few lines, independent of numpy's generators.
    """
    state = np.uint64(seed & 0xFFFFFFFFFFFFFFFF)
    index = np.arange(start + 1, start + count + 1, dtype=np.uint64)
    z = state + index * _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    # The top 24 bits give a float32-exact uniform.
    return (z >> np.uint64(40)).astype(np.float64) * (1.0 / (1 << 24))


def init_params(spec: ModelSpec, seed: int = 0) -> np.ndarray:
    """Initial flat float32 parameters: He (Kaiming) uniform weights, zero biases.

    Weight ``w`` of a layer with fan-in ``f`` (inputs per output: ``in`` for
    dense, ``in * k`` or ``in * k * k`` for convolutions) is drawn uniformly
    from ``[-sqrt(6 / f), sqrt(6 / f))``; biases are 0. The uniforms come from
    splitmix64 indexed by flat position, so the vector depends only on
    ``(spec, seed)`` and is identical on every node and platform.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    seed : int
        Seed (0 <= seed < 2**64).

    Returns
    -------
    numpy.ndarray
        float32 vector of length ``spec.num_params``.
    """
    if not _is_int(seed) or not 0 <= seed < 2**64:
        raise ValueError(f"seed must be an int in [0, 2**64), got {seed!r}")
    flat = np.zeros(spec.num_params, dtype=np.float32)
    slices = spec.param_slices
    for name, shape in spec.param_shapes:
        if not name.endswith(".weight"):
            continue
        where = slices[name]
        fan_in = math.prod(shape[1:])
        bound = math.sqrt(6.0 / fan_in)
        u = _uniform01(int(seed), where.start, where.stop - where.start)
        flat[where] = ((2.0 * u - 1.0) * bound).astype(np.float32)
    return flat


def check_params(spec: ModelSpec, params: np.ndarray) -> np.ndarray:
    """``params`` as a contiguous float32 flat vector of the spec's size; ValueError otherwise."""
    params = np.asarray(params)
    if params.ndim != 1 or params.size != spec.num_params:
        raise ValueError(
            f"{spec.name}: params must be a flat vector of {spec.num_params} values, got shape {params.shape}"
        )
    if not np.issubdtype(params.dtype, np.floating):
        raise ValueError(f"{spec.name}: params must be floating point, got {params.dtype}")
    return np.ascontiguousarray(params, dtype=np.float32)
