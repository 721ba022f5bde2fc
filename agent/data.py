"""A node's data: where its samples come from, and how they are packed for boards.

:func:`node_data` gives a Linux node its training samples: its own data when
``[agent] data`` names a source (any form of
``sparrow.common.data_sources.load_data``: ``.npz``, ``.csv``, a folder of
``<class>.npy`` files, ``module:function``), else its share of a bundled data
set, cut by the simulation partition (``dataset``, ``num_nodes``,
``node_index``, ``partition``, ``alpha``, ``partition_seed``). A partition
is then one more data source.

Boards cannot read those forms, so the samples are packed for them:

* :func:`write_shard_file`: the MicroPython node's shard file (the layout
  and its reader are in ``agent/mp/shard_file.py``, which runs on the board;
  its ``write`` is used here, loaded by path);
* :func:`render_c_shard` / :func:`write_c_shard`: the firmware's flash shard,
  ``shard_data.h`` and ``shard.c`` (int8 samples with one float32 scale per
  channel, ``x = q * scale[c]``; the struct is ``nn_shard`` of
  ``firmware/nn/shard.h``). ``firmware/tools/gen_shard.py`` and
  ``sparrow data pack --format c`` both write through them.

Both board forms hold samples as ``channels x length``: a sample shaped
``(C, L)`` or ``(C, H, W)`` is ``C`` channels of ``L`` (``H * W``) values, a
flat sample of ``F`` values is one channel of ``F``. Labels are one byte
(fewer than 256 classes).
"""
from __future__ import annotations

import math
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from sparrow.common.c_literals import array_body, float_literal, ints
from sparrow.common.file_modules import load_module_file
from sparrow.common.data_sources import check_labels, load_data
from sparrow.common.datasets import load, partition

if TYPE_CHECKING:
    from sparrow.agent.config import AgentConfig

__all__ = ["board_shape", "dequantise", "node_data", "quantise", "render_c_shard", "write_c_shard",
           "write_shard_file"]

#: The MicroPython node's shard format (reader and writer), beside the node that reads it.
SHARD_FILE_SCRIPT = Path(__file__).resolve().parent / "mp" / "shard_file.py"


def node_data(config: "AgentConfig") -> tuple[np.ndarray, np.ndarray, int | None]:
    """This node's training samples.

    Returns
    -------
    x : np.ndarray
        float32 samples ``(N, ...)`` (a CSV gives flat rows: check them
        against the model with ``data_sources.check_against_spec``).
    y : np.ndarray
        int64 class ids ``(N,)``.
    num_classes : int or None
        The bundled data set's class count; None for the node's own data,
        whose labels alone do not tell how many classes the model has.

    Raises
    ------
    ValueError
        One line naming the source when its data cannot be read.
    """
    if config.data:
        x, y = load_data(config.data, label_column=config.label_column)
        return x, y, None
    data = load(config.dataset)
    shares = partition(data, config.num_nodes, config.partition, config.alpha, config.partition_seed)
    mine = shares[config.node_index]
    return data.x_train[mine], data.y_train[mine], data.num_classes


# -- packing for boards ------------------------------------------------------------

#: Largest channel count and channel length a board shard describes (u16 fields).
MAX_DIM = 65535
#: Labels are one byte on the boards.
MAX_CLASSES = 256


def board_shape(x: np.ndarray, source: str) -> tuple[int, int]:
    """``(channels, length)`` of the samples ``x`` (``(N, ...)``) as a board stores them."""
    sample = x.shape[1:]
    if len(sample) >= 2:
        channels, length = int(sample[0]), math.prod(int(d) for d in sample[1:])
    else:
        channels, length = 1, math.prod(int(d) for d in sample)
    if not (1 <= channels <= MAX_DIM and 1 <= length <= MAX_DIM):
        raise ValueError(f"{source}: samples of shape {tuple(sample)} are {channels} channels of {length} "
                         f"values; a board shard holds at most {MAX_DIM} of each (give --input-shape)")
    return channels, length


def _check_labels(y: np.ndarray, classes: int, source: str) -> None:
    if not 2 <= classes <= MAX_CLASSES:
        raise ValueError(f"{source}: a board shard holds 2 to {MAX_CLASSES} classes, got {classes}")
    check_labels(y, classes, source)


