"""``sparrow data``: work on a node's own data; ``sparrow data pack`` packs it for a board.

Importing this module registers the subcommand in the command table (sparrow.common.cli)::

    sparrow data pack walks.csv --out shard-7.bin --input-shape 3,50 --classes 7
    sparrow data pack samples/ --format c --out firmware/build/mps2-an386/gen

``INPUT`` is any form ``sparrow.common.data_sources.load_data`` reads
(``.npz``, ``.csv``, a folder of ``<class>.npy`` files, ``module:function``).

``--format shard`` (the default) writes the MicroPython node's shard file
(float32 samples, ``agent/mp/shard_file.py``) at ``--out``. ``--format c``
writes ``shard_data.h`` and ``shard.c`` into the folder ``--out``: the two
generated files the firmware build compiles from ``build/<board>/gen/``
(int8 samples, one float32 scale per channel). Either way a sample is stored
as ``channels x length`` (``sparrow.agent.data.board_shape``); give
``--input-shape`` to reshape flat rows (a CSV) into the model's input shape,
and ``--classes`` for the model's class count (else the largest label + 1).

A bad input prints one line on stderr and exits with status 2.
"""
from __future__ import annotations

import argparse
import json
import math
import os

from sparrow.agent.data import write_c_shard, write_shard_file
from sparrow.common import cli
from sparrow.common.data_sources import check_against_spec, load_data

__all__ = ["ACTIONS", "FORMATS", "add_arguments", "pack", "run"]

#: What ``--format`` accepts: the MicroPython shard file, or the firmware's C sources.
FORMATS = ("shard", "c")


def _shape(text: str) -> tuple[int, ...]:
    """``--input-shape``: positive integers separated by commas or x (``3,50``, ``1x8x8``)."""
    parts = [p for p in text.replace("x", ",").replace(" ", "").split(",") if p]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a shape: {text!r} (write it as 3,50 or 1x8x8)") from None
    if not shape or any(d < 1 for d in shape):
        raise argparse.ArgumentTypeError(f"not a shape: {text!r} (positive sizes, e.g. 3,50)")
    return shape


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_pack_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``sparrow data pack``."""
    parser.add_argument("input", metavar="INPUT",
                        help="data.npz, data.csv, a folder of <class>.npy files, module:function "
                             "or path/to/file.py:function")
    parser.add_argument("--out", required=True, metavar="PATH",
                        help="shard file to write (--format shard), or folder for shard_data.h and shard.c "
                             "(--format c)")
    parser.add_argument("--format", choices=FORMATS, default="shard",
                        help="shard: the MicroPython node's file; c: the firmware's generated C sources")
    parser.add_argument("--label-column", default="label", metavar="NAME",
                        help="the CSV column that holds the class ids (default 'label')")
    parser.add_argument("--input-shape", type=_shape, metavar="SHAPE",
                        help="the model's input shape, e.g. 3,50 or 1x8x8 (default: as read)")
    parser.add_argument("--classes", type=_positive, metavar="N",
                        help="the model's class count (default: the largest label + 1, at least 2)")
    parser.add_argument("--max-samples", type=_positive, metavar="N",
                        help="keep at most N samples (a stream reads N; default: all, 10000 for a stream)")


def pack(args: argparse.Namespace) -> int:
    """Read ``args.input``, check it, write it in ``args.format``; print one JSON line of what was written."""
    source = args.input
    x, y = load_data(source, label_column=args.label_column, max_samples=args.max_samples)
    classes = args.classes if args.classes is not None else max(2, int(y.max()) + 1)
    shape = args.input_shape if args.input_shape is not None else tuple(x.shape[1:])
    x = check_against_spec(x, y, shape, classes, source)
    try:
        if args.format == "shard":
            if os.path.isdir(args.out):
                raise ValueError(f"{args.out}: is a folder; --format shard writes one file")
            write_shard_file(args.out, x, y, classes, source)
            written = [args.out]
        else:
            if os.path.isfile(args.out):
                raise ValueError(f"{args.out}: is a file; --format c writes shard_data.h and shard.c into a folder")
            what = f"{x.shape[0]} samples of {source}, packed by sparrow data pack"
            write_c_shard(args.out, x, y, what, classes, source=source)
            written = [os.path.join(args.out, "shard_data.h"), os.path.join(args.out, "shard.c")]
    except OSError as exc:
        raise ValueError(f"{args.out}: cannot write ({exc.strerror or exc})") from None
    print(json.dumps({"samples": int(x.shape[0]), "input_shape": list(shape), "classes": classes,
                      "values": int(x.shape[0] * math.prod(shape)), "format": args.format, "written": written}))
    return 0


#: The actions of ``sparrow data``: name -> (help, add_arguments, run).
ACTIONS = {
    "pack": ("pack a node's data into a MicroPython shard file or the firmware's C sources",
             add_pack_arguments, pack),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``sparrow data ACTION ...``: one sub-parser per entry of :data:`ACTIONS`."""
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, (text, add, run_action) in ACTIONS.items():
        sub = actions.add_parser(name, help=text, description=text)
        add(sub)
        sub.set_defaults(_action=run_action)


def run(args: argparse.Namespace) -> int:
    """Run the chosen action."""
    return int(args._action(args))


cli.register(cli.Subcommand("data", "work on a node's own data (pack it for a board)", add_arguments, run))
