"""A node's own data (or the host's validation data), read from a file, a folder or a Python function.

:func:`load_data` turns any of four forms into ``x`` (float32, ``(N, ...)``)
and ``y`` (int64 class ids, ``(N,)``):

``data.npz``
    a numpy archive with two arrays, ``x`` (samples first) and ``y`` (labels).
``data.csv``
    a text table with a header row. The label column (``label`` unless told
    otherwise) holds integer class ids; every other column is one feature,
    a number. Each row is one sample, so samples come out flat ``(N, F)``;
    :func:`check_against_spec` gives them the model's input shape.
``folder/``
    a folder of ``.npy`` files, one per class, each holding that class's
    samples ``(n_c, ...)``. The class id is the file name's leading integer:
    ``3.npy`` or ``3_walking.npy`` (the part after ``_`` is a free note) hold
    class 3. Every ``.npy`` file in the folder must follow that rule and no
    class may appear twice; other files are ignored.
``module:function`` or ``path/to/file.py:function``
    a stream: the function is called without arguments and returns an
    iterable of ``(x_batch, y_batch)`` pairs. A module is imported by name
    (it must be importable already); a ``.py`` file is loaded from its path.
    **A stream is read once, when the node starts, into a bounded buffer**:
    batches are taken until ``max_samples`` samples are held (default
    :data:`STREAM_MAX_SAMPLES`), the last batch is cut to fit, and the rest
    of the stream is never read. Training then runs on that buffer; samples
    that arrive later are not seen.

For a file or folder, ``max_samples`` (default: all) keeps that many samples
spread evenly over the data (every k-th), so a file sorted by class still
keeps every class.

Every problem is a ``ValueError`` with one line that starts with the source
(the path or ``module:function`` as given): a missing file, no samples, a
CSV without the label column (the message lists the columns it has), a
value that is not a number, different sample and label counts, labels that
are not non-negative integers, an unknown form (the message lists the forms
above).
"""
from __future__ import annotations

import csv
import importlib
import math
import os
import re
import zipfile
from typing import Any, Iterable, NoReturn

import numpy as np

from sparrow.common.file_modules import load_module_file

__all__ = ["FORMS", "STREAM_MAX_SAMPLES", "check_against_spec", "check_labels", "load_data"]

#: How many samples a stream (``module:function``) is read into by default.
STREAM_MAX_SAMPLES = 10000

#: The accepted forms, as error messages list them.
FORMS = ("a .npz file with arrays x and y", "a .csv file with a header row",
         "a folder of <class>.npy files", "module:function", "path/to/file.py:function")

#: A class file of a ``.npy`` folder: ``<id>.npy`` or ``<id>_<note>.npy``.
_CLASS_FILE = re.compile(r"^(\d+)(?:_.*)?\.npy$", re.IGNORECASE)


def _fail(source: str, message: str) -> NoReturn:
    raise ValueError(f"{source}: {message}")


# -- checks shared by every form ---------------------------------------------------


def _features(x: Any, source: str, what: str = "x") -> np.ndarray:
    """``x`` as float32 ``(N, ...)``, refusing non-numeric and non-finite values."""
    array = np.asarray(x)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        _fail(source, f"{what} holds non-numeric values (dtype {array.dtype})")
    if np.issubdtype(array.dtype, np.complexfloating):
        _fail(source, f"{what} holds complex numbers")
    if array.ndim < 2:
        _fail(source, f"{what} has shape {array.shape}; expected (samples, ...) with at least 2 dimensions")
    out = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(out).all():
        _fail(source, f"{what} holds NaN or infinite values")
    return out