def _shard_file_module() -> ModuleType:
    if not SHARD_FILE_SCRIPT.is_file():
        raise ValueError(f"the MicroPython shard format {SHARD_FILE_SCRIPT} is missing "
                         "(it ships with a Sparrow checkout, not with an installed package)")
    return load_module_file(SHARD_FILE_SCRIPT, "_sparrow_mp_shard_file")


def write_shard_file(path: str | Path, x: np.ndarray, y: np.ndarray, classes: int, source: str = "data") -> None:
    """Write samples ``x`` (``(N, ...)``) and labels ``y`` as a MicroPython node's shard file.

    Samples are stored as float32, exactly; ``classes`` is the model's class
    count (2 to 256), above every label.
    """
    channels, length = board_shape(x, source)
    _check_labels(y, classes, source)
    features = np.ascontiguousarray(x, dtype="<f4").tobytes()
    _shard_file_module().write(str(path), features, [int(c) for c in y], channels, length, classes)


def quantise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel symmetric int8 quantisation of samples shaped (N, C, L).

    Returns
    -------
    q : np.ndarray
        int8, same shape as x, in [-127, 127].
    scale : np.ndarray
        float32, shape (C,); a channel of zeros gets scale 1.
    """
    if x.ndim != 3:
        raise ValueError(f"samples must be (N, channels, length), got {x.shape}")
    peak = np.abs(x).max(axis=(0, 2)).astype(np.float32)
    scale = np.where(peak > 0, peak / np.float32(127.0), np.float32(1.0)).astype(np.float32)
    q = np.clip(np.rint(x / scale[None, :, None]), -127, 127).astype(np.int8)
    return q, scale


def dequantise(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The board's arithmetic: float32(q) * scale[c], one rounding."""
    return (q.astype(np.float32) * scale[None, :, None].astype(np.float32)).astype(np.float32)


def _banner(generator: str, what: str) -> str:
    what = " ".join(what.split()).replace("*/", "* /")
    return f"/* {what}\n * Generated by {generator}; do not edit. */\n"


def render_c_shard(q: np.ndarray, y: np.ndarray, scale: np.ndarray, what: str,
                   generator: str = "firmware/tools/gen_shard.py") -> tuple[str, str]:
    """The texts of ``shard_data.h`` and ``shard.c`` for quantised samples ``q`` (N, C, L).

    ``what`` describes the samples (one comment line); ``generator`` names
    the tool in the "do not edit" banner.
    """
    n, channels, length = q.shape
    header = _banner(generator, f"shard.h - {what}.") + f"""#ifndef SPARROW_SHARD_DATA_H
#define SPARROW_SHARD_DATA_H

#include "shard.h"

#define SPARROW_SHARD_N_SAMPLES {n}u

extern const nn_shard sparrow_shard;

#endif /* SPARROW_SHARD_DATA_H */
"""
    source = _banner(generator, f"shard.c - {what}.") + f"""#include "shard_data.h"

#define SHARD_SECTION __attribute__((section(".shard")))

static const int8_t shard_x[{q.size}] SHARD_SECTION = {{
{ints(q)}
}};

static const uint8_t shard_y[{n}] SHARD_SECTION = {{
{ints(y)}
}};

static const float shard_scale[{channels}] = {{
{array_body(float_literal(s) for s in scale)}
}};

const nn_shard sparrow_shard = {{
    .n_samples = SPARROW_SHARD_N_SAMPLES,
    .channels = {channels}u,
    .length = {length}u,
    .x = shard_x,
    .y = shard_y,
    .scale = shard_scale,
}};
"""
    return header, source


def write_c_shard(folder: str | Path, x: np.ndarray, y: np.ndarray, what: str, classes: int | None = None,
                  generator: str = "sparrow data pack", source: str = "data") -> np.ndarray:
    """Write ``shard_data.h`` and ``shard.c`` for samples ``x`` (``(N, ...)``) into ``folder``.

    ``classes``, when given, is checked against the labels (else they need
    only fit a byte). Returns the samples exactly as the board dequantises
    them, ``(N, channels, length)``.
    """
    channels, length = board_shape(x, source)
    _check_labels(y, MAX_CLASSES if classes is None else classes, source)
    q, scale = quantise(np.asarray(x, dtype=np.float32).reshape(x.shape[0], channels, length))
    header, text = render_c_shard(q, y, scale, what, generator)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / "shard_data.h").write_text(header)
    (out / "shard.c").write_text(text)
    return dequantise(q, scale)
