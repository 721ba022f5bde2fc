"""Your own model: a PyTorch ``nn.Sequential`` turned into a Sparrow model description.

The nodes do not run PyTorch; they run the shared description
(``sparrow.common.modelspec``). This module reads a user's PyTorch model and
writes that description, so the host can train it across the fleet:

* :func:`spec_from_module` converts an ``nn.Sequential`` of supported layers
  (nested ``nn.Sequential`` s are flattened, in order) into a
  :class:`~sparrow.common.modelspec.ModelSpec`. Only ``nn.Sequential`` is
  read: a module with its own ``forward`` may run its children in any order
  or more than once, which the description cannot say, so it is refused.
* :func:`spec_from_python` loads ``path/to/model.py:build`` by path and calls
  ``build()``. The input shape of one sample (no batch axis) is given in one
  of three ways, looked up in this order:

  1. ``build()`` returns ``(module, input_shape)``;
  2. the returned module has an attribute ``input_shape``;
  3. the function has an attribute ``input_shape`` (``build.input_shape = (1, 28, 28)``).

* :func:`resolve_host_model` accepts every form of a model reference the
  host takes: ``model.py:build``, a registered name, a ``.json`` or
  ``.toml`` description file.

Every refusal is one ``ValueError`` line naming the file (or model) and the
cause. The description carries the architecture only: the parameters of a
converted module, in ``parameters()`` order, are already laid out like the
description's flat vector (weight then bias of each layer, forward order),
so ``torch_model.get_flat(module)`` gives that vector.
"""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Any, Callable

from torch import nn

from sparrow.common.file_modules import load_module_file
from sparrow.common.modelspec import (
    MODELS,
    SPEC_FILE_SUFFIXES,
    Layer,
    ModelSpec,
    resolve_spec,
)

__all__ = ["SUPPORTED_MODULES", "resolve_host_model", "spec_from_module", "spec_from_python"]


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


class _Refused(ValueError):
    """A module attribute the description cannot express (message without the prefix)."""


def _same(value: Any, name: str, what: str) -> int:
    """One int from an int or a tuple of equal ints (square kernels, equal strides)."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if not values or len(set(values)) != 1 or not isinstance(values[0], int):
        raise _Refused(f"{name}={value!r} is not supported ({what} must be the same on every axis)")
    return int(values[0])


def _must(module: nn.Module, name: str, wanted: Any, shown: str) -> None:
    value = getattr(module, name)
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if any(v != wanted for v in values):
        raise _Refused(f"{name}={value!r} is not supported (needs {shown})")


def _linear(module: nn.Linear) -> Layer:
    if module.bias is None:
        raise _Refused("bias=False is not supported (needs a bias)")
    return Layer("dense", out_features=module.out_features)


def _conv(kind: str) -> Callable[[nn.Module], Layer]:
    def convert(module: nn.Module) -> Layer:
        _must(module, "dilation", 1, "1")
        _must(module, "groups", 1, "1")
        if module.bias is None:
            raise _Refused("bias=False is not supported (needs a bias)")
        if module.padding_mode != "zeros":
            raise _Refused(f"padding_mode={module.padding_mode!r} is not supported (needs 'zeros')")
        padding = module.padding
        if padding == "valid":
            padding = 0
        elif isinstance(padding, str):
            raise _Refused(f"padding={padding!r} is not supported (give the zeros per side as an int)")
        return Layer(kind, out_channels=module.out_channels,
                     kernel=_same(module.kernel_size, "kernel_size", "the kernel"),
                     stride=_same(module.stride, "stride", "the stride"),
                     padding=_same(padding, "padding", "the padding"))
    return convert


def _pool(kind: str, maximum: bool) -> Callable[[nn.Module], Layer]:
    def convert(module: nn.Module) -> Layer:
        _must(module, "padding", 0, "0")
        if module.ceil_mode:
            raise _Refused("ceil_mode=True is not supported (needs False)")
        if maximum:
            _must(module, "dilation", 1, "1")
            if module.return_indices:
                raise _Refused("return_indices=True is not supported (needs False)")
        elif getattr(module, "divisor_override", None) is not None:
            raise _Refused(f"divisor_override={module.divisor_override!r} is not supported (needs None)")
        kernel = _same(module.kernel_size, "kernel_size", "the kernel")
        stride = kernel if module.stride is None else _same(module.stride, "stride", "the stride")
        return Layer(kind, kernel=kernel, stride=stride)
    return convert


def _flatten(module: nn.Flatten) -> Layer:
    if module.start_dim != 1 or module.end_dim != -1:
        raise _Refused(f"start_dim={module.start_dim}, end_dim={module.end_dim} is not supported "
                       f"(needs 1, -1: all of a sample)")
    return Layer("flatten")


def _dropout(module: nn.Dropout) -> Layer:
    if not 0.0 <= module.p < 1.0:
        raise _Refused(f"p={module.p!r} is not supported (needs 0 <= p < 1)")
    return Layer("dropout", p=float(module.p))


SUPPORTED_MODULES: dict[type, Callable[[Any], Layer]] = {
    nn.Linear: _linear,
    nn.Conv1d: _conv("conv1d"),
    nn.Conv2d: _conv("conv2d"),
    nn.ReLU: lambda module: Layer("relu"),
    nn.MaxPool1d: _pool("maxpool1d", maximum=True),
    nn.MaxPool2d: _pool("maxpool2d", maximum=True),
    nn.AvgPool1d: _pool("avgpool1d", maximum=False),
    nn.AvgPool2d: _pool("avgpool2d", maximum=False),
    nn.Flatten: _flatten,
    nn.Dropout: _dropout,
}
"""The PyTorch layers a model may use, each with its conversion to a Sparrow layer.

