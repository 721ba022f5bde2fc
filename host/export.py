"""``sparrow export``: the trained model out of a run directory, as torch, ONNX or C.

A run directory (the host's ``run_dir``) holds the model as three files:

* ``model.json``: the model description (``ModelSpec.to_dict()``);
* ``model_last.npy``: the parameters after the last round;
* ``model_best.npy``: the parameters of the best evaluated round;

each ``.npy`` a flat float32 vector in the description's order (the vector of
``host/torch_model.py``'s ``get_flat``). :func:`save_model` writes them
atomically; the host calls it. The subcommand reads them back and writes::

    sparrow export runs/demo --format torch   # model_best.pt (state_dict) + model_best.py (build(), load())
    sparrow export runs/demo --format onnx    # model_best.onnx, dynamic batch axis
    sparrow export runs/demo --format c       # model_best.h for firmware/nn (1-D models)

``--which last`` picks the other vector, ``--out PATH`` the output stem
(default ``RUN_DIR/model_<which>``; a format's own suffix on it is dropped).
Each output is written to a temporary name in its folder and moved into place
with ``os.replace`` only once every output of the format is complete, so a
failure leaves no partial file. It prints one JSON line naming what it wrote.
A bad run directory, a missing file or an unknown format exits 2 with one line.

Only this module and ``host/export_c.py`` know the export formats; torch is
imported when an export runs, so the command table loads on a node without it.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import secrets
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from sparrow.common import cli
from sparrow.common.modelspec import Layer, ModelSpec, check_params

__all__ = ["FORMATS", "WHICH", "export", "load_model", "save_model", "torch_source"]

#: The parameter vectors a run directory holds.
WHICH = ("best", "last")

SPEC_FILE = "model.json"
ONNX_OPSET = 17


def params_file(which: str) -> str:
    """File name of one parameter vector in a run directory."""
    if which not in WHICH:
        raise ValueError(f"which must be one of {list(WHICH)}, got {which!r}")
    return f"model_{which}.npy"


# -- writing files atomically ---------------------------------------------------------

@contextlib.contextmanager
def _staged(paths: list[Path]) -> Iterator[list[Path]]:
    """Temporary paths beside ``paths``; moved onto them only if the block completes.

    On any exception every temporary file is removed and no target is touched.
    """
    temps: list[Path] = []
    try:
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
            with open(tmp, "xb"):  # created empty, with the umask's mode (mkstemp's would be 0600)
                pass
            temps.append(tmp)
        yield temps
        for tmp in temps:
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
        for tmp, path in zip(temps, paths):
            os.replace(tmp, path)
    finally:
        for tmp in temps:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


# -- the run directory ----------------------------------------------------------------

def save_model(run_dir: str | os.PathLike[str], spec: ModelSpec, params: np.ndarray, which: str) -> Path:
    """Write ``model_<which>.npy`` (and ``model.json`` if missing) into a run directory, atomically.

    Parameters
    ----------
    run_dir : path
        The run directory; created if missing.
    spec : ModelSpec
        The model the parameters belong to.
    params : numpy.ndarray
        Flat parameters in the spec's order (``get_flat`` of the host's module).
    which : str
        ``"last"`` or ``"best"``.

    Returns
    -------
    pathlib.Path
        The parameter file written.

    Raises
    ------
    ValueError
        For an unknown ``which``, parameters that do not fit the spec, or a
        ``model.json`` already there that describes another model.
    """
    name = params_file(which)
    params = check_params(spec, params)
    folder = Path(run_dir)
    described = spec.to_dict()
    spec_path = folder / SPEC_FILE
    if spec_path.exists():
        try:
            existing = json.loads(spec_path.read_text())
        except ValueError as exc:
            raise ValueError(f"{spec_path} is not valid JSON: {exc}") from None
        if existing != described:
            raise ValueError(f"{spec_path} describes another model than {spec.name!r}; "
                             "use a new run directory for a new model")
    else:
        with _staged([spec_path]) as (tmp,):
            tmp.write_text(json.dumps(described, indent=1) + "\n")
    with _staged([folder / name]) as (tmp,):
        with open(tmp, "wb") as handle:
            np.save(handle, params, allow_pickle=False)
    return folder / name


def load_model(run_dir: str | os.PathLike[str], which: str = "best") -> tuple[ModelSpec, np.ndarray]:
    """The description and one parameter vector of a run directory.

    Raises
    ------
    ValueError
        For a missing directory or file, an unreadable description, a vector
        that does not fit it, or non-finite parameters; the message names the file.
    """
    folder = Path(run_dir)
    if not folder.is_dir():
        raise ValueError(f"run directory {str(folder)!r} does not exist")
    spec_path = folder / SPEC_FILE
    params_path = folder / params_file(which)
    for path in (spec_path, params_path):
        if not path.is_file():
            raise ValueError(f"{path} is missing (a run directory holds {SPEC_FILE} and "
                             f"{', '.join(params_file(w) for w in WHICH)})")
    try:
        spec = ModelSpec.from_dict(json.loads(spec_path.read_text()))
    except (ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"{spec_path}: not a model description: {exc}") from None
    try:
        raw = np.load(params_path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{params_path}: not a numpy parameter vector: {exc}") from None
    try:
        params = check_params(spec, raw)
    except ValueError as exc:
        raise ValueError(f"{params_path}: {exc}") from None
    bad = int(np.count_nonzero(~np.isfinite(params)))
    if bad:
        raise ValueError(f"{params_path}: {bad} parameters are NaN or infinite")
    return spec, params


# -- torch ----------------------------------------------------------------------------

# Constructor text of each layer kind in plain torch, from the layer and its
# per-sample input shape. Must build what host/torch_model.py builds; the tests
# compare the two modules.
_TORCH_SOURCE: dict[str, Callable[[Layer, tuple[int, ...]], str]] = {
    "dense": lambda l, s: f"nn.Linear({s[0]}, {l.out_features})",
    "conv1d": lambda l, s: f"nn.Conv1d({s[0]}, {l.out_channels}, {l.kernel}, stride={l.stride}, padding={l.padding})",
    "conv2d": lambda l, s: f"nn.Conv2d({s[0]}, {l.out_channels}, {l.kernel}, stride={l.stride}, padding={l.padding})",
    "relu": lambda l, s: "nn.ReLU()",
    "maxpool1d": lambda l, s: f"nn.MaxPool1d({l.kernel}, stride={l.stride})",
    "avgpool1d": lambda l, s: f"nn.AvgPool1d({l.kernel}, stride={l.stride})",
    "maxpool2d": lambda l, s: f"nn.MaxPool2d({l.kernel}, stride={l.stride})",
    "avgpool2d": lambda l, s: f"nn.AvgPool2d({l.kernel}, stride={l.stride})",
    "flatten": lambda l, s: "nn.Flatten()",
    # Inverted dropout: the identity in eval(), which load() returns.
    "dropout": lambda l, s: f"nn.Dropout(p={float(getattr(l, 'p', None) or 0.0)!r})",
}


def torch_source(spec: ModelSpec, weights_name: str) -> str:
    """A standalone Python module that rebuilds ``spec``'s ``nn.Sequential`` from plain torch.

    It defines ``NAME``, ``INPUT_SHAPE``, ``NUM_CLASSES``, ``build()`` (the
    module, untrained) and ``load(path=None)`` (the module with the state_dict
    at ``path``, by default ``weights_name`` beside the file, in eval mode).

    Raises
    ------
    ValueError
        For a layer kind this writer does not know.
    """
    shapes = spec.shapes
    lines = []
    for i, layer in enumerate(spec.layers):
        write = _TORCH_SOURCE.get(layer.kind)
        if write is None:
            raise ValueError(f"{spec.name}: layer {i} ({layer.kind}) has no torch export; "
                             f"known kinds: {sorted(_TORCH_SOURCE)}")
        lines.append(f"        {write(layer, shapes[i])},  # {i}: {shapes[i]} -> {shapes[i + 1]}")
    layers = "\n".join(lines)
    return f'''"""{spec.name}: a model trained with Sparrow, as plain PyTorch.

