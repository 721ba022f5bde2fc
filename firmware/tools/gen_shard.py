"""Generate a board's local data shard, to live in its flash.

Loads a data set with ``sparrow.common.datasets.load`` and gives node ``--node``
its share of ``partition(ds, --nodes, scheme)`` (for ``watch`` with the
``group`` scheme: one subject per node). Samples are stored as int8 with one
float32 scale per channel (``x = q * scale[c]``, scale = max|x_c| / 127), a
quarter of float32's flash. Writes

* ``shard.h`` / ``shard.c``: the arrays (in section ``.shard``) and an
  ``nn_shard`` describing them;
* ``shard.npz``: the dequantised float32 samples exactly as the board sees
  them, and the labels, for the tests.

The quantiser and the C text are ``sparrow.agent.data``'s, which
``sparrow data pack --format c`` uses for any other data.

Usage::

    python firmware/tools/gen_shard.py --node 0 --out build/mps2-an386/gen
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from cgen import write
from sparrow.agent.data import dequantise, quantise, render_c_shard
from sparrow.common.datasets import load, partition


def render(q: np.ndarray, y: np.ndarray, scale: np.ndarray, what: str) -> tuple[str, str]:
    """Return the texts of shard.h and shard.c (the writer ``sparrow data pack --format c`` shares)."""
    return render_c_shard(q, y, scale, what, generator="firmware/tools/gen_shard.py")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="watch")
    parser.add_argument("--nodes", type=int, default=10, help="nodes the training set is split among")
    parser.add_argument("--node", type=int, required=True, help="this board's node index")
    parser.add_argument("--scheme", default="group", help="partition scheme (datasets.SCHEMES)")
    parser.add_argument("--max-samples", type=int, default=0, help="keep at most this many (0: all)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    ds = load(args.dataset)
    parts = partition(ds, args.nodes, scheme=args.scheme)
    if not 0 <= args.node < len(parts):
        raise SystemExit(f"--node must be in [0, {len(parts)}), got {args.node}")
    index = parts[args.node]
    if args.max_samples > 0:
        index = index[: args.max_samples]
    x, y = ds.x_train[index], ds.y_train[index]
    if x.ndim != 3 or y.max(initial=0) > 255:
        raise SystemExit(f"{args.dataset}: the firmware shard needs (N, C, L) samples and labels < 256")
    q, scale = quantise(x)
    what = (f"{args.dataset} training samples of node {args.node} of {args.nodes} "
            f"({args.scheme} partition), {len(index)} samples")
    header, source = render(q, y, scale, what)
    write(args.out / "shard_data.h", header)
    write(args.out / "shard.c", source)
    np.savez(args.out / "shard.npz", x=dequantise(q, scale), y=y.astype(np.int64))


if __name__ == "__main__":
    main()