Matched by exact class: a subclass may compute something else."""

_SUPPORTED_NAMES = ", ".join(cls.__name__ for cls in SUPPORTED_MODULES)


def _is_plain_sequential(module: nn.Module) -> bool:
    return isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward


def _leaves(module: nn.Sequential) -> list[nn.Module]:
    out: list[nn.Module] = []
    for child in module.children():
        if _is_plain_sequential(child):
            out.extend(_leaves(child))
        else:
            out.append(child)
    return out


def _input_shape(value: Any, where: str) -> tuple[int, ...]:
    if isinstance(value, (tuple, list)) and value and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1 for v in value):
        return tuple(int(v) for v in value)
    raise ValueError(
        f"{where}: input_shape must be a tuple of positive ints, one sample without the batch axis "
        f"(e.g. (1, 28, 28)), got {value!r}"
    )


def spec_from_module(module: nn.Module, input_shape: tuple[int, ...], name: str, *,
                     where: str | None = None) -> ModelSpec:
    """The model description of a PyTorch ``nn.Sequential``.

    Parameters
    ----------
    module : torch.nn.Module
        An ``nn.Sequential`` (nested ones are flattened) of the layers of
        :data:`SUPPORTED_MODULES`, ending with the ``nn.Linear`` that gives the
        class logits.
    input_shape : tuple of int
        Shape of one sample, without the batch axis, e.g. ``(1, 28, 28)``.
    name : str
        The description's name.
    where : str, optional
        What error messages start with (a file name); defaults to ``name``.

    Returns
    -------
    ModelSpec
        Layers in forward order; ``num_classes`` is the last ``nn.Linear``'s
        ``out_features``.

    Raises
    ------
    ValueError
        One line: not an ``nn.Sequential``; a layer that is not supported
        (``"model.py: layer 3 (nn.BatchNorm2d) is not supported; supported:
        Linear, Conv1d, ..."``, counting the flattened layers from 0) or a
        setting of one that is not (naming the attribute); no ``nn.Linear``;
        or layers that do not chain on ``input_shape``.
    """
    where = where or name
    if not _is_plain_sequential(module):
        raise ValueError(
            f"{where}: the model must be an nn.Sequential (nested ones are flattened), "
            f"got {type(module).__name__}"
        )
    shape = _input_shape(input_shape, where)
    layers: list[Layer] = []
    num_classes = 0
    for i, child in enumerate(_leaves(module)):
        convert = SUPPORTED_MODULES.get(type(child))
        label = f"layer {i} (nn.{type(child).__name__})"
        if convert is None:
            raise ValueError(f"{where}: {label} is not supported; supported: {_SUPPORTED_NAMES}")
        try:
            layers.append(convert(child))
        except ValueError as exc:  # _Refused, or a value the description refuses
            raise ValueError(f"{where}: {label}: {_one_line(exc)}") from None
        if isinstance(child, nn.Linear):
            num_classes = child.out_features
    if not layers:
        raise ValueError(f"{where}: the nn.Sequential is empty")
    if not num_classes:
        raise ValueError(f"{where}: the model has no nn.Linear; it must end with the nn.Linear giving the class logits")
    try:
        spec = ModelSpec(name, shape, num_classes, tuple(layers))
    except ValueError as exc:
        reason = _one_line(exc)
        prefix = f"{name}: "
        raise ValueError(f"{where}: {reason[len(prefix):] if reason.startswith(prefix) else reason}") from None
    # The description takes input widths from the shapes; the module must agree.
    for i, child in enumerate(_leaves(module)):
        incoming = spec.shapes[i]
        for attribute in ("in_features", "in_channels"):
            declared = getattr(child, attribute, None)
            if declared is not None and declared != incoming[0]:
                raise ValueError(
                    f"{where}: layer {i} (nn.{type(child).__name__}): {attribute}={declared} but its input "
                    f"has shape {incoming} (one sample, from input_shape {shape})"
                )
    return spec


def _split_ref(ref: str) -> tuple[str, str] | None:
    """``("path/to/model.py", "build")`` for a Python model reference, else None."""
    path, colon, func = ref.rpartition(":")
    if colon and path.endswith(".py"):
        return path, func
    return None


def _load_file(path: str) -> Any:
    """Run a Python file as a module of its own, without touching ``sys.path``."""
    if not Path(path).is_file():
        raise ValueError(f"{path}: no such file")
    try:
        # Registered only while it runs (dataclasses and pickling look a module up there).
        return load_module_file(path, f"_sparrow_user_model_{Path(path).stem}", keep=False)
    except SyntaxError as exc:
        raise ValueError(f"{path}:{exc.lineno}: syntax error: {_one_line(exc.msg)}") from None
    except Exception as exc:  # the user's file may raise anything while it loads
        raise ValueError(f"{path}: loading it raised {type(exc).__name__}: {_one_line(exc)}") from None


def spec_from_python(ref: str) -> ModelSpec:
    """The model description of ``path/to/model.py:build``.

    The file is loaded by path (not imported through ``sys.path``) and
    ``build()`` is called with no arguments. It returns an ``nn.Sequential``
    (see :func:`spec_from_module`) and declares the input shape of one
    sample, without the batch axis, in one of three ways (first found wins):
    returning ``(module, input_shape)``; an ``input_shape`` attribute on the
    returned module; an ``input_shape`` attribute on the function.

    Parameters
    ----------
    ref : str
        ``"<file>.py:<function>"``.

    Returns
    -------
    ModelSpec
        Named after the file's stem (``model.py`` gives ``"model"``).

    Raises
    ------
    ValueError
        One line: a malformed reference, a missing file, a file that does
        not load (a syntax error names the line), no such function, a
        function that raises (``"model.py:build raised ValueError: ..."``),
        returns something other than a module, or gives no input shape, and
        every refusal of :func:`spec_from_module`.
    """
    parts = _split_ref(ref) if isinstance(ref, str) else None
    if parts is None or not parts[1].isidentifier():
        raise ValueError(f"{ref!r}: give a Python model as path/to/model.py:function, e.g. model.py:build")
    path, func_name = parts
    loaded = _load_file(path)
    func = getattr(loaded, func_name, None)
    if func is None:
        raise ValueError(f"{path}: has no function {func_name!r}")
    if not callable(func):
        raise ValueError(f"{ref}: is a {type(func).__name__}, not a function")
    try:
        result = func()
    except Exception as exc:  # the user's code may raise anything
        raise ValueError(f"{ref} raised {type(exc).__name__}: {_one_line(exc)}") from None
    shape: Any = None
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], nn.Module):
        result, shape = result
    if not isinstance(result, nn.Module):
        raise ValueError(
            f"{ref} returned {type(result).__name__}, not an nn.Module or (nn.Module, input_shape)"
        )
    if shape is None:
        shape = getattr(result, "input_shape", None)
    if shape is None:
        shape = getattr(func, "input_shape", None)
    if shape is None:
        raise ValueError(
            f"{ref}: no input shape; return (module, input_shape), or set input_shape on the module "
            f"or on the function, e.g. (1, 28, 28) without the batch axis"
        )
    shape = _input_shape(shape, ref)
    return spec_from_module(result, shape, Path(path).stem or "model", where=path)


def resolve_host_model(ref: str, num_classes: int | None = None) -> ModelSpec:
    """The model a host is asked to train, from any of the accepted forms.

    Parameters
    ----------
    ref : str
        ``"path/to/model.py:build"`` (:func:`spec_from_python`), a registered
        model name (``sparrow.common.modelspec.MODELS``), or a description file
        ending in ``.json`` or ``.toml``.
    num_classes : int, optional
        Classes of the data set: a registered model is built with this many;
        a model from a file must have exactly this many.

    Raises
    ------
    ValueError
        One line: any other form (listing the accepted ones), a class count
        that differs from ``num_classes``, or a refusal of the loader.
    """
    if isinstance(ref, str) and _split_ref(ref) is not None:
        spec = spec_from_python(ref)
        if num_classes is not None and spec.num_classes != num_classes:
            raise ValueError(
                f"{ref}: the model has {spec.num_classes} classes (its last nn.Linear) "
                f"but the data set has {num_classes}"
            )
        return spec
    if isinstance(ref, str) and ref.endswith(".py"):
        raise ValueError(f"{ref}: name the function that builds the model too, e.g. {ref}:build")
    if isinstance(ref, str) and (ref in MODELS or ref.lower().endswith(SPEC_FILE_SUFFIXES)):
        return resolve_spec(ref, num_classes)
    raise ValueError(
        f"unknown model {ref!r}; give a registered model ({', '.join(sorted(MODELS))}), "
        f"a model description file ending in .json or .toml, or a Python file and function "
        f"(path/to/model.py:build)"
    )
