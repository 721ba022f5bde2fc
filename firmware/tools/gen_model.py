"""Generate the firmware's model: layer table and initial weights.

Reads the shared model description (``sparrow.common.modelspec``: a registered
name, or a JSON or TOML file holding ``ModelSpec.to_dict()``) and writes

* ``model.h``: sizes as macros (to size static arrays) and the declarations;
* ``model.c``: the ``nn_layer`` table with every activation and parameter
  offset resolved, and the initial parameters of ``init_params(spec, seed)``
  as exact hexadecimal float literals;
* ``model.npz``: the same initial parameters and the spec JSON, which the
  tests use as the reference.

Usage::

    python firmware/tools/gen_model.py --model cnn1d_watch --seed 0 --out build/gen
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cgen import banner, floats, write
from sparrow.common.modelspec import ModelSpec, init_params, resolve_spec

KIND_ENUM = {
    "dense": "NN_DENSE",
    "conv1d": "NN_CONV1D",
    "relu": "NN_RELU",
    "maxpool1d": "NN_MAXPOOL1D",
    "avgpool1d": "NN_AVGPOOL1D",
    "flatten": "NN_FLATTEN",
}
IN_PLACE = {"relu", "flatten"}


@dataclass(frozen=True)
class Plan:
    """Resolved layout of one model in the firmware's arena."""

    rows: list[dict[str, int | str]]
    act_floats: int
    grad_a: int
    grad_b: int


def _as_channels_length(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) == 1:
        return shape[0], 1
    if len(shape) == 2:
        return shape[0], shape[1]
    raise ValueError(f"the firmware handles 1-D models only; got an activation of shape {shape}")


def plan(spec: ModelSpec) -> Plan:
    """Place every activation and resolve parameter offsets.

    Raises
    ------
    ValueError
        If the model uses a layer kind the firmware lacks (conv2d, the 2-D
        pools, dropout), naming the first such layer and the kinds of
        :data:`KIND_ENUM`, before anything is written.
    """
    slices = spec.param_slices
    shapes = spec.shapes
    rows: list[dict[str, int | str]] = []
    cursor = math.prod(shapes[0])  # the input sample sits at offset 0
    current = 0
    for i, layer in enumerate(spec.layers):
        if layer.kind not in KIND_ENUM:
            raise ValueError(
                f"{spec.name}: layer {i} ({layer.kind}) is not supported by the firmware; "
                f"supported: {', '.join(KIND_ENUM)}"
            )
        in_ch, in_len = _as_channels_length(shapes[i])
        out_ch, out_len = _as_channels_length(shapes[i + 1])
        if layer.kind in IN_PLACE:
            out_act = current
        else:
            out_act = cursor
            cursor += out_ch * out_len
        weight = slices.get(f"{i}.weight", slice(0, 0)).start
        bias = slices.get(f"{i}.bias", slice(0, 0)).start
        rows.append({
            "kind": KIND_ENUM[layer.kind], "in_ch": in_ch, "in_len": in_len,
            "out_ch": out_ch, "out_len": out_len, "kernel": layer.kernel,
            "stride": layer.stride or 0, "padding": layer.padding,
            "weight": weight, "bias": bias, "in_act": current, "out_act": out_act,
        })
        current = out_act
    # Replay nn_backward's ping-pong to size its two gradient buffers.
    capacity = [spec.num_classes, 0]
    side = 0
    for i in range(len(spec.layers) - 1, 0, -1):
        if spec.layers[i].kind in IN_PLACE:
            continue
        side ^= 1
        capacity[side] = max(capacity[side], math.prod(shapes[i]))
    return Plan(rows, cursor, capacity[0], capacity[1])


def render(spec: ModelSpec, params: np.ndarray, seed: int) -> tuple[str, str]:
    """Return the texts of model.h and model.c."""
    p = plan(spec)
    in_size = math.prod(spec.input_shape)
    header = banner("gen_model.py", f"model.h - {spec.name} for the firmware (init seed {seed}).") + f"""#ifndef SPARROW_MODEL_H
#define SPARROW_MODEL_H

#include "nn.h"

#define SPARROW_MODEL_NAME "{spec.name}"
#define SPARROW_MODEL_N_PARAMS {spec.num_params}u
#define SPARROW_MODEL_N_CLASSES {spec.num_classes}u
#define SPARROW_MODEL_IN_SIZE {in_size}u
#define SPARROW_MODEL_ARENA_FLOATS NN_ARENA_FLOATS({p.act_floats}u, {p.grad_a}u, {p.grad_b}u)

extern const nn_model sparrow_model;
/* Initial parameters: init_params(spec, seed={seed}). */
extern const float sparrow_model_init[SPARROW_MODEL_N_PARAMS];

#endif /* SPARROW_MODEL_H */
"""
    fields = ["kind", "in_ch", "in_len", "out_ch", "out_len", "kernel", "stride", "padding",
              "weight", "bias", "in_act", "out_act"]
    table = ",\n".join(
        "    {" + ", ".join(f".{f} = {row[f]}" + ("u" if f != "kind" else "") for f in fields) + "}"
        for row in p.rows
    )
    source = banner("gen_model.py", f"model.c - {spec.name} layer table and initial weights.") + f"""#include "model.h"

static const nn_layer layers[{len(p.rows)}] = {{
{table}
}};

const nn_model sparrow_model = {{
    .name = SPARROW_MODEL_NAME,
    .layers = layers,
    .n_layers = {len(p.rows)}u,
    .n_classes = SPARROW_MODEL_N_CLASSES,
    .n_params = SPARROW_MODEL_N_PARAMS,
    .in_size = SPARROW_MODEL_IN_SIZE,
    .act_floats = {p.act_floats}u,
    .grad_a = {p.grad_a}u,
    .grad_b = {p.grad_b}u,
}};

const float sparrow_model_init[SPARROW_MODEL_N_PARAMS] = {{
{floats(params)}
}};
"""
    return header, source


def load_spec(model: str) -> ModelSpec:
    """A registered model name, or the path of a JSON or TOML model description.

    Raises
    ------
    ValueError
        One line: an unknown name, or a file ``resolve_spec`` refuses.
    """
    return resolve_spec(model)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="cnn1d_watch", help="registered name, or a spec .json or .toml")
    parser.add_argument("--seed", type=int, default=0, help="seed of init_params")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    try:
        spec = load_spec(args.model)
        params = init_params(spec, args.seed)
        header, source = render(spec, params, args.seed)
    except ValueError as exc:
        # A model the firmware cannot run is refused in one line, nothing written.
        raise SystemExit(f"gen_model.py: {exc}") from None
    write(args.out / "model.h", header)
    write(args.out / "model.c", source)
    np.savez(args.out / "model.npz", params=params, spec=json.dumps(spec.to_dict()))


if __name__ == "__main__":
    main()
