"""``sparrow init NAME``: a job folder that runs as generated.

It writes

* ``job.toml``: the broker, host and agent tables with every key a newcomer
  changes first, commented;
* ``model.py``: a small PyTorch model (``build()`` returns an
  ``nn.Sequential`` and declares its input shape) that the host turns into
  Sparrow's model description; the nodes learn it from the host;
* ``data/node-<i>.npz``: a tiny example data file per node (arrays ``x`` and
  ``y``: 8x8 one-channel patterns of three classes with noise, each node
  holding a different mix of classes) and ``data/val.npz`` for the host;
* ``README.md``: the commands to run it (broker, host, agents, export).

Replace the data files with your own (same formats: docs/own-job.md) and the
model with yours; the commands stay the same.
"""
from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

import numpy as np

from sparrow.common.cli import Subcommand, register

__all__ = ["add_arguments", "make_job", "run"]

#: Example data: side of the square one-channel images, classes, samples per node and for validation.
SIDE = 8
CLASSES = 3
SAMPLES_PER_NODE = 240
VAL_SAMPLES = 300

_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

MODEL_PY = '''"""The job's model: edit freely within the supported layers (docs/own-job.md).

The host reads it with ``--model model.py:build``; nodes learn the model
from the host, so this file stays on the host.
"""
from torch import nn


def build():
    """The model; ``input_shape`` (channels, height, width) tells the host what one sample is."""
    model = nn.Sequential(
        nn.Conv2d(1, 8, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * 4 * 4, 32),
        nn.ReLU(),
        nn.Linear(32, {classes}),
    )
    model.input_shape = (1, {side}, {side})
    return model
'''

JOB_TOML = '''# Sparrow job "{name}": one file for the broker, the host and every agent.
# Any key can be overridden by a flag of the same name (--rounds 50, --broker-port 1884, ...).

[broker]
host = "127.0.0.1"      # the MQTT broker every process connects to
port = 1883
job = "{name}"          # topic prefix: sparrow/{name}/...

[host]
model = "model.py:build"     # or a registered name, or a model.json / model.toml description
dataset = ""                 # no bundled data set: this job brings its own
val_data = "data/val.npz"    # what the host evaluates on (optional)
rounds = 60
batch_size = 32
lr = 0.1
min_nodes = {nodes}           # wait for this many nodes before the first round
deadline_s = 20.0
run_dir = "runs/{name}"      # metrics, plots, checkpoint and the trained model

[agent]
# The model comes from the host; each agent is given its data with --data.
compressor = "laplace"       # how updates are sparsified
density = 0.05               # share of the gradient each update carries
value_coding = "int8"        # fp32, fp16, int8 or sign
'''

README = '''# Sparrow job: {name}

Three classes of 8x8 patterns spread over {nodes} nodes, a small CNN in
`model.py`. Run from this folder, each command in its own terminal (or
with `&`):

```sh
mosquitto -p 1883                                     # 1. a broker (any MQTT 5 broker)
sparrow host --config job.toml                        # 2. the host: trains, evaluates on data/val.npz
{agents}
```

When the host is done (it prints a JSON line with the final accuracy), take
the trained model out:

```sh
sparrow export runs/{name} --format onnx               # also: --format torch, --format c
```

To make it your job: put your own data in `data/` (one `.npz` with arrays
`x` and `y` per node, a CSV with a label column, or a folder of `.npy` per
class), describe your model in `model.py`, and change `rounds`, `lr` and
the rest in `job.toml`. Formats and options: docs/own-job.md in the
Sparrow repository.
'''


def _patterns(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """One noisy 8x8 image per label: class 0 rows, class 1 columns, class 2 a diagonal."""
    base = np.zeros((CLASSES, SIDE, SIDE), np.float32)
    base[0, ::2, :] = 1.0
    base[1, :, ::2] = 1.0
    base[2][np.eye(SIDE, dtype=bool) | np.eye(SIDE, k=1, dtype=bool)] = 1.0
    x = base[labels] + rng.normal(0.0, 0.6, (labels.size, SIDE, SIDE)).astype(np.float32)
    return x[:, None, :, :].astype(np.float32)


def make_job(folder: Path, name: str, nodes: int, seed: int = 0) -> list[Path]:
    """Write the job folder; returns the files written. Refuses a folder that exists and is not empty."""
    if not _NAME_RE.match(name):
        raise ValueError(f"job name {name!r} must be 1-64 characters of [A-Za-z0-9_.-] (it is a topic level)")
    if not 1 <= nodes <= 64:
        raise ValueError(f"--nodes must be between 1 and 64, got {nodes}")
    if folder.exists() and any(folder.iterdir()):
        raise ValueError(f"{folder} exists and is not empty; choose a new folder")
    rng = np.random.default_rng(seed)
    files = {
        "model.py": MODEL_PY.format(classes=CLASSES, side=SIDE),
        "job.toml": JOB_TOML.format(name=name, nodes=nodes),
        "README.md": README.format(name=name, nodes=nodes, agents="\n".join(
            f"sparrow agent --config job.toml --device-id {i} --data data/node-{i}.npz"
            f"{'   # 3. one per node' if i == 1 else ''}" for i in range(1, nodes + 1))),
    }
    (folder / "data").mkdir(parents=True, exist_ok=True)
    written = []
    for relative, text in files.items():
        path = folder / relative
        path.write_text(text)
        written.append(path)
    for node in range(1, nodes + 1):
        # Each node favours one class (a skewed share, as real nodes see), but holds all three.
        weights = np.full(CLASSES, 0.2)
        weights[(node - 1) % CLASSES] = 0.6
        labels = rng.choice(CLASSES, SAMPLES_PER_NODE, p=weights / weights.sum())
        path = folder / "data" / f"node-{node}.npz"
        np.savez(path, x=_patterns(rng, labels), y=labels.astype(np.int64))
        written.append(path)
    labels = rng.integers(0, CLASSES, VAL_SAMPLES)
    path = folder / "data" / "val.npz"
    np.savez(path, x=_patterns(rng, labels), y=labels.astype(np.int64))
    written.append(path)
    return written


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``sparrow init``."""
    parser.add_argument("name", help="job name (also the folder, unless --dir is given)")
    parser.add_argument("--dir", default=None, help="folder to create (default: ./NAME)")
    parser.add_argument("--nodes", type=int, default=3, help="example nodes, one data file each (default 3)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")


def run(args: argparse.Namespace) -> int:
    """Write the job folder and say what to run next."""
    folder = Path(args.dir or args.name)
    written = make_job(folder, args.name, args.nodes)
    print(json.dumps({"job": args.name, "folder": os.path.abspath(folder),
                      "files": [str(p.relative_to(folder)) for p in written]}))
    print(f"next: cd {folder} and follow README.md", flush=True)
    return 0


register(Subcommand("init", "scaffold a job folder: job.toml, model.py, example data, README", add_arguments, run))
