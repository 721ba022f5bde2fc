"""A user's own job gone wrong: each mistake is one clear line, exit code 2, no traceback, nothing written."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import pytest

from sparrow.common.modelspec import get_spec
from sparrow.common.spec_wire import encode_spec

SPARROW = [sys.executable, "-m", "sparrow.common.cli"]
GOOD_MODEL = "from torch import nn\n\ndef build():\n    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), (1, 8, 8)\n"


def run(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SPARROW, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def assert_one_clear_line(done: subprocess.CompletedProcess[str], *words: str) -> None:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert len(lines) == 1, lines
    for word in words:
        assert word in lines[0], (word, lines[0])


def host(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return run(["host", "--dataset", "", "--broker-port", "1", "--run-dir", str(tmp_path / "run"),
                "--start-timeout-s", "0", *flags], tmp_path)


@pytest.mark.parametrize("model,words", [
    ("missing.py:build", ("missing.py",)),
    ("raises.py:build", ("raises.py:build", "RuntimeError", "no sensor attached")),
    ("batchnorm.py:build", ("BatchNorm2d", "supported")),
    ("model.py:nothing", ("nothing",)),
])
def test_a_bad_model_file_is_one_line_and_writes_no_run_directory(tmp_path: Path, model: str,
                                                                   words: tuple[str, ...]) -> None:
    (tmp_path / "raises.py").write_text("def build():\n    raise RuntimeError('no sensor attached')\n")
    (tmp_path / "batchnorm.py").write_text(
        "from torch import nn\n\ndef build():\n"
        "    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(144, 10)), (1, 8, 8)\n")
    (tmp_path / "model.py").write_text(GOOD_MODEL)
    assert_one_clear_line(host(tmp_path, "--model", model), *words)
    assert not (tmp_path / "run").exists()


def test_validation_data_that_does_not_fit_the_model_is_refused_by_the_host(tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text(GOOD_MODEL)
    np.savez(tmp_path / "val.npz", x=np.zeros((5, 1, 8, 8), np.float32), y=np.array([0, 1, 2, 3, 12]))
    assert_one_clear_line(host(tmp_path, "--model", "model.py:build", "--val-data", "val.npz"),
                          "val.npz", "12", "10 classes")
    np.savez(tmp_path / "val.npz", x=np.zeros((5, 10), np.float32), y=np.zeros(5, np.int64))
    assert_one_clear_line(host(tmp_path, "--model", "model.py:build", "--val-data", "val.npz"),
                          "val.npz", "10 values")
    assert not (tmp_path / "run").exists()


def agent(tmp_path: Path, *flags: str, port: int = 1, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run(["agent", "--device-id", "3", "--broker-port", str(port), "--broker-job", "errors",
                "--broker-reconnect-max-s", "1", *flags], tmp_path, timeout)


def test_bad_node_data_is_one_line_before_the_node_connects(tmp_path: Path) -> None:
    np.savez(tmp_path / "empty.npz", x=np.zeros((0, 64), np.float32), y=np.zeros(0, np.int64))
    assert_one_clear_line(agent(tmp_path, "--data", "empty.npz", "--model", "mlp_digits"), "empty.npz")
    (tmp_path / "nolabel.csv").write_text("a,b,c\n1,2,3\n4,5,6\n")
    assert_one_clear_line(agent(tmp_path, "--data", "nolabel.csv", "--model", "mlp_digits"),
                          "nolabel.csv", "label")
    assert_one_clear_line(agent(tmp_path, "--data", "nothere.npz"), "nothere.npz")
    np.savez(tmp_path / "wide.npz", x=np.zeros((4, 3, 8, 8), np.float32), y=np.zeros(4, np.int64))
    assert_one_clear_line(agent(tmp_path, "--data", "wide.npz", "--model", "mlp_digits"), "wide.npz", "192 values")
    (tmp_path / "spec.json").write_text(encode_spec(get_spec("mlp_digits", 10)).decode())
    assert_one_clear_line(agent(tmp_path, "--data", "wide.npz", "--model", "spec.json"),
                          "wide.npz", "192 values", "(1, 8, 8)")


def test_a_node_whose_data_does_not_fit_the_hosts_model_stops_with_one_line(mosquitto, tmp_path: Path) -> None:
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    publisher.connect("127.0.0.1", mosquitto.port)
    publisher.loop_start()
    publisher.publish("sparrow/errors/spec", encode_spec(get_spec("mlp_digits", 10)), qos=1, retain=True).wait_for_publish()
    publisher.loop_stop()
    publisher.disconnect()
    np.savez(tmp_path / "labels.npz", x=np.zeros((4, 1, 8, 8), np.float32), y=np.array([0, 1, 2, 30]))
    assert_one_clear_line(agent(tmp_path, "--data", "labels.npz", port=mosquitto.port, timeout=60),
                          "mlp_digits", "labels.npz", "30")
