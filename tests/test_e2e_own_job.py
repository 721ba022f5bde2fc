"""End to end: a job Sparrow does not bundle, over a real mosquitto.

The model is a Python file with Conv2d layers; each of three nodes has its
own ``.npz`` (digits images, a different class skew per node); the agents are
started without ``--model`` and learn it from the host; the host evaluates on
a validation file. Then the trained model goes out as torch and ONNX and both
predict what the host's model predicts.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sparrow.common.datasets import load
from sparrow.host.config import HostConfig
from sparrow.host.lab.processes import start_agent, stop_processes
from sparrow.host.server import Host

pytestmark = pytest.mark.slow

MODEL_PY = '''
from torch import nn


def build():
    net = nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 8, kernel_size=3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Dropout(0.1), nn.Linear(8 * 2 * 2, 10),
    )
    return net, (1, 8, 8)
'''


def write_job(folder: Path, nodes: int) -> tuple[Path, Path]:
    """model.py, node-<i>.npz (class-skewed shares of digits) and val.npz; returns (model, val)."""
    data = load("digits")
    rng = np.random.default_rng(3)
    model = folder / "model.py"
    model.write_text(MODEL_PY)
    for node in range(1, nodes + 1):
        favoured = np.isin(data.y_train, [(3 * node + j) % 10 for j in range(4)])
        weights = np.where(favoured, 3.0, 1.0)
        pick = rng.choice(data.y_train.size, 500, replace=False, p=weights / weights.sum())
        np.savez(folder / f"node-{node}.npz", x=data.x_train[pick], y=data.y_train[pick])
    val = folder / "val.npz"
    np.savez(val, x=data.x_test, y=data.y_test)
    return model, val


def test_a_users_own_model_file_and_per_node_data_train_over_the_broker_and_export(
        broker_config, tmp_path, agent_logs) -> None:
    model, val = write_job(tmp_path, 3)
    agents = [start_agent(broker_config, node, ["--data", str(tmp_path / f"node-{node}.npz"),
                                                "--compressor", "laplace", "--density", "0.1"], str(tmp_path))
              for node in (1, 2, 3)]
    config = HostConfig(dataset="", model=f"{model}:build", val_data=str(val), rounds=60, batch_size=32,
                        lr=0.1, min_nodes=3, deadline_s=20.0, start_timeout_s=60.0, progress=False,
                        run_dir=str(tmp_path / "run"))
    try:
        host = Host(config, broker_config)
        summary = host.run()
    finally:
        stop_processes(agents, grace_s=10)
    assert [a.returncode for a in agents] == [0, 0, 0], agent_logs()
    assert summary.rounds == 60 and summary.updates >= 150
    assert summary.final_accuracy > 0.6, (summary.final_accuracy, agent_logs())

    run_dir = tmp_path / "run"
    assert (run_dir / "model.json").exists() and (run_dir / "model_last.npy").exists()
    np.testing.assert_array_equal(np.load(run_dir / "model_last.npy"), host.final_params())
    x = np.load(val)["x"][:200].astype(np.float32)
    with torch.no_grad():
        expected = host.model.eval()(torch.from_numpy(x)).argmax(1).numpy()

    out = tmp_path / "exported"
    for fmt in ("torch", "onnx"):
        done = subprocess.run([sys.executable, "-m", "sparrow.common.cli", "export", str(run_dir),
                               "--format", fmt, "--which", "last", "--out", str(out)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        json.loads(done.stdout.strip().splitlines()[-1])

    namespace: dict[str, object] = {}
    exec(compile((out.with_suffix(".py")).read_text(), str(out.with_suffix(".py")), "exec"), namespace)
    rebuilt = namespace["load"](str(out.with_suffix(".pt")))  # type: ignore[operator]
    with torch.no_grad():
        np.testing.assert_array_equal(rebuilt.eval()(torch.from_numpy(x)).argmax(1).numpy(), expected)

    import onnxruntime  # noqa: PLC0415 (pinned in requirements.txt)
    session = onnxruntime.InferenceSession(str(out.with_suffix(".onnx")))
    logits = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_array_equal(logits.argmax(1), expected)


def test_without_evaluation_data_the_host_reports_the_nodes_training_accuracy(broker_config, tmp_path,
                                                                             agent_logs) -> None:
    model, _ = write_job(tmp_path, 3)
    agents = [start_agent(broker_config, node, ["--data", str(tmp_path / f"node-{node}.npz"),
                                                "--compressor", "laplace", "--density", "0.1"], str(tmp_path))
              for node in (1, 2, 3)]
    config = HostConfig(dataset="", model=f"{model}:build", rounds=40, batch_size=32, lr=0.1, min_nodes=3,
                        deadline_s=20.0, start_timeout_s=60.0, progress=False, run_dir=str(tmp_path / "run"))
    try:
        summary = Host(config, broker_config).run()
    finally:
        stop_processes(agents, grace_s=10)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all(row["accuracy"] is None for row in rows)
    assert sum(row["train_accuracy"] is not None for row in rows) >= 35, agent_logs()
    assert summary.final_train_accuracy is not None and summary.final_train_accuracy > 0.5, agent_logs()
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert summary.train_stats_rejected == 0
    assert (tmp_path / "run" / "accuracy_vs_rounds.png").exists()