Generated by `sparrow export --format torch`; needs only torch::

    import {Path(weights_name).stem} as exported
    model = exported.load()            # weights from {weights_name} beside this file
    logits = model(x)                  # x: (batch, {", ".join(map(str, spec.input_shape))}) float32

The model ends in the {spec.num_classes} class logits (no softmax); it was
trained with softmax cross-entropy.
"""
from pathlib import Path

import torch
from torch import nn

NAME = {spec.name!r}
INPUT_SHAPE = {tuple(spec.input_shape)!r}
NUM_CLASSES = {spec.num_classes}
WEIGHTS = {weights_name!r}


def build():
    """The untrained module: an nn.Sequential whose state_dict keys match {weights_name}."""
    return nn.Sequential(
{layers}
    )


def load(path=None):
    """The module with the weights at path (default: {weights_name} beside this file), in eval mode."""
    model = build()
    path = Path(__file__).with_name(WEIGHTS) if path is None else path
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()
'''


def _trained_module(spec: ModelSpec, params: np.ndarray) -> Any:
    from sparrow.host.torch_model import build_torch_model, set_flat
    module = build_torch_model(spec, seed=None)
    set_flat(module, params)
    return module.eval()


def _export_torch(spec: ModelSpec, params: np.ndarray, stem: Path, which: str) -> list[Path]:
    import torch
    targets = [stem.with_name(stem.name + ".pt"), stem.with_name(stem.name + ".py")]
    source = torch_source(spec, targets[0].name)
    module = _trained_module(spec, params)
    with _staged(targets) as (pt, py):
        torch.save(module.state_dict(), pt)
        py.write_text(source)
    return targets


def _export_onnx(spec: ModelSpec, params: np.ndarray, stem: Path, which: str) -> list[Path]:
    if importlib.util.find_spec("onnx") is None:
        raise ValueError("the onnx export needs the onnx package: pip install -r requirements.txt "
                         "(it pins onnx and onnxruntime)")
    import torch
    target = stem.with_name(stem.name + ".onnx")
    module = _trained_module(spec, params)
    example = torch.zeros((1, *spec.input_shape), dtype=torch.float32)
    with _staged([target]) as (tmp,), warnings.catch_warnings():
        # The TorchScript exporter works with torch alone; the newer default
        # (dynamo) needs onnxscript. It warns that it is the legacy one.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        torch.onnx.export(module, (example,), str(tmp), input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                          opset_version=ONNX_OPSET, dynamo=False)
    return [target]


def _export_c(spec: ModelSpec, params: np.ndarray, stem: Path, which: str) -> list[Path]:
    from sparrow.host.export_c import render_header
    target = stem.with_name(stem.name + ".h")
    text = render_header(spec, params, f"Parameters: model_{which} ({spec.num_params} floats).")
    with _staged([target]) as (tmp,):
        tmp.write_text(text)
    return [target]


#: Export formats: name -> (output suffixes, writer(spec, params, stem, which) -> files written).
FORMATS: dict[str, tuple[tuple[str, ...], Callable[[ModelSpec, np.ndarray, Path, str], list[Path]]]] = {
    "torch": ((".pt", ".py"), _export_torch),
    "onnx": ((".onnx",), _export_onnx),
    "c": ((".h",), _export_c),
}


def export(run_dir: str | os.PathLike[str], fmt: str, which: str = "best",
           out: str | os.PathLike[str] | None = None) -> list[Path]:
    """Export one parameter vector of a run directory; return the files written.

    Parameters
    ----------
    run_dir : path
        The run directory.
    fmt : str
        A key of :data:`FORMATS`.
    which : str
        ``"best"`` or ``"last"``.
    out : path, optional
        Output stem; the format adds its suffixes (a suffix of the format's
        own already on it is dropped). Default ``run_dir/model_<which>``.

    Raises
    ------
    ValueError
        For an unknown format, a bad run directory, or a model the format
        cannot hold (C: layer kinds the firmware lacks); nothing is written then.
    """
    entry = FORMATS.get(fmt)
    if entry is None:
        raise ValueError(f"unknown format {fmt!r}; formats: {sorted(FORMATS)}")
    suffixes, write = entry
    params_file(which)
    spec, params = load_model(run_dir, which)
    stem = Path(run_dir) / f"model_{which}" if out is None else Path(out)
    if stem.suffix in suffixes:
        stem = stem.with_suffix("")
    if not stem.name:
        raise ValueError(f"--out {str(out)!r} names no file")
    return write(spec, params, stem, which)


# -- the subcommand -------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``sparrow export``."""
    parser.add_argument("run_dir", metavar="RUN_DIR", help="run directory (model.json, model_best.npy, model_last.npy)")
    # No argparse choices: a wrong name is a ValueError like every other input error (one line, exit 2).
    parser.add_argument("--format", dest="fmt", required=True, metavar="FORMAT",
                        help=f"one of {', '.join(FORMATS)}")
    parser.add_argument("--which", default="best", metavar="WHICH",
                        help=f"parameter vector: {' or '.join(WHICH)} (default best)")
    parser.add_argument("--out", metavar="PATH", help="output path without suffix (default RUN_DIR/model_<which>)")


def run(args: argparse.Namespace) -> int:
    """Export; print one JSON line with the files written."""
    files = export(args.run_dir, args.fmt, args.which, args.out)
    print(json.dumps({"format": args.fmt, "which": args.which, "run_dir": os.path.abspath(args.run_dir),
                      "files": [{"path": os.path.abspath(f), "bytes": f.stat().st_size} for f in files]}))
    return 0


cli.register(cli.Subcommand("export", "write a run's trained model as torch, onnx or a C header",
                            add_arguments, run))