def _labels(y: Any, source: str, what: str = "y") -> np.ndarray:
    """``y`` as int64 ``(N,)``, refusing anything but non-negative integers."""
    array = np.asarray(y)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        _fail(source, f"{what} has shape {array.shape}; expected one label per sample (N,)")
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.number):
        _fail(source, f"{what} holds non-numeric values (dtype {array.dtype}); labels are class ids 0, 1, 2 ...")
    if np.issubdtype(array.dtype, np.complexfloating):
        _fail(source, f"{what} holds complex numbers; labels are class ids 0, 1, 2 ...")
    if np.issubdtype(array.dtype, np.floating):
        bad = ~np.isfinite(array) | (array != np.round(array))
        if bad.any():
            _fail(source, f"label {array[bad][0].item()!r} is not a non-negative integer")
    if array.size and array.min() < 0:
        _fail(source, f"label {array.min().item()!r} is not a non-negative integer")
    return np.ascontiguousarray(array, dtype=np.int64)


def _finish(x: np.ndarray, y: np.ndarray, source: str, max_samples: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Common end of every reader: equal counts, at least one sample, the cap."""
    if x.shape[0] != y.shape[0]:
        _fail(source, f"{x.shape[0]} samples but {y.shape[0]} labels")
    if x.shape[0] == 0:
        _fail(source, "holds no samples")
    if max_samples is not None and x.shape[0] > max_samples:
        keep = np.linspace(0, x.shape[0] - 1, max_samples).round().astype(np.int64)
        x, y = x[keep], y[keep]
    return np.ascontiguousarray(x), np.ascontiguousarray(y)


# -- the file forms ----------------------------------------------------------------


def _read_npz(path: str) -> tuple[np.ndarray, np.ndarray]:
    if not zipfile.is_zipfile(path):
        _fail(path, "is not a .npz archive (np.savez writes one, with arrays x and y)")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        _fail(path, f"is not a readable .npz archive ({_one_line(exc)})")
    if not isinstance(archive, np.lib.npyio.NpzFile):
        _fail(path, "is a single .npy array, not a .npz archive with arrays x and y")
    with archive:
        names = list(archive.files)
        if "x" not in names or "y" not in names:
            _fail(path, f"needs arrays 'x' and 'y', it holds {', '.join(names) or 'none'}")
        try:
            x, y = archive["x"], archive["y"]
        except ValueError:
            _fail(path, "holds non-numeric values (object arrays)")
        except (OSError, EOFError, zipfile.BadZipFile) as exc:
            _fail(path, f"is not a readable .npz archive ({_one_line(exc)})")
    return _features(x, path), _labels(y, path)


def _read_csv(path: str, label_column: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = csv.reader(handle)
            header = next(rows, None)
            if header is None or not any(name.strip() for name in header):
                _fail(path, "holds no samples (the file is empty; a header row comes first)")
            header = [name.strip() for name in header]
            if label_column not in header:
                _fail(path, f"has no label column {label_column!r}; its columns are {', '.join(header)}")
            if len(header) < 2:
                _fail(path, f"has only the label column {label_column!r}; there are no features")
            label_at = header.index(label_column)
            feature_names = [name for i, name in enumerate(header) if i != label_at]
            features: list[list[float]] = []
            labels: list[float] = []
            for row in rows:
                if not row or all(not cell.strip() for cell in row):
                    continue
                line = rows.line_num
                if len(row) != len(header):
                    _fail(path, f"line {line} has {len(row)} values, the header has {len(header)} columns")
                values = []
                for i, cell in enumerate(row):
                    try:
                        value = float(cell)
                    except ValueError:
                        _fail(path, f"line {line}, column {header[i]!r}: {cell.strip()!r} is not a number")
                    if i == label_at:
                        if not (math.isfinite(value) and value >= 0 and value == int(value)):
                            _fail(path, f"line {line}: label {cell.strip()!r} is not a non-negative integer")
                        labels.append(value)
                    else:
                        if not math.isfinite(value):
                            _fail(path, f"line {line}, column {header[i]!r}: {cell.strip()!r} is not finite")
                        values.append(value)
                features.append(values)
    except UnicodeDecodeError:
        _fail(path, "is not a UTF-8 text file")
    x = np.array(features, dtype=np.float32).reshape(len(features), len(feature_names))
    return x, np.array(labels, dtype=np.int64)


def _read_npy_folder(path: str) -> tuple[np.ndarray, np.ndarray]:
    files = sorted(name for name in os.listdir(path)
                   if name.lower().endswith(".npy") and not name.startswith("."))
    if not files:
        _fail(path, "holds no .npy files (one per class: 0.npy, 1.npy ... or 0_<name>.npy)")
    by_class: dict[int, str] = {}
    for name in files:
        match = _CLASS_FILE.match(name)
        if match is None:
            _fail(path, f"file {name!r} does not start with a class id (0.npy, 1_walking.npy ...)")
        label = int(match.group(1))
        if label in by_class:
            _fail(path, f"class {label} has two files, {by_class[label]!r} and {name!r}")
        by_class[label] = name
    xs, ys = [], []
    shape = None
    for label in sorted(by_class):
        name = by_class[label]
        where = os.path.join(path, name)
        try:
            array = np.load(where, allow_pickle=False)
        except ValueError:
            _fail(where, "holds non-numeric values (object array)")
        except (OSError, EOFError) as exc:
            _fail(where, f"not a readable .npy file ({_one_line(exc)})")
        x = _features(array, where, "the array")
        if shape is not None and x.shape[1:] != shape:
            _fail(path, f"{name} holds samples of shape {x.shape[1:]}, {by_class[min(by_class)]} of {shape}")
        shape = x.shape[1:]
        xs.append(x)
        ys.append(np.full(x.shape[0], label, dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)


# -- the stream form ---------------------------------------------------------------


def _stream_function(source: str) -> Any:
    """The function ``module:function`` or ``file.py:function`` names."""
    target, _, name = source.rpartition(":")
    if not target or not name.isidentifier():
        _fail(source, f"not a data source; give one of: {'; '.join(FORMS)}")
    if target.endswith(".py") or os.sep in target or "/" in target:
        if not os.path.isfile(target):
            _fail(target, "no such file")
        module_name = "_sparrow_data_" + re.sub(r"\W", "_", os.path.splitext(os.path.basename(target))[0])
        module = load_module_file(target, module_name)
    else:
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            if exc.name is None or not (target == exc.name or target.startswith(exc.name + ".")):
                raise
            _fail(source, f"no module named {target!r} (the module must be importable, or give path/to/file.py)")
    function = getattr(module, name, None)
    if not callable(function):
        _fail(source, f"the module has no function {name!r}")
    return function


def _read_stream(source: str, max_samples: int) -> tuple[np.ndarray, np.ndarray]:
    batches = _stream_function(source)()
    if not isinstance(batches, Iterable):
        _fail(source, f"returned {type(batches).__name__}, not an iterable of (x_batch, y_batch)")
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    held = 0
    iterator = iter(batches)
    try:
        for number, item in enumerate(iterator, 1):
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                _fail(source, f"batch {number} is not a pair (x_batch, y_batch)")
            x_batch, y_batch = np.asarray(item[0]), np.asarray(item[1])
            if y_batch.ndim == 0:  # one sample and its label
                x_batch, y_batch = x_batch[None], y_batch[None]
            x_batch = _features(x_batch, source, f"batch {number}'s x")
            y_batch = _labels(y_batch, source, f"batch {number}'s y")
            if x_batch.shape[0] != y_batch.shape[0]:
                _fail(source, f"batch {number} has {x_batch.shape[0]} samples but {y_batch.shape[0]} labels")
            if xs and x_batch.shape[1:] != xs[0].shape[1:]:
                _fail(source, f"batch {number} holds samples of shape {x_batch.shape[1:]}, "
                              f"batch 1 of {xs[0].shape[1:]}")
            take = min(x_batch.shape[0], max_samples - held)
            xs.append(x_batch[:take])
            ys.append(y_batch[:take])
            held += take
            if held >= max_samples:
                break
    finally:
        close = getattr(iterator, "close", None)
        if callable(close):
            close()
    if not xs:
        _fail(source, "holds no samples (the stream gave no batches)")
    return np.concatenate(xs), np.concatenate(ys)


# -- the entry points --------------------------------------------------------------


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def load_data(path: str, *, label_column: str = "label",
              max_samples: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read samples and labels from a file, a folder or a stream (the forms in this module's docstring).

    Parameters
    ----------
    path : str
        ``data.npz``, ``data.csv``, a folder of ``<class>.npy`` files,
        ``module:function`` or ``path/to/file.py:function``.
    label_column : str
        The CSV column that holds the labels.
    max_samples : int, optional
        Keep at most this many samples. A stream reads this many and stops
        (default :data:`STREAM_MAX_SAMPLES`); a file keeps every k-th sample
        (default: all).

    Returns
    -------
    x : np.ndarray
        float32, ``(N, ...)``; a CSV gives ``(N, features)``.
    y : np.ndarray
        int64 class ids, ``(N,)``.

    Raises
    ------
    ValueError
        One line naming the source and what is wrong with it.
    """
    source = os.fspath(path)
    if not isinstance(source, str) or not source:
        raise ValueError(f"a data source must be a path or module:function, got {path!r}")
    if max_samples is not None and (isinstance(max_samples, bool) or not isinstance(max_samples, int)
                                    or max_samples < 1):
        raise ValueError(f"{source}: max_samples must be an integer >= 1, got {max_samples!r}")
    if os.path.isdir(source):
        x, y = _read_npy_folder(source)
    elif os.path.isfile(source):
        if os.path.getsize(source) == 0:
            _fail(source, "holds no samples (the file is empty)")
        extension = os.path.splitext(source)[1].lower()
        if extension == ".npz":
            x, y = _read_npz(source)
        elif extension == ".csv":
            x, y = _read_csv(source, label_column)
        else:
            _fail(source, f"unknown data format {extension or '(no extension)'!r}; give one of: {'; '.join(FORMS)}")
    elif ":" in source:
        x, y = _read_stream(source, STREAM_MAX_SAMPLES if max_samples is None else max_samples)
    else:
        _fail(source, "no such file or folder")
    return _finish(x, y, source, max_samples)


def check_against_spec(x: np.ndarray, y: np.ndarray, input_shape: tuple[int, ...], num_classes: int,
                       source: str) -> np.ndarray:
    """Check samples and labels against a model's input shape and class count.

    Parameters
    ----------
    x, y : np.ndarray
        What :func:`load_data` returned.
    input_shape : tuple of int
        The model's input shape, e.g. ``(1, 8, 8)``.
    num_classes : int
        The model's class count; labels must lie in ``[0, num_classes)``.
    source : str
        Where the data came from, to start the error message with.

    Returns
    -------
    np.ndarray
        ``x`` reshaped to ``(N, *input_shape)``: only the number of values
        per sample must match (a flat CSV row of 64 values fits ``(1, 8, 8)``).

    Raises
    ------
    ValueError
        ``data.csv: samples have 10 values, the model takes (1, 8, 8) = 64``, or
        ``data.npz: label 12 is out of range for a model with 10 classes``.
    """
    shape = tuple(int(d) for d in input_shape)
    expected = math.prod(shape)
    have = math.prod(x.shape[1:])
    if have != expected:
        _fail(source, f"samples have {have} values, the model takes {shape} = {expected}")
    if x.shape[0] != y.shape[0]:
        _fail(source, f"{x.shape[0]} samples but {y.shape[0]} labels")
    check_labels(y, num_classes, source)
    return x.reshape((x.shape[0],) + shape)


def check_labels(y: np.ndarray, num_classes: int, source: str) -> None:
    """ValueError naming ``source`` when a label is ``num_classes`` or more."""
    if y.size and int(y.max()) >= num_classes:
        _fail(source, f"label {int(y.max())} is out of range for a model with {num_classes} classes")
